//! The executor layer: the one seam every backend plugs into, above the
//! core and below the backends. Backends import it; it imports no backend.
//!
//! - the [`Executor`] trait (here): what every backend does, so user code
//!   can be generic over where it runs;
//! - `options.rs`: [`TaskBuilder`](options::TaskBuilder), the one builder
//!   for a task with options (a deadline, a time limit, retries);
//! - `after.rs` and `deps.rs`: tasks that start when the tasks they depend
//!   on have finished, and receive their values
//!   ([`TaskBuilder::after`](options::TaskBuilder::after));
//! - `shutdown.rs`: [`ShutdownOptions`](shutdown::ShutdownOptions), the one
//!   set of shutdown options;
//! - `window.rs`: the one map window every map runs on (lazy, bounded,
//!   ordered or not, chunked where a backend wants it);
//! - `metrics.rs`: [`PoolMetrics`](metrics::PoolMetrics), what every
//!   executor counts of its tasks, and the counters behind it;
//! - `schedule.rs`: [`Every`](schedule::Every), tasks on a clock (a
//!   periodic series, driven by the executor's one timer);
//! - `remote.rs` and `fn_map.rs` (feature `remote`): named functions on any
//!   executor, one at a time and mapped.

pub(crate) mod after;
pub(crate) mod deps;
#[cfg(feature = "remote")]
pub(crate) mod fn_map;
pub(crate) mod metrics;
pub(crate) mod options;
#[cfg(feature = "remote")]
mod remote;
pub(crate) mod schedule;
pub(crate) mod shutdown;
#[cfg(feature = "tracing")]
pub(crate) mod trace;
pub(crate) mod window;

use std::fmt;

use metrics::PoolMetrics;
use options::TaskBuilder;
use shutdown::ShutdownOptions;

/// What every executor does: the seam between user code and where it runs.
///
/// A [`ThreadPool`](crate::ThreadPool), a
/// [`ProcessPool`](crate::ProcessPool) and a `ClusterExecutor` (feature
/// `cluster`) implement it,
/// so code written against `impl Executor` runs on any of them, and a
/// program moves from threads to processes by changing the one line that
/// builds its executor: Dask's promise, in Rust. What runs everywhere is a
/// *named function*: a function (or non-capturing closure) made into a
/// [`RemoteFn`](crate::RemoteFn) by [`remote!`](crate::remote), with a
/// serde argument (feature `remote`). A thread pool calls it directly; a
/// process pool sends its name and encoded argument to a worker process.
/// Closures that capture run on thread pools only (their inherent
/// `submit`, `map`).
///
/// The trait is sealed: only this crate's executors implement it (it can
/// be opened later without breaking anyone).
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "remote")] {
/// use futurepool::{Executor, ThreadPool, remote};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// // Generic over where it runs: any executor will do.
/// fn sum_of_squares(executor: &impl Executor, n: u64) -> u64 {
///     let handles: Vec<_> = (1..=n)
///         .map(|x| executor.submit_fn(remote!(square), x).unwrap())
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).sum()
/// }
///
/// let pool = ThreadPool::new(); // or ProcessPool::new(): the only line to change
/// assert_eq!(sum_of_squares(&pool, 10), 385);
/// # }
/// ```
#[doc(alias = "Client")]
pub trait Executor: sealed::Sealed + Clone + Send + Sync + fmt::Debug + 'static {
    /// Starts a task with options: a deadline, a limit on its running time,
    /// retries. See [`TaskBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool};
    /// use std::time::Duration;
    ///
    /// fn quick<E: Executor>(executor: &E) -> futurepool::TaskBuilder<'_, E> {
    ///     executor.task().time_limit(Duration::from_secs(5))
    /// }
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(quick(&pool).submit(|| 2).unwrap().join().unwrap(), 2);
    /// ```
    fn task(&self) -> TaskBuilder<'_, Self> {
        TaskBuilder::new(self)
    }

    /// Shuts the executor down: refuses new tasks, lets the queued ones
    /// run, and waits for every worker to exit. Returns whether they all
    /// have (always, for a plain `shutdown`, but for the workers of this
    /// executor that are themselves shutting it down). See
    /// [`ShutdownOptions`] for the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool};
    ///
    /// fn stop(executor: &impl Executor) -> bool {
    ///     executor.shutdown()
    /// }
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| 1).unwrap();
    /// assert!(stop(&pool));
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    fn shutdown(&self) -> bool {
        self.shutdown_with(ShutdownOptions::new())
    }

    /// Shuts the executor down as `options` say: whether to wait (and for
    /// how long), whether to cancel queued tasks, whether to stop running
    /// ones. Returns whether every worker has exited when it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ShutdownOptions, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let stopped = Executor::shutdown_with(&pool, ShutdownOptions::new().cancel_pending(true));
    /// assert!(stopped && pool.is_shutdown());
    /// ```
    fn shutdown_with(&self, options: ShutdownOptions) -> bool;

    /// Returns `true` once the executor has been shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// assert!(!Executor::is_shutdown(&pool));
    /// ```
    fn is_shutdown(&self) -> bool;

    /// The most workers that run tasks at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool};
    ///
    /// let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    /// assert_eq!(Executor::max_workers(&pool), 3);
    /// ```
    fn max_workers(&self) -> usize;

    /// How many workers (threads, processes) are alive now. A cluster
    /// client counts the workers of its build that announced themselves
    /// within the last 3 s and haven't said they stop (they announce
    /// themselves every second).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(Executor::worker_count(&pool), 0); // workers start lazily
    /// ```
    fn worker_count(&self) -> usize;

    /// How many tasks are queued, waiting for a worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(Executor::queued(&pool), 0);
    /// ```
    fn queued(&self) -> usize;

    /// A snapshot of the executor's tasks and workers: queued, running,
    /// workers alive, and how many tasks were submitted and ended, and how.
    /// Cheap, from any thread, at any time; see [`PoolMetrics`] for what
    /// counts where.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool};
    ///
    /// fn log_line(executor: &impl Executor) -> String {
    ///     executor.metrics().to_string()
    /// }
    ///
    /// let pool = ThreadPool::new();
    /// pool.submit(|| ()).unwrap().join().unwrap();
    /// pool.shutdown();
    /// assert!(log_line(&pool).ends_with("1 submitted: 1 completed, 0 failed, 0 cancelled"));
    /// ```
    #[doc(alias = "stats")]
    fn metrics(&self) -> PoolMetrics;

    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    /// Submits the named function `f` to run with `arg`, and returns its
    /// handle. A thread pool calls `f(arg)` on a worker thread; a process
    /// pool encodes `arg` here and runs `f` in a worker process.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`](crate::SubmitError) holding `arg` if the executor
    /// refuses the task (shut down, broken); with a bounded queue that is
    /// full, it waits for room.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit_fn(remote!(|s: String| s.len()), "four".to_owned()).unwrap();
    /// assert_eq!(handle.join().unwrap(), 4);
    /// ```
    fn submit_fn<A, R>(
        &self,
        f: crate::remote::RemoteFn<A, R>,
        arg: A,
    ) -> Result<crate::core::handle::TaskHandle<R>, crate::error::SubmitError<A>>
    where
        A: serde::Serialize + Send + 'static,
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        self.task().submit_fn(f, arg)
    }

    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    /// Like [`submit_fn`](Self::submit_fn), but refuses instead of waiting
    /// when a bounded queue is full.
    ///
    /// # Errors
    ///
    /// As for `submit_fn`, and [`SubmitError::is_full`](crate::SubmitError::is_full)
    /// if the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// let pool = ThreadPool::new();
    /// pool.shutdown();
    /// let err = pool.try_submit_fn(remote!(|x: u8| x), 9).unwrap_err();
    /// assert_eq!(err.into_inner(), 9); // the argument comes back
    /// ```
    fn try_submit_fn<A, R>(
        &self,
        f: crate::remote::RemoteFn<A, R>,
        arg: A,
    ) -> Result<crate::core::handle::TaskHandle<R>, crate::error::SubmitError<A>>
    where
        A: serde::Serialize + Send + 'static,
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        self.task().try_submit_fn(f, arg)
    }

    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    /// Maps the named function `f` over `inputs`, lazily and in input
    /// order; see [`FnMap`](crate::FnMap) for the options (chunks, time
    /// limits, unordered, a stream).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// fn squares(executor: &impl Executor) -> Vec<u64> {
    ///     executor.map_fn(remote!(|x: u64| x * x), 1..=4).map(Result::unwrap).collect()
    /// }
    ///
    /// assert_eq!(squares(&ThreadPool::new()), [1, 4, 9, 16]);
    /// ```
    fn map_fn<I, A, R>(
        &self,
        f: crate::remote::RemoteFn<A, R>,
        inputs: I,
    ) -> crate::executor::fn_map::FnMap<Self, I::IntoIter, A, R>
    where
        I: IntoIterator<Item = A>,
        A: serde::Serialize + Send + 'static,
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        crate::executor::fn_map::FnMap::new(self, f, inputs.into_iter())
    }

    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    /// Like [`map_fn`](Self::map_fn), in the order the tasks finish
    /// (Python's `imap_unordered`).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// let pool = ThreadPool::new();
    /// let mut v: Vec<u8> = pool.map_unordered_fn(remote!(|x: u8| x), [3, 1, 2]).map(Result::unwrap).collect();
    /// v.sort();
    /// assert_eq!(v, [1, 2, 3]);
    /// ```
    fn map_unordered_fn<I, A, R>(
        &self,
        f: crate::remote::RemoteFn<A, R>,
        inputs: I,
    ) -> crate::executor::fn_map::FnMap<Self, I::IntoIter, A, R>
    where
        I: IntoIterator<Item = A>,
        A: serde::Serialize + Send + 'static,
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        crate::executor::fn_map::FnMap::new(self, f, inputs.into_iter()).unordered()
    }
}

pub(crate) mod sealed {
    /// What only this crate's executors can implement: the trait is sealed
    /// by this supertrait, and its methods are how the executor layer
    /// reaches a backend.
    #[allow(private_interfaces)]
    pub trait Sealed {
        /// The executor's one timer: its deadlines, its tasks on a clock
        /// (`schedule.rs`), and the deadlines of dependent tasks still
        /// waiting for their dependencies (`after.rs`).
        #[doc(hidden)]
        fn timer(&self) -> &crate::core::timer::Timer;

        /// A way back to the executor that doesn't keep it alive (what a
        /// periodic task holds between its runs).
        #[doc(hidden)]
        fn weak(&self) -> Box<dyn Fn() -> Option<Self> + Send + Sync>
        where
            Self: Sized;

        /// The `pool` field of the spans of this executor's tasks (feature
        /// `tracing`); `None` if it doesn't trace its tasks.
        #[cfg(feature = "tracing")]
        #[doc(hidden)]
        fn trace_pool(&self) -> Option<&str> {
            None
        }

        /// How many chunks a map of this executor may have submitted and
        /// not yet yielded, unless told (`FnMap::max_in_flight`); `None`:
        /// twice `max_workers`.
        #[cfg(feature = "remote")]
        #[doc(hidden)]
        fn map_in_flight(&self) -> Option<usize> {
            None
        }

        /// Queues named function `f` with `arg` and `options`; with `block`,
        /// waits for room in a bounded queue. A refused `arg` comes back.
        #[cfg(feature = "remote")]
        #[doc(hidden)]
        fn spawn_fn<A, R>(
            &self,
            f: crate::remote::RemoteFn<A, R>,
            arg: A,
            options: &super::options::TaskOptions,
            block: bool,
        ) -> Result<crate::core::handle::TaskHandle<R>, (A, crate::error::Refusal)>
        where
            A: serde::Serialize + Send + 'static,
            R: serde::de::DeserializeOwned + Send + 'static;

        /// Queues `f` over a chunk of `args` as one task, whose value is
        /// each argument's outcome in order. A refused chunk comes back.
        #[cfg(feature = "remote")]
        #[doc(hidden)]
        #[allow(clippy::type_complexity)]
        fn spawn_fn_chunk<A, R>(
            &self,
            f: crate::remote::RemoteFn<A, R>,
            args: Vec<A>,
            options: &super::options::TaskOptions,
            block: bool,
        ) -> Result<
            crate::core::handle::TaskHandle<Vec<Result<R, crate::error::TaskError>>>,
            (Vec<A>, crate::error::Refusal),
        >
        where
            A: serde::Serialize + Send + 'static,
            R: serde::de::DeserializeOwned + Send + 'static;
    }
}
