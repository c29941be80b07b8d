//! What a thread pool counts of its tasks: [`ThreadPool::metrics`].
//!
//! No lock and nothing more on the queue's path: `submitted` and `queued`
//! come from the queue's own counters (`pushed`, `popped`), `workers` from
//! a copy of the thread count the pool keeps under its lock anyway, and
//! `running` is what was taken off the queue and hasn't ended. The one
//! write a task adds is one relaxed add, where it ends, to the counter of
//! its end (`executor/metrics.rs`), on a line of its own.

use super::ThreadPool;
use super::inner::Inner;
use crate::executor::metrics::{Counters, PoolMetrics};
use crate::loom::sync::atomic::Ordering;

impl ThreadPool {
    /// A snapshot of the pool's tasks and workers: queued, running, worker
    /// threads alive, and how many tasks were submitted and have ended,
    /// and how. Cheap (a few atomic loads, no lock), from any thread, at
    /// any time; see [`PoolMetrics`] for what counts where, and how
    /// consistent a snapshot is.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let blocker = pool
    ///     .submit(move || {
    ///         started_tx.send(()).unwrap();
    ///         release_rx.recv().unwrap();
    ///     })
    ///     .unwrap();
    /// let queued = pool.submit(|| ()).unwrap();
    /// started.recv().unwrap(); // the blocker runs; the other waits behind it
    ///
    /// let m = pool.metrics();
    /// assert_eq!((m.running, m.queued, m.workers, m.submitted), (1, 1, 1, 2));
    ///
    /// assert!(queued.cancel());
    /// release.send(()).unwrap();
    /// blocker.join().unwrap();
    /// pool.shutdown();
    /// let m = pool.metrics();
    /// assert_eq!((m.completed, m.cancelled, m.queued, m.running), (1, 1, 0, 0));
    /// ```
    #[doc(alias = "stats")]
    pub fn metrics(&self) -> PoolMetrics {
        self.inner().metrics()
    }
}

impl Inner {
    /// See [`PoolMetrics`]: the counters of ended tasks first, then the
    /// queue's (`popped` before `pushed`, as in `queued`), so that a task
    /// that moves meanwhile is seen in one place, never in none or two:
    /// `submitted == queued + running + ended` always holds.
    ///
    /// A task a waiter ran itself (help-while-waiting) counts as queued
    /// while it runs, as its queue entry is; once it ended, `helped` takes
    /// it out of `queued` (its entry may stay queued a while, and count in
    /// `popped` when a worker takes it off, which takes it out of `helped`).
    /// `helped` is read between `popped` and `pushed`; a snapshot that
    /// catches a task moving between two counters in both or neither is
    /// evened out so that the sum still holds.
    pub(crate) fn metrics(&self) -> PoolMetrics {
        let counts = self.counters.read();
        // ORDERING: SeqCst, as in `queued` (a read of the wake protocol's
        // counters; Relaxed would do for a statistic, and costs the same).
        let popped = self.popped.load(Ordering::SeqCst) as i64;
        // ORDERING: Relaxed, a statistic; wrapping (see `Inner::helped`).
        let helped = self.helped.load(Ordering::Relaxed) as isize as i64;
        let pushed = self.pushed.load(Ordering::SeqCst) as i64;
        // ORDERING: Relaxed, see `publish_counts`.
        let workers = self.threads.load(Ordering::Relaxed);
        let (queued, running) = split_live(
            pushed - popped - helped,
            popped + helped - counts.ended_queued() as i64,
        );
        Counters::snapshot(
            counts,
            pushed as u64 + counts.unqueued,
            queued,
            running,
            workers,
        )
    }
}

/// `(queued, running)` from figures read at different instants, one of
/// which may have come out below zero: moved into the other, so that their
/// sum stays what it was (and neither is negative).
fn split_live(queued: i64, running: i64) -> (usize, usize) {
    let (queued, running) = match (queued < 0, running < 0) {
        (true, _) => (0, running + queued),
        (_, true) => (queued + running, 0),
        _ => (queued, running),
    };
    let to_usize = |n: i64| usize::try_from(n).unwrap_or(0);
    (to_usize(queued), to_usize(running))
}
