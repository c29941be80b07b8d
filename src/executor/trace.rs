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

use crate::core::state::End;

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
