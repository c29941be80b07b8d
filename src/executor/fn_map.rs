//! [`FnMap`]: `map` of a named function over any executor (feature
//! `remote`), on the one map window (`window.rs`): lazy, bounded, in input
//! order or (`unordered`) in completion order, in chunks where they pay; an
//! iterator that blocks, and a [`Stream`] that doesn't.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_core::stream::FusedStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Executor;
use super::options::TaskOptions;
use super::window::{Chunk, Units, Window};
use crate::core::handle::TaskHandle;
use crate::error::{Refusal, TaskError};
use crate::remote::RemoteFn;

/// The iterator (and stream) of a named function mapped over an executor:
/// [`ProcessPool::map`](crate::ProcessPool::map) (whose
/// [`ProcessMap`](crate::ProcessMap) this is), and
/// [`Executor::map_fn`] on any executor. `f` is applied to every input;
/// results come **in input order** (or, after
/// [`unordered`](Self::unordered), in the order they finish).
///
/// # Chunks
///
/// Inputs are sent [`chunksize`](Self::chunksize) at a time (by default 1):
/// one task per chunk, so one request and one reply to a worker process.
/// Large chunks amortise the round trip when each call is short. A chunk
/// is one task: it counts once towards `max_tasks_per_child` and
/// [`max_in_flight`](Self::max_in_flight), a time limit, deadline or cancel
/// stops it as a whole, and if its worker dies every input in it reports
/// [`TaskError::is_worker_died`]. A panic fails only its own input.
///
/// # Laziness and memory
///
/// As for the thread pool's [`Map`](crate::Map): nothing is submitted before
/// the first `next`; then at most `max_in_flight` chunks (by default twice
/// the executor's `max_workers`; on a cluster, whose workers are elsewhere,
/// 1024) are submitted and not yet yielded.
///
/// # Failures and time limits
///
/// Each item is a `Result`, and the map goes on after an error. An input
/// that fails to serialize yields its own serialization error (where inputs
/// are encoded: a process pool, a cluster; a thread pool passes each input
/// as it is).
/// [`time_limit`](Self::time_limit) gives each chunk that much running
/// time (times its length: a limit is per input), counted from its start:
/// on a process pool, one that runs over is **killed** and its inputs yield
/// timeout errors, and the map goes on. [`timeout`](Self::timeout) (from
/// the `map` call) and [`deadline`](Self::deadline) limit the whole map: if
/// the next result isn't ready in time, the map yields one timeout error,
/// cancels the chunks in flight (killing the workers running them), and
/// ends. Dropping the map cancels the chunks in flight the same way. Set
/// the limits before the first item (as [`unordered`](Self::unordered)): a
/// chunk is given the limits set when it is submitted, and keeps them. After
/// a shutdown, the chunks submitted before it yield their items first, then
/// one error with [`TaskError::is_shutdown`], and the map ends.
///
/// # Examples
///
/// ```
/// # fn main() {
/// # futurepool::process::init();
/// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
/// use futurepool::{ProcessPool, remote};
///
/// fn is_prime(n: u64) -> bool {
///     n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
/// }
///
/// let pool = ProcessPool::builder().max_workers(2).build().unwrap();
/// let primes: Vec<u64> = pool
///     .map(remote!(is_prime), 1..=30)
///     .chunksize(8)
///     .zip(1..)
///     .filter_map(|(prime, n)| prime.unwrap().then_some(n))
///     .collect();
/// assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
/// # }
/// ```
#[must_use = "a map does nothing unless iterated"]
pub struct FnMap<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A>,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    window: Window<FnUnits<E, A, R>, I>,
}

/// How a named function's map submits its units: always as chunks (of one,
/// by default), whose task returns each input's outcome.
pub(crate) struct FnUnits<E, A, R> {
    executor: E,
    f: RemoteFn<A, R>,
}

impl<E, A, R> Units for FnUnits<E, A, R>
where
    E: Executor,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    type Input = A;
    type Item = R;
    type Out = Vec<Result<R, TaskError>>;

    fn submit(
        &self,
        inputs: Chunk<A>,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<Self::Out>, (Chunk<A>, Refusal)> {
        let (args, one) = match inputs {
            Chunk::One(a) => (vec![a], true),
            Chunk::Many(args) => (args, false),
        };
        // A per-input time limit: a chunk of n gets n times the limit.
        let mut options = options.clone();
        options.time_limit = options
            .time_limit
            .map(|limit| limit.saturating_mul(u32::try_from(args.len()).unwrap_or(u32::MAX)));
        self.executor
            .spawn_fn_chunk(self.f, args, &options, block)
            .map_err(|(mut args, reason)| {
                let inputs = match (one, args.pop()) {
                    (true, Some(a)) => Chunk::One(a),
                    (_, last) => {
                        args.extend(last);
                        Chunk::Many(args)
                    }
                };
                (inputs, reason)
            })
    }

    fn split(
        outcome: Result<Self::Out, TaskError>,
        n: usize,
        ready: &mut VecDeque<Result<R, TaskError>>,
    ) {
        match outcome {
            Ok(values) => ready.extend(values),
            Err(err) => {
                for _ in 1..n {
                    ready.push_back(Err(err.duplicate()));
                }
                ready.push_back(Err(err));
            }
        }
    }
}

impl<E, I, A, R> FnMap<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A>,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(executor: &E, f: RemoteFn<A, R>, inputs: I) -> Self {
        let max_in_flight = executor
            .map_in_flight()
            .unwrap_or_else(|| executor.max_workers().saturating_mul(2));
        let units = FnUnits {
            executor: executor.clone(),
            f,
        };
        FnMap {
            window: Window::new(units, inputs, max_in_flight),
        }
    }

    /// Sends inputs `n` at a time (at least 1; 0 is taken as 1). Python's
    /// `chunksize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// let pool = ThreadPool::new();
    /// let sums: Vec<u32> = pool
    ///     .map_fn(remote!(|x: u32| x + 1), 0..10)
    ///     .chunksize(4)
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// assert_eq!(sums, (1..=10).collect::<Vec<_>>());
    /// ```
    pub fn chunksize(mut self, n: usize) -> Self {
        self.window.chunk = n.max(1);
        self
    }

    /// Yields results in the order the tasks finish, not in input order
    /// (Python's `imap_unordered`). Call it before the first item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// let pool = ThreadPool::new();
    /// let mut v: Vec<u32> = pool
    ///     .map_fn(remote!(|x: u32| 2 * x), 1..=4)
    ///     .unordered()
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// v.sort();
    /// assert_eq!(v, [2, 4, 6, 8]);
    /// ```
    #[doc(alias = "imap_unordered")]
    pub fn unordered(mut self) -> Self {
        self.window.set_unordered();
        self
    }

    /// Gives each input at most `limit` of **running** time, counted from
    /// when its chunk starts; see [the type's
    /// docs](Self#failures-and-time-limits).
    /// Call it before the first item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let v: Vec<_> = pool
    ///     .map_fn(remote!(|x: u8| x), [1, 2])
    ///     .time_limit(Duration::from_secs(60))
    ///     .collect();
    /// assert_eq!(v.len(), 2);
    /// ```
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.window.time_limit = Some(limit);
        self
    }

    /// Gives up waiting `timeout` after the `map` call; see [the type's
    /// docs](Self#failures-and-time-limits).
    /// Call it before the first item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let all_ok = pool
    ///     .map_fn(remote!(|x: u8| x), [1, 2])
    ///     .timeout(Duration::from_secs(60))
    ///     .all(|r| r.is_ok());
    /// assert!(all_ok);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.window.deadline = self.window.started.checked_add(timeout);
        self
    }

    /// Gives up waiting at `deadline`.
    /// Call it before the first item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    /// use std::time::Instant;
    ///
    /// let pool = ThreadPool::new();
    /// let mut map = pool.map_fn(remote!(|x: u8| x), [1]).deadline(Instant::now());
    /// // Already passed: unless the one task beat the timer, a timeout error.
    /// let first = map.next().unwrap();
    /// assert!(first.is_ok() || first.unwrap_err().is_timeout());
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.window.deadline = Some(deadline);
        self
    }

    /// How many chunks may be submitted and not yet yielded (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// let pool = ThreadPool::new();
    /// // Endless input is fine: only 4 chunks are ever in flight.
    /// let first: Vec<u64> = pool
    ///     .map_fn(remote!(|x: u64| x * x), 1..)
    ///     .max_in_flight(4)
    ///     .take(3)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(first, [1, 4, 9]);
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.window.max_in_flight = n.max(1);
        self
    }

    /// Reports progress to `observer` as the chunks finish, counted in
    /// inputs: done, failed, total (if the input knows its length exactly),
    /// rate, time left; as [`Map::progress`](crate::Map::progress), on any
    /// executor.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, Progress, ThreadPool, remote};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let pool = ThreadPool::new();
    /// let last: Arc<Mutex<Option<Progress>>> = Arc::default();
    /// let l = last.clone();
    /// let n = pool
    ///     .map_fn(remote!(|x: u32| x + 1), 0..10)
    ///     .chunksize(3)
    ///     .progress(move |p: &Progress| *l.lock().unwrap() = Some(p.clone()))
    ///     .count();
    /// assert_eq!(n, 10);
    /// let last = last.lock().unwrap().clone().unwrap();
    /// assert_eq!((last.done(), last.failed(), last.total()), (10, 0, Some(10)));
    /// ```
    #[doc(alias = "tqdm")]
    pub fn progress(mut self, observer: impl crate::ProgressObserver + 'static) -> Self {
        self.window.set_progress(observer);
        self
    }

    /// A [`Stream`] of the same items in the same order, for async code:
    /// polling never blocks on a task, and the map's deadline wakes it
    /// without a runtime timer.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// let pool = ThreadPool::new();
    /// let v: Vec<u8> = futures::executor::block_on(
    ///     pool.map_fn(remote!(|x: u8| x + 1), [1, 2]).into_stream().map(Result::unwrap).collect(),
    /// );
    /// assert_eq!(v, [2, 3]);
    /// ```
    pub fn into_stream(self) -> FnMapStream<E, I, A, R> {
        FnMapStream { map: self }
    }
}

impl<E, I, A, R> Iterator for FnMap<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A>,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.window.next_blocking()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.window.size_hint()
    }
}

impl<E, I, A, R> FusedIterator for FnMap<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A>,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
}

impl<E, I, A, R> fmt::Debug for FnMap<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A>,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("FnMap");
        s.field("function", &self.window_units().f.name());
        self.window.fmt_fields(s).finish_non_exhaustive()
    }
}

impl<E, I, A, R> FnMap<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A>,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    fn window_units(&self) -> &FnUnits<E, A, R> {
        self.window.units()
    }
}

/// The [`Stream`] of a [`FnMap`]: made by [`FnMap::into_stream`].
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use futurepool::{Executor, ThreadPool, remote};
///
/// let pool = ThreadPool::new();
/// let mut stream = pool.map_fn(remote!(|s: String| s.len()), ["ab".to_owned()]).into_stream();
/// futures::executor::block_on(async {
///     assert_eq!(stream.next().await.unwrap().unwrap(), 2);
///     assert!(stream.next().await.is_none());
/// });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct FnMapStream<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A>,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    map: FnMap<E, I, A, R>,
}

impl<E, I, A, R> Stream for FnMapStream<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A> + Unpin,
    A: Serialize + Send + Unpin + 'static,
    R: DeserializeOwned + Send + 'static,
{
    type Item = Result<R, TaskError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().map.window.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.map.window.size_hint()
    }
}

impl<E, I, A, R> FusedStream for FnMapStream<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A> + Unpin,
    A: Serialize + Send + Unpin + 'static,
    R: DeserializeOwned + Send + 'static,
{
    fn is_terminated(&self) -> bool {
        self.map.window.is_finished()
    }
}

impl<E, I, A, R> fmt::Debug for FnMapStream<E, I, A, R>
where
    E: Executor,
    I: Iterator<Item = A>,
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FnMapStream").field(&self.map).finish()
    }
}
