//! The lifetime erasure of a scoped job: [`Erased`], a job and its
//! [`ScopeGuard`] behind a pointer the pool's queue can hold. Why that is
//! sound: the [scope module's docs](super).

use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use super::ScopeGuard;
use crate::thread_pool::job::Job;

/// A scoped job and its guard, behind a type-erased pointer that the pool's
/// queue can hold: `'static` and `Send`, whatever the job borrows. See the
/// [scope module's docs](super) for why that is sound.
pub(super) struct Erased<T> {
    /// A `Box<Scoped<J>>`, leaked.
    ptr: NonNull<()>,
    call: unsafe fn(NonNull<()>) -> T,
    drop: unsafe fn(NonNull<()>),
}

/// What an [`Erased`] points to: the job, then its guard (fields drop in
/// order: the job and its borrows first).
struct Scoped<J> {
    job: J,
    guard: ScopeGuard,
}

// SAFETY: an `Erased` is made only from a `J: Send` (see `new`), and owns
// it; moving it to another thread moves the job there.
unsafe impl<T> Send for Erased<T> {}

impl<T> Erased<T> {
    pub(super) fn new<J: Job<T>>(job: J, guard: ScopeGuard) -> Erased<T> {
        unsafe fn call<J: Job<T>, T>(ptr: NonNull<()>) -> T {
            // SAFETY: `ptr` is the `Box<Scoped<J>>` leaked by `new`, taken
            // back once (`Erased::run` forgets itself first).
            let scoped = unsafe { Box::from_raw(ptr.cast::<Scoped<J>>().as_ptr()) };
            let Scoped { job, guard } = *scoped;
            // The job, and what it borrowed, are gone before the guard:
            // `call` consumes it, and a panic unwinds through it first.
            let _guard = guard;
            job.call()
        }
        unsafe fn drop_box<J>(ptr: NonNull<()>) {
            // SAFETY: as in `call`; `Erased::drop` runs at most once, and
            // never after `call` or `into_inner`.
            drop(unsafe { Box::from_raw(ptr.cast::<Scoped<J>>().as_ptr()) });
        }
        let boxed = Box::new(Scoped { job, guard });
        Erased {
            ptr: NonNull::from(Box::leak(boxed)).cast(),
            call: call::<J, T>,
            drop: drop_box::<J>,
        }
    }

    /// The job back, unrun (its guard dropped).
    ///
    /// # Safety
    ///
    /// `self` must have been made from a `J`.
    pub(super) unsafe fn into_inner<J>(self) -> J {
        let this = ManuallyDrop::new(self);
        // SAFETY: by the caller's promise, `ptr` is a leaked
        // `Box<Scoped<J>>`, taken back once: `this` won't drop it.
        let scoped = unsafe { Box::from_raw(this.ptr.cast::<Scoped<J>>().as_ptr()) };
        let Scoped { job, guard } = *scoped;
        drop(guard);
        job
    }
}

impl<T> Drop for Erased<T> {
    fn drop(&mut self) {
        // SAFETY: `drop` matches `ptr`, and the box wasn't taken (`call`
        // and `into_inner` forget `self`).
        unsafe { (self.drop)(self.ptr) }
    }
}

impl<T> Job<T> for Erased<T> {
    type Given = Erased<T>;
    fn call(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: `call` matches `ptr` (both made in `new`), and `this`
        // won't drop the box `call` takes.
        unsafe { (this.call)(this.ptr) }
    }
    fn into_given(self) -> Erased<T> {
        self
    }
}
