//! The thread pool: Python's `ThreadPoolExecutor`.
//!
//! - [`ThreadPool`] (here) is the pool and its submit / map / shutdown API;
//! - `builder.rs`: [`ThreadPoolBuilder`], how one is configured;
//! - `spawn.rs`: how a task gets onto the queue (deadline, time limit, a
//!   passed deadline, a refused closure handed back), behind every submit;
//! - `submit.rs`: the thread pool's half of the executor layer's
//!   [`TaskBuilder`](crate::TaskBuilder) (closures), and its
//!   [`Executor`](crate::Executor) implementation;
//! - `default.rs`: the default pool, built lazily;
//! - `job.rs`: a task as the pool keeps it, its closure inside its cell;
//! - `inner/`: the queue, submit, and shutdown; `worker.rs`: the workers'
//!   loop and how a waiting worker lends its place. The sleep, wake, lend
//!   and shutdown protocol is described in `README.md` beside this file;
//! - `map.rs`: [`Map`], the bounded `map`, ordered or not;
//! - `scope/`: [`ThreadPool::scope`], tasks that borrow from the caller's
//!   stack (`mod.rs`), their map (`map.rs`), and the one `unsafe` lifetime
//!   erasure that allows it (`erased.rs`);
//! - `tests.rs`: unit tests that force interleavings at test-only points;
//!   `models.rs`: loom models of the protocol (`scripts/loom.sh`).

mod after;
mod builder;
mod default;
mod inner;
mod job;
mod map;
mod metrics;
#[cfg(all(test, futurepool_loom))]
mod models;
mod scope;
mod spawn;
mod submit;
#[cfg(all(test, not(futurepool_loom)))]
mod tests;
mod worker;

use std::fmt;

pub use builder::ThreadPoolBuilder;
pub use default::{default_pool, submit};
use inner::Inner;
pub use map::{Map, MapStream};
pub use scope::{Scope, ScopedMap};

use crate::core::handle::TaskHandle;
use crate::core::token::CancelToken;
use crate::error::SubmitError;
use crate::executor::options::TaskBuilder;
use crate::executor::shutdown::ShutdownOptions;
use crate::loom::sync::{Arc, Weak};

/// A pool of worker threads that runs submitted closures and hands back a
/// [`TaskHandle`] for each.
///
/// # Workers
///
/// Workers start lazily, when a task is submitted and no idle worker can take
/// it, up to [`max_workers`](ThreadPoolBuilder::max_workers). Idle workers
/// are reused before any new one starts, and retire after the
/// [`keep_alive`](ThreadPoolBuilder::keep_alive). A task that panics does not
/// kill its worker: the panic becomes the task's [`TaskError`](crate::TaskError).
///
/// # Waiting inside a task
///
/// A task may block on another task of the same pool (`join`, `wait`,
/// `as_completed`, [`wait`](crate::wait()), iterating a [`Map`], or a
/// `submit` waiting for room in a bounded queue). In Python this deadlocks
/// once every worker is waiting. Here a waiting worker does one of two
/// things (the crate docs' chapter on [waiting inside a
/// task](crate#waiting-inside-a-task-help-lend-and-what-cant-deadlock) says
/// what each guarantees):
///
/// - **It runs what it waits for.** A wait without a time limit for a task
///   of this pool that hasn't started takes that task and runs it inline,
///   as rayon's `join` does: `join`, `wait`, [`wait`](crate::wait()) for
///   all, and a map or `as_completed` iterated without a time limit.
///   Only plain tasks are run so (no token, time limit or deadline: their
///   waiter must be able to return when they end while running).
/// - **Otherwise it lends its place**: the task runs elsewhere, or the wait
///   is timed or first-completed. While it is blocked it does not count
///   against `max_workers`, and if work is queued and no worker is idle,
///   the pool starts one more. At most [`max_lent`](ThreadPoolBuilder::max_lent)
///   places are lent at once (by default `max_workers`); past that a
///   waiter blocks holding its place. When a wait ends, the returning
///   worker finishes its task alongside the extra one, and each retires
///   after its task while the pool is over its limit.
///
/// So the pool never runs more than `max_workers + max_lent` threads, and
/// recursive fan-out (a task that submits two and joins both, all the way
/// down) runs on `max_workers` threads.
///
/// The pool only sees waits made through futurepool. A task that blocks in
/// some other way, say an async executor's `block_on` awaiting a handle, or
/// a channel `recv`, keeps its place, and a full pool can deadlock on it as
/// in Python.
///
/// # Handles, and when the pool shuts down
///
/// A `ThreadPool` is a cheap handle: cloning it gives another handle to the
/// same pool (to move into a task, a thread, or an async block), with no
/// `Arc` needed. The pool lives while any handle does. **Dropping the last
/// handle shuts the pool down without waiting**: it takes no new task, the
/// queued ones still run, and each worker exits when there is nothing left,
/// on its own. The drop never blocks, so dropping the last handle inside
/// one of the pool's own tasks can't deadlock, and dropping it inside async
/// code can't block the runtime. A task stuck in a blocking call keeps its
/// thread until the call returns (or the process exits); nothing waits for
/// it. To wait for the workers, call [`shutdown`](Self::shutdown) (Python's
/// `with ThreadPoolExecutor() as ex:` is a pool and a `shutdown()` at the
/// end).
///
/// A [`WeakThreadPool`] ([`downgrade`](Self::downgrade)) refers to the pool
/// without keeping it alive: what a task that submits to its own pool, or a
/// periodic job, should hold, so that the pool can go away.
///
/// # Shutdown
///
/// [`shutdown`](Self::shutdown) stops the pool taking new tasks, lets the
/// queued ones run, and waits for every worker thread to exit.
/// [`shutdown_with`](Self::shutdown_with) can skip the wait, wait at most a
/// while, cancel the queued tasks, and cancel the running ones that take a
/// [`CancelToken`]. Shutting down twice is harmless. Called from one of the
/// pool's own tasks, `shutdown` waits for the other workers (but those
/// shutting the pool down themselves) while the caller's place is lent, so
/// the queue still drains.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::builder().max_workers(4).build().unwrap();
/// let handles: Vec<_> = (1..=4).map(|i| pool.submit(move || i * i).unwrap()).collect();
/// let squares: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
#[doc(alias = "ThreadPoolExecutor")]
#[derive(Clone)]
pub struct ThreadPool {
    handles: Arc<Handles>,
}

/// What every handle of one pool shares: when the last handle goes, the
/// pool shuts down (without waiting; see the type's docs). The workers hold
/// `Inner`, not this.
struct Handles {
    inner: Arc<Inner>,
}

impl Drop for Handles {
    fn drop(&mut self) {
        self.inner.shutdown(ShutdownOptions::new().wait(false));
    }
}

/// A handle to a [`ThreadPool`] that doesn't keep it alive; made by
/// [`ThreadPool::downgrade`]. [`upgrade`](Self::upgrade) gives a handle back
/// while the pool is alive.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let weak = pool.downgrade();
/// assert!(weak.upgrade().is_some());
/// drop(pool); // the last strong handle: the pool shuts down
/// assert!(weak.upgrade().is_none());
/// ```
#[derive(Clone)]
pub struct WeakThreadPool {
    handles: Weak<Handles>,
}

impl WeakThreadPool {
    /// A handle to the pool, if it is alive (some [`ThreadPool`] handle
    /// still exists).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let again = pool.downgrade().upgrade().unwrap();
    /// assert_eq!(again.submit(|| 1).unwrap().join().unwrap(), 1);
    /// ```
    pub fn upgrade(&self) -> Option<ThreadPool> {
        self.handles.upgrade().map(|handles| ThreadPool { handles })
    }
}

impl fmt::Debug for WeakThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakThreadPool")
            .field("alive", &(self.handles.strong_count() > 0))
            .finish()
    }
}

impl Default for ThreadPool {
    fn default() -> Self {
        ThreadPool::new()
    }
}

impl ThreadPool {
    /// A pool with the default configuration (see [`ThreadPoolBuilder::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(pool.submit(|| "hi").unwrap().join().unwrap(), "hi");
    /// ```
    pub fn new() -> ThreadPool {
        ThreadPoolBuilder::new()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder to configure a pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// Submits `f` to run on a worker and returns its handle.
    ///
    /// With a bounded queue that is full, waits for room.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding `f` if the pool is shut down or broken, or no
    /// worker thread could be started to run it.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let data = vec![1, 2, 3];
    /// let handle = pool.submit(move || data.iter().sum::<i32>()).unwrap();
    /// assert_eq!(handle.join().unwrap(), 6);
    /// ```
    pub fn submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.task().submit(f)
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
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new(); // unbounded: never full
    /// assert_eq!(pool.try_submit(|| 1).unwrap().join().unwrap(), 1);
    /// ```
    pub fn try_submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.task().try_submit(f)
    }

    /// Submits `f`, which receives a [`CancelToken`] it should check, and
    /// returns its handle. [`TaskHandle::cancel`] on the running task signals
    /// the token and completes the handle as cancelled at once.
    ///
    /// # Errors
    ///
    /// As for [`submit`](Self::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool
    ///     .submit_cancellable(|token| (0..1_000).take_while(|_| !token.is_cancelled()).count())
    ///     .unwrap();
    /// assert_eq!(handle.join().unwrap(), 1_000);
    /// ```
    pub fn submit_cancellable<F, T>(&self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.task().submit_cancellable(f)
    }

    /// Starts a task with options: a time limit, a deadline (see
    /// [`TaskBuilder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.task().timeout(Duration::from_secs(60)).submit(|| 1).unwrap();
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn task(&self) -> TaskBuilder<'_, ThreadPool> {
        TaskBuilder::new(self)
    }

    /// A handle to this pool that doesn't keep it alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let weak = pool.downgrade();
    /// // A task that submits to its own pool holds it weakly, so the pool
    /// // can go away when its owner drops it.
    /// let handle = pool
    ///     .submit(move || weak.upgrade().map(|pool| pool.submit(|| 2).unwrap().join().unwrap()))
    ///     .unwrap();
    /// assert_eq!(handle.join().unwrap(), Some(2));
    /// ```
    pub fn downgrade(&self) -> WeakThreadPool {
        WeakThreadPool {
            handles: Arc::downgrade(&self.handles),
        }
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handles.inner
    }

    fn from_inner(inner: Inner) -> ThreadPool {
        ThreadPool {
            handles: Arc::new(Handles {
                inner: Arc::new(inner),
            }),
        }
    }

    /// Runs `f` on every input, in the pool, and yields the results **in
    /// input order**, whatever order they finish in. See [`Map`] for the
    /// options (a timeout, how many tasks run ahead) and what happens on a
    /// panic or when the iterator is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let lengths: Vec<usize> = pool
    ///     .map(|s: &str| s.len(), ["a", "bbb", "cc"])
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// assert_eq!(lengths, [1, 3, 2]);
    /// ```
    pub fn map<F, I, T>(&self, f: F, inputs: I) -> Map<I::IntoIter, F, T>
    where
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        Map::new(self, f, inputs.into_iter())
    }

    /// Like [`map`](Self::map), but yields results **in the order the tasks
    /// finish** (Python's `imap_unordered`): the same as
    /// `map(f, inputs).unordered()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let mut lengths: Vec<usize> = pool
    ///     .map_unordered(|s: &str| s.len(), ["a", "bbb", "cc"])
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// lengths.sort();
    /// assert_eq!(lengths, [1, 2, 3]);
    /// ```
    #[doc(alias = "imap_unordered")]
    pub fn map_unordered<F, I, T>(&self, f: F, inputs: I) -> Map<I::IntoIter, F, T>
    where
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        Map::new(self, f, inputs.into_iter()).unordered()
    }

    /// Shuts the pool down: refuses new tasks, lets the queued ones run, and
    /// waits for every worker to exit. Calling it again does nothing more.
    /// Called from one of the pool's own tasks, it waits for every worker
    /// but the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| 2).unwrap();
    /// pool.shutdown();
    /// assert_eq!(pool.worker_count(), 0);
    /// assert_eq!(handle.join().unwrap(), 2);
    /// assert!(pool.submit(|| 3).is_err());
    /// ```
    pub fn shutdown(&self) -> bool {
        self.shutdown_with(ShutdownOptions::new())
    }

    /// Shuts the pool down as `options` say: whether to wait, and whether to
    /// cancel the queued tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ShutdownOptions, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// pool.shutdown_with(ShutdownOptions::new().cancel_pending(true));
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn shutdown_with(&self, options: ShutdownOptions) -> bool {
        self.inner().shutdown(options)
    }

    /// Returns `true` once [`shutdown`](Self::shutdown) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert!(!pool.is_shutdown());
    /// pool.shutdown();
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.inner().is_shutdown()
    }

    /// The most workers that run tasks at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// assert_eq!(ThreadPool::builder().max_workers(7).build().unwrap().max_workers(), 7);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.inner().config.max_workers
    }

    /// How many worker threads are alive now (busy, idle, lent, or held in
    /// reserve: see [`max_lent`](ThreadPoolBuilder::max_lent)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(pool.worker_count(), 0); // workers start lazily
    /// pool.submit(|| ()).unwrap().join().unwrap();
    /// assert_eq!(pool.worker_count(), 1);
    /// ```
    pub fn worker_count(&self) -> usize {
        self.inner().worker_count()
    }

    /// How many worker threads this pool has started since it was built
    /// (workers that retired and were started again count each time).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.workers_started(), 0);
    /// for _ in 0..10 {
    ///     pool.submit(|| ()).unwrap().join().unwrap();
    /// }
    /// assert!((1..=2).contains(&pool.workers_started()));
    /// ```
    pub fn workers_started(&self) -> usize {
        self.inner().state.lock().next_index
    }

    /// The most worker threads that were alive at once since the pool was
    /// built, lent ones included: at most
    /// [`max_workers`](Self::max_workers) plus the builder's
    /// [`max_lent`](ThreadPoolBuilder::max_lent).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    /// let tasks: Vec<_> = (0..8).map(|i| pool.submit(move || i).unwrap()).collect();
    /// for task in tasks {
    ///     task.join().unwrap();
    /// }
    /// assert!((1..=3).contains(&pool.peak_worker_count()));
    /// ```
    pub fn peak_worker_count(&self) -> usize {
        self.inner().state.lock().peak_threads
    }

    /// How many tasks are queued, waiting for a worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(pool.queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.inner().queued()
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("max_workers", &self.max_workers())
            .field("workers", &self.worker_count())
            .field("queued", &self.queued())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}
