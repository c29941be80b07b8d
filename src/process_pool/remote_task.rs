//! A process task as the pool holds it: [`RemoteTask`], the encoded request
//! and the producer of the task it completes, which the drivers see as a
//! [`Dispatch`]; and how a worker's reply becomes the task's outcome.
//!
//! The drivers are internal threads: they never decode a user type. A reply
//! that carries a value is handed to the task as a *deferred* outcome, decoded
//! (under `catch_unwind`) by the thread that takes it or by the callback
//! runner; a reply that carries an error (a panic, a failure to encode) is
//! turned into the task's error here, which runs no user code.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::protocol::{self, Outcome, Reply, Request};
use super::supervisor::{Dispatch, Shared};
use crate::core::cell::{Cancel, Hook, Payload, Start};
use crate::core::producer::Producer;
use crate::core::state::{End, Ending};
use crate::core::timer::Expire;
use crate::error::{TaskError, payload_message};
use crate::executor::metrics::Counters;
#[cfg(feature = "tracing")]
use crate::executor::trace::{self, Outcome as TraceOutcome};
use crate::loom::sync::{Arc, Weak};

/// A process task's payload in its cell. The core has nothing to run or
/// drop for it: the encoded request lives in the [`RemoteTask`]. It knows
/// its pool, so that a thread that joins the task can read its reply
/// itself (see `supervisor/direct.rs`).
pub(super) struct Remote {
    pub(super) pool: Weak<Shared>,
}

impl Payload for Remote {
    unsafe fn discard(&self) {}

    fn wait_here(&self, id: u64, deadline: Option<Instant>) -> bool {
        self.pool
            .upgrade()
            .is_some_and(|pool| pool.join_here(id, deadline))
    }

    fn wanted(&self, id: u64) {
        if let Some(pool) = self.pool.upgrade() {
            pool.wanted(id);
        }
    }
}

/// Turns a worker's reply into a task's outcome (called once, where a
/// deferred value is decoded: never on a driver).
pub(super) type Decoder<T> = Box<dyn FnOnce(Reply, u32) -> Result<T, TaskError> + Send>;

/// A process task as the driver sees it.
pub(super) struct RemoteTask<T: Send + 'static> {
    pub(super) producer: Producer<T, Remote>,
    /// The encoded request. (An `Arc<Vec<u8>>`, not an `Arc<[u8]>`: making
    /// the latter from the encoder's `Vec` would copy the whole frame.)
    pub(super) frame: Arc<Vec<u8>>,
    pub(super) decode: Decoder<T>,
    pub(super) retries: u32,
    /// How long it may run, once a driver starts it.
    pub(super) time_limit: Option<Duration>,
    /// When it must have ended, if it has a deadline.
    pub(super) deadline: Option<Instant>,
    /// The task's span (feature `tracing`), made by the submit; it lives
    /// here, in this process (the worker process doesn't trace). Its events
    /// and its close go to the event lane, off the driver thread.
    #[cfg(feature = "tracing")]
    pub(super) span: trace::LaneSpan,
    /// When it was started, if its span is listened to.
    #[cfg(feature = "tracing")]
    pub(super) since: std::cell::Cell<Option<Instant>>,
}

impl<T: Send + 'static> Dispatch for RemoteTask<T> {
    fn start(&self) -> Option<Arc<Vec<u8>>> {
        let started = self.producer.start() == Start::Run;
        #[cfg(feature = "tracing")]
        if started {
            self.since.set(self.span.started());
        }
        started.then(|| self.frame.clone())
    }

    fn set_hook(&self, hook: Hook) -> bool {
        self.producer.set_hook(hook)
    }

    fn clear_hook(&self) -> bool {
        self.producer.clear_hook()
    }

    fn time_limit(&self) -> Option<Duration> {
        self.time_limit
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn expiry(&self) -> Weak<dyn Expire> {
        self.producer.expiry()
    }

    fn canceller(&self) -> Weak<dyn Cancel> {
        self.producer.canceller()
    }

    fn complete(self: Box<Self>, reply: Reply, pid: u32, counters: &Counters) -> End {
        let RemoteTask {
            producer,
            decode,
            #[cfg(feature = "tracing")]
            span,
            #[cfg(feature = "tracing")]
            since,
            ..
        } = *self;
        if reply.carries_a_value() {
            // Decoding runs the user's `Deserialize`: not on this thread.
            let end = producer.complete_deferred(
                Box::new(move || decode_guarded(decode, reply, pid)),
                |end| counters.count(end),
            );
            #[cfg(feature = "tracing")]
            span.ended(TraceOutcome::of(end, TraceOutcome::TimedOut), since.get());
            end
        } else {
            // An error: built from the worker's message, no user code.
            let outcome = decode(reply, pid);
            #[cfg(feature = "tracing")]
            let mine = match &outcome {
                Err(err) if err.is_panic() => TraceOutcome::Panicked,
                _ => TraceOutcome::Failed,
            };
            let (end, lost) = producer.complete_noting(outcome, |end| counters.count(end));
            #[cfg(feature = "tracing")]
            span.ended(
                TraceOutcome::attempted(mine, lost.is_ok(), end),
                since.get(),
            );
            let _ = lost;
            end
        }
    }

    fn fail(self: Box<Self>, err: TaskError) -> End {
        (*self).end_as(Ending::Fail, err)
    }

    fn cancel_queued(self: Box<Self>) -> End {
        (*self).end_as(Ending::Cancel, TaskError::cancelled())
    }

    fn expire(self: Box<Self>) -> End {
        (*self).end_as(Ending::Expire, TaskError::timeout())
    }

    fn ended(self: Box<Self>) -> Option<End> {
        let end = self.producer.end();
        #[cfg(feature = "tracing")]
        if let Some(end) = end {
            // Ended by a cancel or by the timer.
            self.span.ended(
                TraceOutcome::of(end, TraceOutcome::TimedOut),
                self.since.get(),
            );
        }
        end
    }

    fn retries(&self) -> u32 {
        self.retries
    }

    fn id(&self) -> u64 {
        self.producer.id()
    }

    fn size(&self) -> usize {
        self.frame.len()
    }
}

impl<T: Send + 'static> RemoteTask<T> {
    /// Ends the task by `ending`; see [`Dispatch::fail`].
    fn end_as(self, ending: Ending, err: TaskError) -> End {
        #[cfg(feature = "tracing")]
        let mine = match ending {
            Ending::Cancel => TraceOutcome::Cancelled,
            Ending::Expire => TraceOutcome::TimedOut,
            _ => TraceOutcome::Failed,
        };
        #[cfg(feature = "tracing")]
        let (span, since) = (self.span, self.since.get());
        let (end, _won) = self.producer.end_noting(ending, err);
        #[cfg(feature = "tracing")]
        span.ended(TraceOutcome::attempted(mine, _won, end), since);
        end
    }
}

/// Runs `decode` with its panic caught: a `Deserialize` that panics fails
/// only its task, as a serialization error.
fn decode_guarded<T>(decode: Decoder<T>, reply: Reply, pid: u32) -> Result<T, TaskError> {
    panic::catch_unwind(AssertUnwindSafe(|| decode(reply, pid))).unwrap_or_else(|payload| {
        Err(TaskError::serialization(format!(
            "deserializing the task's result panicked: {}",
            payload_message(payload.as_ref()).unwrap_or("(non-string payload)")
        )))
    })
}

/// One call's outcome as a task's.
fn outcome<R: DeserializeOwned>(outcome: Outcome, pid: u32) -> Result<R, TaskError> {
    match outcome {
        Outcome::Value(bytes) => bytes.decode().map_err(|err| {
            TaskError::serialization(format!("failed to deserialize the task's result: {err}"))
        }),
        Outcome::Panic { message, backtrace } => Err(TaskError::remote_panic(message, backtrace)),
        Outcome::ArgError(msg) => Err(TaskError::serialization(format!(
            "the worker failed to deserialize the task's argument: {msg}"
        ))),
        Outcome::ResultError(msg) => Err(TaskError::serialization(format!(
            "the worker failed to serialize the task's result: {msg}"
        ))),
        Outcome::Unknown(name) => Err(TaskError::protocol(
            pid,
            format!("no function is registered as `{name}` in the worker"),
        )),
    }
}

pub(super) fn decode_one<R: DeserializeOwned>(reply: Reply, pid: u32) -> Result<R, TaskError> {
    match reply {
        Reply::One(o) => outcome(o, pid),
        Reply::Chunk(_) => Err(TaskError::protocol(pid, "a chunk reply to a single call")),
        Reply::Refused(msg) => Err(refused(pid, msg)),
        // Read by the driver before the reply reaches the task.
        Reply::Shared { .. } => Err(TaskError::protocol(pid, "an unread shared-memory reply")),
    }
}

/// Decodes a chunk's reply, and puts back the inputs that failed to encode
/// (`plan`: `Some(error)` for an input never sent, `None` for one sent) in
/// their places.
pub(super) fn decode_chunk<R: DeserializeOwned>(
    plan: Vec<Option<TaskError>>,
    reply: Reply,
    pid: u32,
) -> Result<Vec<Result<R, TaskError>>, TaskError> {
    let outcomes = match reply {
        Reply::Chunk(outcomes) => outcomes,
        Reply::One(_) => return Err(TaskError::protocol(pid, "a single reply to a chunk")),
        Reply::Refused(msg) => return Err(refused(pid, msg)),
        Reply::Shared { .. } => {
            return Err(TaskError::protocol(pid, "an unread shared-memory reply"));
        }
    };
    let sent = plan.iter().filter(|p| p.is_none()).count();
    if outcomes.len() != sent {
        return Err(TaskError::protocol(
            pid,
            format!(
                "a worker answered a chunk of {sent} with {} results",
                outcomes.len()
            ),
        ));
    }
    let mut outcomes = outcomes.into_iter();
    Ok(plan
        .into_iter()
        .map(|slot| match slot {
            Some(err) => Err(err),
            None => outcome(outcomes.next().expect("counted above"), pid),
        })
        .collect())
}

/// The worker could not read the request. (`WorkerProcess::call` already
/// turns this reply into an error, and the driver kills the worker.)
fn refused(pid: u32, msg: String) -> TaskError {
    TaskError::protocol(pid, format!("the worker refused the request: {msg}"))
}

/// Encodes `arg` for a worker.
pub(super) fn encode_arg<A: Serialize>(arg: &A) -> Result<Vec<u8>, TaskError> {
    protocol::encode(arg).map_err(|err| {
        TaskError::serialization(format!("failed to serialize the task's argument: {err}"))
    })
}

/// The frame of a call of `name` on `arg`, `arg` encoded straight into it.
pub(super) fn call_frame<A: Serialize>(
    name: &str,
    arg: &A,
    spare: impl FnOnce(usize) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, TaskError> {
    protocol::call_frame(name, arg, spare).map_err(|err| {
        TaskError::serialization(format!("failed to serialize the task's argument: {err}"))
    })
}

pub(super) fn request_frame(request: &Request) -> Result<Vec<u8>, TaskError> {
    protocol::frame(&[], request).map_err(|err| {
        TaskError::serialization(format!("failed to serialize the task's argument: {err}"))
    })
}
