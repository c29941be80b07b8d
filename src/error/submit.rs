//! [`SubmitError`]: a task handed to a pool and refused, with the task.

use std::error::Error;
use std::fmt;
use std::io;

use super::BoxError;
use super::task::TaskError;
use crate::loom::sync::Arc;

/// A task handed to a pool and refused. The task comes back inside the error.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// pool.shutdown();
/// let err = pool.submit(|| 40 + 2).unwrap_err();
/// assert!(err.is_shutdown());
/// assert_eq!(err.to_string(), "pool is shut down");
/// let task = err.into_inner(); // nothing is lost: run it here instead
/// assert_eq!(task(), 42);
/// ```
pub struct SubmitError<F> {
    task: F,
    reason: Refusal,
}

/// Why a pool refused a task.
#[derive(Clone)]
pub(crate) enum Refusal {
    Shutdown,
    Broken(Arc<BoxError>),
    Full,
    Spawn(Arc<io::Error>),
    /// A process pool could not start a worker process.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    StartFailed(Arc<BoxError>),
    /// A periodic task's period is zero.
    ZeroPeriod,
}

impl Refusal {
    /// No thread could be started.
    pub(crate) fn spawn(err: io::Error) -> Refusal {
        Refusal::Spawn(Arc::new(err))
    }

    /// The refusal as the failure of a task that never ran (`Map` yields
    /// these; a full queue counts as a refusal only where waiting is not
    /// possible).
    pub(crate) fn to_task_error(&self) -> TaskError {
        match self {
            Refusal::Shutdown | Refusal::Full | Refusal::ZeroPeriod => TaskError::shutdown(),
            Refusal::Broken(cause) => TaskError::broken(cause.clone()),
            Refusal::StartFailed(cause) => TaskError::start_failed(cause.clone()),
            Refusal::Spawn(err) => TaskError::spawn_failure(err.clone()),
        }
    }
}

impl<F> SubmitError<F> {
    pub(crate) fn new(task: F, reason: Refusal) -> SubmitError<F> {
        SubmitError { task, reason }
    }

    /// The refused task and why.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (F, Refusal) {
        (self.task, self.reason)
    }

    /// Returns the refused task.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// pool.shutdown();
    /// let task = pool.submit(|| "ran anyway").unwrap_err().into_inner();
    /// assert_eq!(task(), "ran anyway");
    /// ```
    pub fn into_inner(self) -> F {
        self.task
    }

    /// Returns `true` if the pool had been shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// pool.shutdown();
    /// assert!(pool.submit(|| ()).unwrap_err().is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self.reason, Refusal::Shutdown)
    }

    /// Returns `true` if the pool is broken because a worker initializer
    /// failed, or a process pool could not start a worker process;
    /// [`Error::source`] gives the initializer's error or the start failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().initializer(|| Err("no")).build().unwrap();
    /// let first = pool.submit(|| ()).unwrap(); // accepted; fails once the worker starts
    /// assert!(first.join().unwrap_err().is_broken());
    /// assert!(pool.submit(|| ()).unwrap_err().is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self.reason, Refusal::Broken(_) | Refusal::StartFailed(_))
    }

    /// Returns `true` if a bounded queue was full (only
    /// [`ThreadPool::try_submit`](crate::ThreadPool::try_submit) says this;
    /// `submit` waits for room instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).bounded(1).build().unwrap();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let (started_tx, started_rx) = mpsc::channel();
    /// let running = pool.submit(move || { started_tx.send(()).unwrap(); rx.recv().unwrap() }).unwrap();
    /// started_rx.recv().unwrap();
    /// let queued = pool.submit(|| ()).unwrap(); // fills the one queue slot
    /// assert!(pool.try_submit(|| ()).unwrap_err().is_full());
    /// tx.send(()).unwrap();
    /// running.join().unwrap();
    /// queued.join().unwrap();
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self.reason, Refusal::Full)
    }

    /// Returns `true` if no worker thread could be started to run the task
    /// (the operating system refused to create a thread);
    /// [`Error::source`] gives the I/O error.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().stack_size(usize::MAX / 2).build().unwrap();
    /// let err = pool.submit(|| 7).unwrap_err();
    /// assert!(err.is_spawn_failure());
    /// assert_eq!(err.into_inner()(), 7); // the closure comes back
    /// ```
    pub fn is_spawn_failure(&self) -> bool {
        matches!(self.reason, Refusal::Spawn(_))
    }

    /// Returns `true` if a periodic task was given a zero period
    /// ([`TaskBuilder::every`](crate::TaskBuilder::every)): nothing was
    /// scheduled.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let err = pool.task().every(Duration::ZERO).submit(|| ()).unwrap_err();
    /// assert!(err.is_zero_period());
    /// assert_eq!(err.to_string(), "period is zero");
    /// ```
    pub fn is_zero_period(&self) -> bool {
        matches!(self.reason, Refusal::ZeroPeriod)
    }
}

impl<F> fmt::Debug for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("reason", &self.to_string())
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Refusal::Shutdown => f.write_str("pool is shut down"),
            // Each cause is the `source()`, not part of this message.
            Refusal::Broken(_) => f.write_str("pool is broken: worker initializer failed"),
            Refusal::Full => f.write_str("pool queue is full"),
            Refusal::Spawn(_) => f.write_str("failed to start a worker thread"),
            Refusal::StartFailed(_) => {
                f.write_str("pool is broken: failed to start a worker process")
            }
            Refusal::ZeroPeriod => f.write_str("period is zero"),
        }
    }
}

impl<F> Error for SubmitError<F> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.reason {
            Refusal::Broken(cause) | Refusal::StartFailed(cause) => Some(cause.as_ref().as_ref()),
            Refusal::Spawn(err) => Some(err.as_ref()),
            _ => None,
        }
    }
}
