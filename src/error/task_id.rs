//! [`TaskId`], which task: what a handle, a promise and a task's error
//! show. And [`TaskName`], a task's optional name as the crate keeps it.
//!
//! They live beside the errors, not in the core, because every error of a
//! task carries them: the core imports them from here, as it imports
//! [`TaskError`](super::TaskError), and the errors import nothing of the
//! core.

use std::fmt;

use crate::loom::sync::Arc;

/// Identifies a task: unique among the tasks of this process, for its whole
/// life.
///
/// Every task gets one when it is created: submitted to a pool, or made by
/// [`Promise::new`](crate::Promise::new). Its
/// [`TaskHandle`](crate::TaskHandle), its [`Promise`](crate::Promise), its
/// [`SharedHandle`](crate::SharedHandle)s and its [`TaskError`](crate::TaskError)
/// all report the same id. Ids are never reused, but they are not dense
/// (the numbers between two tasks may have gone to other things), and their
/// order says nothing about the order the tasks ran in.
///
/// It shows as `task 17` ([`Display`](fmt::Display)) and as `TaskId(17)`
/// ([`Debug`](fmt::Debug)).
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let a = pool.submit(|| ()).unwrap();
/// let b = pool.submit(|| ()).unwrap();
/// assert_ne!(a.id(), b.id());
/// assert_eq!(a.id().to_string(), format!("task {}", a.id().as_u64()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) const fn new(id: u64) -> TaskId {
        TaskId(id)
    }

    /// The id as a number, for logs and metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_promise, handle) = futurepool::Promise::<u8>::new();
    /// assert!(handle.id().as_u64() > 0);
    /// assert_eq!(format!("{:?}", handle.id()), format!("TaskId({})", handle.id().as_u64()));
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.0)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TaskId").field(&self.0).finish()
    }
}

/// A task's name, shared between its cell and the errors it ends with.
///
/// One pointer wide (`Arc<String>`, not `Arc<str>`): a task cell carries an
/// `Option<TaskName>`, so an unnamed task pays 8 bytes for it, not 16.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TaskName(Arc<String>);

impl TaskName {
    pub(crate) fn new(name: impl Into<String>) -> TaskName {
        TaskName(Arc::new(name.into()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
