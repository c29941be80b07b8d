//! What one task costs in memory, pinned: a change that grows a task's
//! cell fails here, so that growing it is a decision, not an accident.
//! (Issue 11's aim: at most 150 bytes a pending task, allocation header,
//! queue slot and handle included; `benches/memory.rs` measures it beside
//! the peers.)
//!
//! The cell of a `u64` task with an empty payload, on a 64-bit target:
//!
//! | part                                                        | bytes |
//! |-------------------------------------------------------------|-------|
//! | id                                                          | 8 |
//! | `Fixed` (name, token, time limits), out of line when set    | 8 |
//! | the state under its mutex: phases, the outcome (16), `Waiting` (callbacks, waker, watchers, hook), out of line when used | 40 |
//! | the condvar                                                 | 8 |
//! | total                                                       | 64 |
//!
//! A pending thread-pool task adds its closure (behind a one-byte lock),
//! the `Arc`'s two counts, and the allocator's rounding: 96 bytes for a
//! closure that captures nothing; then a queue slot (24) and its handle
//! (16).

use std::mem::size_of;

use super::cell::Cell;
use super::outcome::Outcome;
use crate::error::{TaskError, TaskName};

#[test]
fn a_name_costs_one_pointer_and_an_error_one_box() {
    assert_eq!(size_of::<Option<TaskName>>(), size_of::<usize>());
    assert_eq!(size_of::<TaskError>(), size_of::<usize>());
    assert_eq!(
        size_of::<Result<u64, TaskError>>(),
        16,
        "a result is no wider than its value and a pointer"
    );
}

#[test]
#[cfg(target_pointer_width = "64")]
fn a_stored_outcome_is_no_wider_than_a_result() {
    assert_eq!(size_of::<Option<Outcome<u64>>>(), 16);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn a_cell_stays_within_its_measured_size() {
    let size = size_of::<Cell<u64, ()>>();
    assert!(size <= 64, "a task's cell grew to {size} bytes");
}
