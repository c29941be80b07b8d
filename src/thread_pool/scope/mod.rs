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
//!
//! This file holds the scope itself and its count; `map.rs` holds
//! [`Scope::map`]'s iterator, [`ScopedMap`], and `erased.rs` the erasure,
//! [`Erased`].

mod erased;
mod map;

use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};

use super::ThreadPool;
use super::job::{Plain, WithToken};
use crate::core::blocking;
use crate::core::handle::{Helpable, TaskHandle};
use crate::core::token::CancelToken;
use crate::error::SubmitError;
use crate::executor::options::TaskOptions;
use crate::loom::sync::{Arc, Condvar, Mutex};
use erased::Erased;
pub use map::ScopedMap;

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

/// How many scoped closures are not yet gone, and the plain tasks the
/// scope's end may run itself.
#[derive(Default)]
struct ScopeState {
    pending: Mutex<usize>,
    gone: Condvar,
    /// The scope's plain tasks (see `wait_for_tasks`), pruned of those gone
    /// each time the list would grow.
    tasks: Mutex<Vec<Helpable>>,
}

impl ScopeState {
    /// Keeps a reference to a plain task of the scope, for its end.
    fn keep<T: Send + 'static>(&self, handle: &TaskHandle<T>) {
        let mut tasks = self.tasks.lock();
        if tasks.len() == tasks.capacity() {
            // Amortised: at most twice as many entries as tasks alive.
            tasks.retain(|task| !task.is_gone());
        }
        tasks.push(handle.helpable());
    }
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
    /// wait: called on one of this pool's workers, it runs the scope's
    /// tasks that haven't started itself, as a [`join`](TaskHandle::join)
    /// does, and lends the worker's place while it waits for the others,
    /// so the scope's end can't deadlock a full pool (see [waiting inside
    /// a task](crate#waiting-inside-a-task-help-lend-and-what-cant-deadlock)).
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
        let handle = self
            .pool
            .spawn(job, None, &TaskOptions::default(), true)
            .map_err(|(job, reason)| {
                // SAFETY: `job` was made from a `Plain<F>` just above.
                SubmitError::new(unsafe { job.into_inner::<Plain<F>>() }.0, reason)
            })?;
        // (A task with a token is never run by a waiter: not kept.)
        self.state.keep(&handle);
        Ok(handle)
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
        ScopedMap::new(&self.pool, &self.state, f, inputs.into_iter())
    }

    /// Blocks until every closure submitted in the scope is gone.
    ///
    /// On a worker of the pool, it first runs the scope's plain tasks that
    /// haven't started, here, as a `join` does (help-while-waiting; tasks
    /// they submit to the scope are run too). So the end of a scope is one
    /// of the waits that can't deadlock (see the crate docs' chapter on
    /// waiting inside a task): it needs no place lent for them, and there
    /// may be none (nested scopes on a full pool, `max_lent(0)`). Then,
    /// for what runs elsewhere, it waits, lending its place.
    fn wait_for_tasks(&self) {
        if *self.state.pending.lock() == 0 {
            return;
        }
        loop {
            let tasks = std::mem::take(&mut *self.state.tasks.lock());
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                task.help();
            }
        }
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
