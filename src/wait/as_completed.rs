//! [`as_completed`]: tasks in the order they finish.

use std::fmt;
use std::iter::FusedIterator;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_core::stream::FusedStream;

use super::set::{TaskRef, WatchSet};
use crate::error::TimeoutError;

/// Yields the given tasks as they finish: first those already finished when
/// it is called (in the order given), then the others in the order they
/// finish.
///
/// - Every task is yielded exactly once. A task given twice (as two
///   `&TaskHandle` to the same task) is yielded once.
/// - A task that is cancelled while waiting counts as finished and is
///   yielded; nothing waits on it forever.
/// - It blocks only in `next`. On a pool worker, it lends the worker's place
///   while blocked (see [`ThreadPool`](crate::ThreadPool#waiting-inside-a-task)).
///
/// For a time limit, counted from this call, use
/// [`AsCompleted::timeout`].
///
/// For async code, [`AsCompleted::into_stream`] gives a [`Stream`] of the
/// same tasks in the same order, which never blocks.
///
/// Accepts anything that is a [`TaskRef`]: handles, references to handles,
/// or `(key, handle)` pairs; for tasks of different output types,
/// [`AnyHandle`](crate::AnyHandle)s or `&dyn TaskRef`s.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, as_completed};
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let slow = pool.submit(move || { rx.recv().unwrap(); "slow" }).unwrap();
/// let fast = pool.submit(|| "fast").unwrap();
/// let mut finished = as_completed([slow, fast]);
/// assert_eq!(finished.next().unwrap().join().unwrap(), "fast");
/// tx.send(()).unwrap();
/// assert_eq!(finished.next().unwrap().join().unwrap(), "slow");
/// assert!(finished.next().is_none());
/// ```
///
/// Tasks of different output types, with keys to tell them apart:
///
/// ```
/// use futurepool::{AnyHandle, ThreadPool, as_completed};
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let size = pool.submit(move || { rx.recv().unwrap(); 512_u64 }).unwrap();
/// let mime = pool.submit(|| String::from("text/plain")).unwrap();
/// let mut finished = as_completed([("size", AnyHandle::new(size)), ("mime", mime.into())]);
/// let (key, handle) = finished.next().unwrap();
/// assert_eq!(key, "mime");
/// assert_eq!(handle.downcast::<String>().unwrap().join().unwrap(), "text/plain");
/// tx.send(()).unwrap();
/// let (key, handle) = finished.next().unwrap();
/// assert_eq!(key, "size");
/// assert_eq!(handle.downcast::<u64>().unwrap().join().unwrap(), 512);
/// ```
pub fn as_completed<I>(tasks: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    let started = Instant::now();
    let set = WatchSet::new(tasks);
    AsCompleted {
        remaining: set.total,
        set,
        started,
    }
}

/// The iterator of [`as_completed`].
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, as_completed};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
/// let finished = as_completed(handles);
/// assert_eq!(finished.len(), 4); // an ExactSizeIterator
/// let mut values: Vec<i32> = finished.map(|h| h.join().unwrap()).collect();
/// values.sort();
/// assert_eq!(values, [0, 1, 2, 3]);
/// ```
#[must_use = "as_completed does nothing unless iterated"]
pub struct AsCompleted<H: TaskRef> {
    set: WatchSet<H>,
    remaining: usize,
    started: Instant,
}

impl<H: TaskRef> AsCompleted<H> {
    /// Gives up `timeout` after the `as_completed` call: the iterator then
    /// yields one [`TimeoutError`], holding the unfinished tasks, and ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let handles: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    /// let mut sum = 0;
    /// for handle in as_completed(handles).timeout(Duration::from_secs(60)) {
    ///     sum += handle.unwrap().join().unwrap();
    /// }
    /// assert_eq!(sum, 3);
    /// ```
    pub fn timeout(self, timeout: Duration) -> AsCompletedTimeout<H> {
        let deadline = self.started.checked_add(timeout);
        AsCompletedTimeout {
            inner: self,
            deadline,
            expired: false,
        }
    }

    /// Gives up at `deadline`; see [`timeout`](Self::timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    /// use std::time::Instant;
    ///
    /// let pool = ThreadPool::new();
    /// let done = pool.submit(|| 1).unwrap();
    /// done.wait();
    /// let mut it = as_completed([done]).deadline(Instant::now());
    /// assert!(it.next().unwrap().is_ok()); // finished ones come first, deadline or not
    /// assert!(it.next().is_none());
    /// ```
    pub fn deadline(self, deadline: Instant) -> AsCompletedTimeout<H> {
        AsCompletedTimeout {
            inner: self,
            deadline: Some(deadline),
            expired: false,
        }
    }

    /// A [`Stream`] of the same tasks in the same order, for async code: it
    /// never blocks the thread. It needs no particular runtime; for a time
    /// limit, use your runtime's timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use futurepool::{ThreadPool, as_completed};
    ///
    /// let pool = ThreadPool::new();
    /// let handles: Vec<_> = (1..=3).map(|i| pool.submit(move || i).unwrap()).collect();
    /// let sum = futures::executor::block_on(async {
    ///     let mut sum = 0;
    ///     let mut finished = as_completed(handles).into_stream();
    ///     while let Some(handle) = finished.next().await {
    ///         sum += handle.await.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 6);
    /// ```
    pub fn into_stream(self) -> AsCompletedStream<H> {
        AsCompletedStream { inner: self }
    }

    /// The next finished task, waiting until `deadline` (forever if `None`).
    fn next_deadline(&mut self, deadline: Option<Instant>) -> Option<H> {
        if self.remaining == 0 {
            return None;
        }
        let index = loop {
            if let Some(index) = self.set.notify.try_pop() {
                break index;
            }
            // With no time limit, a pool worker runs a task of its own pool
            // that hasn't started itself, rather than block: each must
            // finish before the iteration ends.
            if deadline.is_none() && self.set.help_next() {
                continue;
            }
            break self.set.notify.pop_deadline(deadline)?;
        };
        self.remaining -= 1;
        self.set.slots[index].take()
    }
}

impl<H: TaskRef> Iterator for AsCompleted<H> {
    type Item = H;

    fn next(&mut self) -> Option<H> {
        self.next_deadline(None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<H: TaskRef> ExactSizeIterator for AsCompleted<H> {}

impl<H: TaskRef> FusedIterator for AsCompleted<H> {}

impl<H: TaskRef> fmt::Debug for AsCompleted<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .field("total", &self.set.total)
            .finish()
    }
}

/// [`as_completed`] with a deadline: made by [`AsCompleted::timeout`] or
/// [`AsCompleted::deadline`].
///
/// Yields `Ok(task)` as tasks finish. If the deadline passes first, yields one
/// `Err(`[`TimeoutError`]`)` carrying the unfinished tasks, and ends.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, as_completed};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let stuck = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let items: Vec<_> = as_completed([stuck]).timeout(Duration::from_millis(10)).collect();
/// assert_eq!(items.len(), 1);
/// let unfinished = items.into_iter().next().unwrap().unwrap_err().into_unfinished();
/// tx.send(()).unwrap();
/// unfinished.into_iter().for_each(|h| h.join().unwrap());
/// ```
#[must_use = "as_completed does nothing unless iterated"]
pub struct AsCompletedTimeout<H: TaskRef> {
    inner: AsCompleted<H>,
    deadline: Option<Instant>,
    expired: bool,
}

impl<H: TaskRef> Iterator for AsCompletedTimeout<H> {
    type Item = Result<H, TimeoutError<H>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.expired || self.inner.remaining == 0 {
            return None;
        }
        if let Some(task) = self.inner.next_deadline(self.deadline) {
            return Some(Ok(task));
        }
        self.expired = true;
        let unfinished: Vec<H> = self
            .inner
            .set
            .slots
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        self.inner.remaining = 0;
        Some(Err(TimeoutError::new(unfinished, self.inner.set.total)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.expired || self.inner.remaining == 0 {
            (0, Some(0))
        } else {
            (1, Some(self.inner.remaining))
        }
    }
}

impl<H: TaskRef> FusedIterator for AsCompletedTimeout<H> {}

impl<H: TaskRef> fmt::Debug for AsCompletedTimeout<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("remaining", &self.inner.remaining)
            .field("deadline", &self.deadline)
            .field("expired", &self.expired)
            .finish()
    }
}

/// The [`Stream`] of [`as_completed`]: made by [`AsCompleted::into_stream`].
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use futurepool::{ThreadPool, as_completed};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let count = futures::executor::block_on(as_completed(handles).into_stream().count());
/// assert_eq!(count, 3);
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct AsCompletedStream<H: TaskRef> {
    inner: AsCompleted<H>,
}

impl<H: TaskRef> Stream for AsCompletedStream<H> {
    type Item = H;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<H>> {
        let inner = &mut self.get_mut().inner;
        if inner.remaining == 0 {
            return Poll::Ready(None);
        }
        match inner.set.notify.poll_pop(cx.waker()) {
            Some(index) => {
                inner.remaining -= 1;
                Poll::Ready(inner.set.slots[index].take())
            }
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<H: TaskRef> FusedStream for AsCompletedStream<H> {
    fn is_terminated(&self) -> bool {
        self.inner.remaining == 0
    }
}

impl<H: TaskRef> fmt::Debug for AsCompletedStream<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedStream")
            .field("remaining", &self.inner.remaining)
            .field("total", &self.inner.set.total)
            .finish()
    }
}
