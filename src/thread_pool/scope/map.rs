//! The iterator of [`Scope::map`](crate::Scope::map), [`ScopedMap`]: a
//! thread-pool map whose closure and inputs may borrow from outside the
//! scope, each unit of work behind an [`Erased`] with its [`ScopeGuard`].

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::erased::Erased;
use super::{ScopeGuard, ScopeState};
use crate::core::handle::TaskHandle;
use crate::error::TaskError;
use crate::executor::options::TaskOptions;
use crate::executor::window::{Chunk, Refused, Units, Window};
use crate::loom::sync::Arc;
use crate::thread_pool::ThreadPool;
use crate::thread_pool::map::{Apply, UnitOut, split_unit};

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

/// The iterator of [`Scope::map`](crate::Scope::map): `f` applied to every input on the pool,
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
    /// `f` over `inputs` on `pool`, each task guarded by the scope whose
    /// count is `state` (see [`Scope::map`](crate::Scope::map)).
    pub(super) fn new(pool: &ThreadPool, state: &Arc<ScopeState>, f: F, inputs: I) -> Self {
        let units = ScopedUnits {
            pool: pool.clone(),
            state: state.clone(),
            f: Arc::new(f),
            _types: PhantomData,
        };
        let max_in_flight = pool.max_workers().saturating_mul(2);
        ScopedMap {
            window: Window::new(units, inputs, max_in_flight),
            _scope: PhantomData,
        }
    }

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
