//! Waiting on many tasks at once, whichever pools run them: above the core.
//!
//! - `set.rs`: [`TaskRef`] (what they accept: handles, references to
//!   handles, `(key, handle)` pairs, erased handles) and the registration
//!   `as_completed`, `wait` and `first_ok` build on;
//! - `any.rs`: [`AnyHandle`], a handle whose output type is erased, to mix
//!   types in one call;
//! - `as_completed.rs`: [`as_completed`], tasks in the order they finish;
//! - `wait.rs`: [`wait`] and friends, until the first, the first failing,
//!   or every task is done.

mod any;
mod as_completed;
mod set;
#[allow(clippy::module_inception)]
mod wait;

pub use any::AnyHandle;
pub use as_completed::{AsCompleted, AsCompletedStream, AsCompletedTimeout, as_completed};
pub use set::TaskRef;
pub use wait::{ReturnWhen, WaitAsync, Waited, wait, wait_async, wait_deadline, wait_timeout};
