//! Ending a [`Cell`]'s task: winning the race to end it
//! ([`Cell::complete`], [`Cell::end_with`], and the consumer's
//! [`Cell::cancel`]), running the done-callbacks where they may run, and
//! publishing the outcome; then letting go of the cell from an internal
//! thread ([`release`]).

use std::panic::{self, AssertUnwindSafe};

use super::{Callback, Caller, Cell, Outcome, Payload, State, Waiting};
use crate::core::runner;
use crate::core::state::{End, Ending, Won};
use crate::error::TaskError;
use crate::loom::sync::{Arc, MutexGuard};

impl<T, P: ?Sized + Payload> Cell<T, P> {
    /// Tries to win the race to end the task with `ending`; the winner gets
    /// the lock back, to finish. If it ended a running task by cancelling
    /// it or by its deadline, the task's token is signalled and the
    /// backend's stop hook runs (under the lock: see `set_hook`).
    pub(super) fn win(
        &self,
        ending: Ending,
    ) -> Result<MutexGuard<'_, State<T>>, MutexGuard<'_, State<T>>> {
        let mut st = self.state.lock();
        let won = match st.phases.win(ending, self.cancellable()) {
            Ok(won) => won,
            Err(_) => return Err(st),
        };
        if won == Won::WasRunning && matches!(ending, Ending::Cancel | Ending::Expire) {
            if let Some(token) = self.token() {
                token.signal();
            }
            if let Some(waiting) = &mut st.waiting {
                if let Some(hook) = waiting.hook.take() {
                    // Backend code (a `kill`), under the lock: see `set_hook`.
                    hook();
                    waiting.hook_fired = true;
                }
            }
        }
        Ok(st)
    }

    /// Runs the callbacks on this (user-code) thread, then publishes. A
    /// callback added meanwhile is queued by `add_callback` and picked up by
    /// the next round. `st` is locked and the phase is `Completing`.
    pub(super) fn run_callbacks(&self, mut st: MutexGuard<'_, State<T>>, outcome: Outcome<T>) {
        let outcome = match outcome {
            Outcome::Ready(Err(err)) => Outcome::Ready(Err(self.stamp(err))),
            outcome => outcome,
        };
        if !st.has_callbacks() {
            return self.publish(st, outcome);
        }
        let outcome = MutexGuard::unlocked(&mut st, || self.resolve(outcome));
        loop {
            let callbacks = st.take_callbacks();
            if callbacks.is_empty() {
                break;
            }
            MutexGuard::unlocked(&mut st, || {
                for cb in callbacks {
                    run_callback(cb, outcome.as_ref());
                }
            });
        }
        self.publish(st, Outcome::Ready(outcome));
    }

    /// `Completing -> Done`, and tells everyone waiting.
    fn publish(&self, mut st: MutexGuard<'_, State<T>>, outcome: Outcome<T>) {
        st.outcome = Some(outcome);
        st.phases.publish();
        // The callbacks have all run; the rest is told now (and a stop
        // hook dropped unrun: the task is over).
        let waiting = st.waiting.take();
        drop(st);
        self.done.notify_all();
        if let Some(waiting) = waiting {
            let Waiting {
                waker, watchers, ..
            } = *waiting;
            if let Some(waker) = waker {
                waker.wake();
            }
            for w in watchers {
                w.notify.push(w.index);
            }
        }
    }

    /// Says on `err` that this task ended with it. Every error a cell
    /// publishes, or decodes from a deferred outcome, goes through here.
    fn stamp(&self, mut err: TaskError) -> TaskError {
        err.stamp(self.task_id(), self.task_name());
        err
    }

    /// The outcome as a `Result`, decoding a deferred value on this thread
    /// (see [`Outcome::resolve`]); an error it decodes to is stamped. (A
    /// ready error was stamped when the task ended.)
    pub(super) fn resolve(&self, outcome: Outcome<T>) -> Result<T, TaskError> {
        match outcome {
            Outcome::Ready(outcome) => outcome,
            deferred => deferred.resolve().map_err(|err| self.stamp(err)),
        }
    }

    /// Whether dropping this cell now would run user code (a value, a
    /// panic payload, a callback closure). The payload is the backend's to
    /// judge.
    fn holds_user_values(&self) -> bool {
        let st = self.state.lock();
        st.has_callbacks() || st.outcome.as_ref().is_some_and(Outcome::holds_user_value)
    }
}

/// Ending a task from a thread that may not run user code hands the
/// callbacks to the runner, which needs the cell to be `Send + 'static`.
impl<T: Send + 'static, P: ?Sized + Payload> Cell<T, P> {
    /// Ends a pending or running task with the producer's outcome. Lost to
    /// an earlier ending, the outcome is handed back, to be dropped by the
    /// caller on its own thread.
    ///
    /// On a win, `won` is told how the task ended before anyone else can
    /// see it ended (before the callbacks run and the outcome is
    /// published): a backend counts the task there, so that a thread that
    /// has joined it finds it counted. It runs under the cell's lock: a few
    /// atomics, no lock, no user code.
    pub(crate) fn complete(
        self: &Arc<Self>,
        outcome: Outcome<T>,
        caller: Caller,
        won: impl FnOnce(End),
    ) -> Result<(), Outcome<T>> {
        let end = match &outcome {
            Outcome::Ready(Ok(_)) | Outcome::Deferred(_) => End::Value,
            Outcome::Ready(Err(err)) if err.is_cancelled() => End::Cancelled,
            Outcome::Ready(Err(_)) => End::Error,
        };
        match self.win(Ending::Complete(end)) {
            Ok(st) => {
                won(end);
                self.finish(st, outcome, caller);
                Ok(())
            }
            Err(st) => {
                drop(st);
                Err(outcome)
            }
        }
    }

    /// Ends the task with `err` if it hasn't ended (see the table in
    /// [`state`](crate::core::state) for which `ending`s end a running task).
    /// Returns whether this call ended it.
    pub(crate) fn end_with(
        self: &Arc<Self>,
        ending: Ending,
        err: TaskError,
        caller: Caller,
    ) -> bool {
        match self.win(ending) {
            Ok(st) => {
                self.finish(st, Outcome::Ready(Err(err)), caller);
                true
            }
            Err(_) => false,
        }
    }

    /// The winner's part: callbacks, then publish. `st` is locked and the
    /// phase is `Completing`. Callbacks run here for [`Caller::User`], on the
    /// callback runner for [`Caller::Internal`].
    fn finish(self: &Arc<Self>, st: MutexGuard<'_, State<T>>, outcome: Outcome<T>, caller: Caller) {
        if caller == Caller::User || !st.has_callbacks() {
            return self.run_callbacks(st, outcome);
        }
        drop(st);
        let cell = Arc::clone(self);
        runner::spawn(Box::new(move || {
            let st = cell.state.lock();
            cell.run_callbacks(st, outcome);
        }));
    }
}

pub(crate) fn run_callback<T>(cb: Callback<T>, outcome: Result<&T, &TaskError>) {
    // A panicking callback is reported by the panic hook, and otherwise
    // ignored: the next callback still runs, and the thread carries on.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| cb(outcome)));
}

/// Lets go of a cell from an internal thread: if this was the last
/// reference and dropping the cell would run user code, the drop happens on
/// the callback runner instead. `payload_is_user` says whether the backend's
/// payload may hold a user value (a closure not yet dropped).
pub(crate) fn release<T: Send + 'static, P: Payload>(cell: Arc<Cell<T, P>>, payload_is_user: bool) {
    if let Some(cell) = Arc::into_inner(cell) {
        if payload_is_user || cell.holds_user_values() {
            runner::spawn(Box::new(move || drop(cell)));
        }
    }
}
