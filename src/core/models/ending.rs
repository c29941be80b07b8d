//! Models of the events that end a task, racing each other.

use std::sync::Arc as StdArc;

use super::{bump, counter, read};
use crate::core::cell::{Caller, TaskSpec};
use crate::core::producer::new_task;
use crate::loom::model::model;

/// A cancel racing the producer's completion: exactly one wins; `join`
/// returns the winner's outcome; a callback added before either runs exactly
/// once, before `join` can return.
#[test]
fn cancel_racing_complete() {
    model("cancel_racing_complete").check(|| {
        let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
        let calls = counter();
        let counted = calls.clone();
        handle.add_done_callback(move |_| bump(&counted));
        let handle = StdArc::new(handle);
        let canceller = {
            let handle = handle.clone();
            loom::thread::spawn(move || handle.cancel())
        };
        let completed = producer.complete(Ok(7)).is_ok();
        let cancelled = canceller.join().unwrap();
        assert_ne!(completed, cancelled, "exactly one wins");
        let handle = StdArc::try_unwrap(handle).expect("the canceller is done");
        match handle.join() {
            Ok(value) => assert!(completed && value == 7),
            Err(err) => assert!(cancelled && err.is_cancelled()),
        }
        assert_eq!(read(&calls), 1, "the callback ran once");
    });
}

/// A promise's keeper starting and keeping it, racing a consumer that
/// cancels: exactly one wins; the keeper learns it lost from `set_running`
/// or from `set` handing the value back; a callback runs once.
#[test]
fn a_kept_promise_racing_a_cancel() {
    model("a_kept_promise_racing_a_cancel").check(|| {
        let (promise, handle) = crate::core::promise::Promise::<u32>::new();
        let calls = counter();
        let counted = calls.clone();
        handle.add_done_callback(move |_| bump(&counted));
        let handle = StdArc::new(handle);
        let canceller = {
            let handle = handle.clone();
            loom::thread::spawn(move || handle.cancel())
        };
        let kept = if promise.set_running() {
            promise.set(7).is_ok()
        } else {
            assert!(promise.is_cancelled());
            false
        };
        let cancelled = canceller.join().unwrap();
        assert_ne!(kept, cancelled, "exactly one wins");
        let handle = StdArc::try_unwrap(handle).expect("the canceller is done");
        match handle.join() {
            Ok(value) => assert!(kept && value == 7),
            Err(err) => assert!(cancelled && err.is_cancelled()),
        }
        assert_eq!(read(&calls), 1, "the callback ran once");
    });
}
