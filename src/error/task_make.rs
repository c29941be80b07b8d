//! How the crate makes a [`TaskError`]: the constructors, the stamp of
//! the task it came from, and `duplicate`.

use std::any::Any;
use std::io;

use super::BoxError;
use super::task::{Inner, Repr, TaskError};
use super::task_id::{TaskId, TaskName};
use crate::loom::sync::{Arc, StdMutex};

#[cfg(feature = "process")]
impl TaskError {
    /// The worker process `pid` died with this exit code or signal.
    pub(crate) fn worker_died(pid: u32, code: Option<i32>, signal: Option<i32>) -> TaskError {
        TaskError::new(Repr::WorkerDied { pid, code, signal })
    }

    /// The worker process `pid` sent garbage (or a reply that made no sense).
    pub(crate) fn protocol(pid: u32, msg: impl Into<Arc<str>>) -> TaskError {
        TaskError::new(Repr::Protocol {
            pid,
            msg: msg.into(),
        })
    }

    /// An argument or result failed to cross the process boundary;
    /// `msg` says which and why.
    pub(crate) fn serialization(msg: impl Into<Arc<str>>) -> TaskError {
        TaskError::new(Repr::Serialization(msg.into()))
    }

    /// A task panicked in a worker process with `message`; its payload is
    /// that message (a `String`), as for a thread pool's `panic!("...")`.
    pub(crate) fn remote_panic(message: String, backtrace: Option<String>) -> TaskError {
        TaskError::new(Repr::Panic {
            payload: StdMutex::new(Box::new(message.clone())),
            message: Some(message),
            backtrace,
        })
    }
}

#[cfg(feature = "cluster")]
impl TaskError {
    /// A cluster's own failure; `msg` says what (see
    /// [`is_cluster_error`](TaskError::is_cluster_error)).
    pub(crate) fn cluster(msg: impl Into<Arc<str>>) -> TaskError {
        TaskError::new(Repr::Cluster(msg.into()))
    }

    /// An argument or result too large to carry; `msg` says which (see
    /// [`is_too_large`](TaskError::is_too_large)).
    pub(crate) fn too_large(msg: impl Into<Arc<str>>) -> TaskError {
        TaskError::new(Repr::TooLarge(msg.into()))
    }
}

impl TaskError {
    pub(super) fn new(repr: Repr) -> TaskError {
        TaskError {
            inner: Box::new(Inner { repr, task: None }),
        }
    }

    /// A copy of this error: for every task of a chunk that failed as one,
    /// and for every reader of a shared handle that clones its outcome. A
    /// panic payload is copied as its message (a `String`); the task it
    /// names is kept.
    pub(crate) fn duplicate(&self) -> TaskError {
        let repr = match &self.inner.repr {
            Repr::Panic {
                message, backtrace, ..
            } => {
                let message = message
                    .clone()
                    .unwrap_or_else(|| "(non-string payload)".to_owned());
                Repr::Panic {
                    payload: StdMutex::new(Box::new(message.clone())),
                    message: Some(message),
                    backtrace: backtrace.clone(),
                }
            }
            Repr::Cancelled => Repr::Cancelled,
            Repr::Timeout => Repr::Timeout,
            Repr::Broken(cause) => Repr::Broken(cause.clone()),
            Repr::Shutdown => Repr::Shutdown,
            Repr::Spawn(err) => Repr::Spawn(err.clone()),
            Repr::WorkerDied { pid, code, signal } => Repr::WorkerDied {
                pid: *pid,
                code: *code,
                signal: *signal,
            },
            Repr::Protocol { pid, msg } => Repr::Protocol {
                pid: *pid,
                msg: msg.clone(),
            },
            Repr::Serialization(msg) => Repr::Serialization(msg.clone()),
            Repr::Cluster(msg) => Repr::Cluster(msg.clone()),
            Repr::TooLarge(msg) => Repr::TooLarge(msg.clone()),
            Repr::StartFailed(cause) => Repr::StartFailed(cause.clone()),
            Repr::Abandoned => Repr::Abandoned,
            Repr::Custom(err) => Repr::Custom(err.clone()),
            Repr::Dependency(err) => Repr::Dependency(err.clone()),
        };
        TaskError {
            inner: Box::new(Inner {
                repr,
                task: self.inner.task.clone(),
            }),
        }
    }

    /// Says which task ended with this error: its cell calls this when it
    /// publishes the error, or decodes it from a deferred outcome.
    pub(crate) fn stamp(&mut self, id: TaskId, name: Option<&TaskName>) {
        self.inner.task = Some((id, name.cloned()));
    }

    /// The producer's own error (a promise's `fail`).
    pub(crate) fn custom(err: BoxError) -> TaskError {
        TaskError::new(Repr::Custom(Arc::new(err)))
    }

    /// The producer's error back out of an error made by
    /// [`custom`](Self::custom) that nobody saw: a promise failed too late.
    pub(crate) fn into_custom(self) -> Option<BoxError> {
        match self.inner.repr {
            Repr::Custom(err) => Arc::into_inner(err),
            _ => None,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> TaskError {
        TaskError::new(Repr::Panic {
            message: payload_message(payload.as_ref()).map(str::to_owned),
            payload: StdMutex::new(payload),
            backtrace: None,
        })
    }

    pub(crate) fn cancelled() -> TaskError {
        TaskError::new(Repr::Cancelled)
    }

    pub(crate) fn timeout() -> TaskError {
        TaskError::new(Repr::Timeout)
    }

    pub(crate) fn spawn_failure(err: Arc<io::Error>) -> TaskError {
        TaskError::new(Repr::Spawn(err))
    }

    pub(crate) fn broken(cause: Arc<BoxError>) -> TaskError {
        TaskError::new(Repr::Broken(cause))
    }

    /// The task was refused because its pool is shut down.
    pub(crate) fn shutdown() -> TaskError {
        TaskError::new(Repr::Shutdown)
    }

    /// No worker process could be started, so the pool is broken.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn start_failed(cause: Arc<BoxError>) -> TaskError {
        TaskError::new(Repr::StartFailed(cause))
    }

    /// The producer of the task went away without ending it.
    pub(crate) fn abandoned() -> TaskError {
        TaskError::new(Repr::Abandoned)
    }
}

/// The message of a panic payload made by `panic!`, if it has one.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}
