//! Loom models of the core's interleavings: `RUSTFLAGS="--cfg
//! futurepool_loom" cargo test --lib --release core::models`. Each model
//! runs real crate code over loom's primitives (see `src/loom/`), and loom
//! explores every interleaving of its threads, within a preemption bound.

use std::sync::Arc as StdArc;

use loom::sync::atomic::{AtomicUsize, Ordering};

use super::cell::{Caller, TaskSpec};
use super::producer::new_task;

/// A cancel racing the producer's completion: exactly one wins; `join`
/// returns the winner's outcome; a callback added before either runs exactly
/// once, before `join` can return.
#[test]
fn cancel_racing_complete() {
    loom::model(|| {
        let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
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
        let (promise, handle) = crate::core::promise::Promise::<u32>::new();
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

/// Drives `fut` on this model thread: park until woken. (loom's own
/// `future::block_on` is behind a feature the crate doesn't turn on.)
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(loom::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: StdArc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(StdArc::new(Unpark(loom::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        loom::thread::park();
    }
}

/// Two clones of a shared handle awaited on two threads while the producer
/// completes: each clone's own registration is woken (none is lost to the
/// other, as the cell's single waker would be), and both read the one
/// outcome, taken out of the cell once.
#[test]
fn shared_waiters_racing_completion() {
    loom::model(|| {
        let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
        let shared = handle.shared();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                loom::thread::spawn(move || block_on(shared))
            })
            .collect();
        assert!(producer.complete(Ok(7)).is_ok());
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap().unwrap(), 7);
        }
        assert_eq!(*shared.get().unwrap(), 7);
    });
}

/// Two threads reading a shared handle for the first time as it completes:
/// one takes the outcome out of the cell, the other borrows what it put
/// there (or waits on the lock for it); both borrow the same value.
#[test]
fn shared_first_readers_race() {
    loom::model(|| {
        let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
        let shared = handle.shared();
        let reader = {
            let shared = shared.clone();
            loom::thread::spawn(move || {
                let value: &u32 = shared.get().unwrap();
                (*value, value as *const u32 as usize)
            })
        };
        assert!(producer.complete(Ok(3)).is_ok());
        let here: *const u32 = shared.get().unwrap();
        assert_eq!(reader.join().unwrap(), (3, here as usize));
    });
}
