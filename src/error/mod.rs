//! Every error type of the crate, one file per concern.
//!
//! A task's failure is one opaque [`TaskError`] with predicates, in the manner
//! of tokio's `JoinError`: callers ask `is_panic()`, `is_cancelled()`,
//! `is_timeout()`, and new kinds of failure (a dead worker process, say) can be
//! added without breaking a `match`. Errors of a single operation are small
//! enums, like crossbeam's `RecvTimeoutError`. Whatever the caller handed in
//! and was refused comes back inside the error.
//!
//! Following the Rust API guidelines (C-GOOD-ERR), an error either names its
//! cause in `Display` or returns it from `source()`, never both: error
//! reporters print the whole chain, and would print the cause twice.

mod build;
mod join;
mod submit;
mod task;
mod timeout;

use std::any::Any;
use std::error::Error;

pub use build::BuildError;
pub(crate) use build::BuildErrorKind;
pub use join::{JoinTimeoutError, TryJoinError};
pub(crate) use submit::Refusal;
pub use submit::SubmitError;
pub use task::TaskError;
pub use timeout::TimeoutError;

/// A boxed error, as an initializer returns it.
pub(crate) type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// The message of a panic payload made by `panic!`, if it has one.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}
