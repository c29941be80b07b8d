//! Loom models of the core's interleavings: `RUSTFLAGS="--cfg
//! futurepool_loom" cargo test --lib --release core::models`. Each model
//! runs real crate code over loom's primitives (see `src/loom/`), and loom
//! explores every interleaving of its threads, within a preemption bound.

use std::sync::Arc as StdArc;

use loom::sync::atomic::{AtomicUsize, Ordering};

use super::cell::{Caller, TaskOptions};
use super::producer::new_task;

/// A cancel racing the producer's completion: exactly one wins; `join`
/// returns the winner's outcome; a callback added before either runs exactly
/// once, before `join` can return.
#[test]
fn cancel_racing_complete() {
    loom::model(|| {
        let (producer, handle) = new_task::<u32, ()>((), TaskOptions::default(), Caller::User);
        let calls = StdArc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        handle.add_done_callback(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
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
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the callback ran once");
    });
}

/// A promise's keeper starting and keeping it, racing a consumer that
/// cancels: exactly one wins; the keeper learns it lost from `set_running`
/// or from `set` handing the value back; a callback runs once.
#[test]
fn a_kept_promise_racing_a_cancel() {
    loom::model(|| {
        let (promise, handle) = crate::Promise::<u32>::new();
        let calls = StdArc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        handle.add_done_callback(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
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
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the callback ran once");
    });
}
