//! The process pool's half of the executor layer: the submits of the one
//! [`TaskBuilder`] (named functions, the argument encoded in the caller),
//! and the pool's [`Executor`] implementation.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ProcessPool;
use crate::core::handle::TaskHandle;
use crate::error::{Refusal, SubmitError};
use crate::executor::Executor;
use crate::executor::options::{TaskBuilder, TaskOptions};
use crate::executor::sealed::Sealed;
use crate::executor::shutdown::ShutdownOptions;
use crate::remote::RemoteFn;

/// The process pool's [`TaskBuilder`], as it was called before there was
/// one builder for every executor.
///
/// # Examples
///
/// ```
/// # fn main() {
/// # futurepool::process::init();
/// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
/// use futurepool::{ProcessPool, ProcessTaskBuilder, remote};
/// use std::time::Duration;
///
/// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
/// let builder: ProcessTaskBuilder<'_> = pool.task().time_limit(Duration::from_secs(60));
/// assert_eq!(builder.submit(remote!(|x: u8| x + 1), 1).unwrap().join().unwrap(), 2);
/// # }
/// ```
pub type ProcessTaskBuilder<'a> = TaskBuilder<'a, ProcessPool>;

impl TaskBuilder<'_, ProcessPool> {
    /// Submits `f(arg)`, as [`ProcessPool::submit`] does, with these
    /// options: a time limit or deadline that passes **kills** the worker
    /// running the task (and a fresh one takes the next); retries run it
    /// again on a fresh worker if its worker dies.
    ///
    /// # Errors
    ///
    /// As for [`ProcessPool::submit`]; also refused if the pool's deadline
    /// timer thread can't be started.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    /// use std::time::Duration;
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let worker_pid = remote!(|_: ()| std::process::id());
    /// let before = pool.submit(worker_pid, ()).unwrap().join().unwrap();
    ///
    /// let stuck = remote!(|_: ()| -> u8 { loop { std::thread::park() } });
    /// let handle = pool.task().time_limit(Duration::from_millis(100)).submit(stuck, ()).unwrap();
    /// assert!(handle.join().unwrap_err().is_timeout());
    ///
    /// // The worker that ran it was killed; the next task gets a fresh one.
    /// let after = pool.submit(worker_pid, ()).unwrap().join().unwrap();
    /// assert_ne!(before, after);
    ///
    /// // Refused once the pool is shut down, with the argument handed back.
    /// pool.shutdown();
    /// let refused = pool.task().submit(remote!(|s: String| s.len()), "again".to_owned());
    /// assert_eq!(refused.unwrap_err().into_inner(), "again");
    /// # }
    /// ```
    pub fn submit<A, R>(self, f: RemoteFn<A, R>, arg: A) -> Result<TaskHandle<R>, SubmitError<A>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        self.executor.submit_with(f, arg, &self.options, true)
    }

    /// Like [`submit`](Self::submit), but refuses instead of waiting when a
    /// bounded queue is full.
    ///
    /// # Errors
    ///
    /// As for `submit`, and [`SubmitError::is_full`] if the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let handle = pool.task().try_submit(remote!(|x: u8| x * 3), 3).unwrap();
    /// assert_eq!(handle.join().unwrap(), 9);
    /// # }
    /// ```
    pub fn try_submit<A, R>(
        self,
        f: RemoteFn<A, R>,
        arg: A,
    ) -> Result<TaskHandle<R>, SubmitError<A>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        self.executor.submit_with(f, arg, &self.options, false)
    }
}

impl crate::executor::schedule::Every<'_, ProcessPool> {
    /// Runs `f` with a clone of `arg` every period, each run in a worker
    /// process: the same as [`submit_fn`](crate::Every::submit_fn), under
    /// the process pool's name for it. See [`Every`](crate::Every) for the
    /// rules; a time limit that passes kills the worker, and ends the
    /// series as timed out.
    ///
    /// # Errors
    ///
    /// As for [`submit_fn`](crate::Every::submit_fn).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    /// use std::time::Duration;
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let series = pool
    ///     .task()
    ///     .every(Duration::from_millis(5))
    ///     .submit(remote!(|n: u32| assert!(n < 3, "too many")), 7)
    ///     .unwrap();
    /// assert_eq!(series.join().unwrap_err().panic_message(), Some("too many"));
    /// # }
    /// ```
    pub fn submit<A, R>(self, f: RemoteFn<A, R>, arg: A) -> Result<TaskHandle<()>, SubmitError<A>>
    where
        A: Serialize + Clone + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        self.submit_fn(f, arg)
    }
}

impl Executor for ProcessPool {
    fn shutdown_with(&self, options: ShutdownOptions) -> bool {
        ProcessPool::shutdown_with(self, options)
    }

    fn is_shutdown(&self) -> bool {
        ProcessPool::is_shutdown(self)
    }

    fn max_workers(&self) -> usize {
        ProcessPool::max_workers(self)
    }

    fn worker_count(&self) -> usize {
        ProcessPool::worker_count(self)
    }

    fn queued(&self) -> usize {
        ProcessPool::queued(self)
    }

    fn metrics(&self) -> crate::PoolMetrics {
        ProcessPool::metrics(self)
    }
}

// `Sealed`'s methods take crate-private types on purpose: the trait is
// sealed, and they are how the executor layer reaches the backend.
#[allow(private_interfaces)]
impl Sealed for ProcessPool {
    fn timer(&self) -> &crate::core::timer::Timer {
        &self.shared().timer
    }

    fn weak(&self) -> Box<dyn Fn() -> Option<Self> + Send + Sync> {
        let weak = self.downgrade();
        Box::new(move || weak.upgrade())
    }

    #[cfg(feature = "tracing")]
    fn trace_pool(&self) -> Option<&str> {
        Some("process")
    }

    fn spawn_fn<A, R>(
        &self,
        f: RemoteFn<A, R>,
        arg: A,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<R>, (A, Refusal)>
    where
        A: Serialize + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        self.submit_with(f, arg, options, block)
            .map_err(SubmitError::into_parts)
    }

    #[allow(clippy::type_complexity)]
    fn spawn_fn_chunk<A, R>(
        &self,
        f: RemoteFn<A, R>,
        args: Vec<A>,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<Vec<Result<R, crate::error::TaskError>>>, (Vec<A>, Refusal)>
    where
        A: Serialize + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        self.spawn_chunk(f, args, options, block)
    }
}
