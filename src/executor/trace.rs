//! Feature `tracing`: each task's span, and the events of its life, for the
//! backends to record. The core knows nothing of it: a backend keeps a
//! task's span beside its job (the thread pool in the task's payload, the
//! process pool in its queued task) and calls these where it starts and
//! ends the task. Without the feature none of this is compiled, and a task
//! holds nothing more.
//!
//! What a subscriber sees of one task:
//!
//! - a span `task` (level DEBUG, target `futurepool`), made by the submit,
//!   whose parent is the span current in the submitting thread; fields
//!   `id` (the task's [`TaskId`](crate::TaskId) number), `name` (if it has
//!   one) and `pool` (a thread pool's thread-name prefix, or `"process"`);
//! - an event `task started` in it when a worker starts the task; on a
//!   thread pool the span is also *entered* on the worker while the task
//!   runs, so the task's own `tracing` events nest under it;
//! - an event `task ended` in it, once, with `outcome` (`"ok"`,
//!   `"panicked"`, `"cancelled"`, `"timed out"` or `"failed"`) and, for a
//!   task that ran, `run_us` (its running time in microseconds).
//!
//! With the feature on and no subscriber interested, a task costs
//! `tracing`'s disabled-callsite check at its submit, and nothing more:
//! the clock is read only for an enabled span.

use std::time::Instant;

use tracing::Span;

#[cfg(feature = "process")]
use crate::loom::sync::Arc;

use crate::core::state::End;
use crate::executor::options::TaskOptions;

/// How a task ended, as the `task ended` event says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Panicked,
    Cancelled,
    TimedOut,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Panicked => "panicked",
            Outcome::Cancelled => "cancelled",
            Outcome::TimedOut => "timed out",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome of a task that ended as `end` says, where an error can
    /// only have been `error` (e.g. a queued task ended by the timer).
    pub(crate) fn of(end: End, error: Outcome) -> Outcome {
        match end {
            End::Value => Outcome::Ok,
            End::Cancelled => Outcome::Cancelled,
            End::Error => error,
        }
    }

    /// The outcome of a task that a backend tried to end as `mine`: that,
    /// if its attempt won (`won`); otherwise the event that won first, which
    /// can only be a cancel or a timeout (the timer's).
    pub(crate) fn attempted(mine: Outcome, won: bool, end: End) -> Outcome {
        if won {
            mine
        } else {
            Outcome::of(end, Outcome::TimedOut)
        }
    }
}

/// A new task's span, a child of the current span, if a subscriber listens
/// to it (`None` otherwise: nothing to keep). Its `id` is recorded by
/// [`set_id`] once the task has one.
pub(crate) fn task_span(pool: &str, name: Option<&str>) -> Option<Span> {
    let span = tracing::debug_span!(
        target: "futurepool",
        "task",
        id = tracing::field::Empty,
        name = name,
        pool = pool
    );
    (!span.is_disabled()).then_some(span)
}

/// Records the task's id in its span.
pub(crate) fn set_id(span: &Span, id: u64) {
    span.record("id", id);
}

/// The span of a task submitted with `options` to the pool `pool`: the one
/// its submit made earlier (a dependent's, which has its id already), or a
/// new one ([`task_span`]); `None` if no subscriber listens to it.
pub(crate) fn span_for(pool: &str, options: &TaskOptions) -> Option<Span> {
    let name = options.name.as_ref().map(|n| n.as_str());
    match (&options.span, &options.span_parent) {
        (Some(span), _) => (!span.is_disabled()).then(|| span.clone()),
        (None, Some(parent)) => {
            let span = tracing::debug_span!(
                target: "futurepool",
                parent: parent,
                "task",
                id = tracing::field::Empty,
                name = name,
                pool = pool
            );
            (!span.is_disabled()).then_some(span)
        }
        (None, None) => task_span(pool, name),
    }
}

/// Records the id of the task made with `options` in its span, unless the
/// span came with the options (a dependent's: it says the dependent's id,
/// the one its handle has, not the id of the task that runs it).
pub(crate) fn set_id_for(span: &Span, id: u64, options: &TaskOptions) {
    if options.span.is_none() {
        set_id(span, id);
    }
}

/// The task started on a worker: returns when, if anyone listens (for
/// [`ended`]'s running time).
pub(crate) fn started(span: &Span) -> Option<Instant> {
    if span.is_disabled() {
        return None;
    }
    tracing::debug!(target: "futurepool", parent: span, "task started");
    Some(Instant::now())
}

/// The task ended as `outcome` says; `since` is what [`started`] returned
/// if it ran.
pub(crate) fn ended(span: &Span, outcome: Outcome, since: Option<Instant>) {
    if span.is_disabled() {
        return;
    }
    let outcome = outcome.as_str();
    match since {
        Some(since) => {
            let run_us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
            tracing::debug!(target: "futurepool", parent: span, outcome, run_us, "task ended");
        }
        None => tracing::debug!(target: "futurepool", parent: span, outcome, "task ended"),
    }
}

/// A task's span as a process pool's driver holds it: its events, and its
/// close, happen on the *event lane*, never on the driver. A driver is an
/// internal thread, and a subscriber is user code (one that blocks must not
/// stall a worker's tasks); the lane runs on the callback runner, one job
/// at a time, so the events of a task (and of all tasks) keep their order.
/// They come soon after the driver's step, not necessarily before a `join`
/// of the task returns.
///
/// The span is behind an `Arc` so that the driver never clones or drops a
/// `Span` itself (either would call the subscriber).
#[cfg(feature = "process")]
pub(crate) struct LaneSpan(Option<Arc<Span>>);

#[cfg(feature = "process")]
impl LaneSpan {
    /// Holds `span`, or nothing if no subscriber listens to it.
    pub(crate) fn new(span: Span) -> LaneSpan {
        LaneSpan((!span.is_disabled()).then(|| Arc::new(span)))
    }

    /// The task started: `task started`, on the lane. Returns when, if
    /// anyone listens (for [`ended`](Self::ended)'s running time).
    pub(crate) fn started(&self) -> Option<Instant> {
        let span = self.0.clone()?;
        lane::push(Box::new(move || {
            tracing::debug!(target: "futurepool", parent: &*span, "task started");
        }));
        Some(Instant::now())
    }

    /// The task ended as `outcome` says: `task ended`, on the lane.
    pub(crate) fn ended(&self, outcome: Outcome, since: Option<Instant>) {
        if let Some(span) = self.0.clone() {
            lane::push(Box::new(move || ended(&span, outcome, since)));
        }
    }
}

#[cfg(feature = "process")]
impl Drop for LaneSpan {
    fn drop(&mut self) {
        // The last reference may be this one: the span closes on the lane.
        if let Some(span) = self.0.take() {
            lane::push(Box::new(move || drop(span)));
        }
    }
}

/// The event lane: a queue of event jobs that one callback-runner job at a
/// time runs, in order.
#[cfg(feature = "process")]
mod lane {
    use std::collections::VecDeque;
    use std::panic::{self, AssertUnwindSafe};

    use crate::core::runner::{self, Job};
    use crate::loom::sync::{Mutex, OnceLock};

    struct Lane {
        jobs: VecDeque<Job>,
        /// Whether a runner job is draining `jobs`.
        draining: bool,
    }

    fn lane() -> &'static Mutex<Lane> {
        static LANE: OnceLock<Mutex<Lane>> = OnceLock::new();
        LANE.get_or_init(|| {
            Mutex::new(Lane {
                jobs: VecDeque::new(),
                draining: false,
            })
        })
    }

    /// Runs `job` on the lane, after the jobs pushed before it.
    pub(super) fn push(job: Job) {
        let mut st = lane().lock();
        st.jobs.push_back(job);
        if !st.draining {
            st.draining = true;
            drop(st);
            runner::spawn(Box::new(drain));
        }
    }

    fn drain() {
        loop {
            let job = {
                let mut st = lane().lock();
                match st.jobs.pop_front() {
                    Some(job) => job,
                    None => {
                        st.draining = false;
                        return;
                    }
                }
            };
            // A subscriber that panics loses its own event only.
            let _ = panic::catch_unwind(AssertUnwindSafe(job));
        }
    }
}
