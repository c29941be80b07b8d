//! Scoped tasks: closures that borrow from the caller's stack, run on a
//! thread pool ([`ThreadPool::scope`]), as `std::thread::scope` and
//! `rayon::scope` allow.
//!
//! A scoped closure is queued like any other, with its lifetime erased
//! ([`Erased`]): the pool's queue holds only `'static` jobs. What makes that
//! sound is the scope's count of closures not yet gone: every scoped
//! closure carries a [`ScopeGuard`], dropped only after the closure itself
//! (with everything it borrowed) is dropped, whether it ran, panicked, was
//! cancelled, timed out in the queue, or was refused; and
//! [`ThreadPool::scope`] doesn't return, nor unwind, before the count is
//! zero. A task's *value* must be `'static` (it may outlive the scope in its
//! handle); only the closure borrows.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use super::ThreadPool;
use super::job::{Job, Plain, WithToken};
use super::map::{Apply, UnitOut, split_unit};
use crate::core::blocking;
use crate::core::handle::TaskHandle;
use crate::core::token::CancelToken;
use crate::error::{SubmitError, TaskError};
use crate::executor::options::TaskOptions;
use crate::executor::window::{Chunk, Refused, Units, Window};
use crate::loom::sync::{Arc, Condvar, Mutex};

/// A scope of [`ThreadPool::scope`]: submits closures that may borrow
/// anything that outlives the scope.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let words = vec!["apple".to_owned(), "kiwi".to_owned()];
/// let total = pool.scope(|s| {
///     // Borrows `words`: no clone, no `Arc`.
///     let lengths: Vec<_> = words.iter().map(|w| s.submit(move || w.len()).unwrap()).collect();
///     lengths.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
/// });
/// assert_eq!(total, 9);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    pool: ThreadPool,
    state: Arc<ScopeState>,
    // Invariant in both lifetimes, as std's `Scope`.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

/// How many scoped closures are not yet gone.
#[derive(Default)]
struct ScopeState {
    pending: Mutex<usize>,
    gone: Condvar,
}

/// Carried by every scoped closure; dropped after it.
struct ScopeGuard(Arc<ScopeState>);

impl ScopeGuard {
    fn new(state: &Arc<ScopeState>) -> ScopeGuard {
        *state.pending.lock() += 1;
        ScopeGuard(state.clone())
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let mut pending = self.0.pending.lock();
        *pending -= 1;
        if *pending == 0 {
            self.0.gone.notify_all();
        }
    }
}

impl ThreadPool {
    /// Runs `f` with a [`Scope`] whose tasks may borrow from the caller's
    /// stack, and returns what `f` returns once **every task submitted in
    /// the scope is over**: run, or dropped unrun (cancelled, timed out
    /// while queued, refused). Like `std::thread::scope`, but the tasks run
    /// on this pool's workers.
    ///
    /// A task's value must be `'static` (it is handed over through an
    /// ordinary [`TaskHandle`], which may outlive the scope); only the
    /// closure borrows. Waiting at the end of the scope is a futurepool
    /// wait: called on one of this pool's workers, it lends the worker's
    /// place, so the scope's tasks can run.
    ///
    /// A panic in `f` is resumed once the scope's tasks are over; a panic
    /// in a task is its handle's error, as always.
    ///
    /// Unlike other tasks, a scoped task can't be left running when the
    /// scope ends: the scope waits for it, even one stuck in a blocking
    /// call.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::path::PathBuf;
    ///
    /// let pool = ThreadPool::new();
    /// let paths: Vec<PathBuf> = vec!["a.txt".into(), "dir/b.rs".into()];
    /// let suffix = String::from("!");
    /// let names: Vec<String> = pool.scope(|s| {
    ///     // A map over borrowed inputs, with a closure that borrows too.
    ///     s.map(|p: &PathBuf| format!("{}{suffix}", p.display()), &paths)
    ///         .map(Result::unwrap)
    ///         .collect()
    /// });
    /// assert_eq!(names, ["a.txt!", "dir/b.rs!"]);
    /// ```
    ///
    /// What a task borrows must outlive the scope, so a task can't borrow
    /// a local of the scope's own closure, and nothing of the scope (a
    /// [`ScopedMap`]) can be returned out of it:
    ///
    /// ```compile_fail
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// pool.scope(|s| {
    ///     let local = vec![1, 2, 3];
    ///     s.submit(|| local.len()).unwrap(); // error: `local` does not live long enough
    /// });
    /// ```
    ///
    /// ```compile_fail
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let data = vec![1, 2, 3];
    /// let escaped = pool.scope(|s| s.map(|x: &i32| *x, &data)); // error: can't leave the scope
    /// ```
    #[doc(alias = "scoped")]
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let scope = Scope {
            pool: self.clone(),
            state: Arc::new(ScopeState::default()),
            _scope: PhantomData,
            _env: PhantomData,
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
        scope.wait_for_tasks();
        match result {
            Ok(value) => value,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Submits `f`, which may borrow anything that outlives the scope, and
    /// returns its handle. As [`ThreadPool::submit`] otherwise (with a
    /// bounded queue that is full, it waits for room).
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding `f` if the pool refuses it (shut down,
    /// broken, no thread could start).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let mut counts = [0u32; 4];
    /// pool.scope(|s| {
    ///     for (i, slot) in counts.iter_mut().enumerate() {
    ///         // The handle may be dropped: the scope waits anyway.
    ///         drop(s.submit(move || *slot = i as u32 * 10).unwrap());
    ///     }
    /// }); // every task is over here
    /// assert_eq!(counts, [0, 10, 20, 30]);
    /// ```
    pub fn submit<F, T>(&'scope self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'static,
    {
        let job = Erased::new(Plain(f), ScopeGuard::new(&self.state));
        self.pool
            .spawn(job, None, &TaskOptions::default(), true)
            .map_err(|(job, reason)| {
                // SAFETY: `job` was made from a `Plain<F>` just above.
                SubmitError::new(unsafe { job.into_inner::<Plain<F>>() }.0, reason)
            })
    }

    /// Submits `f` with a [`CancelToken`] that its handle's `cancel()`
    /// signals, as [`ThreadPool::submit_cancellable`] does: the way to stop
    /// a scoped task early, since the scope waits for it to end.
    ///
    /// # Errors
    ///
    /// As for [`submit`](Self::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let mut steps = 0u64;
    /// pool.scope(|s| {
    ///     let h = s
    ///         .submit_cancellable(|token| {
    ///             while !token.is_cancelled() {
    ///                 steps += 1;
    ///                 std::thread::yield_now();
    ///             }
    ///         })
    ///         .unwrap();
    ///     h.cancel();
    /// }); // the task saw the token and returned
    /// # let _ = steps;
    /// ```
    pub fn submit_cancellable<F, T>(&'scope self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(CancelToken) -> T + Send + 'scope,
        T: Send + 'static,
    {
        let token = CancelToken::new();
        let job = Erased::new(WithToken(f, token.clone()), ScopeGuard::new(&self.state));
        self.pool
            .spawn(job, Some(token), &TaskOptions::default(), true)
            .map_err(|(job, reason)| {
                // SAFETY: `job` was made from a `WithToken<F>` just above.
                SubmitError::new(unsafe { job.into_inner::<WithToken<F>>() }.0, reason)
            })
    }

    /// Maps `f` over `inputs` on the pool, both of which may borrow
    /// anything that outlives the scope (a map over `&[PathBuf]` needs no
    /// clones); yields results in input order. As [`ThreadPool::map`]
    /// otherwise, and the same options: see [`ScopedMap`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let text = String::from("the quick brown fox");
    /// let words: Vec<&str> = text.split(' ').collect();
    /// let longest = pool.scope(|s| {
    ///     s.map(|w: &&str| w.len(), &words).map(Result::unwrap).max()
    /// });
    /// assert_eq!(longest, Some(5));
    /// ```
    pub fn map<F, I, T>(&'scope self, f: F, inputs: I) -> ScopedMap<'scope, I::IntoIter, F, T>
    where
        F: Fn(I::Item) -> T + Send + Sync + 'scope,
        I: IntoIterator,
        I::Item: Send + 'scope,
        T: Send + 'static,
    {
        let units = ScopedUnits {
            pool: self.pool.clone(),
            state: self.state.clone(),
            f: Arc::new(f),
            _types: PhantomData,
        };
        let max_in_flight = self.pool.max_workers().saturating_mul(2);
        ScopedMap {
            window: Window::new(units, inputs.into_iter(), max_in_flight),
            _scope: PhantomData,
        }
    }

    /// Blocks until every closure submitted in the scope is gone.
    fn wait_for_tasks(&self) {
        let mut pending = self.state.pending.lock();
        if *pending == 0 {
            return;
        }
        drop(pending);
        // A worker of a pool that waits here lends its place.
        let _blocking = blocking::enter();
        pending = self.state.pending.lock();
        while *pending > 0 {
            self.state.gone.wait(&mut pending);
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("pool", &self.pool)
            .field("pending", &*self.state.pending.lock())
            .finish()
    }
}

/// The units of a [`ScopedMap`]: as a thread-pool map's, each behind an
/// [`Erased`] with its guard.
struct ScopedUnits<F, X, T> {
    pool: ThreadPool,
    state: Arc<ScopeState>,
    f: Arc<F>,
    _types: PhantomData<fn(X) -> T>,
}

impl<F, X, T> Units for ScopedUnits<F, X, T>
where
    F: Fn(X) -> T + Send + Sync,
    X: Send,
    T: Send + 'static,
{
    type Input = X;
    type Item = T;
    type Out = UnitOut<T>;

    fn submit(
        &self,
        inputs: Chunk<X>,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<UnitOut<T>>, Refused<X>> {
        let job = Apply {
            f: self.f.clone(),
            inputs,
        };
        let erased = Erased::new(job, ScopeGuard::new(&self.state));
        self.pool
            .spawn(erased, None, options, block)
            .map_err(|(erased, reason)| {
                // SAFETY: `erased` was made from an `Apply<F, X>` just above.
                let job = unsafe { erased.into_inner::<Apply<F, X>>() };
                (job.inputs, reason)
            })
    }

    fn split(
        outcome: Result<UnitOut<T>, TaskError>,
        n: usize,
        ready: &mut VecDeque<Result<T, TaskError>>,
    ) {
        split_unit(outcome, n, ready);
    }
}

/// The iterator of [`Scope::map`]: `f` applied to every input on the pool,
/// results **in input order** (or, after [`unordered`](Self::unordered), in
/// the order they finish), where `f` and the inputs may borrow from outside
/// the scope.
///
/// Lazy and bounded, with the same failures, time limits and options as
/// [`Map`](crate::Map): see there. Dropping it cancels the tasks that
/// haven't started; the scope still waits for the running ones before it
/// returns.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let lines = vec!["a,b", "c", "d,e,f"];
/// let counts: Vec<usize> = pool.scope(|s| {
///     s.map(|l: &&str| l.split(',').count(), &lines)
///         .time_limit(Duration::from_secs(5))
///         .map(Result::unwrap)
///         .collect()
/// });
/// assert_eq!(counts, [2, 1, 3]);
/// ```
#[must_use = "a map does nothing unless iterated"]
pub struct ScopedMap<'scope, I, F, T>
where
    I: Iterator,
    I::Item: Send,
    F: Fn(I::Item) -> T + Send + Sync,
    T: Send + 'static,
{
    window: Window<ScopedUnits<F, I::Item, T>, I>,
    // Can't leave the scope.
    _scope: PhantomData<&'scope ()>,
}

impl<I, F, T> ScopedMap<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send,
    F: Fn(I::Item) -> T + Send + Sync,
    T: Send + 'static,
{
    /// Reports progress to `observer` as the tasks finish; see
    /// [`Map::progress`](crate::Map::progress).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let done = Arc::new(AtomicU64::new(0));
    /// let d = done.clone();
    /// let words = ["a", "bb", "ccc"];
    /// let n = pool.scope(|s| {
    ///     s.map(|w: &&str| w.len(), &words)
    ///         .progress(move |p: &Progress| d.store(p.done(), Ordering::SeqCst))
    ///         .count()
    /// });
    /// assert_eq!((n, done.load(Ordering::SeqCst)), (3, 3));
    /// ```
    pub fn progress(mut self, observer: impl crate::ProgressObserver + 'static) -> Self {
        self.window.set_progress(observer);
        self
    }

    /// Yields results in the order the tasks finish; see
    /// [`Map::unordered`](crate::Map::unordered).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let data = [3, 1, 2];
    /// let mut v: Vec<i32> =
    ///     pool.scope(|s| s.map(|x: &i32| x * 10, &data).unordered().map(Result::unwrap).collect());
    /// v.sort();
    /// assert_eq!(v, [10, 20, 30]);
    /// ```
    #[doc(alias = "imap_unordered")]
    pub fn unordered(mut self) -> Self {
        self.window.set_unordered();
        self
    }

    /// Gives each input's task at most `limit` of running time; see
    /// [`Map::time_limit`](crate::Map::time_limit). The scope still waits
    /// for a task that ran over to end.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let waits = [0u64, 300];
    /// let results: Vec<_> = pool.scope(|s| {
    ///     s.map(|ms: &u64| std::thread::sleep(Duration::from_millis(*ms)), &waits)
    ///         .time_limit(Duration::from_millis(100))
    ///         .collect()
    /// });
    /// assert!(results[0].is_ok());
    /// assert!(results[1].as_ref().unwrap_err().is_timeout());
    /// ```
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.window.time_limit = Some(limit);
        self
    }

    /// Gives up `timeout` after the `map` call; see
    /// [`Map::timeout`](crate::Map::timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let data = [1, 2];
    /// let v: Vec<i32> = pool.scope(|s| {
    ///     s.map(|x: &i32| x + 1, &data).timeout(Duration::from_secs(60)).map(Result::unwrap).collect()
    /// });
    /// assert_eq!(v, [2, 3]);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.window.deadline = self.window.started.checked_add(timeout);
        self
    }

    /// Gives up at `deadline`; see [`Map::deadline`](crate::Map::deadline).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let data = [1, 2];
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// let v: Vec<i32> = pool.scope(|s| {
    ///     s.map(|x: &i32| -x, &data).deadline(deadline).map(Result::unwrap).collect()
    /// });
    /// assert_eq!(v, [-1, -2]);
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.window.deadline = Some(deadline);
        self
    }

    /// How many tasks may be submitted and not yet yielded (at least 1);
    /// see [`Map::max_in_flight`](crate::Map::max_in_flight).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let data: Vec<u32> = (0..50).collect();
    /// let sum: u32 = pool.scope(|s| {
    ///     s.map(|x: &u32| *x, &data).max_in_flight(2).map(Result::unwrap).sum()
    /// });
    /// assert_eq!(sum, 1225);
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.window.max_in_flight = n.max(1);
        self
    }

    /// Runs inputs `n` at a time in one task; see
    /// [`Map::chunksize`](crate::Map::chunksize).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let data: Vec<u32> = (0..10).collect();
    /// let v: Vec<u32> = pool.scope(|s| {
    ///     s.map(|x: &u32| x * 2, &data).chunksize(3).map(Result::unwrap).collect()
    /// });
    /// assert_eq!(v, (0..10).map(|x| x * 2).collect::<Vec<_>>());
    /// ```
    pub fn chunksize(mut self, n: usize) -> Self {
        self.window.chunk = n.max(1);
        self
    }
}

impl<I, F, T> Iterator for ScopedMap<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send,
    F: Fn(I::Item) -> T + Send + Sync,
    T: Send + 'static,
{
    type Item = Result<T, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.window.next_blocking()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.window.size_hint()
    }
}

impl<I, F, T> FusedIterator for ScopedMap<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send,
    F: Fn(I::Item) -> T + Send + Sync,
    T: Send + 'static,
{
}

impl<I, F, T> fmt::Debug for ScopedMap<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send,
    F: Fn(I::Item) -> T + Send + Sync,
    T: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.window
            .fmt_fields(f.debug_struct("ScopedMap"))
            .finish_non_exhaustive()
    }
}

/// A scoped job and its guard, behind a type-erased pointer that the pool's
/// queue can hold: `'static` and `Send`, whatever the job borrows. See the
/// [module docs](self) for why that is sound.
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
    fn new<J: Job<T>>(job: J, guard: ScopeGuard) -> Erased<T> {
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
    unsafe fn into_inner<J>(self) -> J {
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
