//! Waiting on many tasks at once, whichever pools run them: above the core.
//!
//! - `set.rs`: [`TaskRef`] (what they accept: handles, references to
//!   handles, `(key, handle)` pairs, erased handles) and the registration
//!   `as_completed`, `wait` and `first_ok` build on;
//! - `any.rs`: [`AnyHandle`], a handle whose output type is erased, to mix
//!   types in one call;
//! - `as_completed/`: [`as_completed`], tasks in the order they finish,
//!   with a deadline ([`AsCompletedTimeout`]), as a stream
//!   ([`AsCompletedStream`]), and [`AsCompletedAdder`], tasks added to it
//!   from a loop's body or another thread;
//! - `wait.rs`: [`wait`] and friends, until the first, the first failing,
//!   or every task is done;
//! - `first_ok.rs`: [`first_ok`] and friends, the first task to succeed,
//!   the others cancelled; its errors in `first_ok_error.rs`;
//! - `group.rs`: [`TaskGroup`], tasks joined as they end, cancelled when
//!   the group is dropped; its timeout error in `group_error.rs`.

mod any;
mod as_completed;
mod first_ok;
mod first_ok_error;
mod group;
mod group_error;
mod set;
#[allow(clippy::module_inception)]
mod wait;

pub use any::AnyHandle;
pub use as_completed::{
    AsCompleted, AsCompletedAdder, AsCompletedStream, AsCompletedTimeout, as_completed,
};
pub use first_ok::{FirstOkAsync, first_ok, first_ok_async, first_ok_deadline, first_ok_timeout};
pub use first_ok_error::{AllFailedError, FirstOkTimeoutError};
pub use group::{JoinNextAsync, TaskGroup};
pub use group_error::JoinNextTimeoutError;
pub use set::TaskRef;
pub use wait::{
    ReturnWhen, WaitAsync, Waited, wait, wait_async, wait_deadline, wait_timeout,
    wait_with_progress, wait_with_progress_deadline, wait_with_progress_timeout,
};
