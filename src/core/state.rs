//! The phases of one task and the legal moves between them. Pure data: the
//! [cell](super::cell) holds a [`Phases`] under its mutex and calls these
//! methods; nothing here blocks, allocates or runs user code.
//!
//! # States
//!
//! | phase        | meaning |
//! |--------------|---------|
//! | `Pending`    | submitted, not started: queued in a pool, or a promise not yet kept |
//! | `Running`    | its producer [started](Phases::start) it: a worker runs it, or a process pool sent it to a worker process |
//! | `Completing` | an ending event has *won*: the outcome is decided, the done-callbacks are running (here or on the callback runner), the outcome is not yet visible |
//! | `Done`       | the outcome is published; waiters, the waker and watchers have been told |
//!
//! # Events
//!
//! Every event that ends a task must first *win*: move `Pending` or
//! `Running` to `Completing`. Exactly one event wins; the others find
//! `Completing` or `Done` and lose. The winner runs the callbacks and then
//! [publishes](Phases::publish).
//!
//! | event \ from | `Pending` | `Running` | `Completing`, `Done` |
//! |--------------|-----------|-----------|----------------------|
//! | `start` (producer)                      | `Running` | refused (already started) | refused |
//! | `complete` (producer, with an outcome)  | `Completing` (a promise kept without starting) | `Completing` | lost: the outcome is handed back to the producer, which drops it on its own thread |
//! | `fail` (producer: shutdown, broken pool, worker death, refusal, the producer dropped unfinished) | `Completing` (error) | `Completing` (error) | lost |
//! | `cancel` (a handle, or a shutdown that cancels queued work) | `Completing` (cancelled) | `Completing` (cancelled) if the task is *cancellable*, else refused: it stays `Running` (and the backend's cancel *request*, if it installed one, is sent) | lost (`cancel` reports whether the task ended *by* cancellation) |
//! | `expire` (the deadline timer, or a worker that finds the deadline passed) | `Completing` (timeout) | `Completing` (timeout) | lost |
//! | `publish` (the winner, after the callbacks) | -- | -- | `Completing` to `Done`; `Done` is final |
//!
//! A task is *cancellable* while running when it has a way to be stopped: a
//! [`CancelToken`](crate::CancelToken) the closure checks (thread pool), a
//! backend hook that kills what runs it (process pool), or a keeper that
//! checks (a [`Promise`](crate::Promise) is its own token). A deadline ends a
//! running task whether or not it is cancellable: its handle reports the
//! timeout, and what still runs is asked to stop where it can be.
//!
//! A backend that can only *ask* for a running task to stop (the cluster: the
//! task runs on another machine) leaves it not cancellable and installs a
//! [`Request`](super::cell::Request): a refused `cancel` sends it, and the task
//! stays `Running` until its producer ends it, with `complete` (a cancelled
//! error once the stop is known to have taken effect, or the task's outcome if
//! that came first).
//!
//! When a running task is ended by `cancel` or `expire`, the winner signals
//! its token and runs the backend's cancel hook (under the cell's lock, see
//! [`Cell::set_hook`](super::cell::Cell::set_hook)).
//!
//! So a task ends exactly once, its callbacks run exactly once, and its
//! producer learns whether its outcome was wanted.

/// Where a task is in its life; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending,
    Running,
    Completing,
    Done,
}

/// How a task ended, decided by the winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// A value (or a value still to be decoded).
    Value,
    /// Cancelled: Python doesn't count this as an exception, nor do we.
    Cancelled,
    /// Any other error: a panic, a timeout, a broken or shut-down pool.
    Error,
}

/// An event that ends a task; see the [table](self#events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The producer's outcome, of this kind.
    Complete(End),
    Fail,
    Cancel,
    Expire,
}

impl Ending {
    fn end(self) -> End {
        match self {
            Ending::Complete(end) => end,
            Ending::Fail | Ending::Expire => End::Error,
            Ending::Cancel => End::Cancelled,
        }
    }
}

/// What the winner ended: a task that hadn't started, or one that had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Won {
    WasPending,
    WasRunning,
}

/// Another event ended the task first, or (for `cancel`) the task is
/// running and can't be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lost;

/// A task's phase, whether it ever started, and how it ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phases {
    phase: Phase,
    started: bool,
    end: Option<End>,
}

impl Phases {
    pub(crate) const fn new() -> Phases {
        Phases {
            phase: Phase::Pending,
            started: false,
            end: None,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// How it ended, once an ending event has won.
    pub(crate) fn end(&self) -> Option<End> {
        self.end
    }

    /// Running, or finishing (its callbacks) after it ran. A queued task
    /// being cancelled is never "running".
    pub(crate) fn is_running(&self) -> bool {
        self.phase == Phase::Running || (self.phase == Phase::Completing && self.started)
    }

    /// Whether its producer ever started it.
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    pub(crate) fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// `Pending -> Running`; `false` if the task already started or ended.
    pub(crate) fn start(&mut self) -> bool {
        if self.phase != Phase::Pending {
            return false;
        }
        self.phase = Phase::Running;
        self.started = true;
        true
    }

    /// Tries to win the race to end the task; see the [table](self#events).
    pub(crate) fn win(&mut self, ending: Ending, cancellable: bool) -> Result<Won, Lost> {
        let won = match (self.phase, ending) {
            (Phase::Pending, _) => Won::WasPending,
            (Phase::Running, Ending::Cancel) if !cancellable => return Err(Lost),
            (Phase::Running, _) => Won::WasRunning,
            (Phase::Completing | Phase::Done, _) => return Err(Lost),
        };
        self.phase = Phase::Completing;
        self.end = Some(ending.end());
        Ok(won)
    }

    /// `Completing -> Done`: the winner's last step.
    pub(crate) fn publish(&mut self) {
        debug_assert_eq!(self.phase, Phase::Completing, "only a winner publishes");
        self.phase = Phase::Done;
    }

    /// `Some(is_exception)` once done: whether it ended with an error other
    /// than cancellation (what `ReturnWhen::FirstException` waits for).
    pub(crate) fn done_status(&self) -> Option<bool> {
        self.is_done().then_some(self.end == Some(End::Error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY_ENDING: [Ending; 6] = [
        Ending::Complete(End::Value),
        Ending::Complete(End::Error),
        Ending::Complete(End::Cancelled),
        Ending::Fail,
        Ending::Cancel,
        Ending::Expire,
    ];

    #[test]
    fn start_happens_once() {
        let mut p = Phases::new();
        assert!(p.start());
        assert_eq!(p.phase(), Phase::Running);
        assert!(!p.start());
    }

    #[test]
    fn every_ending_wins_from_pending_and_only_once() {
        for first in EVERY_ENDING {
            for cancellable in [false, true] {
                let mut p = Phases::new();
                assert_eq!(p.win(first, cancellable), Ok(Won::WasPending));
                assert_eq!(p.phase(), Phase::Completing);
                assert!(!p.start(), "an ended task never starts");
                for second in EVERY_ENDING {
                    assert_eq!(p.win(second, true), Err(Lost), "{first:?} then {second:?}");
                }
                p.publish();
                for second in EVERY_ENDING {
                    assert_eq!(p.win(second, true), Err(Lost));
                }
                assert!(p.is_done());
            }
        }
    }

    #[test]
    fn a_running_task_is_cancelled_only_if_cancellable() {
        let mut p = Phases::new();
        p.start();
        assert_eq!(p.win(Ending::Cancel, false), Err(Lost));
        assert_eq!(p.phase(), Phase::Running);
        assert_eq!(p.win(Ending::Cancel, true), Ok(Won::WasRunning));
        assert_eq!(p.end(), Some(End::Cancelled));
    }

    #[test]
    fn fail_expire_and_complete_end_a_running_task_either_way() {
        for ending in [Ending::Fail, Ending::Expire, Ending::Complete(End::Value)] {
            let mut p = Phases::new();
            p.start();
            assert_eq!(p.win(ending, false), Ok(Won::WasRunning));
            assert!(p.is_running(), "still running its callbacks");
            p.publish();
            assert!(!p.is_running());
        }
    }

    #[test]
    fn a_queued_task_being_cancelled_is_never_running() {
        let mut p = Phases::new();
        p.win(Ending::Cancel, false).unwrap();
        assert!(!p.is_running());
    }

    #[test]
    fn cancellation_is_not_an_exception() {
        for (ending, exception) in [
            (Ending::Cancel, false),
            (Ending::Complete(End::Value), false),
            (Ending::Expire, true),
            (Ending::Fail, true),
        ] {
            let mut p = Phases::new();
            assert_eq!(p.done_status(), None);
            p.win(ending, true).unwrap();
            assert_eq!(p.done_status(), None, "not done while completing");
            p.publish();
            assert_eq!(p.done_status(), Some(exception));
        }
    }
}
