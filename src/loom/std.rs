//! The seam in a normal build: `parking_lot`, `std` and crossbeam. See the
//! [module docs](super).

pub(crate) mod sync {
    pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
    pub(crate) use std::sync::{Arc, OnceLock, Weak};

    /// A std mutex in every build: it guards no protocol (it only makes a
    /// caught panic payload `Sync`), so the models have nothing to see in it.
    pub(crate) use std::sync::Mutex as StdMutex;

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    }
}

pub(crate) mod thread {
    pub(crate) use std::thread::{JoinHandle, ThreadId, yield_now};

    /// Whether the thread has finished (its `join` won't block).
    pub(crate) fn is_finished(handle: &JoinHandle<()>) -> bool {
        handle.is_finished()
    }

    /// The current thread's id.
    pub(crate) fn current_id() -> ThreadId {
        std::thread::current().id()
    }

    /// Starts a thread called `name` (which must hold no NUL byte: the
    /// builders check), with `stack_size` bytes of stack if given.
    pub(crate) fn spawn_named<F>(
        name: String,
        stack_size: Option<usize>,
        f: F,
    ) -> std::io::Result<JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        let mut builder = std::thread::Builder::new().name(name);
        if let Some(size) = stack_size {
            builder = builder.stack_size(size);
        }
        builder.spawn(f)
    }
}

pub(crate) mod cell {
    /// `std`'s `UnsafeCell` with loom's access API (`with_mut`), so that
    /// under loom every access is checked for a race.
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

pub(crate) mod hint {
    pub(crate) use std::hint::spin_loop;
}

pub(crate) use crossbeam_queue::SegQueue;
pub(crate) use std::thread_local;
