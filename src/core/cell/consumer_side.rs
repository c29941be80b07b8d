//! The consumer's side of a [`Cell`]: what a handle does to it. Cancel
//! ([`Cell::cancel`]), wait for and take the outcome ([`Cell::wait_deadline`],
//! [`Cell::take_deadline`], [`Cell::poll`]), add done-callbacks and
//! watchers ([`Cell::add_callback`], [`Cell::watch`]).

use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll};
use std::time::Instant;

use super::ending::run_callback;
use super::{Callback, Cell, Outcome, Payload, State};
use crate::core::blocking;
use crate::core::state::{End, Ending, Phase};
use crate::core::watch::Watcher;
use crate::error::TaskError;
use crate::loom::sync::MutexGuard;

/// A timed wait with less than this left sleeps at once, without first
/// looking a moment for the task to be done (see `wait_deadline`).
#[cfg(not(futurepool_loom))]
const LOOK: std::time::Duration = std::time::Duration::from_micros(100);

impl<T, P: ?Sized + Payload> Cell<T, P> {
    /// See [`TaskHandle::cancel`](crate::TaskHandle::cancel). Runs on the
    /// caller's thread, so callbacks run here.
    pub(crate) fn cancel(&self) -> bool {
        match self.win(Ending::Cancel) {
            Ok(mut st) => {
                let claimed = !st.phases.started() && !std::mem::replace(&mut st.claimed, true);
                self.run_callbacks(st, Outcome::Ready(Err(TaskError::cancelled())));
                if claimed {
                    // The closure that will never run is dropped here, on
                    // the caller's thread (the backend's worker would
                    // otherwise drop it when it reaches the task).
                    self.discard_claimed();
                }
                true
            }
            Err(mut st) => {
                let cancelled = st.phases.end() == Some(End::Cancelled);
                let claimed = !st.phases.started() && !std::mem::replace(&mut st.claimed, true);
                // Running, and only its backend's request can stop it.
                let request = match (st.phases.phase(), &mut st.waiting) {
                    (Phase::Running, Some(w)) => w.request.take(),
                    _ => None,
                };
                drop(st);
                if claimed {
                    self.discard_claimed();
                }
                if let Some(request) = request {
                    request();
                }
                cancelled
            }
        }
    }

    /// Blocks until the task is done or `deadline` passes; returns whether
    /// it is done.
    pub(crate) fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if self.state.lock().phases.is_done() {
            return true;
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return false; // a poll, not a wait: nothing to announce
        }
        // A pool worker waiting without a time limit for a task of its own
        // pool that hasn't started runs it here; one that waits anyway (the
        // task runs elsewhere, or the wait is timed: running a task inline
        // would break the time limit) lends its place to its pool.
        if deadline.is_none() && self.help() {
            return true;
        }
        let _blocking = blocking::enter();
        // A process task sent straight to a worker: its reply is read here
        // (a pool worker that does so has lent its place, as it would to
        // wait).
        if self.payload.wait_here(self.id, deadline) && self.state.lock().phases.is_done() {
            return true;
        }
        // A quick task is often microseconds from done (a spinning worker
        // took it at once): look a moment before sleeping, and neither the
        // sleep here nor the wake-up there is paid. (Under loom, the loop
        // below makes the same first look.)
        #[cfg(not(futurepool_loom))]
        if deadline.is_none_or(|d| d.saturating_duration_since(Instant::now()) > LOOK)
            && crate::loom::spin_until(|| self.state.lock().phases.is_done())
        {
            return true;
        }
        let mut st = self.state.lock();
        while !st.phases.is_done() {
            match deadline {
                None => self.done.wait(&mut st),
                Some(deadline) => {
                    if self.done.wait_until(&mut st, deadline).timed_out() {
                        return st.phases.is_done();
                    }
                }
            }
        }
        true
    }

    /// Takes the outcome of a done task (decoding a deferred value on this
    /// thread), or `None` if it is not done.
    ///
    /// # Panics
    ///
    /// If the outcome was already taken by polling.
    pub(crate) fn try_take(&self) -> Option<Result<T, TaskError>> {
        let st = self.state.lock();
        if !st.phases.is_done() {
            return None;
        }
        Some(self.take_done(st))
    }

    /// Waits until the task is done or `deadline` passes, and takes its
    /// outcome if it is done. A task already done costs one lock.
    ///
    /// # Panics
    ///
    /// If the outcome was already taken by polling.
    pub(crate) fn take_deadline(&self, deadline: Option<Instant>) -> Option<Result<T, TaskError>> {
        if let Some(outcome) = self.try_take() {
            return Some(outcome);
        }
        if !self.wait_deadline(deadline) {
            return None;
        }
        self.try_take()
    }

    /// Takes the outcome of a done task, with its lock held.
    fn take_done(&self, mut st: MutexGuard<'_, State<T>>) -> Result<T, TaskError> {
        let outcome = st
            .outcome
            .take()
            .expect("task outcome already taken by polling the handle");
        let claimed = !st.phases.started() && !std::mem::replace(&mut st.claimed, true);
        drop(st);
        if claimed {
            self.discard_claimed();
        }
        self.resolve(outcome)
    }

    /// Drops the closure of a task that ended before it started (timed out
    /// or failed while queued), which this thread just claimed: called on a
    /// user's thread that cancels the task or takes its outcome, so that
    /// the closure (and what it borrows: see `ThreadPool::scope`) doesn't
    /// wait for a worker to reach it. A drop that panics is caught, so the
    /// caller still returns.
    fn discard_claimed(&self) {
        // SAFETY: every caller claimed the payload under the cell's lock
        // just before (`claimed` was false, and it set it).
        let _ = panic::catch_unwind(AssertUnwindSafe(|| unsafe { self.payload.discard() }));
    }

    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let mut st = self.state.lock();
        if st.phases.is_done() {
            let outcome = st
                .outcome
                .take()
                .expect("`TaskHandle` polled after completion");
            let claimed = !st.phases.started() && !std::mem::replace(&mut st.claimed, true);
            drop(st);
            if claimed {
                self.discard_claimed();
            }
            return Poll::Ready(self.resolve(outcome));
        }
        let waiting = st.waiting();
        let first = waiting.waker.is_none();
        match &waiting.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => waiting.waker = Some(cx.waker().clone()),
        }
        drop(st);
        if first {
            self.payload.wanted(self.id);
        }
        Poll::Pending
    }

    /// See [`TaskHandle::add_done_callback`](crate::TaskHandle::add_done_callback).
    pub(crate) fn add_callback(&self, cb: Callback<T>) {
        let mut st = self.state.lock();
        if !st.phases.is_done() || st.outcome_lent {
            // Not done: whoever ends the task runs it. Done, but another
            // thread (or this one, in a callback) is running late
            // callbacks: that thread runs it next. Either way callbacks run
            // one at a time, as `&T` must not be shared between threads
            // (`T` is only `Send`).
            st.waiting().callbacks.push(cb);
            let pending = !st.phases.is_done();
            drop(st);
            if pending {
                self.payload.wanted(self.id);
            }
            return;
        }
        // Done: run it here and now, lending the outcome out of the lock.
        // Only the handle's owner could take it meanwhile, and the owner is
        // this caller (or a thread borrowing the handle, which can't take it
        // either).
        let outcome = st
            .outcome
            .take()
            .expect("`add_done_callback` after the outcome was taken by polling the handle");
        st.outcome_lent = true;
        // A deferred value is decoded once, here, and kept decoded.
        let outcome = MutexGuard::unlocked(&mut st, || self.resolve(outcome));
        let mut batch = vec![cb];
        while !batch.is_empty() {
            MutexGuard::unlocked(&mut st, || {
                for cb in batch {
                    run_callback(cb, outcome.as_ref());
                }
            });
            batch = st.take_callbacks();
        }
        st.outcome = Some(Outcome::Ready(outcome));
        st.outcome_lent = false;
    }

    /// Queues `cb` to run when the task ends, as `add_callback` does; but
    /// if the task is done, hands it back unrun. A
    /// [`SharedHandle`](crate::SharedHandle) keeps the outcome of a done
    /// task itself, and runs a late callback with that.
    pub(crate) fn add_callback_pending(&self, cb: Callback<T>) -> Result<(), Callback<T>> {
        let mut st = self.state.lock();
        if st.phases.is_done() && !st.outcome_lent {
            return Err(cb);
        }
        st.waiting().callbacks.push(cb);
        let pending = !st.phases.is_done();
        drop(st);
        if pending {
            self.payload.wanted(self.id);
        }
        Ok(())
    }

    /// Registers `w`, or returns `Some(is_exception)` without registering
    /// if the task is already done.
    pub(crate) fn watch(&self, w: Watcher) -> Option<bool> {
        let mut st = self.state.lock();
        if let Some(status) = st.phases.done_status() {
            return Some(status);
        }
        st.waiting().watchers.push(w);
        drop(st);
        self.payload.wanted(self.id);
        None
    }

    /// How many watchers and callbacks wait on the task (for tests: that
    /// nothing is registered where nothing should be).
    #[cfg(test)]
    pub(crate) fn waiter_count(&self) -> usize {
        self.state
            .lock()
            .waiting
            .as_ref()
            .map_or(0, |w| w.watchers.len() + w.callbacks.len())
    }

    /// Removes the watchers with this id, if still registered.
    pub(crate) fn unwatch(&self, id: u64) {
        if let Some(waiting) = &mut self.state.lock().waiting {
            waiting.watchers.retain(|w| w.id != id);
        }
    }
}
