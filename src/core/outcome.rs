//! A task's outcome as its cell stores it: ready, or a value still to be
//! decoded (a process pool's reply), which is decoded by whoever takes it,
//! never by the thread that completed the task.

use std::panic::{self, AssertUnwindSafe};

use crate::error::TaskError;

/// A value still to be decoded: run under `catch_unwind` by the thread that
/// takes the outcome (or by the callback runner), never by the producer.
pub(crate) type Deferred<T> = Box<dyn FnOnce() -> Result<T, TaskError> + Send + 'static>;

/// A task's outcome, as stored. A deferred value is boxed once more, so
/// that it takes one pointer: an `Outcome<u64>` (and an
/// `Option<Outcome<u64>>`) is as small as a `Result<u64, TaskError>`.
pub(crate) enum Outcome<T> {
    Ready(Result<T, TaskError>),
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Deferred(Box<Deferred<T>>),
}

impl<T> Outcome<T> {
    /// The outcome as a `Result`, decoding a deferred value here.
    pub(crate) fn resolve(self) -> Result<T, TaskError> {
        match self {
            Outcome::Ready(outcome) => outcome,
            // The backend's decoder catches its own panics and says what
            // failed; this is the last guard, so a decoder can never unwind
            // into whoever asked.
            Outcome::Deferred(decode) => panic::catch_unwind(AssertUnwindSafe(*decode))
                .unwrap_or_else(|payload| Err(TaskError::panic(payload))),
        }
    }

    /// Whether dropping this runs user code: a value, or a panic payload.
    /// A deferred value is bytes and a decoder: not user code.
    pub(super) fn holds_user_value(&self) -> bool {
        match self {
            Outcome::Ready(Ok(_)) => true,
            Outcome::Ready(Err(err)) => err.is_panic(),
            Outcome::Deferred(_) => false,
        }
    }
}
