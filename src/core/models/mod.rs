//! Loom models: the crate's own code, built with `--cfg futurepool_loom`
//! so that every lock, condvar, atomic, thread and thread-local comes from
//! loom (`src/loom/`), run in every interleaving of its threads that loom
//! explores within a preemption bound (`scripts/loom.sh`). Each model
//! prints its iterations, bound and time (`src/loom/model.rs`).
//!
//! - `ending`: events that end a task, racing each other;
//! - `shared`: a shared handle's many consumers.

mod ending;
mod shared;

use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};

/// Drives `fut` on this model thread: park until woken. (loom's own
/// `future::block_on` is behind a feature the crate doesn't turn on.)
pub(super) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(loom::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: StdArc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(StdArc::new(Unpark(loom::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        loom::thread::park();
    }
}

/// A count of what user code did (a callback ran, a job ran). Written and
/// read `Relaxed` on purpose: only the crate's own synchronisation (the
/// cell's lock, a wake, a join) can make a write visible to the reader, so
/// loom checks that it does (a handle's docs: what the task and its
/// callbacks did happens-before `join` returns).
pub(super) fn counter() -> StdArc<AtomicUsize> {
    StdArc::new(AtomicUsize::new(0))
}

pub(super) fn bump(counter: &AtomicUsize) {
    // ORDERING: Relaxed; see `counter`.
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(super) fn read(counter: &AtomicUsize) -> usize {
    // ORDERING: Relaxed; see `counter`.
    counter.load(Ordering::Relaxed)
}
