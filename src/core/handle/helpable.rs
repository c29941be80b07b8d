//! [`Helpable`]: a task reached without its handle, by a waiter that may
//! run it itself.
//!
//! A [`Scope`](crate::Scope) hands each task's handle to the caller, yet its
//! end must wait for every task, the unjoined ones too. Lending its place is
//! not enough: with no place left to lend (nested scopes on a full pool, or
//! `max_lent(0)`), tasks queued behind the waiting worker would never run.
//! So the scope keeps a weak reference to each task, and its end offers to
//! run those that haven't started, as a `join` does
//! ([`Cell::help`](crate::core::cell::Cell::help)).

use std::fmt;

use super::TaskHandle;
use crate::core::cell::Cell;
use crate::loom::sync::Weak;

/// A weak reference to a task, for help-while-waiting; see the
/// [module docs](self).
pub(crate) struct Helpable(Box<dyn Help>);

/// What [`Helpable`] erases: the task's result type.
trait Help: Send + Sync {
    fn help(&self);
    fn is_gone(&self) -> bool;
}

impl<T: Send> Help for Weak<Cell<T>> {
    fn help(&self) {
        if let Some(cell) = self.upgrade() {
            cell.help();
        }
    }

    fn is_gone(&self) -> bool {
        self.strong_count() == 0
    }
}

impl Helpable {
    /// Offers to run the task on this thread, if it hasn't started and
    /// this thread is a worker of the pool it is queued on (see
    /// [`Cell::help`](crate::core::cell::Cell::help)); otherwise does
    /// nothing.
    pub(crate) fn help(&self) {
        self.0.help();
    }

    /// Whether the task is over and nothing refers to it any more: its
    /// handle dropped and its queue entry gone.
    pub(crate) fn is_gone(&self) -> bool {
        self.0.is_gone()
    }
}

impl fmt::Debug for Helpable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Helpable")
            .field("gone", &self.is_gone())
            .finish()
    }
}

impl<T: Send + 'static> TaskHandle<T> {
    /// A weak reference to the task, through which a waiter may run it
    /// without the handle (see [`Helpable`]).
    pub(crate) fn helpable(&self) -> Helpable {
        Helpable(Box::new(crate::loom::sync::Arc::downgrade(&self.cell)))
    }
}
