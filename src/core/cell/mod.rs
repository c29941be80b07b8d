//! The shared cell of one task: its [phases](super::state) and everything
//! that waits on them, behind one mutex, beside a backend's payload.
//!
//! A cell is shared by the task's two ends: the consumer, a
//! [`TaskHandle`](crate::TaskHandle), and the producer, a
//! [`Producer`](super::producer::Producer) that a backend holds. The deadline
//! timer keeps a weak reference. The cell ends a task exactly once (see the
//! state table) and then:
//!
//! 1. runs the done-callbacks: on the ending thread if it may run user code
//!    ([`Caller::User`]: a pool worker, the thread that called `cancel`),
//!    otherwise on the [callback runner](super::runner) ([`Caller::Internal`]:
//!    the timer, a process pool's driver);
//! 2. publishes the outcome: `Done`, then the condvar, the waker and the
//!    watchers are told.
//!
//! Every error a cell publishes, or decodes from a deferred outcome, is
//! stamped with the task's id and name first, so callbacks and readers see
//! which task it came from.
//!
//! Callbacks run *before* the outcome is published, wherever they run, so a
//! `join` that returns has seen every callback added before the task ended
//! run. The last phase, `Done`, is set under the same mutex that guards the
//! outcome: whatever the producer did happens-before any thread that sees
//! the task done.
//!
//! # User values
//!
//! The cell never runs, decodes or drops a user value on an internal
//! thread:
//!
//! - the closure of a queued task lives in the backend's payload, and the
//!   backend drops it on its own worker (the core never touches it);
//! - an outcome may be [`Outcome::Deferred`]: a value still to be decoded,
//!   which is decoded (under `catch_unwind`) by the thread that takes it or
//!   by the callback runner, never by the thread that completed the task;
//! - an internal thread that lets go of a cell calls [`release`]: if it was
//!   the last reference and the cell still holds a user value, the cell is
//!   dropped on the callback runner.
//!
//! The payload `P` is last, so that a `Cell<T, ThreadJob<F>>` unsizes to the
//! handle's `Cell<T>` (payload `dyn Payload`): one allocation per task.

//!
//! # Layout
//!
//! This file holds the cell's types (the [`Payload`] a backend keeps in it,
//! the [`TaskSpec`] it is made from, its locked [`State`]) and what reads
//! the state; the cell's methods are split by who calls them:
//!
//! - `producer_side.rs`: starting a task and claiming its payload, the
//!   backend's stop hook and cancel request;
//! - `consumer_side.rs`: what a handle does (cancel, wait, take, poll,
//!   done-callbacks, watchers);
//! - `ending.rs`: winning the race to end a task, running its callbacks,
//!   publishing its outcome, and [`release`].

mod consumer_side;
mod ending;
mod producer_side;

use std::any::Any;
use std::task::Waker;
use std::time::{Duration, Instant};

pub(crate) use super::outcome::{Deferred, Outcome};
use super::state::{End, Phase, Phases};
use super::token::CancelToken;
use super::watch::Watcher;
use crate::error::{TaskError, TaskId, TaskName};
use crate::loom::sync::{Condvar, Mutex};
pub(crate) use ending::{release, run_callback};

/// What a backend keeps in a task's cell.
///
/// What it holds to run (a closure) is *claimed* through the cell by
/// exactly one thread, under the cell's lock: the producer that starts the
/// task ([`Cell::start`] gives [`Start::Run`]), or whoever finds the task
/// ended before it started ([`Start::Drop`], [`Cell::claim`], or the core
/// itself before it calls [`discard`](Self::discard)). Only the claimer
/// touches it, so a backend needs no lock of its own for it.
///
/// A payload may also let a thread that waits for its task run it there
/// and then ([`help`](Self::help)): help-while-waiting. The thread that
/// helps starts the task through the same [`Cell::start`] as any other,
/// so one state machine decides who runs it.
pub(crate) trait Payload: Send + Sync + 'static {
    /// The task ended before it started (cancelled; or timed out, failed,
    /// and now cancelled again or its outcome taken), on a thread that may
    /// run user code: drop what would have run, now. Never called on an
    /// internal thread.
    ///
    /// # Safety
    ///
    /// The caller claimed the payload through its cell, so no other thread
    /// touches it.
    unsafe fn discard(&self);

    /// A thread about to wait, without a time limit, for this payload's
    /// task offers to run it itself (see [`Cell::help`]). `helper` is what
    /// the waiting thread's backend said about the thread (see
    /// [`Blocking::help`](super::blocking::Blocking::help)): a payload runs
    /// its task only for a helper it recognises (a worker of the pool the
    /// task is queued on), and only if the task has not started
    /// ([`Cell::start`] decides).
    /// Returns whether it ran the task (or found it ended unrun) here. By
    /// default a payload can't be helped.
    ///
    /// # Safety
    ///
    /// `cell` is the address of the live cell whose payload this is, a
    /// `Cell<T, Self>` for the `T` it was made with, kept alive by the
    /// caller for the call.
    unsafe fn help(&self, cell: *const (), helper: &dyn Any) -> bool {
        let _ = (cell, helper);
        false
    }

    /// A thread about to wait for this payload's task (the task `id`; until
    /// `deadline`, if given), whatever thread it is, offers to fetch the
    /// outcome itself: the process pool's joiner reads its task's reply
    /// from the worker's pipe instead of being woken by a driver that read
    /// it. Returns whether it did anything (the core then looks whether the
    /// task is done, and otherwise waits as usual). It must not block past
    /// `deadline` before the outcome starts to arrive. By default nothing.
    fn wait_here(&self, id: u64, deadline: Option<Instant>) -> bool {
        let _ = (id, deadline);
        false
    }

    /// Something now waits on the task `id` that won't fetch its outcome
    /// itself (a waker, a callback, a watcher): a backend that leaves an
    /// outcome for a waiting thread to fetch ([`wait_here`](Self::wait_here))
    /// makes sure it is fetched without one. Called outside the cell's
    /// lock. By default nothing.
    fn wanted(&self, id: u64) {
        let _ = id;
    }
}

/// A task with nothing to run: a promise, kept by hand.
impl Payload for () {
    unsafe fn discard(&self) {}
}

/// What [`Cell::start`] tells the producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The task is running: the producer claimed the payload, and runs it.
    Run,
    /// The task ended before it started, and the producer claimed the
    /// payload: it drops it.
    Drop,
    /// The task ended before it started, and someone else claimed the
    /// payload (and dropped it).
    Gone,
}

/// A done-callback.
pub(crate) type Callback<T> = Box<dyn FnOnce(Result<&T, &TaskError>) + Send + 'static>;

/// What a backend runs, under the cell's lock, when a running task is
/// cancelled or times out: the process pool kills the worker process.
pub(crate) type Hook = Box<dyn FnOnce() + Send + 'static>;

/// What a backend runs when a handle asks to cancel a running task that it
/// can't stop from here (not [cancellable](TaskSpec::cancellable)): a
/// *request*, e.g. the cluster's message asking the worker that runs the
/// task to kill it. The task stays running until its producer ends it (as
/// cancelled, once the stop is known to have taken effect; or with its
/// outcome, if that came first). Runs once, on the thread that cancels,
/// outside the cell's lock; it must not block, and it runs no user code.
pub(crate) type Request = Box<dyn FnOnce() + Send + 'static>;

/// Who is ending a task, and so where its done-callbacks may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A thread that may run user code: a pool worker, or the user's own
    /// thread (`cancel`, a shutdown that cancels). Callbacks run here.
    User,
    /// An internal thread (the timer, a driver): callbacks go to the
    /// callback runner.
    Internal,
}

/// How a new task is set up: how it can be ended while it runs, its name,
/// and its time limits.
#[derive(Debug, Default)]
pub(crate) struct TaskSpec {
    /// The closure's cooperative token, signalled when the task is
    /// cancelled or times out.
    pub(crate) token: Option<CancelToken>,
    /// Whether `cancel` ends a *running* task (it can be stopped: it has a
    /// token, or the backend installs a hook that stops it).
    pub(crate) cancellable: bool,
    /// Shown by its handle's `Debug` and its error's `Display`.
    pub(crate) name: Option<TaskName>,
    /// Past this, the task must not start (the timer ends it; a backend
    /// checks too, as the timer may lag).
    pub(crate) deadline: Option<Instant>,
    /// How long the task may run, from its start; the backend enforces it.
    pub(crate) time_limit: Option<Duration>,
    /// Which executor queued the task, as the backend tags its executors
    /// (0: none): an opaque number the core only keeps, so that a backend
    /// can tell its own tasks when a waiter offers to help (see
    /// [`Payload::help`]). It lives in the state's padding: free.
    pub(crate) owner: u16,
}

/// See the [module docs](self).
///
/// # Size
///
/// A task's memory is most of what a queue of pending tasks costs (issue
/// 11: at most 150 bytes a pending task, allocation, queue slot and handle
/// included), so what most tasks don't use is kept out of line:
/// [`Fixed`], set at creation (a name, a token, time limits), and
/// [`Waiting`], what waits on the task (callbacks, a waker, watchers, a
/// stop hook), allocated when the first of them arrives. A plain task
/// nobody awaits or watches allocates neither. `footprint.rs` pins the
/// sizes.
pub(crate) struct Cell<T, P: ?Sized = dyn Payload> {
    id: u64,
    /// `None` for a task with no name, token, stop hook or time limit.
    fixed: Option<Box<Fixed>>,
    state: Mutex<State<T>>,
    /// Blocked waiters wait here for `Done`.
    done: Condvar,
    /// The backend's: what the core never touches. Last, to unsize.
    pub(crate) payload: P,
}

/// The rarely set part of a [`TaskSpec`], out of line.
struct Fixed {
    name: Option<TaskName>,
    token: Option<CancelToken>,
    cancellable: bool,
    deadline: Option<Instant>,
    time_limit: Option<Duration>,
}

/// The mutable state, under the cell's mutex.
struct State<T> {
    phases: Phases,
    /// Whether the outcome is lent to a thread running late callbacks.
    /// Callbacks added meanwhile are queued, and that thread runs them.
    outcome_lent: bool,
    /// Whether the payload has been claimed (see [`Payload`]).
    claimed: bool,
    /// [`TaskSpec::owner`]; never changes (kept here, in the padding).
    owner: u16,
    /// From `Done` until taken. (While callbacks run it is held by the
    /// thread running them.)
    outcome: Option<Outcome<T>>,
    /// What waits on the task, once something does.
    waiting: Option<Box<Waiting<T>>>,
}

/// What waits on a task, or may stop it; see [`Cell`]'s size notes.
struct Waiting<T> {
    callbacks: Vec<Callback<T>>,
    /// The waker of the one polling the handle.
    waker: Option<Waker>,
    /// `as_completed` and `wait` registrations.
    watchers: Vec<Watcher>,
    /// The backend's stop hook, while it is installed.
    hook: Option<Hook>,
    /// Whether the hook ran since it was installed.
    hook_fired: bool,
    /// The backend's cancel request, until a `cancel` sends it.
    request: Option<Request>,
}

impl<T> Default for Waiting<T> {
    fn default() -> Waiting<T> {
        Waiting {
            callbacks: Vec::new(),
            waker: None,
            watchers: Vec::new(),
            hook: None,
            hook_fired: false,
            request: None,
        }
    }
}

impl<T> State<T> {
    /// What waits on the task, made on first use.
    fn waiting(&mut self) -> &mut Waiting<T> {
        self.waiting.get_or_insert_with(Box::default)
    }

    fn has_callbacks(&self) -> bool {
        self.waiting
            .as_ref()
            .is_some_and(|w| !w.callbacks.is_empty())
    }

    fn take_callbacks(&mut self) -> Vec<Callback<T>> {
        match &mut self.waiting {
            Some(w) => std::mem::take(&mut w.callbacks),
            None => Vec::new(),
        }
    }
}

impl<T, P> Cell<T, P> {
    pub(crate) fn new(payload: P, spec: TaskSpec) -> Cell<T, P> {
        let TaskSpec {
            token,
            cancellable,
            name,
            deadline,
            time_limit,
            owner,
        } = spec;
        let plain = token.is_none()
            && !cancellable
            && name.is_none()
            && deadline.is_none()
            && time_limit.is_none();
        Cell {
            id: crate::loom::next_id(),
            fixed: (!plain).then(|| {
                Box::new(Fixed {
                    cancellable: cancellable || token.is_some(),
                    name,
                    token,
                    deadline,
                    time_limit,
                })
            }),
            state: Mutex::new(State {
                phases: Phases::new(),
                outcome_lent: false,
                claimed: false,
                owner,
                outcome: None,
                waiting: None,
            }),
            done: Condvar::new(),
            payload,
        }
    }
}

impl<T, P: ?Sized + Payload> Cell<T, P> {
    /// The task's id, unique in this process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether `cancel` ends the task while it runs.
    pub(crate) fn cancellable(&self) -> bool {
        self.fixed.as_ref().is_some_and(|f| f.cancellable)
    }

    /// Past this, the task must not start.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.fixed.as_ref().and_then(|f| f.deadline)
    }

    /// How long the task may run, from its start.
    pub(crate) fn time_limit(&self) -> Option<Duration> {
        self.fixed.as_ref().and_then(|f| f.time_limit)
    }

    fn token(&self) -> Option<&CancelToken> {
        self.fixed.as_ref().and_then(|f| f.token.as_ref())
    }

    fn task_name(&self) -> Option<&TaskName> {
        self.fixed.as_ref().and_then(|f| f.name.as_ref())
    }

    /// The task's id, as the public API shows it.
    pub(crate) fn task_id(&self) -> TaskId {
        TaskId::new(self.id)
    }

    /// The task's name, if it was given one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.task_name().map(TaskName::as_str)
    }

    /// Whether an ending event of cancellation has won, whether or not the
    /// outcome is published yet (a promise's keeper asks this: it needn't
    /// wait for the canceller's callbacks to learn that its work is
    /// unwanted).
    pub(crate) fn is_cancelling(&self) -> bool {
        self.state.lock().phases.end() == Some(End::Cancelled)
    }

    /// Whether an ending event has won (the outcome may not be published
    /// yet).
    pub(crate) fn has_ended(&self) -> bool {
        self.state.lock().phases.end().is_some()
    }

    pub(crate) fn phase(&self) -> Phase {
        self.state.lock().phases.phase()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state.lock().phases.is_running()
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        let st = self.state.lock();
        st.phases.is_done() && st.phases.end() == Some(End::Cancelled)
    }

    /// How the task ended, once an ending event has won (whoever won it,
    /// and whether or not its outcome is published yet).
    pub(crate) fn end(&self) -> Option<End> {
        self.state.lock().phases.end()
    }

    /// How the task ended, if it ended without ever starting.
    pub(crate) fn end_unstarted(&self) -> Option<End> {
        let st = self.state.lock();
        if st.phases.started() {
            None
        } else {
            st.phases.end()
        }
    }

    /// `Some(is_exception)` once done.
    pub(crate) fn done_status(&self) -> Option<bool> {
        self.state.lock().phases.done_status()
    }

    /// Done without a value: an error, or cancelled.
    pub(crate) fn is_failed(&self) -> bool {
        let st = self.state.lock();
        st.phases.is_done() && st.phases.end() != Some(End::Value)
    }

    /// A word for `Debug`, as Python's repr says it.
    pub(crate) fn describe(&self) -> &'static str {
        let st = self.state.lock();
        match (st.phases.phase(), st.phases.end()) {
            (Phase::Pending, _) => "pending",
            (Phase::Running, _) => "running",
            (Phase::Completing, _) => "finishing",
            (Phase::Done, Some(End::Cancelled)) => "cancelled",
            (Phase::Done, Some(End::Error)) => "failed",
            (Phase::Done, _) => "finished",
        }
    }
}

/// A task that can be cancelled, whatever its types: what a backend keeps
/// (weakly) of its running tasks, to stop them at a shutdown that cancels
/// running work.
pub(crate) trait Cancel: Send + Sync {
    /// See [`TaskHandle::cancel`](crate::TaskHandle::cancel); runs on the
    /// caller's thread (callbacks included).
    fn cancel(&self) -> bool;
}

impl<T: Send, P: ?Sized + Payload> Cancel for Cell<T, P> {
    fn cancel(&self) -> bool {
        Cell::cancel(self)
    }
}
