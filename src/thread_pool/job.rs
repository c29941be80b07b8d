//! A thread-pool task as the pool keeps it: the closure inside the task's
//! own cell ([`ThreadJob`], the cell's payload: one allocation per task), and
//! [`Run`], what the queue holds to run it.
//!
//! The closure is the pool's to run or drop, always on a thread that runs
//! user code: a worker that takes the task off the queue runs it, or (if the
//! task ended while queued: cancelled, timed out) drops it; a shutdown that
//! cancels pending work drops it on the thread that shuts down; a refused
//! submit hands it back. The core never touches it.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::core::cell::{Caller, Cancel, Cell, Payload, Start};
use crate::core::producer::Producer;
use crate::core::timer::Timer;
use crate::core::token::CancelToken;
use crate::error::TaskError;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::{Arc, Weak};

/// A closure waiting to run, and what it was given as. (Not necessarily
/// `'static`: a scoped job borrows, behind `scope.rs`'s erasure. The queue
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

/// A thread-pool task's payload in its cell: only the closure (its
/// deadline and time limit are the cell's, set by the submit).
pub(crate) struct ThreadJob<J> {
    /// The closure, until the thread that claims it through the task's cell
    /// (see [`Payload`]) takes it out, to run it or to drop it.
    job: UnsafeCell<Option<J>>,
}

// SAFETY: `job` is only reached through `take`, whose callers claimed the
// payload through the task's cell: one thread, once, under the cell's lock,
// which orders the take after the cell was made (and shared).
unsafe impl<J: Send> Sync for ThreadJob<J> {}

impl<J> ThreadJob<J> {
    pub(crate) fn new(job: J) -> ThreadJob<J> {
        ThreadJob {
            job: UnsafeCell::new(Some(job)),
        }
    }

    /// A payload with no closure: a task that ended before it was queued.
    pub(crate) fn new_empty() -> ThreadJob<J> {
        ThreadJob {
            job: UnsafeCell::new(None),
        }
    }

    /// Takes the closure out.
    ///
    /// # Safety
    ///
    /// The caller claimed the payload through the task's cell
    /// ([`Producer::start`] said [`Start::Run`] or [`Start::Drop`], or
    /// [`Producer::claim`] said `true`).
    pub(crate) unsafe fn take(&self) -> Option<J> {
        // SAFETY: by the caller's claim, no other thread touches `job`.
        self.job.with_mut(|job| unsafe { (*job).take() })
    }
}

impl<J: Send + 'static> Payload for ThreadJob<J> {
    unsafe fn discard(&self) {
        // SAFETY: the core claimed the payload before calling this.
        drop(unsafe { self.take() });
    }
}

/// Takes the closure of a task that won't be started, if this thread is the
/// one to claim it.
fn claim<T: Send + 'static, J: Job<T> + 'static>(
    producer: &Producer<T, ThreadJob<J>>,
) -> Option<J> {
    // SAFETY: taken only once claimed.
    producer
        .claim()
        .then(|| unsafe { producer.payload().take() })
        .flatten()
}

/// What a task needs of its pool while a worker runs it.
pub(crate) trait Context {
    /// The pool's deadline timer, which enforces a time limit.
    fn timer(&self) -> &Timer;
    /// A cancellable task started: a shutdown that cancels running work
    /// can reach it through `task`.
    fn running(&self, id: u64, task: Weak<dyn Cancel>);
    /// That task is done running.
    fn done_running(&self, id: u64);
}

/// What the pool's queue holds: a task to run, whatever its types.
pub(crate) trait Run: Send + Sync {
    /// Runs the task on this worker, unless it already ended (then its
    /// closure is dropped here).
    fn run(self: Arc<Self>, pool: &dyn Context);
    /// Cancels a task still queued (a shutdown that cancels pending work).
    fn cancel_queued(self: Arc<Self>);
    /// Fails a task still queued (a broken pool, no worker to run it).
    fn fail_queued(self: Arc<Self>, err: TaskError);
}

impl<T: Send + 'static, J: Job<T> + 'static> Run for Cell<T, ThreadJob<J>> {
    fn run(self: Arc<Self>, pool: &dyn Context) {
        let producer = Producer::from_cell(self, Caller::User);
        if producer.deadline().is_some_and(|d| Instant::now() >= d) {
            // Past its deadline before it started: it never runs, even if
            // the timer thread hasn't got to it yet. Its closure is dropped
            // here, on the worker (unless a user's thread got to it first).
            let job = claim(&producer);
            producer.expire();
            drop(job);
            return;
        }
        // This worker owns the closure now, if the task starts (to run it)
        // or ended while queued and nobody else dropped it (to drop it).
        let job = match producer.start() {
            // SAFETY: `Start::Run` claimed the payload for this thread.
            Start::Run => match unsafe { producer.payload().take() } {
                Some(job) => job,
                // A queued task always holds its closure; should one not,
                // the producer's drop ends the task as abandoned.
                None => return,
            },
            Start::Drop => {
                // SAFETY: `Start::Drop` claimed the payload for this thread.
                drop(unsafe { producer.payload().take() });
                return;
            }
            Start::Gone => return,
        };
        if let Some(limit) = producer.time_limit() {
            // The limit counts from now. The timer was started at the
            // submit, so this can only fail if it was closed (the pool shut
            // down, with no worker left to run this): the task then runs
            // unlimited.
            if let Some(at) = Instant::now().checked_add(limit) {
                let _ = pool.timer().schedule(at, producer.expiry());
            }
        }
        // A task with a token can be cancelled while it runs: a shutdown
        // that cancels running work reaches it here. (Plain tasks can't be
        // stopped, and pay nothing for this.)
        let id = producer.cancellable().then(|| {
            let id = producer.id();
            pool.running(id, producer.canceller());
            id
        });
        let outcome =
            panic::catch_unwind(AssertUnwindSafe(|| job.call())).map_err(TaskError::panic);
        if let Some(id) = id {
            pool.done_running(id);
        }
        // Lost to a cancel or a timeout while running: the value nobody
        // wants is dropped here, on the worker.
        let _ = producer.complete(outcome);
    }

    fn cancel_queued(self: Arc<Self>) {
        let producer = Producer::from_cell(self, Caller::User);
        let job = claim(&producer);
        producer.cancel();
        drop(job);
    }

    fn fail_queued(self: Arc<Self>, err: TaskError) {
        let producer = Producer::from_cell(self, Caller::User);
        let job = claim(&producer);
        producer.fail(err);
        drop(job);
    }
}
