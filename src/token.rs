//! Cooperative cancellation tokens.

use std::fmt;

use crate::sync::{Arc, AtomicBool, Mutex, Ordering};

/// What to do when a token is signalled, besides setting the flag: the
/// process pool kills the worker running the task.
#[cfg(feature = "process")]
pub(crate) type Hook = Box<dyn FnMut() + Send>;

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
    inner: Arc<Inner>,
}

struct Inner {
    flag: AtomicBool,
    /// The hook and whether it has fired. Signalling runs the hook *under*
    /// this lock, so that once `clear_hook` returns the hook can't be running
    /// or run later (the process pool relies on this: after it, the worker's
    /// pid may be reaped and reused).
    #[cfg(feature = "process")]
    hook: Mutex<(Option<Hook>, bool)>,
    #[cfg(not(feature = "process"))]
    hook: Mutex<()>,
}

impl CancelToken {
    pub(crate) fn new() -> CancelToken {
        CancelToken {
            inner: Arc::new(Inner {
                flag: AtomicBool::new(false),
                hook: Mutex::default(),
            }),
        }
    }

    /// Installs `hook`, to run once when the token is signalled. Returns
    /// `false` (dropping `hook` unrun) if the token is already signalled.
    #[cfg(feature = "process")]
    pub(crate) fn set_hook(&self, hook: Hook) -> bool {
        let mut slot = self.inner.hook.lock();
        if self.is_cancelled() {
            return false;
        }
        *slot = (Some(hook), false);
        true
    }

    /// Removes the hook; returns whether it fired while installed. After
    /// this returns the hook is neither running nor will run.
    #[cfg(feature = "process")]
    pub(crate) fn clear_hook(&self) -> bool {
        let mut slot = self.inner.hook.lock();
        let fired = slot.1;
        *slot = (None, false);
        fired
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
        self.inner.flag.load(Ordering::Acquire)
    }

    pub(crate) fn signal(&self) {
        // ORDERING: Release, see `is_cancelled`.
        self.inner.flag.store(true, Ordering::Release);
        #[cfg(feature = "process")]
        {
            // After the store, so a concurrent `set_hook` either sees the
            // flag or installs its hook before this takes the lock.
            let mut slot = self.inner.hook.lock();
            if let Some(hook) = slot.0.as_mut() {
                hook();
                slot.1 = true;
            }
        }
        #[cfg(not(feature = "process"))]
        let _ = &self.inner.hook;
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
