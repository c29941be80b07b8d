//! [`as_completed`]: tasks in the order they finish.
//!
//! This file holds the function and its iterator, [`AsCompleted`];
//! beside it, what an `AsCompleted` turns into or hands out:
//!
//! - `timeout.rs`: [`AsCompletedTimeout`], with a deadline;
//! - `stream.rs`: [`AsCompletedStream`], for async code;
//! - `adder.rs`: [`AsCompletedAdder`], tasks added to it from a loop's
//!   body or another thread.

mod adder;
mod stream;
mod timeout;

use std::collections::VecDeque;
use std::fmt;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use adder::AsCompletedAdder;
use adder::Inbox;
pub use stream::AsCompletedStream;
pub use timeout::AsCompletedTimeout;

use super::set::{TaskRef, WatchSet};
use crate::loom::sync::Arc;
use crate::progress::{ProgressObserver, Tracker};

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
/// For async code, [`AsCompleted::into_stream`] gives a
/// [`Stream`](futures_core::Stream) of the same tasks in the same order,
/// which never blocks.
///
/// More tasks can be [added](AsCompleted::add) while iterating (Dask's
/// `as_completed(...).add(f)`): the iteration ends when every task given
/// or added has been yielded. [`AsCompleted::progress`] reports progress.
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
        progress: None,
        ready: VecDeque::new(),
        inbox: None,
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
///
/// # Growing while iterating
///
/// [`add`](Self::add) puts another task in while iterating, as a crawler
/// submits follow-up work as results arrive. It is not a
/// [`FusedIterator`](std::iter::FusedIterator) for that reason: after
/// `next` has returned `None`, a task added makes the next `next` yield it.
/// Its [`len`](ExactSizeIterator::len) is the number of tasks not yet
/// yielded.
#[must_use = "as_completed does nothing unless iterated"]
pub struct AsCompleted<H: TaskRef> {
    set: WatchSet<H>,
    remaining: usize,
    started: Instant,
    progress: Option<Tracker>,
    /// With progress: finished tasks taken off the ready-queue (and
    /// counted) but not yet yielded.
    ready: VecDeque<usize>,
    /// Tasks added through an adder, once one was made.
    inbox: Option<Arc<Inbox<H>>>,
}

impl<H: TaskRef> AsCompleted<H> {
    /// Adds a task while iterating: it is yielded once finished, as the
    /// others (at once by the next `next` if it already is). Returns
    /// `false`, and drops `task`, if the same task is in the set and not
    /// yet yielded (it is yielded once); a task added again after it was
    /// yielded is yielded again.
    ///
    /// Added after `next` returned `None`, the task is yielded by the next
    /// `next`: the iteration ends when every task given or added has been
    /// yielded. Dask's `as_completed(...).add(future)`.
    ///
    /// # Examples
    ///
    /// A crawler: each page found submits the pages it links to.
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    ///
    /// let pool = ThreadPool::new();
    /// // Page n links to pages 2n and 2n + 1, up to page 15.
    /// let fetch = |n: u32| move || (n, [2 * n, 2 * n + 1].into_iter().filter(|&m| m < 16).collect::<Vec<_>>());
    /// let mut pages = as_completed([pool.submit(fetch(1)).unwrap()]);
    /// let mut crawled = Vec::new();
    /// while let Some(handle) = pages.next() {
    ///     let (page, links) = handle.join().unwrap();
    ///     crawled.push(page);
    ///     for link in links {
    ///         pages.add(pool.submit(fetch(link)).unwrap());
    ///     }
    /// }
    /// crawled.sort();
    /// assert_eq!(crawled, (1..16).collect::<Vec<_>>());
    /// ```
    pub fn add(&mut self, task: H) -> bool {
        let Some(index) = self.set.add(task) else {
            return false;
        };
        self.remaining += 1;
        if let Some(tracker) = &mut self.progress {
            tracker.add_total(1);
            if let Some(Some(task)) = self.set.slots.get(index) {
                tracker.watch(task.completion().task_id(), 1);
            }
        }
        true
    }

    /// An [`AsCompletedAdder`]: adds tasks from the body of a `for` loop
    /// over this iterator (which owns it), or from another thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    ///
    /// let pool = ThreadPool::new();
    /// let mut pages = as_completed([pool.submit(|| 0_u32).unwrap()]);
    /// let adder = pages.adder();
    /// let mut crawled = 0;
    /// for page in pages {
    ///     let depth = page.join().unwrap();
    ///     crawled += 1;
    ///     if depth < 3 {
    ///         for _ in 0..2 {
    ///             adder.add(pool.submit(move || depth + 1).unwrap());
    ///         }
    ///     }
    /// }
    /// assert_eq!(crawled, 1 + 2 + 4 + 8);
    /// ```
    pub fn adder(&mut self) -> AsCompletedAdder<H> {
        let notify = self.set.notify.clone();
        let inbox = self
            .inbox
            .get_or_insert_with(|| Arc::new(Inbox::new(notify)));
        AsCompletedAdder::new(inbox.clone())
    }

    /// Puts the tasks added through an adder into the set; how many went in.
    fn take_inbox(&mut self) -> usize {
        let Some(inbox) = self.inbox.clone() else {
            return 0;
        };
        inbox
            .take()
            .into_iter()
            .map(|task| usize::from(self.add(task)))
            .sum()
    }

    /// Reports progress to `observer` as the tasks finish: done, failed
    /// (ended with an error or cancelled), total (the tasks given, plus
    /// those [added](Self::add) since), rate, time left. It runs on the
    /// thread calling `next` (for the stream, polling it), as that thread
    /// takes finished tasks off the queue: `done` counts the tasks finished
    /// by then, yielded or not. See [`ProgressObserver`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Progress, ThreadPool, as_completed};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let pool = ThreadPool::new();
    /// let last: Arc<Mutex<Option<Progress>>> = Arc::default();
    /// let l = last.clone();
    /// let handles: Vec<_> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
    /// let mut finished = as_completed(handles)
    ///     .progress(move |p: &Progress| *l.lock().unwrap() = Some(p.clone()));
    /// let extra = pool.submit(|| -> i32 { panic!("lost") }).unwrap();
    /// finished.add(extra);
    /// assert_eq!(finished.count(), 5);
    /// let last = last.lock().unwrap().clone().unwrap();
    /// assert_eq!((last.done(), last.failed(), last.total()), (5, 1, Some(5)));
    /// ```
    #[doc(alias = "tqdm")]
    pub fn progress(mut self, observer: impl ProgressObserver + 'static) -> Self {
        let total = u64::try_from(self.remaining).ok();
        let mut tracker = Tracker::new(observer, self.started, total);
        for task in self.set.slots.iter().flatten() {
            tracker.watch(task.completion().task_id(), 1);
        }
        // A backend's note wakes `next` (an index of no task: ignored).
        tracker.wake_through(&self.set.notify);
        self.progress = Some(tracker);
        self
    }

    /// A finished task's index off the ready-queue, without blocking;
    /// with progress, each one taken off is counted, and reported before
    /// one is handed out (so an observer that panics loses no task).
    fn pop_ready(&mut self) -> Option<usize> {
        if self.progress.is_none() {
            return self.set.notify.try_pop();
        }
        while let Some(index) = self.set.notify.try_pop() {
            self.count(index);
        }
        self.report();
        self.ready.pop_front()
    }

    /// With progress: counts the task at `index` as finished, and keeps it
    /// to be yielded. (An index whose task was handed out already, by a
    /// timeout, is dropped.)
    fn count(&mut self, index: usize) {
        let Some(Some(task)) = self.set.slots.get(index) else {
            return;
        };
        let failed = task.completion().is_failed();
        if let Some(tracker) = &mut self.progress {
            tracker.record(1, u64::from(failed));
            self.ready.push_back(index);
        }
    }

    fn report(&mut self) {
        if let Some(tracker) = &mut self.progress {
            tracker.flush();
        }
    }

    fn finish_progress(&mut self) {
        if let Some(tracker) = &mut self.progress {
            tracker.finish();
        }
    }
    /// Gives up `timeout` after the `as_completed` call: the iterator then
    /// yields one [`TimeoutError`](crate::error::TimeoutError), holding the
    /// unfinished tasks, and ends.
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
        AsCompletedTimeout::new(self, deadline)
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
        AsCompletedTimeout::new(self, Some(deadline))
    }

    /// A [`Stream`](futures_core::Stream) of the same tasks in the same
    /// order, for async code: it never blocks the thread. It needs no
    /// particular runtime; for a time limit, use your runtime's timeout.
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
        AsCompletedStream::new(self)
    }

    /// The next finished task, waiting until `deadline` (forever if `None`).
    fn next_deadline(&mut self, deadline: Option<Instant>) -> Option<H> {
        loop {
            // Added tasks first: an adder's wake-up, popped below, is
            // stale (not a task's index) and makes the loop come back here.
            self.take_inbox();
            if self.remaining == 0 {
                self.finish_progress();
                return None;
            }
            let index = match self.pop_ready() {
                Some(index) => index,
                // With no time limit, a pool worker runs a task of its own
                // pool that hasn't started itself, rather than block: each
                // must finish before the iteration ends.
                None if deadline.is_none() && self.set.help_next() => continue,
                None => {
                    let index = self.set.notify.pop_deadline(deadline)?;
                    if self.progress.is_none() {
                        index
                    } else {
                        self.count(index);
                        continue;
                    }
                }
            };
            // An index whose task a timeout handed out is stale: skip it.
            if let Some(task) = self.set.take(index) {
                self.remaining -= 1;
                return Some(task);
            }
        }
    }

    /// The next finished task without blocking, or `cx` woken when one
    /// finishes.
    fn poll_next_task(&mut self, cx: &mut Context<'_>) -> Poll<Option<H>> {
        loop {
            self.take_inbox();
            if self.remaining == 0 {
                self.finish_progress();
                return Poll::Ready(None);
            }
            let index = if self.progress.is_none() {
                self.set.notify.poll_pop(cx.waker())
            } else {
                while let Some(index) = self.set.notify.poll_pop(cx.waker()) {
                    self.count(index);
                }
                self.report();
                self.ready.pop_front()
            };
            let Some(index) = index else {
                return Poll::Pending;
            };
            if let Some(task) = self.set.take(index) {
                self.remaining -= 1;
                return Poll::Ready(Some(task));
            }
        }
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

// Not a `FusedIterator`: a task added after the end is yielded (see `add`).

impl<H: TaskRef> fmt::Debug for AsCompleted<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .field("total", &self.set.total)
            .finish()
    }
}
