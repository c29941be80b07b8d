//! What one task costs in memory, pinned: a change that grows a task's
//! cell fails here, so that growing it is a decision, not an accident. (The
//! aim, issue 11: at most 150 bytes per pending task, allocation header and
//! backend payload included; the cell alone is over that today.)
//!
//! The cell of a `u64` task with an empty payload, on a 64-bit target:
//!
//! | part                                     | bytes |
//! |------------------------------------------|-------|
//! | id                                       | 8 |
//! | name, `Option<TaskName>` (one pointer)   | 8 |
//! | cancellable (a `bool`, padded)           | 8 |
//! | token, `Option<CancelToken>`             | 8 |
//! | the state under its mutex                | 120 |
//! | the condvar                              | 8 |
//! | total                                    | 160 |

use std::mem::size_of;

use super::cell::Cell;
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
fn a_cell_stays_within_its_measured_size() {
    let size = size_of::<Cell<u64, ()>>();
    assert!(size <= 160, "a task's cell grew to {size} bytes");
}
