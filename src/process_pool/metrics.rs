//! What a process pool counts of its tasks: [`ProcessPool::metrics`].
//!
//! `submitted` is counted under the pool's lock as a task is queued, and
//! read there with the queue and the worker processes; the drivers count
//! each task's end (`executor/metrics.rs`) where they end it, once per
//! task however many times it was retried; `running` is what was taken off
//! the queue and hasn't ended.

use super::ProcessPool;
use crate::executor::metrics::PoolMetrics;

impl ProcessPool {
    /// A snapshot of the pool's tasks and workers: queued, running, worker
    /// processes alive, and how many tasks were submitted and have ended,
    /// and how. Cheap (the pool's lock, taken once, and a few atomic
    /// loads), from any thread, at any time; see [`PoolMetrics`] for what
    /// counts where. A task retried after its worker died counts once, when
    /// it finally ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{Executor, ProcessPool, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let ok = pool.submit_fn(remote!(|x: u32| x + 1), 1).unwrap();
    /// let panics = pool.submit_fn(remote!(|_: u32| -> u32 { panic!("boom") }), 0).unwrap();
    /// assert_eq!(ok.join().unwrap(), 2);
    /// assert!(panics.join().unwrap_err().is_panic());
    /// pool.shutdown();
    ///
    /// let m = pool.metrics();
    /// assert_eq!((m.submitted, m.completed, m.failed), (2, 1, 1));
    /// assert_eq!((m.queued, m.running, m.workers), (0, 0, 0));
    /// ```
    #[doc(alias = "stats")]
    pub fn metrics(&self) -> PoolMetrics {
        self.shared().metrics()
    }
}
