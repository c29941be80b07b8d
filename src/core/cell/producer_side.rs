//! The producer's side of a [`Cell`]: starting the task or claiming its
//! payload ([`Cell::start`], [`Cell::claim_queued`], [`Cell::claim`]),
//! help-while-waiting ([`Cell::help`]), and the backend's stop hook and
//! cancel request ([`Cell::set_hook`], [`Cell::set_request`]).

use super::{Cell, Hook, Payload, Request, Start};
use crate::core::blocking;
use crate::core::state::Phase;

impl<T, P: ?Sized + Payload> Cell<T, P> {
    /// `Pending -> Running`, claiming the payload to run it; or, if the
    /// task already ended, claims the payload to drop it if nobody did.
    ///
    /// A payload already claimed means someone else holds it: the thread
    /// that started the task (a worker, or a waiter that [helps](Self::help)),
    /// or a thread that claimed a pending task to end it (see
    /// [`claim_queued`](Self::claim_queued)). Then it is [`Start::Gone`],
    /// and that thread ends the task.
    pub(crate) fn start(&self) -> Start {
        let mut st = self.state.lock();
        if st.claimed {
            Start::Gone
        } else if st.phases.start() {
            st.claimed = true;
            Start::Run
        } else {
            st.claimed = true;
            Start::Drop
        }
    }

    /// Claims the payload of a queued task that its queue is about to end
    /// unrun (a deadline passed, a shutdown that cancels, a broken pool).
    /// `None` if the task was started by another thread (a waiter that ran
    /// it itself): that thread ends it, and the queue's producer must let
    /// go without ending it. Otherwise whether this caller now owns the
    /// payload (`false`: the task ended and someone else dropped it). A
    /// pending task claimed here can't be started by anyone.
    pub(crate) fn claim_queued(&self) -> Option<bool> {
        let mut st = self.state.lock();
        if st.phases.started() {
            None
        } else {
            Some(!std::mem::replace(&mut st.claimed, true))
        }
    }

    /// The backend's tag of the executor that queued the task
    /// ([`TaskSpec::owner`](super::TaskSpec::owner)).
    pub(crate) fn owner(&self) -> u16 {
        self.state.lock().owner
    }

    /// Help-while-waiting: a thread about to wait for this task without a
    /// time limit offers to run it itself, if its backend says it may (see
    /// [`Payload::help`] and [`blocking::help`]). Returns whether the task
    /// is done when this returns.
    pub(crate) fn help(&self) -> bool {
        let cell = std::ptr::from_ref(self).cast::<()>();
        // SAFETY: `cell` is this cell, alive for the call (`&self`), and
        // `self.payload` is its payload.
        blocking::help(|helper| unsafe { self.payload.help(cell, helper) })
            && self.state.lock().phases.is_done()
    }

    /// Claims the payload of a task that won't start (see [`Payload`]):
    /// `true` once, for the first caller; `false` if it was claimed already,
    /// or the task is running (its producer holds it).
    pub(crate) fn claim(&self) -> bool {
        let mut st = self.state.lock();
        !st.phases.is_running() && !std::mem::replace(&mut st.claimed, true)
    }

    /// Installs the backend's stop hook on a running task. Returns `false`,
    /// dropping `hook` unrun, if the task is not running any more (it was
    /// cancelled or timed out first).
    ///
    /// The hook runs under the cell's lock, and [`clear_hook`](Self::clear_hook)
    /// takes that lock: once `clear_hook` returns, the hook is neither
    /// running nor will it run. The process pool relies on this: only then
    /// does it reap the worker whose pid the hook would kill, so the pid
    /// can't have been reused.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn set_hook(&self, hook: Hook) -> bool {
        let mut st = self.state.lock();
        if st.phases.phase() != Phase::Running {
            return false;
        }
        let waiting = st.waiting();
        waiting.hook = Some(hook);
        waiting.hook_fired = false;
        true
    }

    /// Installs the backend's cancel [`Request`]: what a handle's `cancel`
    /// runs, once, if it finds the task running and not cancellable.
    /// Returns `false`, dropping `request` unrun, if the task has ended.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn set_request(&self, request: Request) -> bool {
        let mut st = self.state.lock();
        if st.phases.end().is_some() {
            return false;
        }
        st.waiting().request = Some(request);
        true
    }

    /// Removes the stop hook; returns whether it ran while installed.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn clear_hook(&self) -> bool {
        let mut st = self.state.lock();
        match &mut st.waiting {
            Some(w) => {
                w.hook = None;
                std::mem::take(&mut w.hook_fired)
            }
            None => false,
        }
    }
}
