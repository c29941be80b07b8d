//! [`Map`]: a lazy, ordered, bounded `map` over a pool; an iterator that
//! blocks, and a [`Stream`] that doesn't.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::iter::FusedIterator;
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
use crate::loom::sync::Arc;

/// The iterator (and stream) of [`ThreadPool::map`]: `f` applied to every
/// input in the pool, results yielded **in input order**.
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
/// # Timeout
///
/// With [`timeout`](Self::timeout), counted from the `map` call, or
/// [`deadline`](Self::deadline), every task is given that deadline. If the
/// next result isn't ready by then, the map yields one `Err` with
/// [`TaskError::is_timeout`], cancels what hasn't started, and ends. Tasks
/// already running go on to the end (threads can't be stopped), but their
/// results are dropped. The deadline wakes an async consumer too: no runtime
/// timer is needed.
///
/// # Dropping
///
/// Dropping the map cancels every submitted task that hasn't started. It does
/// not wait for the running ones.
///
/// If the pool is shut down (or broken) while mapping, the next item is an
/// `Err` ([`TaskError::is_shutdown`], or [`is_broken`](TaskError::is_broken))
/// and the map ends.
///
/// # As a stream
///
/// For async code, [`into_stream`](Self::into_stream) gives a [`Stream`] of
/// the same items in the same order that never blocks on a task.
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
pub struct Map<'a, I: Iterator, F, T> {
    pool: &'a ThreadPool,
    f: Arc<F>,
    inputs: Option<I>,
    /// An input refused by a full queue, to be submitted first next time.
    stalled: Option<I::Item>,
    window: VecDeque<Slot<T>>,
    in_flight: usize,
    started: Instant,
    deadline: Option<Instant>,
    finished: bool,
}

enum Slot<T> {
    Task(TaskHandle<T>),
    Refused(TaskError),
}

/// The job of one map task: the shared function and one input, kept apart
/// so that a refused submit gives the input back.
struct Apply<F, X> {
    f: Arc<F>,
    input: X,
}

impl<F, X, T> Job<T> for Apply<F, X>
where
    F: Fn(X) -> T + Send + Sync + 'static,
    X: Send + 'static,
{
    type Given = Self;
    fn call(self) -> T {
        (self.f)(self.input)
    }
    fn into_given(self) -> Self {
        self
    }
}

impl<'a, I, F, T> Map<'a, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(pool: &'a ThreadPool, f: F, inputs: I) -> Self {
        Map {
            pool,
            f: Arc::new(f),
            inputs: Some(inputs),
            stalled: None,
            window: VecDeque::new(),
            in_flight: pool.max_workers().saturating_mul(2),
            started: Instant::now(),
            deadline: None,
            finished: false,
        }
    }

    /// Gives up `timeout` after the `map` call; see [the type's
    /// docs](Self#timeout).
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
        self.deadline = self.started.checked_add(timeout);
        self
    }

    /// Gives up at `deadline`; see [the type's docs](Self#timeout).
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
        self.deadline = Some(deadline);
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
        self.in_flight = n.max(1);
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
    pub fn into_stream(self) -> MapStream<'a, I, F, T> {
        MapStream { map: self }
    }

    /// Submits inputs until the window is full or the inputs run out. With
    /// `block` false, stops at a full bounded queue while the window holds a
    /// task (whose completion will wake the caller to try again).
    fn fill(&mut self, block: bool) {
        while self.window.len() < self.in_flight {
            let input = match self.stalled.take() {
                Some(input) => input,
                None => match self.inputs.as_mut().and_then(Iterator::next) {
                    Some(input) => input,
                    None => {
                        self.inputs = None;
                        return;
                    }
                },
            };
            let job = Apply {
                f: self.f.clone(),
                input,
            };
            let block = block || self.window.is_empty();
            let options = TaskOptions::default().with_deadline(self.deadline);
            match self.pool.spawn(job, None, &options, block) {
                Ok(handle) => self.window.push_back(Slot::Task(handle)),
                Err((job, Refusal::Full)) => {
                    self.stalled = Some(job.input);
                    return;
                }
                Err((_, reason)) => {
                    self.window.push_back(Slot::Refused(reason.to_task_error()));
                    self.inputs = None;
                    return;
                }
            }
        }
    }

    /// Post-processes the front slot's outcome: a refusal or the map's
    /// deadline ends the map.
    fn settle(&mut self, outcome: Result<T, TaskError>, refused: bool) -> Result<T, TaskError> {
        let timed_out =
            self.deadline.is_some() && outcome.as_ref().is_err_and(TaskError::is_timeout);
        if refused || timed_out {
            self.cancel_all();
            self.finished = true;
        }
        outcome
    }

    fn cancel_all(&mut self) {
        self.cancel_window();
        self.inputs = None;
        self.stalled = None;
    }
}

impl<I: Iterator, F, T> Map<'_, I, F, T> {
    /// Cancels every submitted task that hasn't been yielded.
    fn cancel_window(&mut self) {
        for slot in self.window.drain(..) {
            if let Slot::Task(handle) = slot {
                handle.cancel();
            }
        }
    }
}

impl<I, F, T> Iterator for Map<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        self.fill(true);
        let Some(slot) = self.window.pop_front() else {
            self.finished = true;
            return None;
        };
        let outcome = match slot {
            Slot::Refused(err) => self.settle(Err(err), true),
            Slot::Task(handle) => {
                let outcome = handle.join();
                self.settle(outcome, false)
            }
        };
        if !self.finished {
            // Keep the workers busy while the caller looks at this item.
            self.fill(true);
        }
        Some(outcome)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        let queued = self.window.len() + usize::from(self.stalled.is_some());
        match &self.inputs {
            None => (queued, Some(queued)),
            Some(inputs) => {
                let (lo, hi) = inputs.size_hint();
                (
                    lo.saturating_add(queued),
                    hi.and_then(|h| h.checked_add(queued)),
                )
            }
        }
    }
}

impl<I, F, T> FusedIterator for Map<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
}

/// The [`Stream`] of [`ThreadPool::map`]: made by [`Map::into_stream`].
///
/// The same items as the iterator, in input order, without blocking on any
/// task.
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
pub struct MapStream<'a, I: Iterator, F, T> {
    map: Map<'a, I, F, T>,
}

impl<I, F, T> Stream for MapStream<'_, I, F, T>
where
    I: Iterator + Unpin,
    I::Item: Send + Unpin + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, TaskError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut self.get_mut().map;
        if this.finished {
            return Poll::Ready(None);
        }
        this.fill(false);
        let (outcome, refused) = match this.window.front_mut() {
            None => {
                this.finished = true;
                return Poll::Ready(None);
            }
            Some(Slot::Refused(_)) => match this.window.pop_front() {
                Some(Slot::Refused(err)) => (Err(err), true),
                _ => unreachable!("the front slot is a refusal"),
            },
            Some(Slot::Task(handle)) => match Pin::new(handle).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(outcome) => {
                    this.window.pop_front();
                    (outcome, false)
                }
            },
        };
        let outcome = this.settle(outcome, refused);
        if !this.finished {
            this.fill(false);
        }
        Poll::Ready(Some(outcome))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        Iterator::size_hint(&self.map)
    }
}

impl<I, F, T> FusedStream for MapStream<'_, I, F, T>
where
    I: Iterator + Unpin,
    I::Item: Send + Unpin + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn is_terminated(&self) -> bool {
        self.map.finished
    }
}

impl<I: Iterator, F, T> fmt::Debug for MapStream<'_, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MapStream").field(&self.map).finish()
    }
}

impl<I: Iterator, F, T> Drop for Map<'_, I, F, T> {
    fn drop(&mut self) {
        self.cancel_window();
    }
}

impl<I: Iterator, F, T> fmt::Debug for Map<'_, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.window.len())
            .field("max_in_flight", &self.in_flight)
            .field("deadline", &self.deadline)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
