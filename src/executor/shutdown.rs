//! [`ShutdownOptions`]: how an executor shuts down, whichever it is.

use std::time::{Duration, Instant};

/// How `shutdown_with` shuts an executor down
/// ([`ThreadPool::shutdown_with`](crate::ThreadPool::shutdown_with),
/// [`ProcessPool::shutdown_with`](crate::ProcessPool::shutdown_with),
/// [`Executor::shutdown_with`](crate::Executor::shutdown_with)).
///
/// The default is Python's `shutdown()`: refuse new tasks, let the queued
/// ones run, and wait for every worker to exit. Each option changes one
/// thing:
///
/// | option | Python | Java | tokio |
/// |--------|--------|------|-------|
/// | [`wait(false)`](Self::wait) | `shutdown(wait=False)` | `shutdown()` | `shutdown_background()` |
/// | [`cancel_pending(true)`](Self::cancel_pending) | `cancel_futures=True` | (part of `shutdownNow()`) | |
/// | [`cancel_running(true)`](Self::cancel_running) | `terminate_workers()` / `kill_workers()` (3.14, processes) | `shutdownNow()` (interrupts) | |
/// | [`timeout(d)`](Self::timeout) | | `awaitTermination(d)` | `shutdown_timeout(d)` |
///
/// # Examples
///
/// ```
/// use futurepool::{ShutdownOptions, ThreadPool};
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let stopped = pool.shutdown_with(
///     ShutdownOptions::new()
///         .cancel_pending(true)
///         .cancel_running(true)
///         .timeout(Duration::from_secs(10)),
/// );
/// assert!(stopped && pool.is_shutdown());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownOptions {
    pub(crate) wait: bool,
    pub(crate) cancel_pending: bool,
    pub(crate) cancel_running: bool,
    pub(crate) timeout: Option<Duration>,
}

impl Default for ShutdownOptions {
    fn default() -> Self {
        ShutdownOptions::new()
    }
}

impl ShutdownOptions {
    /// Wait for the workers, as long as it takes; let queued tasks run; let
    /// running ones finish.
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
            cancel_running: false,
            timeout: None,
        }
    }

    /// Whether `shutdown_with` blocks until every worker has exited (after
    /// finishing its running task and, unless cancelled, the queue).
    /// Without waiting, the workers finish and exit on their own; a later
    /// `shutdown()` waits for them.
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
    /// handles report cancelled). Python's `cancel_futures`.
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

    /// Whether running tasks are stopped too, as far as the executor can:
    ///
    /// - a **process pool** kills the workers running tasks (Python 3.14's
    ///   `terminate_workers`/`kill_workers`): their handles report
    ///   cancelled, and nothing of theirs runs on;
    /// - a **thread pool** can't stop a thread: it cancels the running tasks
    ///   that were submitted with a [`CancelToken`](crate::CancelToken)
    ///   (their tokens are signalled, their handles report cancelled at
    ///   once; the closures return when they next check), and such a task
    ///   that a worker had taken off the queue but not yet started (it
    ///   never starts). A closure without a token runs to its end, and a
    ///   waiting shutdown waits for it;
    /// - a **cluster** asks the workers running its tasks to kill them (as
    ///   a handle's [`cancel`](crate::TaskHandle::cancel) does): their
    ///   handles report cancelled once the workers have (or their outcome,
    ///   if they ended first), and a waiting shutdown waits for that.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ShutdownOptions, ThreadPool};
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::new();
    /// let (started_tx, started_rx) = mpsc::channel();
    /// let endless = pool
    ///     .submit_cancellable(move |token| {
    ///         started_tx.send(()).unwrap();
    ///         while !token.is_cancelled() {
    ///             std::thread::yield_now();
    ///         }
    ///     })
    ///     .unwrap();
    /// started_rx.recv().unwrap();
    /// assert!(pool.shutdown_with(ShutdownOptions::new().cancel_running(true)));
    /// assert!(endless.join().unwrap_err().is_cancelled());
    /// ```
    #[doc(alias = "terminate_workers")]
    #[doc(alias = "kill_workers")]
    #[doc(alias = "shutdownNow")]
    pub fn cancel_running(mut self, cancel: bool) -> ShutdownOptions {
        self.cancel_running = cancel;
        self
    }

    /// Waits at most `timeout` for the workers (with [`wait`](Self::wait)):
    /// `shutdown_with` returns `false` if some are still running then. They
    /// go on running (nothing is killed for a timeout: combine with
    /// [`cancel_running`](Self::cancel_running) to stop them), and a later
    /// `shutdown` can wait again.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ShutdownOptions, ThreadPool};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let stuck = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let stopped = pool.shutdown_with(ShutdownOptions::new().timeout(Duration::from_millis(20)));
    /// assert!(!stopped); // `stuck` still runs
    /// tx.send(()).unwrap();
    /// stuck.join().unwrap();
    /// assert!(pool.shutdown());
    /// ```
    #[doc(alias = "await_termination")]
    #[doc(alias = "shutdown_timeout")]
    pub fn timeout(mut self, timeout: Duration) -> ShutdownOptions {
        self.timeout = Some(timeout);
        self
    }

    /// When a waiting shutdown gives up, if it does.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timeout.and_then(|t| Instant::now().checked_add(t))
    }
}
