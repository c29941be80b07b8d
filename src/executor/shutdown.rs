//! [`ShutdownOptions`]: how a pool shuts down, whichever pool.

/// How a pool's `shutdown_with` shuts it down: [`ThreadPool::shutdown_with`](crate::ThreadPool::shutdown_with),
/// and the process pool's.
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
