//! The one place the crate gets its synchronisation primitives from.
//!
//! Every lock, condition variable, atomic and reference count that the task
//! state machine and the pools use is imported from here, never straight from
//! `std` or `parking_lot`. That keeps the seam narrow enough to swap in
//! [`loom`](https://docs.rs/loom)'s model-checked versions under a cfg later,
//! the way `oneshot` and `crossbeam-utils` do.

pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
pub(crate) use std::sync::{Arc, Weak};
