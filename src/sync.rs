//! The one place the crate gets its synchronisation primitives from.
//!
//! Every lock, condition variable, atomic and reference count that the task
//! state machine and the pools use is imported from here, never straight from
//! `std` or `parking_lot`. That keeps the seam narrow enough to swap in
//! [`loom`](https://docs.rs/loom)'s model-checked versions under a cfg later,
//! the way `oneshot` and `crossbeam-utils` do.

pub(crate) use crossbeam_queue::SegQueue;
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, Weak};

/// Waits a moment for `ready` to turn true without sleeping: seven rounds of
/// exponentially longer busy-waits (crossbeam's `Backoff`), then up to 32
/// `yield_now`s (rayon's rounds before it gets sleepy): some tens of
/// microseconds in all, during which the core is given to anyone who wants
/// it. Returns whether `ready` turned true.
///
/// A thread about to block on a condvar calls this first: when the other
/// side is only microseconds away (a worker finishing a trivial task, a
/// submitter coming back with the next one), staying awake saves both the
/// futex wait here and the futex wake there, which cost more than the spin.
///
/// The yields are what matter on a VM whose futex wake-ups are slow: with
/// crossbeam's 4 yields the worker had gone back to sleep before the caller,
/// itself just woken, submitted again, so every round trip paid two futex
/// wake-ups. With 32, the round-trip benchmark (`BENCHMARKS.md`, workload 1)
/// puts futurepool at 0.66x the hand-written crossbeam-channel floor run
/// beside it.
pub(crate) fn spin_until(ready: impl Fn() -> bool) -> bool {
    const SPIN_STEPS: u32 = 7;
    const YIELD_STEPS: u32 = 32;
    for step in 0..SPIN_STEPS + YIELD_STEPS {
        if ready() {
            return true;
        }
        if step < SPIN_STEPS {
            for _ in 0..1u32 << step {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
    ready()
}
