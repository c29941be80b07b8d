//! The errors of [`first_ok`](crate::first_ok()) and friends:
//! [`AllFailedError`] when no task succeeded, and [`FirstOkTimeoutError`]
//! when the deadline passed first, handing the unfinished tasks back.
//!
//! They live beside `first_ok` (as the join errors live beside the handle)
//! because they hold its handles and its ordering rule.

use std::error::Error;
use std::fmt;

use crate::core::handle::TaskHandle;
use crate::error::{TaskError, TimeoutError};

/// The error of [`first_ok`](crate::first_ok()): no task succeeded. It holds
/// every task's [`TaskError`], in the order the tasks were given.
///
/// Its `Display` says how many failed; [`source`](Error::source) is the
/// first task's error (in the order given), so an error reporter prints
/// one cause; [`errors`](Self::errors) has them all.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, first_ok};
/// use std::error::Error;
///
/// let pool = ThreadPool::new();
/// let a = pool.submit(|| -> u8 { panic!("mirror a is down") }).unwrap();
/// let b = pool.submit(|| -> u8 { panic!("mirror b is down") }).unwrap();
/// let err = first_ok([a, b]).unwrap_err();
/// assert_eq!(err.to_string(), "all 2 tasks failed");
/// assert_eq!(err.source().unwrap().to_string(), "task panicked: mirror a is down");
/// let messages: Vec<_> = err.errors().iter().map(|e| e.panic_message()).collect();
/// assert_eq!(messages, [Some("mirror a is down"), Some("mirror b is down")]);
/// ```
pub struct AllFailedError {
    errors: Vec<TaskError>,
}

impl AllFailedError {
    pub(crate) fn new(errors: Vec<TaskError>) -> AllFailedError {
        AllFailedError { errors }
    }

    /// Every task's error, in the order the tasks were given. Empty if no
    /// task was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, first_ok};
    ///
    /// let pool = ThreadPool::new();
    /// let cancelled = pool
    ///     .submit_cancellable(|token| while !token.is_cancelled() { std::thread::yield_now() })
    ///     .unwrap();
    /// assert!(cancelled.cancel()); // queued or running: it takes a token
    /// let panicked = pool.submit(|| panic!("no")).unwrap();
    /// let err = first_ok([cancelled, panicked]).unwrap_err();
    /// assert!(err.errors()[0].is_cancelled());
    /// assert!(err.errors()[1].is_panic());
    /// ```
    pub fn errors(&self) -> &[TaskError] {
        &self.errors
    }

    /// Takes the errors out, in the order the tasks were given: to
    /// re-raise a panic, say.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, first_ok};
    ///
    /// let pool = ThreadPool::new();
    /// let only = pool.submit(|| -> () { panic!("boom") }).unwrap();
    /// let mut errors = first_ok([only]).unwrap_err().into_errors();
    /// let payload = errors.pop().unwrap().into_panic();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// ```
    pub fn into_errors(self) -> Vec<TaskError> {
        self.errors
    }
}

/// Shows the tasks' errors, which show no panic payload (only its message).
///
/// ```
/// use futurepool::{ThreadPool, first_ok};
///
/// let pool = ThreadPool::new();
/// let handle = pool.submit(|| -> u8 { panic!("x") }).unwrap();
/// let id = handle.id().as_u64();
/// let err = first_ok([handle]).unwrap_err();
/// assert_eq!(
///     format!("{err:?}"),
///     format!(r#"AllFailedError {{ errors: [TaskError {{ kind: Panic("x"), task: TaskId({id}) }}] }}"#)
/// );
/// ```
impl fmt::Debug for AllFailedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllFailedError")
            .field("errors", &self.errors)
            .finish()
    }
}

/// How many tasks failed; the first task's error is the
/// [`source`](Error::source), not part of this text.
///
/// ```
/// use futurepool::{TaskHandle, first_ok};
///
/// let none: Vec<TaskHandle<u8>> = Vec::new();
/// assert_eq!(first_ok(none).unwrap_err().to_string(), "no task was given");
/// ```
impl fmt::Display for AllFailedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.len() {
            0 => f.write_str("no task was given"),
            1 => f.write_str("the only task failed"),
            n => write!(f, "all {n} tasks failed"),
        }
    }
}

impl Error for AllFailedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.errors.first().map(|err| err as &(dyn Error + 'static))
    }
}

/// The error of [`first_ok_timeout`](crate::first_ok_timeout) and
/// [`first_ok_deadline`](crate::first_ok_deadline).
///
/// # Examples
///
/// ```
/// use futurepool::{FirstOkTimeoutError, ThreadPool, first_ok_timeout};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<u32>();
/// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let unfinished = match first_ok_timeout([slow], Duration::from_millis(10)) {
///     Err(FirstOkTimeoutError::Timeout(err)) => err.into_unfinished(), // handed back
///     other => panic!("unexpected {other:?}"),
/// };
/// tx.send(5).unwrap();
/// assert_eq!(unfinished.into_iter().map(|h| h.join().unwrap()).sum::<u32>(), 5);
/// ```
pub enum FirstOkTimeoutError<T> {
    /// The deadline passed before any task succeeded. The tasks still
    /// unfinished are handed back, live and not cancelled, in the order
    /// given: wait again, cancel them, or drop them. (The errors of the
    /// tasks that failed before the deadline are not kept.)
    Timeout(TimeoutError<TaskHandle<T>>),
    /// Every task failed before the deadline.
    AllFailed(AllFailedError),
}

impl<T> FirstOkTimeoutError<T> {
    /// Returns `true` if the deadline passed with tasks unfinished.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, first_ok_timeout};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let failed = pool.submit(|| -> u8 { panic!("no") }).unwrap();
    /// let err = first_ok_timeout([failed], Duration::from_secs(60)).unwrap_err();
    /// assert!(!err.is_timeout()); // it failed in time
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, FirstOkTimeoutError::Timeout(_))
    }

    /// The unfinished tasks' handles, in the order given: those of a
    /// [`Timeout`](Self::Timeout), none if every task failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, first_ok_deadline};
    /// use std::sync::mpsc;
    /// use std::time::Instant;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let stuck = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let unfinished = first_ok_deadline([stuck], Instant::now()).unwrap_err().into_unfinished();
    /// assert_eq!(unfinished.len(), 1);
    /// tx.send(()).unwrap();
    /// ```
    pub fn into_unfinished(self) -> Vec<TaskHandle<T>> {
        match self {
            FirstOkTimeoutError::Timeout(err) => err.into_unfinished(),
            FirstOkTimeoutError::AllFailed(_) => Vec::new(),
        }
    }
}

impl<T> fmt::Debug for FirstOkTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirstOkTimeoutError::Timeout(err) => f
                .debug_tuple("FirstOkTimeoutError::Timeout")
                .field(err)
                .finish(),
            FirstOkTimeoutError::AllFailed(err) => f
                .debug_tuple("FirstOkTimeoutError::AllFailed")
                .field(err)
                .finish(),
        }
    }
}

/// A timeout says so, and its [`source`](Error::source) is the
/// [`TimeoutError`] that counts the unfinished tasks. `AllFailed` reads as
/// the [`AllFailedError`] inside it, whose source it gives (the first
/// task's error): the wrapper adds nothing to say.
///
/// ```
/// use futurepool::{ThreadPool, first_ok_timeout};
/// use std::error::Error;
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let stuck = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let failed = pool.submit(|| panic!("down")).unwrap();
/// failed.wait();
/// let err = first_ok_timeout([failed, stuck], Duration::ZERO).unwrap_err();
/// assert_eq!(err.to_string(), "no task succeeded in time");
/// assert_eq!(err.source().unwrap().to_string(), "1 (of 2) tasks unfinished");
/// tx.send(()).unwrap();
/// ```
impl<T> fmt::Display for FirstOkTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirstOkTimeoutError::Timeout(_) => f.write_str("no task succeeded in time"),
            FirstOkTimeoutError::AllFailed(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl<T: 'static> Error for FirstOkTimeoutError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FirstOkTimeoutError::Timeout(err) => Some(err),
            FirstOkTimeoutError::AllFailed(err) => err.source(),
        }
    }
}
