//! Loom models: the crate's own code, built with `--cfg futurepool_loom`
//! so that every lock, condvar, atomic, thread and thread-local comes from
//! loom (`src/loom/`), run in every interleaving of its threads that loom
//! explores. The core's models are small enough to explore completely
//! (no preemption bound: some seconds in all); the thread pool's are
//! bounded.
//!
//! ```text
//! scripts/loom.sh                              # every model (CI): the pool's with bound 3
//! LOOM_MAX_PREEMPTIONS=2 scripts/loom.sh       # a smaller bound for the pool's
//! scripts/loom.sh core::models::waiting        # some of them
//! ```
//!
//! Each model prints its iterations, bound and time (`src/loom/model.rs`);
//! a failing one says in which iteration it failed. The core's models are
//! here; the thread pool's are in `src/thread_pool/models.rs`, and what is
//! said below of loom's reach holds for both. A model uses the
//! real code (`new_task`, `Producer`, `TaskHandle`, `ThreadPool`), never a
//! copy; only a backend's payload is played by the model itself
//! ([`Closure`]), since the core knows no backend.
//!
//! # What each model proves
//!
//! Every model was seen to fail: the bug injected (locally, never
//! committed) that it caught is in the last column.
//!
//! | model | proves | a bug it caught |
//! |-------|--------|-----------------|
//! | `ending::cancel_racing_start` | a task that can't be stopped while it runs is either started (and `cancel` says no) or cancelled (and never started); its closure runs or is dropped, exactly once; `join` and the callback agree | `Phases::start` not checking the phase: a cancelled task started anyway |
//! | `ending::cancel_racing_start_of_a_cancellable_task` | the same for a task with a token: a cancel after the start wins, signals the token, and the producer's late outcome is handed back | the token not signalled when a running task is cancelled |
//! | `ending::cancel_racing_complete` | exactly one of cancel and complete wins; `join` returns the winner's outcome; a callback runs once, before `join` returns | a winning `cancel` publishing without running the callbacks |
//! | `ending::a_kept_promise_racing_a_cancel` | a promise's keeper learns it lost from `set_running` or from `set` handing the value back | `Promise::set` saying `Ok` when it lost |
//! | `ending::expire_racing_complete_and_cancel` | the timer's expiry, the producer's outcome and a cancel: one wins; the callback runs once, and never on the timer's thread (internal threads run no user code) | an internal thread's callbacks run in place, on the timer |
//! | `waiting::complete_racing_join` | a blocked `join` is woken by the completion (no lost wake-up), sees every callback run, and returns the value | `publish` not notifying the condvar (deadlock) |
//! | `waiting::complete_racing_join_timeout` | `join_deadline`/`join_timeout` return the value, or time out and hand back a handle that still yields it | a timed-out wait trusted as done (the outcome taken before it exists) |
//! | `waiting::complete_racing_await` | a poll that returned `Pending` has its waker woken (no lost wake-up); a second poll's waker replaces the first's | the waker stored after the lock is released and taken again |
//! | `waiting::complete_racing_add_done_callback` | a callback added as the task completes runs exactly once, before `join` returns; added after completion, it runs on the adding thread, in the call | a late callback queued instead of run |
//! | `waiting::late_callbacks_from_two_threads` | callbacks added to a done task from two threads at once each run once, one at a time, and the outcome is back in the cell for `join` | `outcome_lent` ignored: the second adder takes the outcome the first has lent out |
//! | `shared::shared_waiters_racing_completion` | two clones of a shared handle awaited on two threads are both woken | a registration that finds the task done meanwhile treated as registered (deadlock) |
//! | `then::then_racing_an_internal_completion` | a [`Then`](super::handle::Then) made as an internal thread completes its task calls its function once, with the value, never on the internal thread | `Then::new` without its empty done-callback: the internal thread woke it and ran the function |
//! | `shared::shared_first_readers_race` | two first readers of a shared handle borrow the one value | the first reader's take not under the `taking` lock (the outcome taken twice) |
//! //!
//! # Where loom can't reach, and what stands in
//!
//! - **Clocks.** loom has no clock. A timed condvar wait either times out
//!   at once (the default: it releases the lock, takes it again and says
//!   "timed out", so other threads get in and the caller re-checks), or
//!   never (`Model::timed_waits_never_time_out`: an untimed wait, as if the
//!   deadline were far away); see `src/loom/mocked.rs`. The pool's models
//!   run both ways where it matters: with keep-alives over at once, an idle
//!   worker retires as soon as it has slept (which is how the models found
//!   a lost wake-up of a retiring worker); with keep-alives that never end,
//!   a sleeping worker wakes only if it is notified, so a lost wake-up is a
//!   deadlock rather than a keep-alive's delay. A deadline that passes
//!   while a wait is under way is not modelled. Deadlines the timer thread
//!   fires are not modelled as such either: `expire_racing_complete_and_cancel`
//!   calls the timer's `expire` on a thread of its own, and the timer's heap
//!   and its waits are covered by `timer.rs`'s unit tests.
//! - **Spin loops.** `spin_until` is one look under loom; the seam's other
//!   spins (a shutdown waiting for submits in flight, a worker waiting for
//!   a submit to push) yield, and a thread that yields more than a few times
//!   in one execution ends loom's exploration of that execution
//!   (`src/loom/mocked.rs`, `yield_now`). How long a real spin lasts before
//!   the worker sleeps is the benchmarks' business (`BENCHMARKS.md`).
//! - **`SeqCst`.** loom's `SeqCst` is incomplete (an atomic's initial value
//!   can be read after a later `SeqCst` store); the seam stores each
//!   atomic's initial value again, `SeqCst`, so the pool's handshakes are
//!   checked against the total order they rely on.
//! - **The job queue.** `crossbeam_queue::SegQueue` is a `Mutex<VecDeque>`
//!   under loom; the queue itself is crossbeam's to check.
//! - **Process-wide singletons.** The callback runner is a thread per job
//!   under loom (`src/core/runner.rs`); its pool of threads, and the default
//!   pool (`OnceLock`), are covered by unit tests. `Arc` is std's.
//! - **Thread joins at shutdown.** Modelled (loom joins its threads), but
//!   `JoinHandle::is_finished` is always `false`, so retired workers are
//!   joined by `shutdown`, never by the next spawn.
//! - **Scale.** The models use 1-3 threads of their own and pools of 1-3
//!   workers (loom allows 5 threads in all). What only shows with many
//!   threads is left to the stress tests (`tests/`) and the deterministic
//!   interleaving tests at test-only points (`src/thread_pool/tests.rs`,
//!   `lost_start`).
//! - **Processes.** The process pool is not built under loom (its drivers
//!   block in system calls); its protocol is covered by `tests/process_pool*`.

mod ending;
mod shared;
mod then;
mod waiting;

use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};

use super::cell::Payload;
use crate::loom::cell::UnsafeCell;

/// The closure of a task, as a backend keeps it in the task's cell: taken
/// out by the thread that claims the payload through the cell (the producer
/// when [`Start::Run`](super::cell::Start) or `Start::Drop`, the core's
/// `discard` when a user's thread ends the task first), to run it or drop
/// it. Counts both. Its slot is a loom `UnsafeCell`, so loom reports any
/// two threads reaching it without the claim ordering them.
pub(super) struct Closure {
    job: UnsafeCell<Option<Job>>,
    pub(super) counts: StdArc<Counts>,
}

// SAFETY: `job` is only reached through `take`, whose callers claimed the
// payload (as a thread-pool job's is).
unsafe impl Sync for Closure {}

/// What happened to a [`Closure`]'s job.
#[derive(Default)]
pub(super) struct Counts {
    runs: AtomicUsize,
    drops: AtomicUsize,
}

impl Counts {
    /// (runs, drops)
    pub(super) fn get(&self) -> (usize, usize) {
        (read(&self.runs), read(&self.drops))
    }
}

pub(super) struct Job(StdArc<Counts>);

impl Job {
    pub(super) fn run(self) -> u32 {
        bump(&self.0.runs);
        7
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        bump(&self.0.drops);
    }
}

impl Closure {
    pub(super) fn new() -> Closure {
        let counts = StdArc::new(Counts::default());
        Closure {
            job: UnsafeCell::new(Some(Job(counts.clone()))),
            counts,
        }
    }

    /// Takes the job out.
    ///
    /// # Safety
    ///
    /// The caller claimed the payload through the task's cell.
    pub(super) unsafe fn take(&self) -> Option<Job> {
        // SAFETY: by the caller's claim, no other thread touches `job`.
        self.job.with_mut(|job| unsafe { (*job).take() })
    }
}

impl Payload for Closure {
    unsafe fn discard(&self) {
        // SAFETY: the core claimed the payload before calling this.
        drop(unsafe { self.take() });
    }
}

/// A waker that counts its wakes (with a loom atomic, so that a model sees
/// the count a wake left).
#[derive(Default)]
pub(super) struct CountWakes(AtomicUsize);

impl CountWakes {
    pub(super) fn waker() -> (StdArc<CountWakes>, Waker) {
        let count = StdArc::new(CountWakes::default());
        (count.clone(), Waker::from(count))
    }

    pub(super) fn wakes(&self) -> usize {
        read(&self.0)
    }
}

impl Wake for CountWakes {
    fn wake(self: StdArc<Self>) {
        bump(&self.0);
    }
}

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
