//! The seam under `--cfg futurepool_loom`: loom's model-checked primitives,
//! shaped like the `parking_lot` and `crossbeam` APIs the crate uses. See the
//! [module docs](super).

/// When a timed condvar wait times out under loom, which has no clock; see
/// `Condvar::wait_until`. Chosen per model (`src/loom/model.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum TimedWaits {
    /// At once: every deadline has passed.
    AtOnce,
    /// Never: every deadline is far away.
    Never,
}

std::thread_local! {
    /// The current model's [`TimedWaits`]. A std thread-local, not loom's:
    /// loom runs all of a model's threads on the thread that checks it, so
    /// they all see what that thread set, and a model checked in parallel
    /// on another test thread sees its own.
    static TIMED_WAITS: std::cell::Cell<TimedWaits> = const { std::cell::Cell::new(TimedWaits::AtOnce) };
}

fn timed_waits() -> TimedWaits {
    TIMED_WAITS.with(std::cell::Cell::get)
}

/// Sets how timed waits end in the models checked on this thread from now
/// on; returns what it was.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn set_timed_waits(timed_waits: TimedWaits) -> TimedWaits {
    TIMED_WAITS.with(|t| t.replace(timed_waits))
}

pub(crate) mod sync {
    use std::ops::{Deref, DerefMut};
    use std::time::{Duration, Instant};

    pub(crate) use std::sync::{Arc, OnceLock, Weak};

    /// See `std.rs`: a std mutex in every build.
    pub(crate) use std::sync::Mutex as StdMutex;

    /// loom's atomics, but for one thing: an atomic's initial value counts
    /// as a `SeqCst` store.
    ///
    /// loom records the initial value as a `Release` store, and lets a
    /// `SeqCst` load read it even after another thread's `SeqCst` store
    /// that comes before the load in the single total order (loom issue
    /// #180: its `SeqCst` is incomplete). Every Dekker-style handshake of
    /// the pool whose flag is still at its initial value then fails
    /// falsely: a submit read `closed == false` after a shutdown had set
    /// it and seen `submitting == 0`. So each constructor stores its value
    /// again, `SeqCst`: loom's rule that a `SeqCst` load never reads a
    /// `SeqCst` store older than another `SeqCst` store then covers the
    /// initial value too. That is what the protocol's atomics (all
    /// `SeqCst`, their stores made under a lock or by read-modify-writes)
    /// need of the total order; it is still not a complete model of
    /// `SeqCst`. The weaker orderings elsewhere keep loom's full model.
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::Ordering;

        macro_rules! seq_cst_initialised {
            ($atomic:ident, $value:ty) => {
                /// See the [module docs](self).
                pub(crate) struct $atomic(loom::sync::atomic::$atomic);

                impl $atomic {
                    pub(crate) fn new(value: $value) -> $atomic {
                        let atomic = loom::sync::atomic::$atomic::new(value);
                        // ORDERING: SeqCst, the point of this type: see
                        // the module docs.
                        atomic.store(value, Ordering::SeqCst);
                        $atomic(atomic)
                    }
                }

                impl std::ops::Deref for $atomic {
                    type Target = loom::sync::atomic::$atomic;
                    fn deref(&self) -> &Self::Target {
                        &self.0
                    }
                }
            };
        }

        seq_cst_initialised!(AtomicBool, bool);
        seq_cst_initialised!(AtomicUsize, usize);
    }

    /// `parking_lot::Mutex`'s shape over loom's mutex (no poisoning).
    #[derive(Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a loom::sync::Mutex<T>,
        guard: Option<loom::sync::MutexGuard<'a, T>>,
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard {
                mutex: &self.0,
                guard: Some(self.0.lock().unwrap_or_else(|e| e.into_inner())),
            }
        }
    }

    impl<T> MutexGuard<'_, T> {
        /// Runs `f` with the mutex unlocked, as `parking_lot`'s does.
        pub(crate) fn unlocked<U>(this: &mut Self, f: impl FnOnce() -> U) -> U {
            drop(this.guard.take());
            let out = f();
            this.guard = Some(this.mutex.lock().unwrap_or_else(|e| e.into_inner()));
            out
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.guard.as_ref().expect("locked")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.guard.as_mut().expect("locked")
        }
    }

    /// Whether a timed wait ended by timing out.
    pub(crate) struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            self.0
        }
    }

    /// `parking_lot::Condvar`'s shape over loom's condvar.
    #[derive(Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.guard.take().expect("locked");
            guard.guard = Some(self.0.wait(inner).unwrap_or_else(|e| e.into_inner()));
        }

        /// Loom has no clock, so a timed wait does one of two things, as
        /// the model says (`super::TimedWaits`):
        ///
        /// - by default it times out at once: it releases the lock, takes
        ///   it again, and says "timed out". Callers re-check their
        ///   condition after any wait, so the model explores both "it
        ///   happened in time" (another thread got in while the lock was
        ///   released) and "it didn't". (No yield: no caller loops on a
        ///   timed wait without a change to wait for, and a yield would
        ///   hide interleavings from loom; see [`SegQueue`].)
        /// - with [`TimedWaits::Never`](super::TimedWaits::Never) it never times out: it waits until
        ///   notified, as if its deadline were far away. A wake-up that
        ///   never comes is then a deadlock, which loom reports, instead of
        ///   a wait that a timeout would end (a pool's idle worker sleeps
        ///   for its whole keep-alive if nobody wakes it).
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            self.timed_wait(guard)
        }

        /// See [`wait_until`](Self::wait_until).
        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _timeout: Duration,
        ) -> WaitTimeoutResult {
            self.timed_wait(guard)
        }

        fn timed_wait<T>(&self, guard: &mut MutexGuard<'_, T>) -> WaitTimeoutResult {
            match super::timed_waits() {
                super::TimedWaits::AtOnce => {
                    MutexGuard::unlocked(guard, || ());
                    WaitTimeoutResult(true)
                }
                super::TimedWaits::Never => {
                    self.wait(guard);
                    WaitTimeoutResult(false)
                }
            }
        }

        pub(crate) fn notify_one(&self) -> bool {
            self.0.notify_one();
            false
        }

        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
    }
}

pub(crate) mod thread {
    pub(crate) use loom::thread::{JoinHandle, ThreadId};

    /// How many times one thread may yield in one execution before loom
    /// stops branching in that execution.
    const SPINS_EXPLORED: u32 = 4;

    /// loom's yield, in a spin loop of the crate's (a shutdown waiting for
    /// submits in flight, a worker waiting for a submit to push what it
    /// counted): a thread that waits for another to make progress.
    ///
    /// Two such spinners can keep yielding to each other while the thread
    /// they both wait for is never scheduled, and loom's exploration is
    /// then unbounded (it runs out of branches). So once a thread has
    /// yielded [`SPINS_EXPLORED`] times in an execution, loom stops
    /// exploring alternatives in that execution (`loom::skip_branch`), and
    /// its default schedule, which runs the thread that yielded least,
    /// finishes it. What a longer spin could interleave with, a shorter
    /// spin already does: the spinner only re-reads a condition.
    pub(crate) fn yield_now() {
        loom::thread_local! {
            static YIELDS: std::cell::Cell<u32> = std::cell::Cell::new(0);
        }
        let yields = YIELDS.with(|y| {
            y.set(y.get() + 1);
            y.get()
        });
        if yields > SPINS_EXPLORED {
            loom::skip_branch();
        }
        loom::thread::yield_now();
    }

    /// Loom's handles can't tell: say no, so nothing is joined early.
    pub(crate) fn is_finished(_handle: &JoinHandle<()>) -> bool {
        false
    }

    pub(crate) fn current_id() -> ThreadId {
        loom::thread::current().id()
    }

    pub(crate) fn spawn_named<F>(
        name: String,
        _stack_size: Option<usize>,
        f: F,
    ) -> std::io::Result<JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        loom::thread::Builder::new().name(name).spawn(f)
    }
}

pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}

pub(crate) mod hint {
    #[allow(unused_imports)]
    pub(crate) use loom::hint::spin_loop;
}

/// A stand-in for `crossbeam_queue::SegQueue`: loom can't see inside the
/// real one's atomics, and what the models check is the pool's wake
/// protocol around the queue, not the queue.
///
/// A thread's third empty pop in a row (no push between) yields. A worker
/// retries its pop while `queued` counts a task not pushed yet (its
/// submitter is between reserving and pushing): a spin loop, microseconds
/// long in a real run, which loom must be told about, or it runs the
/// spinning worker until it runs out of branches. The first two empty pops
/// don't yield, because a worker going idle pops twice (before and after
/// it spins), and a yield there would hide the interleavings that matter
/// most: loom's DPOR never schedules a thread that has just yielded at a
/// backtracking point (loom 0.7 `Schedule::backtrack` only explores
/// threads in the `Skip` state), so the race it was looking for is lost.
/// With a yield on every empty pop the models missed a lost wake-up of a
/// retiring worker that they find without it.
pub(crate) struct SegQueue<T>(sync::Mutex<Queue<T>>);

struct Queue<T> {
    items: std::collections::VecDeque<T>,
    /// Empty pops in a row, by thread, since the last push.
    empty_pops: Vec<(thread::ThreadId, u32)>,
}

impl<T> SegQueue<T> {
    pub(crate) fn new() -> SegQueue<T> {
        SegQueue(sync::Mutex::new(Queue {
            items: std::collections::VecDeque::new(),
            empty_pops: Vec::new(),
        }))
    }

    pub(crate) fn push(&self, value: T) {
        let mut queue = self.0.lock();
        queue.items.push_back(value);
        queue.empty_pops.clear();
    }

    pub(crate) fn pop(&self) -> Option<T> {
        let mut queue = self.0.lock();
        let me = thread::current_id();
        let at = match queue.empty_pops.iter().position(|(id, _)| *id == me) {
            Some(at) => at,
            None => {
                queue.empty_pops.push((me, 0));
                queue.empty_pops.len() - 1
            }
        };
        if let Some(value) = queue.items.pop_front() {
            queue.empty_pops[at].1 = 0;
            return Some(value);
        }
        queue.empty_pops[at].1 += 1;
        let spinning = queue.empty_pops[at].1 >= 3;
        drop(queue);
        if spinning {
            thread::yield_now();
        }
        None
    }
}

pub(crate) use loom::thread_local;
