//! A task the client waits for, as the client holds it: its [`Slot`] (the
//! cell's producer, type erased), and how a worker's outcomes become its
//! value (decoded where user code may run, never on the runtime thread).

use std::panic::{self, AssertUnwindSafe};

use crate::core::cell::Payload;
use crate::core::producer::Producer;
use crate::core::state::End;
use crate::error::{TaskError, payload_message};
use crate::remote::registry::Outcome;

/// A cluster task's payload in its cell: nothing to run or drop here (its
/// argument is encoded, in the message).
pub(in crate::cluster) struct Queued;

impl Payload for Queued {
    unsafe fn discard(&self) {}
}

/// Turns a worker's outcomes into the task's value; run where a deferred
/// value is decoded, never on the runtime thread (`worker` names it).
pub(in crate::cluster) type Decoder<T> =
    Box<dyn FnOnce(Vec<Outcome>, &str) -> Result<T, TaskError> + Send + 'static>;

/// A pending task, its type erased.
pub(in crate::cluster) trait Slot: Send {
    /// A worker started it; `false` if it had ended (cancelled) first.
    fn start(&self) -> bool;
    /// A worker ran it: its outcomes.
    fn done(self: Box<Self>, outcomes: Vec<Outcome>, worker: String) -> End;
    /// It ended without outcomes.
    fn fail(self: Box<Self>, err: TaskError) -> End;
    /// Cancels it (a shutdown that cancels what is queued).
    fn cancel(self: Box<Self>) -> End;
    /// Its worker killed it (or never started it) at the client's request:
    /// it ends as cancelled, even though it was running.
    fn cancelled(self: Box<Self>) -> End;
    /// How it ended, if something else (its handle, the timer) ended it.
    fn ended(&self) -> Option<End>;
}

pub(in crate::cluster) struct Typed<T: Send + 'static> {
    pub(in crate::cluster) producer: Producer<T, Queued>,
    pub(in crate::cluster) decode: Decoder<T>,
}

impl<T: Send + 'static> Slot for Typed<T> {
    fn start(&self) -> bool {
        self.producer.start() == crate::core::cell::Start::Run
    }

    fn done(self: Box<Self>, outcomes: Vec<Outcome>, worker: String) -> End {
        let Typed { producer, decode } = *self;
        if outcomes.iter().any(|o| matches!(o, Outcome::Value(_))) {
            // Decoding runs the user's `Deserialize`: not on this thread.
            producer.complete_deferred(
                Box::new(move || {
                    panic::catch_unwind(AssertUnwindSafe(|| decode(outcomes, &worker)))
                        .unwrap_or_else(|payload| {
                            Err(TaskError::serialization(format!(
                                "deserializing the task's result panicked: {}",
                                payload_message(payload.as_ref()).unwrap_or("(non-string payload)")
                            )))
                        })
                }),
                |_| (),
            )
        } else {
            // Errors only: built from the worker's messages, no user code.
            producer
                .complete_noting(decode(outcomes, &worker), |_| ())
                .0
        }
    }

    fn fail(self: Box<Self>, err: TaskError) -> End {
        let (end, _) = self
            .producer
            .end_noting(crate::core::state::Ending::Fail, err);
        end
    }

    fn cancel(self: Box<Self>) -> End {
        let (end, _) = self
            .producer
            .end_noting(crate::core::state::Ending::Cancel, TaskError::cancelled());
        end
    }

    fn cancelled(self: Box<Self>) -> End {
        self.producer
            .complete_noting(Err(TaskError::cancelled()), |_| ())
            .0
    }

    fn ended(&self) -> Option<End> {
        if self.producer.is_ended() {
            self.producer.end()
        } else {
            None
        }
    }
}

/// One argument's outcome as a task's.
pub(in crate::cluster) fn outcome<R: serde::de::DeserializeOwned>(
    outcome: Outcome,
    worker: &str,
) -> Result<R, TaskError> {
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
        Outcome::Unknown(name) => Err(TaskError::cluster(format!(
            "no function is registered as `{name}` in worker {worker}"
        ))),
    }
}
