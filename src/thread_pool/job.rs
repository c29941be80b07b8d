//! A thread-pool task as the pool keeps it: the closure inside the task's
//! own cell ([`ThreadJob`], the cell's payload: one allocation per task), and
//! [`Run`], what the queue holds to run it.
//!
//! The closure is the pool's to run or drop, always on a thread that runs
//! user code: a worker that takes the task off the queue runs it, or (if the
//! task ended while queued: cancelled, timed out) drops it; a worker of the
//! same pool that waits for the task without a time limit runs it itself
//! (help-while-waiting, [`Payload::help`]; the queue's entry then finds it
//! started and lets go); a shutdown that cancels pending work drops it on
//! the thread that shuts down; a refused submit hands it back. The core
//! never touches it.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::core::cell::{Caller, Cancel, Cell, Payload, Start, TaskSpec};
use crate::core::handle::TaskHandle;
use crate::core::producer::{Producer, new_task};
use crate::core::state::{End, Ending};
use crate::core::timer::Timer;
use crate::core::token::CancelToken;
use crate::error::TaskError;
#[cfg(feature = "tracing")]
use crate::executor::trace::{self, Outcome};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::{Arc, Weak};

/// A closure waiting to run, and what it was given as. (Not necessarily
/// `'static`: a scoped job borrows, behind `scope/erased.rs`'s erasure. The queue
/// takes only `'static` ones.)
pub(crate) trait Job<T>: Send {
    /// What a refused submit hands back: the closure as the caller gave it.
    type Given;
    fn call(self) -> T;
    fn into_given(self) -> Self::Given;
}

/// The job of a plain `FnOnce() -> T` closure.
pub(crate) struct Plain<F>(pub(crate) F);

impl<F, T> Job<T> for Plain<F>
where
    F: FnOnce() -> T + Send,
{
    type Given = F;
    fn call(self) -> T {
        (self.0)()
    }
    fn into_given(self) -> F {
        self.0
    }
}

/// The job of a closure that takes a cancellation token.
pub(crate) struct WithToken<F>(pub(crate) F, pub(crate) CancelToken);

impl<F, T> Job<T> for WithToken<F>
where
    F: FnOnce(CancelToken) -> T + Send,
{
    type Given = F;
    fn call(self) -> T {
        (self.0)(self.1)
    }
    fn into_given(self) -> F {
        self.0
    }
}

/// A thread-pool task's payload in its cell: only the closure (its deadline
/// and time limit are the cell's, set by the submit, and so is the tag of
/// the pool that queued it, [`TaskSpec::owner`], so that only that pool's
/// workers help with it). Only ever the payload of a
/// `Cell<T, ThreadJob<T, J>>`: [`new_thread_task`] makes them.
pub(crate) struct ThreadJob<T, J> {
    /// The closure, until the thread that claims it through the task's cell
    /// (see [`Payload`]) takes it out, to run it or to drop it.
    job: UnsafeCell<Option<J>>,
    /// The task's span (feature `tracing`; nothing without it), made by the
    /// submit: entered while the task runs, and told how it ended (see
    /// `executor/trace.rs`). It closes when the cell is freed. Kept only if
    /// a subscriber listens to it (boxed: 8 bytes otherwise, not 40).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    span: Trace,
    _result: PhantomData<fn() -> T>,
}

/// A task's span: `tracing::Span` with the feature `tracing` (if a
/// subscriber listens to it), and nothing (zero bytes, no code) without it.
#[cfg(feature = "tracing")]
pub(crate) type Trace = Option<Box<tracing::Span>>;
/// A task's span: `tracing::Span` with the feature `tracing` (if a
/// subscriber listens to it), and nothing (zero bytes, no code) without it.
#[cfg(not(feature = "tracing"))]
pub(crate) type Trace = ();

/// The span of a task submitted now with `options` to the pool whose
/// threads are named `pool` (feature `tracing`): a child of the
/// submitter's span, kept if a subscriber listens.
#[cfg(feature = "tracing")]
pub(crate) fn task_trace(pool: &str, options: &crate::executor::options::TaskOptions) -> Trace {
    trace::span_for(pool, options).map(Box::new)
}

/// Records the id of the task `producer` made with `options` in its span
/// (feature `tracing`), unless the span came with the options.
#[cfg(feature = "tracing")]
pub(crate) fn trace_id<T: Send + 'static, J: Job<T> + 'static>(
    producer: &Producer<T, ThreadJob<T, J>>,
    options: &crate::executor::options::TaskOptions,
) {
    if let Some(span) = &producer.payload().span {
        trace::set_id_for(span, producer.id(), options);
    }
}

/// Nothing, without the feature `tracing`.
#[cfg(not(feature = "tracing"))]
pub(crate) fn task_trace(_: &str, _: &crate::executor::options::TaskOptions) -> Trace {}

// SAFETY: `job` is only reached through `take`, whose callers claimed the
// payload through the task's cell: one thread, once, under the cell's lock,
// which orders the take after the cell was made (and shared).
unsafe impl<T, J: Send> Sync for ThreadJob<T, J> {}

/// Makes a thread-pool task whose closure is `job` (or `None`: a task that
/// ended before it was queued), set up by `spec` (whose `owner` is the tag
/// of the pool that queues it, or 0). The one place a `ThreadJob` is put
/// in a cell: its `help` relies on the cell's type being
/// `Cell<T, ThreadJob<T, J>>`.
pub(crate) fn new_thread_task<T: Send + 'static, J: Job<T> + 'static>(
    job: Option<J>,
    spec: TaskSpec,
    span: Trace,
) -> (Producer<T, ThreadJob<T, J>>, TaskHandle<T>) {
    let payload = ThreadJob {
        job: UnsafeCell::new(job),
        span,
        _result: PhantomData,
    };
    // The span's id is recorded by the spawn (`trace_id`), which knows
    // whether the span came with its id.
    new_task(payload, spec, Caller::User)
}

impl<T, J> ThreadJob<T, J> {
    /// Takes the closure out.
    ///
    /// # Safety
    ///
    /// The caller claimed the payload through the task's cell
    /// ([`Producer::start`] said [`Start::Run`] or [`Start::Drop`],
    /// [`Producer::claim_queued`] said `Some(true)`, or `Cell::claim` said
    /// `true`).
    pub(crate) unsafe fn take(&self) -> Option<J> {
        // SAFETY: by the caller's claim, no other thread touches `job`.
        self.job.with_mut(|job| unsafe { (*job).take() })
    }

    /// The task's span, if a subscriber listens to it (a copy, to outlive
    /// the producer that ends the task).
    #[cfg(feature = "tracing")]
    pub(crate) fn listened_span(&self) -> Option<tracing::Span> {
        self.span.as_deref().cloned()
    }
}

/// Says in the task's span (feature `tracing`) how it ended.
#[cfg(feature = "tracing")]
fn say_ended(span: Option<&tracing::Span>, outcome: Outcome, since: Option<std::time::Instant>) {
    if let Some(span) = span {
        trace::ended(span, outcome, since);
    }
}

impl<T: Send + 'static, J: Job<T> + 'static> Payload for ThreadJob<T, J> {
    unsafe fn discard(&self) {
        // SAFETY: the core claimed the payload before calling this.
        drop(unsafe { self.take() });
    }

    /// Runs the task here if `helper` is a worker of the pool that queued
    /// it, the task has not started, and nothing can end it while it runs
    /// (no time limit, deadline or token).
    unsafe fn help(&self, cell: *const (), helper: &dyn Any) -> bool {
        let Some(pool) = helper.downcast_ref::<Arc<dyn Context>>() else {
            return false;
        };
        let cell = cell.cast::<Cell<T, ThreadJob<T, J>>>();
        // SAFETY: by `help`'s contract `cell` is the live cell whose
        // payload this is, and `new_thread_task` (the only maker of a
        // `ThreadJob`) made it a `Cell<T, ThreadJob<T, J>>`.
        let task = unsafe { &*cell };
        let tag = pool.pool_tag();
        if tag == 0 || task.owner() != tag {
            return false; // another pool's task, or one never queued
        }
        // A task that can end while it runs (a time limit, a deadline, a
        // token to cancel it by) runs on a worker: its waiter must be able
        // to return when it ends, not when an inline closure returns.
        if task.cancellable() || task.deadline().is_some() || task.time_limit().is_some() {
            return false;
        }
        // SAFETY: as above, and the cell was made in an `Arc`, which the
        // caller's reference keeps alive while the count is taken.
        let cell = unsafe {
            Arc::increment_strong_count(cell);
            Arc::from_raw(cell)
        };
        // The task's own panic is its outcome; this catches the rest (a
        // panicking drop of a value nobody wanted), which must not reach
        // the waiter. The task is done either way.
        panic::catch_unwind(AssertUnwindSafe(|| {
            run_task(
                Producer::from_cell(cell, Caller::User),
                &**pool,
                Taken::Helped,
            )
        }))
        .unwrap_or(true)
    }
}

/// What a task needs of its pool while a worker runs it.
pub(crate) trait Context: Send + Sync {
    /// The pool's tag (unique among live pools; 0 if there were too many to
    /// tag): a waiting worker helps only with its own pool's tasks.
    fn pool_tag(&self) -> u16;
    /// The pool's deadline timer, which enforces a time limit.
    fn timer(&self) -> &Timer;
    /// A cancellable task is about to start: from now on a shutdown that
    /// cancels running work can reach it through `task`. Returns `false`,
    /// without registering it, if such a shutdown already came and the task
    /// is one it must stop (see [`Taken`]): the caller cancels it unrun.
    fn running(&self, id: u64, task: Weak<dyn Cancel>, taken: Taken) -> bool;
    /// That task is done running (or won't run).
    fn done_running(&self, id: u64);
    /// A task taken off the pool's queue (or run by a waiter that helped)
    /// ended as `end` says: counted once per task, by the thread that
    /// ran or dropped it (see `executor/metrics.rs`).
    fn ended(&self, end: End);
    /// A waiter that helps ran a queued task of the pool itself, and it
    /// ended (counted by `ended` too): its queue entry, still queued, no
    /// longer counts as queued.
    fn helped_ended(&self);
    /// The queue entry of such a task was taken off the queue (it counts
    /// nothing else).
    fn helped_entry_taken(&self);
}

/// What the pool's queue holds: a task to run, whatever its types.
pub(crate) trait Run: Send + Sync {
    /// Runs the task on this worker, unless it already ended (then its
    /// closure is dropped here). `taken` says whether the pool was still
    /// open when the worker took it off the queue.
    fn run(self: Arc<Self>, pool: &dyn Context, taken: Taken);
    /// Cancels a task still queued (a shutdown that cancels pending work).
    fn cancel_queued(self: Arc<Self>, pool: Option<&dyn Context>);
    /// Fails a task still queued (a broken pool, no worker to run it).
    fn fail_queued(self: Arc<Self>, err: TaskError, pool: Option<&dyn Context>);
}

/// How the thread about to run a task came to it: what a shutdown that
/// cancels running work decides by, for a cancellable task that starts
/// after that shutdown looked for the running ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// A worker took it off the queue while the pool was open: at the
    /// shutdown it was in a worker's hands, as good as running, so it is
    /// cancelled (unrun).
    WhileOpen,
    /// A worker took it off the queue after the pool closed: at the
    /// shutdown it was queued, so it is cancelled only if that shutdown
    /// cancelled the queued tasks too.
    AfterClose,
    /// A waiter of the pool runs it itself (never a cancellable task).
    Helped,
}

/// A queued task's producer, and its closure if this thread claimed it.
type Claimed<T, J> = (Producer<T, ThreadJob<T, J>>, Option<J>);

/// Takes the closure of a queued task that won't be started, if this thread
/// is the one to claim it. `None` if a waiter started the task itself: the
/// producer is let go, and the caller does nothing more.
fn claim_queued<T: Send + 'static, J: Job<T> + 'static>(
    producer: Producer<T, ThreadJob<T, J>>,
) -> Option<Claimed<T, J>> {
    match producer.claim_queued() {
        None => {
            producer.let_go();
            None
        }
        Some(claimed) => {
            // SAFETY: taken only once claimed.
            let job = claimed.then(|| unsafe { producer.payload().take() });
            Some((producer, job.flatten()))
        }
    }
}

/// Runs a task of the pool `pool` on this thread, if it can start: a worker
/// that took it off the queue, or a worker of the same pool waiting for it.
/// A task that already ended has its closure dropped here (unless a user's
/// thread got to it first). Returns whether the task is done or being ended
/// by this call's end (`false`: another thread started it, or claimed it to
/// end it, and this producer let go).
///
/// `taken` says whether this is the task's queue entry (a worker took it
/// off the queue), not a waiter that helps: the queue entry is the one that
/// counts a task that ended without starting (see `Context::ended`); a
/// task that runs is counted by the thread that ran it.
fn run_task<T: Send + 'static, J: Job<T> + 'static>(
    producer: Producer<T, ThreadJob<T, J>>,
    pool: &dyn Context,
    taken: Taken,
) -> bool {
    let queued = taken != Taken::Helped;
    if producer.deadline().is_some_and(|d| Instant::now() >= d) {
        // Past its deadline before it started: it never runs, even if
        // the timer thread hasn't got to it yet. Its closure is dropped
        // here, on the worker (unless a user's thread got to it first).
        let Some((producer, job)) = claim_queued(producer) else {
            if queued {
                pool.helped_entry_taken(); // a waiter started it
            }
            return false;
        };
        #[cfg(feature = "tracing")]
        let span = producer.payload().listened_span();
        let (end, _won) = producer.end_noting(Ending::Expire, TaskError::timeout());
        if queued {
            pool.ended(end);
            #[cfg(feature = "tracing")]
            say_ended(span.as_ref(), Outcome::of(end, Outcome::TimedOut), None);
        }
        drop_unrun(job);
        return true;
    }
    // A task with a token can be cancelled while it runs: a shutdown that
    // cancels running work reaches it from here on, registered *before* it
    // starts, so that no such shutdown can miss it between its start and
    // its registration. (Plain tasks can't be stopped, and pay nothing for
    // this.) A shutdown that came first, while this worker held the task,
    // says so here, and the task is cancelled unrun.
    let id = producer.cancellable().then(|| producer.id());
    if let Some(id) = id {
        if !pool.running(id, producer.canceller(), taken) {
            cancel_unstarted(producer, Some(pool));
            return true;
        }
    }
    let unregister = || {
        if let Some(id) = id {
            pool.done_running(id);
        }
    };
    // This thread owns the closure now, if the task starts (to run it) or
    // ended while queued and nobody else dropped it (to drop it).
    let job = match producer.start() {
        // SAFETY: `Start::Run` claimed the payload for this thread.
        Start::Run => match unsafe { producer.payload().take() } {
            Some(job) => job,
            // A queued task always holds its closure; should one not,
            // the producer's drop ends the task as abandoned.
            None => {
                unregister();
                return true;
            }
        },
        Start::Drop => {
            unregister();
            // SAFETY: `Start::Drop` claimed the payload for this thread.
            let job = unsafe { producer.payload().take() };
            // Ended while queued (cancelled, or its deadline passed): the
            // queue entry counts it (before the closure's drop, which may
            // panic).
            if queued {
                count_unstarted(&producer, pool);
            }
            producer.let_go();
            drop_unrun(job);
            return true;
        }
        // Started elsewhere (that thread counts it), or ended while queued
        // and its payload dropped by the thread that ended it (a cancel):
        // the queue entry counts it.
        Start::Gone => {
            unregister();
            if queued && !count_unstarted(&producer, pool) {
                pool.helped_entry_taken(); // a waiter started it
            }
            producer.let_go();
            return false;
        }
    };
    #[cfg(feature = "tracing")]
    let span = producer.payload().listened_span();
    #[cfg(feature = "tracing")]
    let since = span.as_ref().and_then(trace::started);

    if let Some(limit) = producer.time_limit() {
        // The limit counts from now. The timer was started at the
        // submit, so this can only fail if it was closed (the pool shut
        // down, with no worker left to run this): the task then runs
        // unlimited.
        if let Some(at) = Instant::now().checked_add(limit) {
            let _ = pool.timer().schedule(at, producer.expiry());
        }
    }
    // The task's own `tracing` events nest in its span.
    #[cfg(feature = "tracing")]
    let entered = span.as_ref().map(tracing::Span::enter);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| job.call())).map_err(TaskError::panic);
    #[cfg(feature = "tracing")]
    drop(entered);
    unregister();
    #[cfg(feature = "tracing")]
    let mine = match &outcome {
        Ok(_) => Outcome::Ok,
        Err(_) => Outcome::Panicked,
    };
    // Counted before anyone sees it ended: a thread that has joined it finds
    // it counted. Lost to a cancel or a timeout while running: the value
    // nobody wants is dropped here, on the worker.
    let (_end, lost) = producer.complete_noting(outcome, |end| {
        pool.ended(end);
        if !queued {
            // A waiter ran it: it ended, though its queue entry is still queued.
            pool.helped_ended();
        }
    });
    #[cfg(feature = "tracing")]
    say_ended(
        span.as_ref(),
        Outcome::attempted(mine, lost.is_ok(), _end),
        since,
    );
    drop(lost);
    true
}

/// Cancels a queued task that hasn't started: a shutdown that cancels
/// queued work, or one that cancels running work and reached a task a
/// worker held. Its closure is dropped on this thread, unless another
/// thread claimed it first.
fn cancel_unstarted<T: Send + 'static, J: Job<T> + 'static>(
    producer: Producer<T, ThreadJob<T, J>>,
    pool: Option<&dyn Context>,
) {
    // A task a waiter started itself is running: a shutdown that cancels
    // running work reaches it as it would on any worker (and that waiter
    // counts it); its queue entry counts nothing more.
    let Some((producer, job)) = claim_queued(producer) else {
        if let Some(pool) = pool {
            pool.helped_entry_taken();
        }
        return;
    };
    #[cfg(feature = "tracing")]
    let span = producer.payload().listened_span();
    let (end, _won) = producer.end_noting(Ending::Cancel, TaskError::cancelled());
    // Counted only if it was queued (not a task whose start was still to
    // come when its pool refused it).
    if let Some(pool) = pool {
        pool.ended(end);
    }
    #[cfg(feature = "tracing")]
    say_ended(span.as_ref(), Outcome::of(end, Outcome::TimedOut), None);
    drop_unrun(job);
}

/// Drops the closure of a task that won't run, on this thread. A drop that
/// panics is caught (the panic hook has reported it), as a handle's
/// `cancel` does: the thread dropping it (a shutdown that cancels the queue,
/// a worker, a pool that breaks, the timer's closing thread) goes on with
/// the rest.
fn drop_unrun<J>(job: Option<J>) {
    let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(job)));
}

/// Counts a queued task that ended without starting (cancelled, or timed
/// out by its deadline), if it did (`false`: it started); the queue entry
/// calls this.
fn count_unstarted<T: Send + 'static, J: Job<T> + 'static>(
    producer: &Producer<T, ThreadJob<T, J>>,
    pool: &dyn Context,
) -> bool {
    let Some(end) = producer.end_unstarted() else {
        return false;
    };
    pool.ended(end);
    // A queued task's error can only be its deadline's.
    #[cfg(feature = "tracing")]
    say_ended(
        producer.payload().listened_span().as_ref(),
        Outcome::of(end, Outcome::TimedOut),
        None,
    );
    true
}

impl<T: Send + 'static, J: Job<T> + 'static> Run for Cell<T, ThreadJob<T, J>> {
    fn run(self: Arc<Self>, pool: &dyn Context, taken: Taken) {
        run_task(Producer::from_cell(self, Caller::User), pool, taken);
    }

    fn cancel_queued(self: Arc<Self>, pool: Option<&dyn Context>) {
        cancel_unstarted(Producer::from_cell(self, Caller::User), pool);
    }

    fn fail_queued(self: Arc<Self>, err: TaskError, pool: Option<&dyn Context>) {
        let Some((producer, job)) = claim_queued(Producer::from_cell(self, Caller::User)) else {
            // A waiter started it: its queue entry, taken off, counts nothing.
            if let Some(pool) = pool {
                pool.helped_entry_taken();
            }
            return;
        };
        #[cfg(feature = "tracing")]
        let span = producer.payload().listened_span();
        let (end, _won) = producer.end_noting(Ending::Fail, err);
        // Counted only if it was queued (not a task whose start was
        // still to come when its pool refused it).
        if let Some(pool) = pool {
            pool.ended(end);
        }
        #[cfg(feature = "tracing")]
        say_ended(
            span.as_ref(),
            Outcome::attempted(Outcome::Failed, _won, end),
            None,
        );
        drop_unrun(job);
    }
}
