//! The loom seam: the one place that names the synchronisation primitives,
//! atomics, threads and thread-locals the crate uses.
//!
//! Everything else imports them from here (`crate::loom::sync::Mutex`,
//! `crate::loom::thread`, ...), never from `std` or `parking_lot`. Built with
//! `RUSTFLAGS="--cfg futurepool_loom"`, this module swaps in
//! [loom](https://docs.rs/loom)'s model-checked versions (`mocked.rs`), so
//! the models (`scripts/loom.sh`: `src/core/models/` and
//! `src/thread_pool/models.rs`, run by `model.rs`) explore the interleavings
//! of the real code, not of a copy. A crate-specific cfg, as crossbeam's
//! `crossbeam_loom`: a plain `--cfg loom` would also reach tokio among the
//! dev-dependencies, which doesn't build that way.
//!
//! | what                         | normal build (`std.rs`)            | loom build (`mocked.rs`) |
//! |------------------------------|------------------------------------|--------------------------|
//! | `Mutex`, `MutexGuard`, `Condvar` | `parking_lot`                  | loom's, behind a `parking_lot`-shaped wrapper |
//! | `MutexGuard::unlocked`       | `parking_lot`'s                    | unlock, run, relock      |
//! | `Condvar::wait_until`/`wait_for` | `parking_lot`'s timed waits    | loom has no clock: as the model says, "timed out" at once (unlock, relock, no yield), or never (an untimed wait, so that a lost wake-up is a deadlock) |
//! | atomics                      | `std::sync::atomic`                | `loom::sync::atomic`, whose initial value counts as a `SeqCst` store (loom's `SeqCst` is incomplete) |
//! | `thread::{spawn_named, current_id}`, `JoinHandle` | `std::thread` | `loom::thread` (`is_finished` is always `false`) |
//! | `thread::yield_now` (the spin loops of a shutdown and of a worker waiting for a push) | `std::thread` | loom's; a thread that yields more than 4 times in one execution ends its exploration, so two spinners can't keep loom busy forever |
//! | `spin_until`                 | a few µs of backoff                | one look, no yield       |
//! | `thread_local!`              | `std`'s                            | loom's                   |
//! | `SegQueue` (the job queue)   | `crossbeam_queue::SegQueue`        | a `Mutex<VecDeque>` stand-in; a thread's third empty pop in a row yields (a worker spinning for a push) |
//! | `hint::spin_loop`            | `std`'s                            | loom's (a yield)         |
//! | `cell::UnsafeCell` (`with_mut`) | `std`'s                         | loom's: every access checked for a race |
//! | `Arc`, `Weak`                | `std::sync`                        | `std::sync`, see below   |
//! | `OnceLock`                   | `std::sync`                        | `std::sync`, see below   |
//!
//! Under loom the seam yields only where a loop would otherwise spin
//! forever in loom's eyes: loom never schedules a thread that has just
//! yielded at one of its backtracking points, so a yield hides
//! interleavings. With a yield in every timed wait, spin and empty pop, the
//! pool's models missed a lost wake-up (a submit racing a retiring worker)
//! that they find without them.
//!
//! Two things stay `std` under loom, on purpose. `Arc`/`Weak`: loom's `Arc`
//! has no `Weak`, no `into_inner` and no unsizing to `Arc<dyn Trait>`, all
//! of which the task cell needs; reference counting is std's to get right,
//! and the models check what the crate builds on top of it. `OnceLock`: it
//! holds only process-wide lazily built singletons (the callback runner,
//! the worker registry), which the models don't reach, and a shared
//! handle's decoded outcome, which is only ever set under a lock of the
//! seam (so no model thread ever blocks in it) and handed to the other
//! readers by an atomic of the seam (so the models see the hand-off).

#[cfg(not(futurepool_loom))]
mod std;
#[cfg(not(futurepool_loom))]
pub(crate) use self::std::*;

#[cfg(futurepool_loom)]
mod mocked;
#[cfg(futurepool_loom)]
pub(crate) use self::mocked::*;

#[cfg(all(test, futurepool_loom))]
pub(crate) mod model;

/// A fresh number, unique in this process: task ids and watcher ids. A plain
/// std counter in both builds: it orders nothing and protects nothing.
pub(crate) fn next_id() -> u64 {
    static NEXT: ::std::sync::atomic::AtomicU64 = ::std::sync::atomic::AtomicU64::new(1);
    // ORDERING: only uniqueness matters; fetch_add gives it at any ordering.
    NEXT.fetch_add(1, ::std::sync::atomic::Ordering::Relaxed)
}

/// Looks at `ready` a few times, with exponentially longer busy-waits in
/// between (crossbeam's `Backoff` spin rounds, about a microsecond in all),
/// no yield and no announcement: an idle worker's first look for more work
/// before it tells the pool it is spinning, so that a submitter coming back
/// within a microsecond finds it without paying for a wake-up. Returns
/// whether `ready` turned true.
///
/// Under loom this is one look: loom explores what other threads do before
/// and after it, so it sees both outcomes.
pub(crate) fn spin_briefly(ready: impl Fn() -> bool) -> bool {
    #[cfg(futurepool_loom)]
    {
        ready()
    }
    #[cfg(not(futurepool_loom))]
    {
        for step in 0..7u32 {
            if ready() {
                return true;
            }
            for _ in 0..1u32 << step {
                hint::spin_loop();
            }
        }
        ready()
    }
}

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
/// The yields matter on a VM whose futex wake-ups are slow: with crossbeam's
/// 4 yields the worker had gone back to sleep before the caller, itself just
/// woken, submitted again, so every round trip paid two futex wake-ups
/// (`BENCHMARKS.md`, workload 1, measures the round trip beside a
/// hand-written crossbeam-channel pool).
///
/// Under loom a spin is one look: loom explores what other threads do
/// before and after it, so it sees both outcomes. (No yield: a yield would
/// hide interleavings from loom, see `mocked.rs`'s `SegQueue`.)
pub(crate) fn spin_until(ready: impl Fn() -> bool) -> bool {
    #[cfg(futurepool_loom)]
    {
        ready()
    }
    #[cfg(not(futurepool_loom))]
    {
        const SPIN_STEPS: u32 = 7;
        const YIELD_STEPS: u32 = 32;
        for step in 0..SPIN_STEPS + YIELD_STEPS {
            if ready() {
                return true;
            }
            if step < SPIN_STEPS {
                for _ in 0..1u32 << step {
                    hint::spin_loop();
                }
            } else {
                thread::yield_now();
            }
        }
        ready()
    }
}
