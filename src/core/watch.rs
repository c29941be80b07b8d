//! Waiting on many tasks at once: the plumbing under `as_completed` and `wait`.
//!
//! A [`Notify`] is a small ready-queue of indices. Each watched task gets a
//! [`Watcher`] naming the queue and its index; when the task publishes its
//! outcome it pushes the index and wakes whoever waits on the queue, a
//! blocked thread (condvar) or an async task (waker). Already finished tasks
//! are pushed at registration. Watchers are removed again when the waiter
//! goes away, so repeated waits on long tasks don't pile up registrations.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Instant;

use crate::core::blocking;
use crate::loom::sync::{Arc, Condvar, Mutex};

/// A ready-queue of task indices; see the [module docs](self).
#[derive(Default)]
pub(crate) struct Notify {
    inner: Mutex<NotifyInner>,
    cond: Condvar,
}

#[derive(Default)]
struct NotifyInner {
    ready: VecDeque<usize>,
    waker: Option<Waker>,
}

impl Notify {
    pub(crate) fn push(&self, index: usize) {
        let waker = {
            let mut inner = self.inner.lock();
            inner.ready.push_back(index);
            inner.waker.take()
        };
        self.cond.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Pops the next ready index without blocking.
    pub(crate) fn try_pop(&self) -> Option<usize> {
        self.inner.lock().ready.pop_front()
    }

    /// Pops the next ready index, blocking until `deadline` (forever if
    /// `None`). Returns `None` on timeout. A deadline already passed makes
    /// it a poll, which, like a handle's `wait_deadline`, doesn't announce a
    /// block: a pool worker polling with a zero timeout must not make its
    /// pool start another thread.
    pub(crate) fn pop_deadline(&self, deadline: Option<Instant>) -> Option<usize> {
        let mut inner = self.inner.lock();
        if let Some(i) = inner.ready.pop_front() {
            return Some(i);
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return None;
        }
        drop(inner);
        // A pool worker that blocks here lends its place to its pool.
        let _blocking = blocking::enter();
        let mut inner = self.inner.lock();
        loop {
            if let Some(i) = inner.ready.pop_front() {
                return Some(i);
            }
            match deadline {
                None => self.cond.wait(&mut inner),
                Some(deadline) => {
                    if self.cond.wait_until(&mut inner, deadline).timed_out() {
                        return inner.ready.pop_front();
                    }
                }
            }
        }
    }

    /// Pops the next ready index without blocking, or registers `waker` to
    /// be woken by the next push.
    pub(crate) fn poll_pop(&self, waker: &Waker) -> Option<usize> {
        let mut inner = self.inner.lock();
        if let Some(i) = inner.ready.pop_front() {
            return Some(i);
        }
        match &inner.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => inner.waker = Some(waker.clone()),
        }
        None
    }
}

/// One registration of a [`Notify`] on one task.
pub(crate) struct Watcher {
    pub(crate) id: u64,
    pub(crate) notify: Arc<Notify>,
    pub(crate) index: usize,
}

/// Help-while-waiting over a set of tasks (see `Cell::help`): on a thread
/// whose backend may run tasks inline (a pool worker), runs the first of
/// `tasks` not done that this thread may run itself. Whether it ran one.
pub(crate) fn help_one<'a>(tasks: impl IntoIterator<Item = &'a dyn Completion>) -> bool {
    super::blocking::may_help()
        && tasks
            .into_iter()
            .any(|task| task.done_status().is_none() && task.help())
}

/// What `as_completed` and `wait` need of a task, whatever its output type
/// (a [`TaskHandle`](crate::TaskHandle) implements it).
pub(crate) trait Completion: Send + Sync {
    /// `Some(is_exception)` if the task is done, else `None`.
    fn done_status(&self) -> Option<bool>;
    /// Whether the task is done without a value (an error, or cancelled):
    /// what a progress report counts as failed.
    fn is_failed(&self) -> bool;
    /// Registers `w`, or returns `Some(is_exception)` without registering if
    /// the task is already done.
    fn watch(&self, w: Watcher) -> Option<bool>;
    /// Removes the watchers with this id, if still registered.
    fn unwatch(&self, id: u64);
    /// An address identifying the task, to drop duplicates.
    fn identity(&self) -> *const ();
    /// The number of its [`TaskId`](crate::TaskId) (what a progress
    /// report's backend notes name it by).
    fn task_id(&self) -> u64;
    /// Help-while-waiting (see `Cell::help`): runs the task on this thread
    /// if this thread's backend may; whether it is done now.
    fn help(&self) -> bool;
}
