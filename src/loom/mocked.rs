//! The seam under `--cfg futurepool_loom`: loom's model-checked primitives,
//! shaped like the `parking_lot` and `crossbeam` APIs the crate uses. See the
//! [module docs](super).

pub(crate) mod sync {
    use std::ops::{Deref, DerefMut};
    use std::time::{Duration, Instant};

    pub(crate) use std::sync::{Arc, OnceLock, Weak};

    /// See `std.rs`: a std mutex in every build.
    pub(crate) use std::sync::Mutex as StdMutex;

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

        /// Loom has no clock: a timed wait is a yield with the lock
        /// released, and then "timed out". Callers re-check their condition
        /// after any wait, so the model explores both "it happened in time"
        /// and "it didn't".
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            MutexGuard::unlocked(guard, loom::thread::yield_now);
            WaitTimeoutResult(true)
        }

        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _timeout: Duration,
        ) -> WaitTimeoutResult {
            MutexGuard::unlocked(guard, loom::thread::yield_now);
            WaitTimeoutResult(true)
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
    pub(crate) use loom::thread::{JoinHandle, ThreadId, yield_now};

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
pub(crate) struct SegQueue<T>(sync::Mutex<std::collections::VecDeque<T>>);

impl<T> SegQueue<T> {
    pub(crate) fn new() -> SegQueue<T> {
        SegQueue(sync::Mutex::new(std::collections::VecDeque::new()))
    }

    pub(crate) fn push(&self, value: T) {
        self.0.lock().push_back(value);
    }

    pub(crate) fn pop(&self) -> Option<T> {
        self.0.lock().pop_front()
    }
}

pub(crate) use loom::thread_local;
