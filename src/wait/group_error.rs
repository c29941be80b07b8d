//! [`JoinNextTimeoutError`]: no task of a [`TaskGroup`](crate::TaskGroup)
//! ended in time.

use std::error::Error;
use std::fmt;

/// The error of [`TaskGroup::join_next_timeout`](crate::TaskGroup::join_next_timeout)
/// and [`join_next_deadline`](crate::TaskGroup::join_next_deadline): no
/// task of the group ended in time. The group keeps every task.
///
/// # Examples
///
/// ```
/// use futurepool::{TaskGroup, ThreadPool};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let mut group = TaskGroup::new();
/// group.insert(pool.submit(move || rx.recv().unwrap()).unwrap());
/// let err = group.join_next_timeout(Duration::ZERO).unwrap_err();
/// assert_eq!(err.to_string(), "no task of the group ended in time");
/// assert_eq!(format!("{err:?}"), "JoinNextTimeoutError");
/// tx.send(()).unwrap();
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JoinNextTimeoutError {
    // Room to say more later without breaking anyone.
    _private: (),
}

impl JoinNextTimeoutError {
    pub(crate) fn new() -> JoinNextTimeoutError {
        JoinNextTimeoutError { _private: () }
    }
}

impl fmt::Debug for JoinNextTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinNextTimeoutError")
    }
}

impl fmt::Display for JoinNextTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no task of the group ended in time")
    }
}

impl Error for JoinNextTimeoutError {}
