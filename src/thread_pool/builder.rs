//! [`ThreadPoolBuilder`]: how a thread pool is configured.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use super::ThreadPool;
use super::inner::{Config, Initializer, Inner};
use crate::error::{BuildError, BuildErrorKind};
use crate::loom::sync::Arc;

/// Configures and builds a [`ThreadPool`].
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use std::time::Duration;
///
/// let pool = ThreadPool::builder()
///     .max_workers(4)
///     .thread_name("resize")
///     .keep_alive(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// let name = pool.submit(|| std::thread::current().name().unwrap().to_owned()).unwrap();
/// assert!(name.join().unwrap().starts_with("resize-"));
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    name_prefix: String,
    stack_size: Option<usize>,
    initializer: Option<Arc<Initializer>>,
    keep_alive: Duration,
    capacity: Option<usize>,
    max_lent: Option<usize>,
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        ThreadPoolBuilder::new()
    }
}

/// The default number of workers: `min(32, cores + 4)`.
///
/// This is Python's default (since 3.8), kept so that code ported from Python
/// behaves the same: at least 5 threads, so blocking I/O tasks overlap even on
/// a small machine, and no more than 32, so a big machine isn't flooded with
/// threads. Workers start only when there is work for them. For CPU-bound work
/// ask for [`std::thread::available_parallelism`] workers instead.
pub(crate) fn default_max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores + 4).min(32)
}

impl ThreadPoolBuilder {
    /// A builder with the defaults: `min(32, cores + 4)` workers, threads
    /// named `futurepool-N`, the platform's stack size, no initializer, a 10
    /// second keep-alive, and an unbounded queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPoolBuilder;
    ///
    /// let pool = ThreadPoolBuilder::new().build().unwrap();
    /// let cores = std::thread::available_parallelism().unwrap().get();
    /// assert_eq!(pool.max_workers(), (cores + 4).min(32));
    /// ```
    pub fn new() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            max_workers: None,
            name_prefix: "futurepool".to_owned(),
            stack_size: None,
            initializer: None,
            keep_alive: Duration::from_secs(10),
            capacity: None,
            max_lent: None,
        }
    }

    /// The most worker threads the pool runs at once. `0` is refused by
    /// [`build`](Self::build). The default is `min(32, cores + 4)`, as in
    /// Python: enough to overlap blocking I/O on a small machine. For
    /// CPU-bound work, pass [`std::thread::available_parallelism`].
    ///
    /// Workers start lazily, one per submitted task until the limit is
    /// reached, and an idle worker is always reused before a new one starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// assert!(ThreadPool::builder().max_workers(0).build().is_err());
    /// ```
    #[doc(alias = "max_threads")]
    #[doc(alias = "num_threads")]
    pub fn max_workers(mut self, n: usize) -> ThreadPoolBuilder {
        self.max_workers = Some(n);
        self
    }

    /// The most workers that may lend their places at once, each while it
    /// blocks in a futurepool wait. The default is
    /// [`max_workers`](Self::max_workers), so the pool never runs more than
    /// twice that many threads; `0` turns lending off.
    ///
    /// A worker that waits without a time limit for a task of its own pool
    /// that hasn't started runs it itself, and needs no place lent. One
    /// that waits for a task already running elsewhere, or waits with a
    /// time limit, lends its place: the pool may start another thread in
    /// its stead, so that the queue keeps moving. With the bound reached, a
    /// waiter blocks without lending. A lender that comes back after a
    /// thread was started in its place is held in reserve (for the
    /// keep-alive) and taken back by the next lend, rather than replaced.
    /// The crate docs' chapter on deadlocks says what is guaranteed to
    /// finish either way.
    ///
    /// # Examples
    ///
    /// Recursive fan-out (each task submits two and waits for both) on a
    /// pool of two, with no place ever lent: the waiting workers run what
    /// they wait for, and the pool never starts a third thread.
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// fn fib(pool: &ThreadPool, n: u64) -> u64 {
    ///     if n < 2 {
    ///         return n;
    ///     }
    ///     let (p1, p2) = (pool.clone(), pool.clone());
    ///     let a = pool.submit(move || fib(&p1, n - 1)).unwrap();
    ///     let b = pool.submit(move || fib(&p2, n - 2)).unwrap();
    ///     a.join().unwrap() + b.join().unwrap()
    /// }
    ///
    /// let pool = ThreadPool::builder().max_workers(2).max_lent(0).build().unwrap();
    /// let root = pool.clone();
    /// assert_eq!(pool.submit(move || fib(&root, 15)).unwrap().join().unwrap(), 610);
    /// assert!(pool.workers_started() <= 2);
    /// ```
    #[doc(alias = "compensation")]
    pub fn max_lent(mut self, n: usize) -> ThreadPoolBuilder {
        self.max_lent = Some(n);
        self
    }

    /// Names worker threads `prefix-N`, `N` counting from 0 in the order the
    /// workers start (and the pool's deadline timer `prefix-timer`). The
    /// default prefix is `futurepool`. A name with a NUL byte is refused by
    /// [`build`](Self::build): no thread can be called that.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().thread_name("io").build().unwrap();
    /// let name = pool.submit(|| std::thread::current().name().map(str::to_owned)).unwrap();
    /// assert_eq!(name.join().unwrap().as_deref(), Some("io-0"));
    ///
    /// let err = ThreadPool::builder().thread_name("bad\0name").build().unwrap_err();
    /// assert_eq!(err.to_string(), "a thread name can't contain a NUL byte");
    /// ```
    #[doc(alias = "thread_name_prefix")]
    pub fn thread_name(mut self, prefix: impl Into<String>) -> ThreadPoolBuilder {
        self.name_prefix = prefix.into();
        self
    }

    /// The stack size of worker threads, in bytes. The default is the
    /// platform's (see [`std::thread::Builder::stack_size`]). A worker that
    /// waits for a task of its pool may run it inline, on this stack (see
    /// [`max_lent`](Self::max_lent)); it stops doing so past three quarters
    /// of it, and lends its place instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().stack_size(8 << 20).build().unwrap();
    /// fn depth(n: u64) -> u64 { if n == 0 { 0 } else { 1 + depth(n - 1) } }
    /// assert_eq!(pool.submit(|| depth(10_000)).unwrap().join().unwrap(), 10_000);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> ThreadPoolBuilder {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `init` once in each worker thread, before its first task.
    ///
    /// If `init` returns an error (or panics), the pool is **broken**: tasks
    /// still queued fail with an error for which
    /// [`TaskError::is_broken`](crate::TaskError::is_broken) is `true` and
    /// whose source is `init`'s error, and every later submit is refused.
    /// Tasks already running finish normally.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::cell::Cell;
    ///
    /// thread_local!(static READY: Cell<bool> = const { Cell::new(false) });
    ///
    /// let pool = ThreadPool::builder()
    ///     .initializer(|| {
    ///         READY.set(true);
    ///         Ok::<(), std::io::Error>(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert!(pool.submit(|| READY.get()).unwrap().join().unwrap());
    /// ```
    pub fn initializer<F, E>(mut self, init: F) -> ThreadPoolBuilder
    where
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
        E: Into<Box<dyn Error + Send + Sync>>,
    {
        self.initializer = Some(Arc::new(move || init().map_err(Into::into)));
        self
    }

    /// How long an idle worker waits for work before it exits. Default: 10
    /// seconds. A pool with no work therefore holds no threads after a while,
    /// and starts them again on demand.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::builder().keep_alive(Duration::from_millis(1)).build().unwrap();
    /// pool.submit(|| ()).unwrap().join().unwrap();
    /// while pool.worker_count() > 0 {
    ///     std::thread::yield_now(); // the worker retires soon after
    /// }
    /// assert_eq!(pool.submit(|| 5).unwrap().join().unwrap(), 5); // and comes back
    /// ```
    pub fn keep_alive(mut self, keep_alive: Duration) -> ThreadPoolBuilder {
        self.keep_alive = keep_alive;
        self
    }

    /// Holds at most `capacity` queued (not yet running) tasks. When the
    /// queue is full, [`ThreadPool::submit`] waits for room and
    /// [`ThreadPool::try_submit`] refuses. `0` is refused by
    /// [`build`](Self::build). The default queue is unbounded.
    ///
    /// A queued task that is cancelled keeps its place until a worker takes
    /// it off the queue (which it then does at once, without running it).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().max_workers(2).bounded(100).build().unwrap();
    /// let handles: Vec<_> = (0..1000).map(|i| pool.submit(move || i).unwrap()).collect();
    /// let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    /// assert_eq!(sum, 499_500);
    /// ```
    pub fn bounded(mut self, capacity: usize) -> ThreadPoolBuilder {
        self.capacity = Some(capacity);
        self
    }

    /// Builds the pool. No thread is started until work is submitted.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] if `max_workers` or a bounded queue's capacity is 0,
    /// or the thread name holds a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().build().unwrap();
    /// assert_eq!(pool.worker_count(), 0);
    /// let err = ThreadPool::builder().bounded(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "a bounded queue needs a capacity of at least 1");
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(BuildError::new(BuildErrorKind::ZeroWorkers));
        }
        if self.capacity == Some(0) {
            return Err(BuildError::new(BuildErrorKind::ZeroCapacity));
        }
        if self.name_prefix.contains('\0') {
            // A thread name can't hold a NUL byte; refused here, not by a
            // panic in whichever submit starts the first worker.
            return Err(BuildError::new(BuildErrorKind::InvalidThreadName));
        }
        let config = Config {
            max_workers,
            name_prefix: self.name_prefix,
            stack_size: self.stack_size,
            initializer: self.initializer,
            keep_alive: self.keep_alive,
            capacity: self.capacity,
            max_lent: self.max_lent.unwrap_or(max_workers),
        };
        Ok(ThreadPool::from_inner(Inner::new(config)))
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name", &self.name_prefix)
            .field("stack_size", &self.stack_size)
            .field("initializer", &self.initializer.is_some())
            .field("keep_alive", &self.keep_alive)
            .field("bounded", &self.capacity)
            .field("max_lent", &self.max_lent)
            .finish()
    }
}
