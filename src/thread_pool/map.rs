//! [`Map`]: `map` of a closure over a thread pool, on the executor layer's
//! one map window (`src/executor/window.rs`): lazy, bounded, in input order
//! or (`unordered`) in completion order; an iterator that blocks, and a
//! [`Stream`] that doesn't.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_core::stream::FusedStream;

use super::ThreadPool;
use super::job::Job;
use crate::core::handle::TaskHandle;
use crate::error::{Refusal, TaskError};
use crate::executor::options::TaskOptions;
use crate::executor::window::{Chunk, Units, Window};
use crate::loom::sync::Arc;

/// The iterator (and stream) of [`ThreadPool::map`]: `f` applied to every
/// input in the pool, results yielded **in input order** (or, after
/// [`unordered`](Self::unordered), in the order they finish).
///
/// # Laziness and memory
///
/// Nothing is submitted until the first call to `next` (or `poll_next`).
/// From then on at most [`max_in_flight`](Self::max_in_flight) tasks (by
/// default twice the pool's `max_workers`) are submitted and not yet
/// yielded; inputs are pulled from the input iterator only as room frees up.
/// So an endless or huge input neither hangs the call nor fills memory, and
/// a slow consumer holds back the producer.
///
/// # Failures
///
/// Each item is a `Result`. A task that panics yields `Err` (with
/// [`TaskError::is_panic`]) **and the map goes on** with the next input: stop
/// early by dropping the iterator, which `collect::<Result<Vec<_>, _>>()`
/// does at the first error.
///
/// # Time limits
///
/// - [`time_limit`](Self::time_limit): each input's task may run that long,
///   counted from when it starts; one that runs over yields a timeout error
///   for its input (its [`CancelToken`](crate::CancelToken)-less closure runs
///   on, its value dropped), **and the map goes on**.
/// - [`timeout`](Self::timeout) (counted from the `map` call) or
///   [`deadline`](Self::deadline): a limit on the whole map. If the next
///   result isn't ready by then, the map yields one `Err` with
///   [`TaskError::is_timeout`], cancels what hasn't started, and ends.
///   Tasks already running go on to the end (threads can't be stopped),
///   but their results are dropped.
///
/// Both wake an async consumer too: no runtime timer is needed. Set them
/// before the first item, as [`unordered`](Self::unordered): a task is
/// given the limits set when it is submitted, and keeps them.
///
/// # Dropping
///
/// Dropping the map cancels every submitted task that hasn't started. It does
/// not wait for the running ones.
///
/// If the pool is shut down (or broken) while mapping, the tasks submitted
/// before then yield their items first (a shutdown lets them run, unless it
/// cancels them), ordered or not; then one `Err`
/// ([`TaskError::is_shutdown`], or [`is_broken`](TaskError::is_broken)),
/// and the map ends.
///
/// # As a stream
///
/// For async code, [`into_stream`](Self::into_stream) gives a [`Stream`] of
/// the same items in the same order that never blocks on a task. The map
/// holds a handle to its pool (not a borrow), so the stream can be moved
/// into a spawned async task.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::builder().max_workers(4).build().unwrap();
/// // An endless input is fine: only a few tasks are ever in flight.
/// let first: Vec<u64> = pool
///     .map(|n: u64| n * n, 1..)
///     .max_in_flight(8)
///     .take(5)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(first, [1, 4, 9, 16, 25]);
/// ```
#[must_use = "a map does nothing unless iterated"]
pub struct Map<I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    window: Window<ClosureUnits<F, I::Item, T>, I>,
}

/// How a thread-pool map submits its units.
pub(crate) struct ClosureUnits<F, X, T> {
    pool: ThreadPool,
    f: Arc<F>,
    _types: std::marker::PhantomData<fn(X) -> T>,
}

/// What one unit's task returns: one value (no allocation), or a chunk's.
pub(crate) enum UnitOut<T> {
    One(T),
    Many(Vec<Result<T, TaskError>>),
}

/// The job of one unit: the shared function and its inputs, kept apart so
/// that a refused submit gives the inputs back.
pub(crate) struct Apply<F, X> {
    pub(crate) f: Arc<F>,
    pub(crate) inputs: Chunk<X>,
}

impl<F, X, T> Job<UnitOut<T>> for Apply<F, X>
where
    F: Fn(X) -> T + Send + Sync,
    X: Send,
{
    type Given = Chunk<X>;
    fn call(self) -> UnitOut<T> {
        match self.inputs {
            // A panic here is the task's: its payload reaches the item.
            Chunk::One(x) => UnitOut::One((self.f)(x)),
            // One task, many inputs: each input's panic is its own.
            Chunk::Many(xs) => UnitOut::Many(
                xs.into_iter()
                    .map(|x| {
                        panic::catch_unwind(AssertUnwindSafe(|| (self.f)(x)))
                            .map_err(TaskError::panic)
                    })
                    .collect(),
            ),
        }
    }
    fn into_given(self) -> Chunk<X> {
        self.inputs
    }
}

impl<F, X, T> Units for ClosureUnits<F, X, T>
where
    F: Fn(X) -> T + Send + Sync + 'static,
    X: Send + 'static,
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
    ) -> Result<TaskHandle<UnitOut<T>>, (Chunk<X>, Refusal)> {
        let job = Apply {
            f: self.f.clone(),
            inputs,
        };
        self.pool
            .spawn(job, None, options, block)
            .map_err(|(job, reason)| (job.inputs, reason))
    }

    fn split(
        outcome: Result<UnitOut<T>, TaskError>,
        n: usize,
        ready: &mut VecDeque<Result<T, TaskError>>,
    ) {
        split_unit(outcome, n, ready);
    }
}

/// Splits a finished unit of `n` inputs into their outcomes, in input order.
pub(crate) fn split_unit<T>(
    outcome: Result<UnitOut<T>, TaskError>,
    n: usize,
    ready: &mut VecDeque<Result<T, TaskError>>,
) {
    match outcome {
        Ok(UnitOut::One(value)) => ready.push_back(Ok(value)),
        Ok(UnitOut::Many(values)) => ready.extend(values),
        // One error for the whole unit (cancelled, timed out): every input
        // in it reports it.
        Err(err) => {
            for _ in 1..n {
                ready.push_back(Err(err.duplicate()));
            }
            ready.push_back(Err(err));
        }
    }
}

impl<I, F, T> Map<I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(pool: &ThreadPool, f: F, inputs: I) -> Self {
        let max_in_flight = pool.max_workers().saturating_mul(2);
        let units = ClosureUnits {
            pool: pool.clone(),
            f: Arc::new(f),
            _types: std::marker::PhantomData,
        };
        Map {
            window: Window::new(units, inputs, max_in_flight),
        }
    }

    /// Yields results **in the order the tasks finish**, not in input
    /// order: a slow input no longer holds back the ones after it
    /// (multiprocessing's `imap_unordered`, futures' `buffer_unordered`).
    /// Still lazy and bounded. Call it before the first item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::sync::Mutex;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let rx = Mutex::new(rx);
    /// let mut map = pool
    ///     .map(move |i: u32| { if i == 0 { rx.lock().unwrap().recv().unwrap(); } i }, 0..3)
    ///     .unordered();
    /// let mut first_two = vec![map.next().unwrap().unwrap(), map.next().unwrap().unwrap()];
    /// first_two.sort();
    /// assert_eq!(first_two, [1, 2]); // input 0 is held back, 1 and 2 aren't
    /// tx.send(()).unwrap();
    /// assert_eq!(map.next().unwrap().unwrap(), 0);
    /// ```
    #[doc(alias = "imap_unordered")]
    #[doc(alias = "buffer_unordered")]
    pub fn unordered(mut self) -> Self {
        self.window.set_unordered();
        self
    }

    /// Gives each input's task at most `limit` of **running** time, counted
    /// from when it starts; see [the type's docs](Self#time-limits).
    /// Call it before the first item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let results: Vec<_> = pool
    ///     .map(|slow: bool| -> u8 { if slow { std::thread::sleep(Duration::from_millis(200)) } 1 }, [false, true, false])
    ///     .time_limit(Duration::from_millis(50))
    ///     .collect();
    /// assert!(results[0].is_ok() && results[2].is_ok());
    /// assert!(results[1].as_ref().unwrap_err().is_timeout()); // and the map went on
    /// ```
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.window.time_limit = Some(limit);
        self
    }

    /// Gives up `timeout` after the `map` call; see [the type's
    /// docs](Self#time-limits).
    /// Call it before the first item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let rx = Arc::new(Mutex::new(rx));
    /// let mut map = pool
    ///     .map(move |i: u32| if i == 1 { rx.lock().unwrap().recv().unwrap(); }, 0..3)
    ///     .timeout(Duration::from_millis(50));
    /// assert!(map.next().unwrap().is_ok());
    /// assert!(map.next().unwrap().unwrap_err().is_timeout()); // input 1 is stuck
    /// assert!(map.next().is_none());
    /// tx.send(()).unwrap();
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.window.deadline = self.window.started.checked_add(timeout);
        self
    }

    /// Gives up at `deadline`; see [the type's docs](Self#time-limits).
    /// Call it before the first item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// let v: Vec<_> = pool.map(|x: i32| -x, [1, 2]).deadline(deadline).map(Result::unwrap).collect();
    /// assert_eq!(v, [-1, -2]);
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.window.deadline = Some(deadline);
        self
    }

    /// How many tasks may be submitted and not yet yielded (at least 1).
    /// The default is twice the pool's `max_workers`: enough to keep every
    /// worker busy while the consumer catches up.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new();
    /// let pulled = Arc::new(AtomicUsize::new(0));
    /// let counter = pulled.clone();
    /// let inputs = (0..100).inspect(move |_| { counter.fetch_add(1, Ordering::SeqCst); });
    /// let mut map = pool.map(|x: i32| x, inputs).max_in_flight(3);
    /// assert_eq!(map.next().unwrap().unwrap(), 0);
    /// assert!(pulled.load(Ordering::SeqCst) <= 4); // 3 in flight, 1 yielded
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.window.max_in_flight = n.max(1);
        self
    }

    /// Runs inputs `n` at a time in one task (at least 1; 0 is taken as 1):
    /// for inputs so cheap that a task each would cost more than the work.
    /// A chunk is one task: it holds one worker, counts once towards
    /// [`max_in_flight`](Self::max_in_flight), and a time limit, deadline
    /// or cancel applies to it as a whole; a panic fails only its own
    /// input.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let v: Vec<u32> = pool.map(|x: u32| x + 1, 0..10).chunksize(4).map(Result::unwrap).collect();
    /// assert_eq!(v, (1..=10).collect::<Vec<_>>());
    /// ```
    pub fn chunksize(mut self, n: usize) -> Self {
        self.window.chunk = n.max(1);
        self
    }

    /// Reports progress to `observer` as the tasks finish: done, failed
    /// (an `Err` item), total (if the input knows its length exactly), rate,
    /// time left. It runs on the thread iterating the map, also while that
    /// thread waits for the front item of an ordered map; see
    /// [`ProgressObserver`](crate::ProgressObserver). With the feature
    /// `indicatif`, an `indicatif::ProgressBar` is an observer.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let pool = ThreadPool::new();
    /// let seen: Arc<Mutex<Vec<(u64, Option<u64>)>>> = Arc::default();
    /// let log = seen.clone();
    /// let sum: u64 = pool
    ///     .map(|x: u64| x * 2, 1..=100)
    ///     .progress(move |p: &Progress| log.lock().unwrap().push((p.done(), p.total())))
    ///     .map(Result::unwrap)
    ///     .sum();
    /// assert_eq!(sum, 10_100);
    /// let seen = seen.lock().unwrap();
    /// assert_eq!(seen.first(), Some(&(0, Some(100))));
    /// assert_eq!(seen.last(), Some(&(100, Some(100))));
    /// assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0)); // only ever grows
    /// ```
    #[doc(alias = "tqdm")]
    pub fn progress(mut self, observer: impl crate::ProgressObserver + 'static) -> Self {
        self.window.set_progress(observer);
        self
    }

    /// A [`Stream`] of the same items in the same order, for async code:
    /// polling never blocks on a task. (It may block briefly only to submit
    /// into a full [bounded](crate::ThreadPoolBuilder::bounded) queue while
    /// the map has no task in flight.) A [timeout](Self::timeout) wakes the
    /// stream when it passes: no runtime timer is needed.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let doubled: Vec<i32> = futures::executor::block_on(
    ///     pool.map(|x: i32| x * 2, 1..=3).into_stream().map(Result::unwrap).collect(),
    /// );
    /// assert_eq!(doubled, [2, 4, 6]);
    /// ```
    pub fn into_stream(self) -> MapStream<I, F, T> {
        MapStream { map: self }
    }
}

impl<I, F, T> Iterator for Map<I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
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

impl<I, F, T> FusedIterator for Map<I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
}

/// The [`Stream`] of [`ThreadPool::map`]: made by [`Map::into_stream`].
///
/// The same items as the iterator, in the same order, without blocking on
/// any task.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let mut stream = pool.map(|s: &str| s.to_uppercase(), ["a", "b"]).into_stream();
/// futures::executor::block_on(async {
///     assert_eq!(stream.next().await.unwrap().unwrap(), "A");
///     assert_eq!(stream.next().await.unwrap().unwrap(), "B");
///     assert!(stream.next().await.is_none());
/// });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct MapStream<I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    map: Map<I, F, T>,
}

impl<I, F, T> Stream for MapStream<I, F, T>
where
    I: Iterator + Unpin,
    I::Item: Send + Unpin + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, TaskError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().map.window.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.map.window.size_hint()
    }
}

impl<I, F, T> FusedStream for MapStream<I, F, T>
where
    I: Iterator + Unpin,
    I::Item: Send + Unpin + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn is_terminated(&self) -> bool {
        self.map.window.is_finished()
    }
}

impl<I, F, T> fmt::Debug for MapStream<I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MapStream").field(&self.map).finish()
    }
}

impl<I, F, T> fmt::Debug for Map<I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.window
            .fmt_fields(f.debug_struct("Map"))
            .finish_non_exhaustive()
    }
}
