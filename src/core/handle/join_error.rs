//! The errors of waiting for one task: [`JoinTimeoutError`] and
//! [`TryJoinError`], which hand the unfinished handle back.

use std::error::Error;
use std::fmt;

use super::TaskHandle;
use crate::error::TaskError;

/// The error of [`TaskHandle::join_timeout`] and [`TaskHandle::join_deadline`].
///
/// # Examples
///
/// ```
/// use futurepool::{JoinTimeoutError, ThreadPool};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<u32>();
/// let handle = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let handle = match handle.join_timeout(Duration::from_millis(1)) {
///     Err(JoinTimeoutError::Timeout(handle)) => handle, // still running: handed back
///     other => panic!("unexpected {other:?}"),
/// };
/// tx.send(5).unwrap();
/// assert_eq!(handle.join().unwrap(), 5);
/// ```
pub enum JoinTimeoutError<T> {
    /// The task did not finish in time. Its handle is handed back, so the
    /// caller can wait again, cancel it, or drop it.
    Timeout(TaskHandle<T>),
    /// The task finished without a value.
    Failed(TaskError),
}

/// The error of [`TaskHandle::try_join`].
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, TryJoinError};
///
/// let pool = ThreadPool::new();
/// let handle = pool.submit(|| 2).unwrap();
/// handle.wait();
/// assert!(matches!(handle.try_join(), Ok(2)));
/// ```
pub enum TryJoinError<T> {
    /// The task has not finished yet. Its handle is handed back.
    NotReady(TaskHandle<T>),
    /// The task finished without a value.
    Failed(TaskError),
}

impl<T> JoinTimeoutError<T> {
    /// Returns `true` if the wait timed out (the task is still unfinished).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let handle = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let err = handle.join_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert!(err.is_timeout());
    /// tx.send(()).unwrap();
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, JoinTimeoutError::Timeout(_))
    }

    /// Returns the task's error if it failed, or `None` if the wait timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| -> u8 { panic!("no") }).unwrap();
    /// let err = handle.join_timeout(Duration::from_secs(60)).unwrap_err();
    /// assert!(err.into_task_error().unwrap().is_panic());
    /// ```
    pub fn into_task_error(self) -> Option<TaskError> {
        match self {
            JoinTimeoutError::Timeout(_) => None,
            JoinTimeoutError::Failed(err) => Some(err),
        }
    }
}

impl<T> fmt::Debug for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout(_) => f.write_str("JoinTimeoutError::Timeout(..)"),
            JoinTimeoutError::Failed(err) => f
                .debug_tuple("JoinTimeoutError::Failed")
                .field(err)
                .finish(),
        }
    }
}

impl<T> fmt::Display for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout(_) => f.write_str("timed out waiting for the task"),
            JoinTimeoutError::Failed(err) => fmt::Display::fmt(err, f),
        }
    }
}

/// `Failed` is transparent: it reads as the task's error, and its source
/// is that error's source (never the task's error again: reporters would
/// print it twice).
impl<T> Error for JoinTimeoutError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            JoinTimeoutError::Timeout(_) => None,
            JoinTimeoutError::Failed(err) => err.source(),
        }
    }
}

impl<T> TryJoinError<T> {
    /// Returns `true` if the task has not finished yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let handle = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// assert!(handle.try_join().unwrap_err().is_not_ready());
    /// tx.send(()).unwrap();
    /// ```
    pub fn is_not_ready(&self) -> bool {
        matches!(self, TryJoinError::NotReady(_))
    }

    /// Returns the task's error if it failed, or `None` if it was not
    /// finished yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| -> u8 { panic!("no") }).unwrap();
    /// handle.wait();
    /// assert!(handle.try_join().unwrap_err().into_task_error().unwrap().is_panic());
    /// ```
    pub fn into_task_error(self) -> Option<TaskError> {
        match self {
            TryJoinError::NotReady(_) => None,
            TryJoinError::Failed(err) => Some(err),
        }
    }
}

impl<T> fmt::Debug for TryJoinError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryJoinError::NotReady(_) => f.write_str("TryJoinError::NotReady(..)"),
            TryJoinError::Failed(err) => f.debug_tuple("TryJoinError::Failed").field(err).finish(),
        }
    }
}

impl<T> fmt::Display for TryJoinError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryJoinError::NotReady(_) => f.write_str("task is not finished"),
            TryJoinError::Failed(err) => fmt::Display::fmt(err, f),
        }
    }
}

/// `Failed` is transparent, as for [`JoinTimeoutError`].
impl<T> Error for TryJoinError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TryJoinError::NotReady(_) => None,
            TryJoinError::Failed(err) => err.source(),
        }
    }
}
