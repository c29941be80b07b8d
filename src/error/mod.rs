//! Every error type of the crate.
//!
//! A task's failure is one opaque [`TaskError`] with predicates, in the manner
//! of tokio's `JoinError`: callers ask `is_panic()`, `is_cancelled()`,
//! `is_timeout()`, and new kinds of failure (a dead worker process, say) can be
//! added without breaking a `match`. Errors of a single operation are small
//! enums, like crossbeam's `RecvTimeoutError`. Whatever the caller handed in
//! and was refused comes back inside the error.
//!
//! One file per concern: a task's failure (`task.rs`, how the crate makes
//! one in `task_make.rs`, and how it reads in `task_fmt.rs`), which task it
//! was (`task_id.rs`: [`TaskId`], carried by every task's error), handing
//! one in (`submit.rs`), building a pool
//! (`build.rs`), and waiting for many (`timeout.rs`). The errors of waiting
//! for one task hand the task's handle back, so they live beside it, in the
//! core (`src/core/handle/join_error.rs`).

use std::error::Error;

mod build;
mod submit;
mod task;
mod task_dep;
mod task_fmt;
mod task_id;
mod task_make;
mod timeout;

pub use build::BuildError;
pub(crate) use build::BuildErrorKind;
pub(crate) use submit::Refusal;
pub use submit::SubmitError;
pub use task::TaskError;
pub use task_id::TaskId;
pub(crate) use task_id::TaskName;
pub(crate) use task_make::payload_message;
pub use timeout::TimeoutError;

/// A boxed error, as an initializer returns it.
pub(crate) type BoxError = Box<dyn Error + Send + Sync + 'static>;
