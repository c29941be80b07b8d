//! [`AsCompletedTimeout`]: [`as_completed`](crate::as_completed) with a
//! deadline, which hands out the unfinished tasks in a [`TimeoutError`]
//! when it passes.

use std::fmt;
use std::time::Instant;

use super::AsCompleted;
use crate::error::TimeoutError;
use crate::wait::set::TaskRef;

/// [`as_completed`](crate::as_completed) with a deadline: made by
/// [`AsCompleted::timeout`] or [`AsCompleted::deadline`].
///
/// Yields `Ok(task)` as tasks finish. If the deadline passes first, yields one
/// `Err(`[`TimeoutError`]`)` carrying the unfinished tasks, and ends.
///
/// Tasks can be [added](Self::add) while iterating, as to
/// [`AsCompleted`]; for that reason it is not a
/// [`FusedIterator`](std::iter::FusedIterator).
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, as_completed};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let stuck = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let items: Vec<_> = as_completed([stuck]).timeout(Duration::from_millis(10)).collect();
/// assert_eq!(items.len(), 1);
/// let unfinished = items.into_iter().next().unwrap().unwrap_err().into_unfinished();
/// tx.send(()).unwrap();
/// unfinished.into_iter().for_each(|h| h.join().unwrap());
/// ```
#[must_use = "as_completed does nothing unless iterated"]
pub struct AsCompletedTimeout<H: TaskRef> {
    inner: AsCompleted<H>,
    deadline: Option<Instant>,
    expired: bool,
}

impl<H: TaskRef> AsCompletedTimeout<H> {
    /// `inner`, giving up at `deadline` (never if `None`).
    pub(super) fn new(inner: AsCompleted<H>, deadline: Option<Instant>) -> AsCompletedTimeout<H> {
        AsCompletedTimeout {
            inner,
            deadline,
            expired: false,
        }
    }

    /// Adds a task while iterating; see [`AsCompleted::add`]. The deadline
    /// stays: added after it passed (after the timeout error), the task is
    /// yielded by the next `next` if it has finished by then, else comes
    /// back in another timeout error.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let mut it = as_completed([pool.submit(|| 1).unwrap()]).timeout(Duration::from_secs(60));
    /// let first = it.next().unwrap().unwrap().join().unwrap();
    /// it.add(pool.submit(move || first + 1).unwrap());
    /// assert_eq!(it.next().unwrap().unwrap().join().unwrap(), 2);
    /// assert!(it.next().is_none());
    /// ```
    pub fn add(&mut self, task: H) -> bool {
        let added = self.inner.add(task);
        self.expired &= !added;
        added
    }
}

impl<H: TaskRef> Iterator for AsCompletedTimeout<H> {
    type Item = Result<H, TimeoutError<H>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.inner.take_inbox() > 0 {
            self.expired = false; // as `add` does
        }
        if self.expired || self.inner.remaining == 0 {
            self.inner.finish_progress();
            return None;
        }
        if let Some(task) = self.inner.next_deadline(self.deadline) {
            return Some(Ok(task));
        }
        self.expired = true;
        let unfinished = self.inner.set.take_all();
        self.inner.ready.clear();
        self.inner.remaining = 0;
        self.inner.finish_progress();
        Some(Err(TimeoutError::new(unfinished, self.inner.set.total)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.expired || self.inner.remaining == 0 {
            (0, Some(0))
        } else {
            (1, Some(self.inner.remaining))
        }
    }
}

// Not a `FusedIterator`: a task added after the end is yielded (see `add`).

impl<H: TaskRef> fmt::Debug for AsCompletedTimeout<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("remaining", &self.inner.remaining)
            .field("deadline", &self.deadline)
            .field("expired", &self.expired)
            .finish()
    }
}
