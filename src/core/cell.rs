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

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::blocking;
pub(crate) use super::outcome::{Deferred, Outcome};
use super::runner;
use super::state::{End, Ending, Phase, Phases, Won};
use super::token::CancelToken;
use super::watch::Watcher;
use crate::error::{TaskError, TaskId, TaskName};
use crate::loom::sync::{Arc, Condvar, Mutex, MutexGuard};

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
    /// [`blocking::Blocking::help`]): a payload runs its task only for a
    /// helper it recognises (a worker of the pool the task is queued on),
    /// and only if the task has not started ([`Cell::start`] decides).
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

    // --- The producer's side -------------------------------------------

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
    /// ([`TaskSpec::owner`]).
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

    // --- The consumer's side -------------------------------------------

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

    // --- Ending -------------------------------------------------------

    /// Tries to win the race to end the task with `ending`; the winner gets
    /// the lock back, to finish. If it ended a running task by cancelling
    /// it or by its deadline, the task's token is signalled and the
    /// backend's stop hook runs (under the lock: see `set_hook`).
    fn win(&self, ending: Ending) -> Result<MutexGuard<'_, State<T>>, MutexGuard<'_, State<T>>> {
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
    fn run_callbacks(&self, mut st: MutexGuard<'_, State<T>>, outcome: Outcome<T>) {
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
    fn resolve(&self, outcome: Outcome<T>) -> Result<T, TaskError> {
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
    pub(crate) fn complete(
        self: &Arc<Self>,
        outcome: Outcome<T>,
        caller: Caller,
    ) -> Result<(), Outcome<T>> {
        let end = match &outcome {
            Outcome::Ready(Ok(_)) | Outcome::Deferred(_) => End::Value,
            Outcome::Ready(Err(err)) if err.is_cancelled() => End::Cancelled,
            Outcome::Ready(Err(_)) => End::Error,
        };
        match self.win(Ending::Complete(end)) {
            Ok(st) => {
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
    /// [`state`](super::state) for which `ending`s end a running task).
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
