//! A process task as the pool holds it: [`RemoteTask`], the encoded request
//! and the task it completes, which the drivers see as a [`Dispatch`]; and
//! how a worker's reply becomes the task's outcome.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::protocol::{self, Outcome, Reply, Request};
use super::supervisor::Dispatch;
use crate::error::TaskError;
use crate::state::{Job, Phase};
use crate::sync::Arc;
use crate::task::Task;
use crate::token::CancelToken;

/// The job of a process task, in the parent: nothing to call here. The
/// request it stands for is sent to a worker by the driver that wins
/// `start`; it is kept in the [`RemoteTask`].
pub(super) struct RemoteJob;

impl<T> Job<T> for RemoteJob {
    fn call(self) -> T {
        unreachable!("a process task is sent to a worker, never called in the parent")
    }
    fn into_any(self) -> Box<dyn std::any::Any + Send> {
        Box::new(self)
    }
}

/// Turns a worker's reply into a task's outcome.
pub(super) type Decoder<T> = fn(Reply, u32) -> Result<T, TaskError>;

/// A process task as the driver sees it.
pub(super) struct RemoteTask<T> {
    pub(super) task: Arc<Task<T>>,
    /// The encoded request.
    pub(super) frame: Arc<[u8]>,
    pub(super) decode: Decoder<T>,
    pub(super) retries: u32,
}

impl<T: Send + 'static> Dispatch for RemoteTask<T> {
    fn start(&self) -> Option<Arc<[u8]>> {
        self.task.start().then(|| self.frame.clone())
    }

    fn token(&self) -> &CancelToken {
        self.task.token().expect("process tasks have a token")
    }

    fn complete(&self, reply: Reply, pid: u32, about_to_publish: &mut dyn FnMut()) {
        self.task
            .complete_then((self.decode)(reply, pid), Some(about_to_publish));
    }

    fn fail(&self, err: TaskError) {
        if self.task.phase() == Phase::Running {
            self.task.complete(Err(err));
        } else {
            self.task.fail(err);
        }
    }

    fn cancel_queued(&self) {
        self.task.cancel();
    }

    fn retries(&self) -> u32 {
        self.retries
    }
}

/// One call's outcome as a task's.
fn outcome<R: DeserializeOwned>(outcome: Outcome, pid: u32) -> Result<R, TaskError> {
    match outcome {
        Outcome::Value(bytes) => protocol::decode(&bytes).map_err(|err| {
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
    }
}

pub(super) fn decode_chunk<R: DeserializeOwned>(
    reply: Reply,
    pid: u32,
) -> Result<Vec<Result<R, TaskError>>, TaskError> {
    match reply {
        Reply::Chunk(outcomes) => Ok(outcomes.into_iter().map(|o| outcome(o, pid)).collect()),
        Reply::One(_) => Err(TaskError::protocol(pid, "a single reply to a chunk")),
        Reply::Refused(msg) => Err(refused(pid, msg)),
    }
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

pub(super) fn request_frame(request: &Request) -> Result<Vec<u8>, TaskError> {
    protocol::frame(&[], request).map_err(|err| {
        TaskError::serialization(format!("failed to serialize the task's argument: {err}"))
    })
}
