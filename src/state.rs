//! The state machine of one task, shared by its handle and whoever runs it.
//!
//! # States
//!
//! | phase        | meaning                                                                 |
//! |--------------|-------------------------------------------------------------------------|
//! | `Pending`    | queued; the closure is stored in the task and may still be dropped unrun |
//! | `Running`    | a worker took the closure and is running it                             |
//! | `Completing` | an outcome has been decided (the *winner* is known); done-callbacks are running; the outcome is not yet visible |
//! | `Done`       | the outcome is published; waiters, wakers and watchers have been told   |
//!
//! # Transitions
//!
//! Every event that ends a task first has to *win*: move the phase from
//! `Pending` or `Running` to `Completing`. Exactly one event wins; the losers
//! see `Completing` or `Done` and back off (a late value is dropped). The
//! winner then runs the done-callbacks and publishes.
//!
//! | from \ event | `start` (worker) | `finish` (worker) | `cancel`                          | `expire` (deadline) | `fail` (pool broken / refused) |
//! |--------------|------------------|-------------------|-----------------------------------|---------------------|--------------------------------|
//! | `Pending`    | `Running`        | --                | `Completing` (cancelled)          | `Completing` (timeout) | `Completing` (error)        |
//! | `Running`    | --               | `Completing` (value or panic) | `Completing` (cancelled) if the task has a token, else refused | `Completing` (timeout) | -- |
//! | `Completing` | lost             | lost              | lost                              | lost                | lost                           |
//! | `Done`       | lost             | lost              | lost                              | lost                | lost                           |
//!
//! A task "has a token" when it was submitted with a [`CancelToken`](crate::CancelToken):
//! a thread-pool task from `submit_cancellable` (the token asks the closure to
//! stop), and every process-pool task (the token's hook kills the worker process
//! running it, so the cancel or timeout really stops the work). `start` and
//! `finish` are also driven from outside a worker thread: the process pool
//! starts a task before sending it to a worker process and finishes it with the
//! outcome read back from the pipe (`Task::start`, `Task::complete`).
//!
//! `Completing` always moves to `Done` once the callbacks have run, and
//! `Done` is final. A task therefore ends exactly once, callbacks run exactly
//! once, and the closure runs at most once.
//!
//! # Ordering
//!
//! All of this happens under the task's mutex, and the outcome is published
//! under it too: the task's completion (everything the closure did, and the
//! callbacks) *happens-before* any thread that observes `Done`, whether by
//! `join`, `is_done`, `poll` or a watcher.

use std::task::Waker;

use crate::error::TaskError;
use crate::watch::Watcher;

/// Where a task is in its life; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending,
    Running,
    Completing,
    Done,
}

/// How a task ended, decided by the winner of the race to complete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Value,
    Cancelled,
    /// Any other error: a panic, a timeout, a broken or shut-down pool.
    Error,
}

/// A closure waiting to run, with a way to hand it back unrun.
pub(crate) trait Job<T>: Send + 'static {
    fn call(self) -> T;
    /// The job as it was given, so a refused submit can return it.
    fn into_any(self) -> Box<dyn std::any::Any + Send>;
}

/// Where a task keeps its job, inside the task's own allocation: an
/// `Option<J>` for a concrete job type `J`, seen through this object-safe
/// trait once the task is unsized to `Task<T>`. The state machine decides who
/// may touch it: the worker that won `start`, or the event that won the race
/// to end a pending task.
pub(crate) trait JobSlot<T>: Send {
    /// Runs the job, if it is still there.
    fn call(&mut self) -> Option<T>;
    /// Drops the job unrun, if it is still there.
    fn discard(&mut self);
    /// Takes the job back out unrun, as it was given.
    fn take_any(&mut self) -> Option<Box<dyn std::any::Any + Send>>;
}

impl<T, J: Job<T>> JobSlot<T> for Option<J> {
    fn call(&mut self) -> Option<T> {
        self.take().map(Job::call)
    }
    fn discard(&mut self) {
        *self = None;
    }
    fn take_any(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        self.take().map(Job::into_any)
    }
}

/// A done-callback.
pub(crate) type Callback<T> = Box<dyn FnOnce(Result<&T, &TaskError>) + Send + 'static>;

/// The mutable state of a task, guarded by the task's mutex.
pub(crate) struct State<T> {
    pub(crate) phase: Phase,
    /// Whether a worker took the closure (`Completing` is "running" only
    /// for a task that started).
    pub(crate) started: bool,
    /// Set by the winner, together with `phase = Completing`.
    pub(crate) end: Option<End>,
    /// The outcome, from `Done` until the handle takes it.
    pub(crate) outcome: Option<Result<T, TaskError>>,
    /// Whether `outcome` is lent to a thread running late callbacks (added
    /// after `Done`). Callbacks added meanwhile go to `callbacks`, and the
    /// lending thread runs them before it puts the outcome back.
    pub(crate) outcome_lent: bool,
    pub(crate) callbacks: Vec<Callback<T>>,
    /// The waker of the one `poll`ing the handle.
    pub(crate) waker: Option<Waker>,
    /// `as_completed` and `wait` registrations.
    pub(crate) watchers: Vec<Watcher>,
}

impl<T> State<T> {
    pub(crate) fn new() -> State<T> {
        State {
            phase: Phase::Pending,
            started: false,
            end: None,
            outcome: None,
            outcome_lent: false,
            callbacks: Vec::new(),
            waker: None,
            watchers: Vec::new(),
        }
    }

    /// `Pending -> Running`: returns whether the caller may now run the
    /// job (`false` if the task already ended: cancelled, timed out, failed).
    pub(crate) fn start(&mut self) -> bool {
        if self.phase == Phase::Pending {
            self.phase = Phase::Running;
            self.started = true;
            true
        } else {
            false
        }
    }

    /// Tries to win the race to end the task with `end`. `running_too` says
    /// whether a `Running` task can be ended this way (it can't be cancelled
    /// without a token). On success the phase is `Completing`, and the
    /// result says whether the task was still pending: then its unrun job
    /// is the winner's to drop (outside the lock).
    pub(crate) fn win(&mut self, end: End, running_too: bool) -> Result<bool, Lost> {
        let pending = match self.phase {
            Phase::Pending => true,
            Phase::Running if running_too => false,
            _ => return Err(Lost),
        };
        self.phase = Phase::Completing;
        self.end = Some(end);
        Ok(pending)
    }

    /// Whether the task ended with an error other than cancellation (what
    /// `ReturnWhen::FirstException` waits for). Meaningful once `Done`.
    pub(crate) fn is_exception(&self) -> bool {
        self.end == Some(End::Error)
    }
}

/// Another event ended the task first.
#[derive(Debug)]
pub(crate) struct Lost;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_happens_once() {
        let mut st = State::<u8>::new();
        assert!(st.start());
        assert_eq!(st.phase, Phase::Running);
        assert!(!st.start());
    }

    #[test]
    fn only_one_winner() {
        let mut st = State::<u8>::new();
        assert!(st.win(End::Cancelled, false).unwrap(), "it was pending");
        assert!(st.win(End::Error, true).is_err());
        assert!(!st.start(), "a cancelled task never starts");
    }

    #[test]
    fn running_needs_permission() {
        let mut st = State::<u8>::new();
        st.start();
        assert!(st.win(End::Cancelled, false).is_err());
        assert_eq!(st.phase, Phase::Running);
        assert!(!st.win(End::Cancelled, true).unwrap(), "it was running");
        assert_eq!(st.phase, Phase::Completing);
    }

    #[test]
    fn a_slot_runs_or_drops_its_job_once() {
        struct Seven;
        impl Job<u8> for Seven {
            fn call(self) -> u8 {
                7
            }
            fn into_any(self) -> Box<dyn std::any::Any + Send> {
                Box::new(self)
            }
        }
        let mut slot: Option<Seven> = Some(Seven);
        let slot: &mut dyn JobSlot<u8> = &mut slot;
        assert_eq!(slot.call(), Some(7));
        assert_eq!(slot.call(), None);
        let mut other: Option<Seven> = Some(Seven);
        other.discard();
        assert!(other.take_any().is_none());
    }
}
