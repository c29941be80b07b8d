//! A [`TaskError`] of a task that depended on another: made when a
//! dependency ends without a value (`TaskBuilder::after`), and asked about.

use std::ops::Deref;

use super::task::{Repr, TaskError};
use crate::loom::sync::Arc;

/// The error of the dependency, in a dependent's error. Down a chain of
/// dependents, each error holds the one before, so a chain thousands long
/// is an error thousands deep: shared, so that copying it (for each reader
/// of a shared handle) is a count, not a copy of the chain; and let go of
/// link by link, not by a drop inside a drop, which would overflow the
/// stack.
pub(super) struct Link(Option<Arc<TaskError>>);

impl Link {
    /// Another holder of the same error.
    pub(super) fn clone(&self) -> Link {
        Link(self.0.clone())
    }
}

impl Deref for Link {
    type Target = TaskError;

    fn deref(&self) -> &TaskError {
        self.0.as_deref().expect("only a drop takes the error out")
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let mut next = self.0.take();
        while let Some(link) = next {
            // The last holder of this link's error takes the one before it
            // out, so that the error's own drop has no chain left to drop.
            next = Arc::into_inner(link).and_then(|mut err| match &mut err.inner.repr {
                Repr::Dependency(before) => before.0.take(),
                _ => None,
            });
        }
    }
}

impl TaskError {
    /// A task this one depended on ended with `dependency` (which names
    /// it), so this one never ran.
    pub(crate) fn dependency_failed(dependency: TaskError) -> TaskError {
        TaskError::new(Repr::Dependency(Link(Some(Arc::new(dependency)))))
    }

    /// Returns `true` if the task never ran because a task it depended on
    /// ([`TaskBuilder::after`](crate::TaskBuilder::after)) ended without a
    /// value: it failed, panicked, was cancelled or timed out.
    /// [`failed_dependency`](Self::failed_dependency) says which, and how.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let load = pool.task().name("load").submit(|| -> u32 { panic!("no file") }).unwrap();
    /// let double = pool.task().after(load).submit(|x: u32| x * 2).unwrap();
    /// let err = double.join().unwrap_err();
    /// assert!(err.is_dependency_failed());
    /// assert!(!err.is_panic()); // the dependency panicked; this task never ran
    /// ```
    #[doc(alias = "upstream")]
    pub fn is_dependency_failed(&self) -> bool {
        matches!(self.inner.repr, Repr::Dependency(_))
    }

    /// The error of the dependency that ended without a value, if this task
    /// [never ran because of it](Self::is_dependency_failed). It names that
    /// task ([`task_id`](Self::task_id), [`task_name`](Self::task_name))
    /// and says what happened to it. It is also this error's
    /// [`source`](std::error::Error::source), so error reporters print the
    /// chain; `Display` names the dependency only.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::error::Error;
    ///
    /// let pool = ThreadPool::new();
    /// let load = pool.task().name("load").submit(|| -> u32 { panic!("no file") }).unwrap();
    /// let load_id = load.id();
    /// let double = pool.task().name("double").after(load).submit(|x: u32| x * 2).unwrap();
    /// let err = double.join().unwrap_err();
    /// let dep = err.failed_dependency().unwrap();
    /// assert_eq!((dep.task_id(), dep.task_name()), (Some(load_id), Some("load")));
    /// assert!(dep.is_panic());
    /// let id = load_id.as_u64();
    /// assert_eq!(err.to_string(), format!("task `double`: dependency task {id} `load` failed"));
    /// assert_eq!(err.source().unwrap().to_string(), "task `load` panicked: no file");
    /// ```
    pub fn failed_dependency(&self) -> Option<&TaskError> {
        match &self.inner.repr {
            Repr::Dependency(dep) => Some(dep),
            _ => None,
        }
    }
}
