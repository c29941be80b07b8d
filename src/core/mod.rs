//! The core: what a task is, whoever runs it. It knows no backend.
//!
//! - [`state`]: a task's phases and the legal moves between them (the table);
//! - [`cell`]: the shared cell, one allocation per task: the phases, the
//!   outcome, callbacks, waker and watchers, and the backend's payload;
//! - [`outcome`]: a task's outcome as the cell stores it, ready or still to
//!   be decoded;
//! - [`handle`]: the consumer's end, [`TaskHandle`](crate::TaskHandle), the
//!   errors of a bounded `join`, which hand it back, and
//!   [`SharedHandle`](crate::SharedHandle), the end many consumers share;
//! - [`producer`]: the producer's end, which a backend holds to start a
//!   task, install a stop hook, and end it;
//! - [`promise`]: [`Promise`](crate::Promise), the producer's end in the
//!   user's hands (a task kept by hand);
//! - [`token`]: [`CancelToken`](crate::CancelToken), cooperative cancellation;
//! - [`timer`]: the deadline timer, which expires tasks and runs no user code;
//! - [`runner`]: the callback runner, where user code goes that an internal
//!   thread must not run;
//! - [`blocking`]: the hook through which a backend hears that one of its
//!   threads is about to block (the thread pool lends the worker's place);
//! - [`watch`]: the ready-queues behind `as_completed` and `wait`.
//!
//! Nothing here imports a backend (`thread_pool`, `process_pool`): a backend
//! plugs in through the [`Producer`](producer::Producer), its payload type,
//! and a [`Blocking`](blocking::Blocking) hook. `as_completed`, `wait` and
//! the backends sit above.

pub(crate) mod blocking;
pub(crate) mod cell;
#[cfg(all(test, not(futurepool_loom)))]
mod footprint;
pub(crate) mod handle;
#[cfg(all(test, futurepool_loom))]
mod models;
pub(crate) mod outcome;
pub(crate) mod producer;
pub(crate) mod promise;
pub(crate) mod runner;
pub(crate) mod state;
pub(crate) mod timer;
pub(crate) mod token;
pub(crate) mod watch;
