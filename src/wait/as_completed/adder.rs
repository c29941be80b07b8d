//! [`AsCompletedAdder`]: adds tasks to an [`as_completed`](crate::as_completed)
//! from a `for` loop's body, or from another thread.
//!
//! Added tasks wait in an inbox beside the iterator's ready-queue; adding
//! one also pushes [`WAKE`] on that queue, so a `next` blocked on it wakes,
//! takes the inbox into its set, and goes on. `next` takes the inbox
//! before it decides the iteration has ended, so a task added before that
//! `next` is never missed; one added later is yielded by a later `next`.

use std::fmt;

use crate::core::watch::Notify;
use crate::loom::sync::{Arc, Mutex};
use crate::wait::set::TaskRef;

/// The ready-queue index that means "the inbox has tasks", never a task's.
pub(super) const WAKE: usize = usize::MAX;

/// Tasks added through an [`AsCompletedAdder`], not yet in the set.
pub(super) struct Inbox<H> {
    tasks: Mutex<Vec<H>>,
    notify: Arc<Notify>,
}

impl<H> Inbox<H> {
    pub(super) fn new(notify: Arc<Notify>) -> Inbox<H> {
        Inbox {
            tasks: Mutex::new(Vec::new()),
            notify,
        }
    }

    /// The tasks added since the last call, in the order added.
    pub(super) fn take(&self) -> Vec<H> {
        std::mem::take(&mut *self.tasks.lock())
    }
}

/// Adds tasks to an [`AsCompleted`](crate::AsCompleted) that is being
/// iterated: from the body of a `for` loop over it (which owns the
/// iterator), or from another thread. Made by
/// [`AsCompleted::adder`](crate::AsCompleted::adder); clone it freely.
///
/// A task added is yielded as the others are, once it finishes; a task
/// added while the same task is still in the set and not yet yielded is
/// yielded once. The iteration ends when every task given or added *before
/// the end was reached* has been yielded: a task added from another thread
/// after `next` returned `None` is yielded by a later `next`, as with
/// [`AsCompleted::add`](crate::AsCompleted::add). To keep an iteration
/// going while another thread may still add, keep a task of your own in
/// it (a [`Promise`](crate::Promise)'s handle) until that thread is done.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, as_completed};
///
/// let pool = ThreadPool::new();
/// let mut tasks = as_completed([pool.submit(|| 1_u32).unwrap()]);
/// let adder = tasks.adder();
/// let mut seen = Vec::new();
/// for handle in tasks {
///     let n = handle.join().unwrap();
///     seen.push(n);
///     if n < 4 {
///         adder.add(pool.submit(move || n + 1).unwrap());
///     }
/// }
/// assert_eq!(seen, [1, 2, 3, 4]);
/// ```
pub struct AsCompletedAdder<H> {
    inbox: Arc<Inbox<H>>,
}

impl<H: TaskRef> AsCompletedAdder<H> {
    pub(super) fn new(inbox: Arc<Inbox<H>>) -> AsCompletedAdder<H> {
        AsCompletedAdder { inbox }
    }

    /// Adds `task`; see [the type's docs](Self).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    ///
    /// let pool = ThreadPool::new();
    /// let mut tasks = as_completed(Vec::new());
    /// let adder = tasks.adder();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| adder.add(pool.submit(|| 7).unwrap()));
    /// });
    /// assert_eq!(tasks.next().unwrap().join().unwrap(), 7);
    /// ```
    pub fn add(&self, task: H) {
        self.inbox.tasks.lock().push(task);
        self.inbox.notify.push(WAKE);
    }
}

impl<H> Clone for AsCompletedAdder<H> {
    fn clone(&self) -> Self {
        AsCompletedAdder {
            inbox: self.inbox.clone(),
        }
    }
}

impl<H> fmt::Debug for AsCompletedAdder<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedAdder")
            .field("pending", &self.inbox.tasks.lock().len())
            .finish()
    }
}
