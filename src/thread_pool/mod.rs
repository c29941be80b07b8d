//! The thread pool: Python's `ThreadPoolExecutor`.
//!
//! - [`ThreadPool`] is the pool and the submit / map / shutdown API;
//! - [`ThreadPoolBuilder`] configures one;
//! - [`TaskBuilder`] submits one task with options (a deadline);
//! - `inner.rs` holds the queue and the workers' loop, whose sleep, wake,
//!   lend and shutdown protocol is described in `README.md` beside this file.

mod builder;
mod inner;

use std::fmt;
use std::time::{Duration, Instant};

pub use builder::ThreadPoolBuilder;
use inner::Inner;
pub(crate) use inner::enter_blocking;

use crate::TaskHandle;
use crate::error::{Refusal, SubmitError};
use crate::map::Map;
use crate::state::{Job, JobSlot};
use crate::sync::Arc;
use crate::task::{Plain, Runnable, Task, WithToken};
use crate::token::CancelToken;

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
/// once every worker is waiting. Here the waiting worker **lends its place**:
/// while it is blocked it does not count against `max_workers`, and if work
/// is queued and no worker is idle, the pool starts one more. When the wait
/// ends, the returning worker finishes its task alongside the extra one, so
/// for that moment the workers running tasks can exceed `max_workers` by the
/// number that just came back; each of them retires after its task if the
/// pool is over its limit. Workers that are not waiting never exceed
/// `max_workers`.
///
/// The pool only sees waits made through futurepool. A task that blocks in
/// some other way, say an async executor's `block_on` awaiting a handle, or
/// a channel `recv`, keeps its place, and a full pool can deadlock on it as
/// in Python.
///
/// # Shutdown
///
/// [`shutdown`](Self::shutdown) stops the pool taking new tasks, lets the
/// queued ones run, and waits for every worker thread to exit.
/// [`shutdown_with`](Self::shutdown_with) can skip the wait and cancel the
/// queued tasks. Shutting down twice is harmless. Dropping the pool shuts it
/// down and waits: no worker thread outlives its `ThreadPool`.
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
#[doc(alias = "Executor")]
pub struct ThreadPool {
    inner: Arc<Inner>,
}

/// How [`ThreadPool::shutdown_with`] shuts a pool down.
///
/// The default is Python's `shutdown()`: wait, and let queued tasks run.
///
/// # Examples
///
/// ```
/// use futurepool::{ShutdownOptions, ThreadPool};
///
/// let pool = ThreadPool::new();
/// pool.shutdown_with(ShutdownOptions::new().wait(false).cancel_pending(true));
/// assert!(pool.is_shutdown());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownOptions {
    pub(crate) wait: bool,
    pub(crate) cancel_pending: bool,
}

impl Default for ShutdownOptions {
    fn default() -> Self {
        ShutdownOptions::new()
    }
}

impl ShutdownOptions {
    /// Wait for the workers; let queued tasks run.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ShutdownOptions;
    ///
    /// assert_eq!(ShutdownOptions::new(), ShutdownOptions::default());
    /// ```
    pub fn new() -> ShutdownOptions {
        ShutdownOptions {
            wait: true,
            cancel_pending: false,
        }
    }

    /// Whether `shutdown_with` blocks until every worker thread has exited
    /// (after finishing its running task and, unless cancelled, the queue).
    /// Without waiting, the workers exit on their own; dropping the pool
    /// still waits for them.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ShutdownOptions, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| 1).unwrap();
    /// pool.shutdown_with(ShutdownOptions::new().wait(false));
    /// assert_eq!(handle.join().unwrap(), 1); // queued work still runs
    /// ```
    pub fn wait(mut self, wait: bool) -> ShutdownOptions {
        self.wait = wait;
        self
    }

    /// Whether tasks still queued are cancelled (they never run; their
    /// handles report cancelled). Running tasks are not affected.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ShutdownOptions, ThreadPool};
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (started_tx, started_rx) = mpsc::channel();
    /// let (go_tx, go_rx) = mpsc::channel::<()>();
    /// let running = pool.submit(move || { started_tx.send(()).unwrap(); go_rx.recv().unwrap() }).unwrap();
    /// let queued = pool.submit(|| ()).unwrap();
    /// started_rx.recv().unwrap();
    /// pool.shutdown_with(ShutdownOptions::new().wait(false).cancel_pending(true));
    /// assert!(queued.is_cancelled());
    /// go_tx.send(()).unwrap();
    /// assert!(running.join().is_ok());
    /// ```
    #[doc(alias = "cancel_futures")]
    pub fn cancel_pending(mut self, cancel: bool) -> ShutdownOptions {
        self.cancel_pending = cancel;
        self
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
        self.spawn(Plain(f), None, None, false)
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

    /// Starts a task with options, such as a timeout.
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
    pub fn task(&self) -> TaskBuilder<'_> {
        TaskBuilder {
            pool: self,
            deadline: None,
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
    pub fn map<F, I, T>(&self, f: F, inputs: I) -> Map<'_, I::IntoIter, F, T>
    where
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        Map::new(self, f, inputs.into_iter())
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
    pub fn shutdown(&self) {
        self.shutdown_with(ShutdownOptions::new());
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
    pub fn shutdown_with(&self, options: ShutdownOptions) {
        self.inner.shutdown(options.wait, options.cancel_pending);
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
        self.inner.is_shutdown()
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
        self.inner.config.max_workers
    }

    /// How many worker threads are alive now (busy, idle or lent).
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
        self.inner.worker_count()
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
        self.inner.queued()
    }

    /// Queues a job, registering its deadline. On refusal, hands back the
    /// closure as it was given.
    pub(crate) fn spawn<J, T, F>(
        &self,
        job: J,
        token: Option<CancelToken>,
        deadline: Option<Instant>,
        block: bool,
    ) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        J: Job<T> + 'static,
        F: 'static,
        T: Send + 'static,
    {
        let task = Arc::new(Task::new(job, token, deadline));
        let runnable: Arc<dyn Runnable> = task.clone();
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Already passed: the task must not run at all, so it is ended
            // here rather than raced against a worker. A pool that would
            // refuse it still does, handing the closure back.
            if let Some(reason) = self.inner.refusal() {
                let f = take_back(&task).expect("nothing else has seen the task");
                return Err(SubmitError::new(f, reason));
            }
            runnable.expire();
            return Ok(TaskHandle::new(task));
        }
        // The deadline is registered before the task is queued, so that a
        // timer that can't start refuses a task nobody has seen yet.
        let scheduled = match deadline {
            // Refused anyway: don't start a timer thread (which would stay
            // until the pool is dropped) for a task that will never be queued.
            Some(_) if self.inner.is_shutdown() => Err(Refusal::Shutdown),
            Some(deadline) => self
                .inner
                .timer
                .schedule(deadline, Arc::downgrade(&runnable))
                .map_err(Refusal::Spawn),
            None => Ok(()),
        };
        match scheduled.and_then(|()| self.inner.push(runnable, block)) {
            Ok(()) => Ok(TaskHandle::new(task)),
            Err(reason) => match take_back(&task) {
                Some(f) => Err(SubmitError::new(f, reason)),
                // A deadline just after the submit fired before the refusal
                // and ended the task: its outcome is that timeout.
                None => Ok(TaskHandle::new(task)),
            },
        }
    }
}

/// The closure of a task that was refused before any worker saw it, unless
/// its deadline ended it (and dropped the closure) first.
fn take_back<T, J: JobSlot<T>, F: 'static>(task: &Task<T, J>) -> Option<F> {
    let job = task.take_unqueued_job()?;
    let f = job
        .downcast::<F>()
        .expect("the job holds the closure given");
    Some(*f)
}

/// Submits one task with options; made by [`ThreadPool::task`].
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let handle = pool
///     .task()
///     .timeout(Duration::from_millis(20))
///     .submit_cancellable(|token| {
///         while !token.is_cancelled() {
///             std::thread::yield_now(); // a long computation, checking in
///         }
///     })
///     .unwrap();
/// assert!(handle.join().unwrap_err().is_timeout());
/// ```
#[must_use = "a task builder does nothing until a submit method is called"]
pub struct TaskBuilder<'a> {
    pool: &'a ThreadPool,
    deadline: Option<Deadline>,
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    After(Duration),
    At(Instant),
}

impl TaskBuilder<'_> {
    /// Gives the task `timeout`, counted from the submit, to finish. When it
    /// passes, the task's handle completes with a timeout error
    /// ([`TaskError::is_timeout`](crate::TaskError::is_timeout)): a queued task
    /// never runs; a running one has its [`CancelToken`] signalled. A thread
    /// can't be stopped from outside, so a running closure that doesn't check
    /// a token goes on to the end, holding its worker; its value is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let h = pool.task().timeout(Duration::from_secs(60)).submit(|| 3).unwrap();
    /// assert_eq!(h.join().unwrap(), 3);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Deadline::After(timeout));
        self
    }

    /// Like [`timeout`](Self::timeout), with a point in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Instant;
    ///
    /// let pool = ThreadPool::new();
    /// let h = pool.task().deadline(Instant::now()).submit(|| 3).unwrap();
    /// assert!(h.join().unwrap_err().is_timeout()); // already passed
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(Deadline::At(deadline));
        self
    }

    fn resolve(&self) -> Option<Instant> {
        match self.deadline? {
            Deadline::After(d) => Instant::now().checked_add(d),
            Deadline::At(at) => Some(at),
        }
    }

    /// Submits `f`, as [`ThreadPool::submit`] does, with these options.
    ///
    /// # Errors
    ///
    /// As for [`ThreadPool::submit`]; also refused if the pool's deadline
    /// timer thread can't be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(pool.task().submit(|| 'x').unwrap().join().unwrap(), 'x');
    /// ```
    pub fn submit<F, T>(self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.pool.spawn(Plain(f), None, self.resolve(), true)
    }

    /// Submits `f`, as [`ThreadPool::submit_cancellable`] does, with these
    /// options. The token is signalled by `cancel()` and when the deadline
    /// passes.
    ///
    /// # Errors
    ///
    /// As for [`submit`](Self::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let h = pool
    ///     .task()
    ///     .timeout(Duration::from_secs(60))
    ///     .submit_cancellable(|token| token.is_cancelled())
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), false);
    /// ```
    pub fn submit_cancellable<F, T>(self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let token = CancelToken::new();
        self.pool.spawn(
            WithToken(f, token.clone()),
            Some(token),
            self.resolve(),
            true,
        )
    }
}

impl fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.inner.shutdown(true, false);
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
