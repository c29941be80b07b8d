//! [`CancelToken`]: cooperative cancellation of running work.

use std::fmt;

use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicBool, Ordering};

/// A flag a running task checks to learn that it should stop.
///
/// Threads can't be killed: the only way to stop work that is already running
/// on a thread is to ask it to stop and have it listen. A task submitted with
/// [`ThreadPool::submit_cancellable`](crate::ThreadPool::submit_cancellable)
/// (or given a timeout with [`TaskBuilder`](crate::TaskBuilder)) receives a
/// `CancelToken`; [`TaskHandle::cancel`](crate::TaskHandle::cancel) and a
/// passed deadline both signal it. The task polls
/// [`is_cancelled`](Self::is_cancelled) at points where stopping is safe and
/// returns early.
///
/// A token is cheap to clone; all clones see the same signal, so a task can
/// hand one to the helpers it calls. Once signalled, a token stays signalled.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::new();
/// let (started_tx, started_rx) = mpsc::channel();
/// let handle = pool
///     .submit_cancellable(move |token| {
///         started_tx.send(()).unwrap();
///         let mut spins = 0u64;
///         while !token.is_cancelled() {
///             spins += 1;
///             std::hint::spin_loop();
///         }
///         spins
///     })
///     .unwrap();
/// started_rx.recv().unwrap(); // the task is running now
/// assert!(handle.cancel()); // signals the token
/// assert!(handle.join().unwrap_err().is_cancelled());
/// ```
#[derive(Clone)]
#[doc(alias = "CancellationToken")]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
}

impl CancelToken {
    pub(crate) fn new() -> CancelToken {
        CancelToken {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Returns `true` once the task has been cancelled or its deadline has
    /// passed: the task should stop as soon as it safely can, because nobody
    /// will see what it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit_cancellable(|token| token.is_cancelled()).unwrap();
    /// assert_eq!(handle.join().unwrap(), false);
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        // ORDERING: Acquire pairs with the Release in `signal`, so a task that
        // sees the flag also sees everything the canceller wrote before it.
        self.flag.load(Ordering::Acquire)
    }

    /// Asks the task to stop. Called by whichever event ends a running task
    /// (under the task's lock); it only sets the flag.
    pub(crate) fn signal(&self) {
        // ORDERING: Release, see `is_cancelled`.
        self.flag.store(true, Ordering::Release);
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
