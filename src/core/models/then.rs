//! A model of [`Then`](crate::core::handle::Then), the continuation under
//! dependent tasks (`TaskBuilder::after`). See the table in the
//! [module docs](super).

use super::{bump, counter, read};
use crate::core::cell::{Caller, TaskSpec};
use crate::core::handle::Then;
use crate::core::producer::new_task;
use crate::core::promise::Promise;
use crate::loom::model::model;
use crate::loom::thread::current_id;

/// A `Then` made while an internal thread (a driver, the timer) completes
/// the task: the function gets the value exactly once, and never on the
/// internal thread (there, the empty callback sends the publish, and so the
/// wake, to the callback runner).
#[test]
fn then_racing_an_internal_completion() {
    model("then_racing_an_internal_completion")
        .exhaustive()
        .check(|| {
            let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::Internal);
            let internal = loom::thread::spawn(move || {
                assert!(producer.complete(Ok(7)).is_ok());
                current_id()
            });
            let calls = counter();
            let counted = calls.clone();
            let (called, called_on) = Promise::new();
            let _then = Then::new(handle, move |outcome| {
                assert_eq!(outcome.unwrap(), 7);
                bump(&counted);
                called.set(current_id()).unwrap();
            });
            let internal_id = internal.join().unwrap();
            let ran_on = called_on.join().unwrap();
            assert_ne!(
                ran_on, internal_id,
                "the function ran on the internal thread"
            );
            assert_eq!(read(&calls), 1, "the function ran once");
        });
}
