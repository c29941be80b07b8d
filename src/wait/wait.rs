//! [`wait`](wait()): block until some or all of a set of tasks finish.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::set::{TaskRef, WatchSet};
use crate::progress::{ProgressObserver, Tracker, live};

/// When [`wait`](wait()) returns.
///
/// # Examples
///
/// ```
/// use futurepool::ReturnWhen;
///
/// assert_eq!(ReturnWhen::default(), ReturnWhen::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[doc(alias = "return_when")]
pub enum ReturnWhen {
    /// When any task finishes (or is cancelled).
    #[doc(alias = "FIRST_COMPLETED")]
    FirstCompleted,
    /// When any task ends with an error other than cancellation (a panic, a
    /// timeout, a broken pool), or when all have finished.
    #[doc(alias = "FIRST_EXCEPTION")]
    FirstException,
    /// When every task has finished.
    #[default]
    #[doc(alias = "ALL_COMPLETED")]
    AllCompleted,
}

/// What [`wait`](wait()) returns: the tasks split into those that had
/// finished and those that had not, each in the order given.
///
/// # Examples
///
/// ```
/// use futurepool::{ReturnWhen, ThreadPool, wait};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let waited = wait(handles, ReturnWhen::AllCompleted);
/// assert_eq!(waited.done.len(), 3);
/// assert!(waited.not_done.is_empty());
/// ```
#[derive(Debug)]
#[doc(alias = "DoneAndNotDoneFutures")]
pub struct Waited<H> {
    /// Finished tasks (with a value, an error, or cancelled).
    pub done: Vec<H>,
    /// Tasks still queued or running when `wait` returned.
    pub not_done: Vec<H>,
}

/// Blocks until the tasks meet `return_when`, and returns them split into
/// done and not done.
///
/// A task cancelled before the call counts as done. A cancellation is not an
/// "exception" for [`ReturnWhen::FirstException`]. A task given twice (as
/// two `&TaskHandle` to one task) is counted and returned once. On a pool
/// worker, the worker lends its place while blocked.
///
/// Accepts anything that is a [`TaskRef`]: handles, references to handles,
/// `(key, handle)` pairs; for tasks of different output types, `&dyn
/// TaskRef`s or [`AnyHandle`](crate::AnyHandle)s.
///
/// # Examples
///
/// ```
/// use futurepool::{ReturnWhen, ThreadPool, wait};
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let fast = pool.submit(|| ()).unwrap();
/// let waited = wait([slow, fast], ReturnWhen::FirstCompleted);
/// assert_eq!((waited.done.len(), waited.not_done.len()), (1, 1));
/// tx.send(()).unwrap();
/// ```
///
/// Tasks of different output types, as Python's `wait([f_int, f_str])`:
///
/// ```
/// use futurepool::{ReturnWhen, TaskRef, ThreadPool, wait};
///
/// let pool = ThreadPool::new();
/// let f_int = pool.submit(|| 42).unwrap();
/// let f_str = pool.submit(|| "forty-two").unwrap();
/// let waited = wait([&f_int as &dyn TaskRef, &f_str], ReturnWhen::AllCompleted);
/// assert_eq!(waited.done.len(), 2);
/// drop(waited); // it borrows the handles
/// assert_eq!((f_int.join().unwrap(), f_str.join().unwrap()), (42, "forty-two"));
/// ```
#[doc(alias = "wait_all")]
#[doc(alias = "invokeAll")]
#[doc(alias = "invoke_all")]
pub fn wait<I>(tasks: I, return_when: ReturnWhen) -> Waited<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    wait_until(tasks, return_when, None, None)
}

/// Like [`wait`](wait()), reporting progress to `observer` as the tasks
/// finish: done, failed (ended with an error or cancelled), total, rate,
/// time left. Dask's `progress(futures)`. The observer runs on this
/// thread, while it waits; see [`ProgressObserver`]. Its last report,
/// [`finish`](ProgressObserver::finish), comes when the wait returns.
///
/// With a time limit: [`wait_with_progress_timeout`],
/// [`wait_with_progress_deadline`].
///
/// # Examples
///
/// ```
/// use futurepool::{Progress, ReturnWhen, ThreadPool, wait_with_progress};
/// use std::sync::{Arc, Mutex};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (0..8).map(|i| pool.submit(move || i).unwrap()).collect();
/// let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
/// let log = seen.clone();
/// let waited = wait_with_progress(&handles, ReturnWhen::AllCompleted, move |p: &Progress| {
///     assert_eq!(p.total(), Some(8));
///     log.lock().unwrap().push(p.done());
/// });
/// assert_eq!(waited.done.len(), 8);
/// assert_eq!(seen.lock().unwrap().last(), Some(&8));
/// ```
#[doc(alias = "progress")]
pub fn wait_with_progress<I>(
    tasks: I,
    return_when: ReturnWhen,
    observer: impl ProgressObserver + 'static,
) -> Waited<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    wait_with_progress_until(tasks, return_when, None, observer)
}

/// Like [`wait_with_progress`], but returns when `timeout` has passed even
/// if `return_when` isn't met (as [`wait_timeout`]).
///
/// # Examples
///
/// ```
/// use futurepool::{Progress, ReturnWhen, ThreadPool, wait_with_progress_timeout};
/// use std::sync::{Arc, Mutex, mpsc};
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let stuck = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let quick = pool.submit(|| ()).unwrap();
/// quick.wait();
/// let last: Arc<Mutex<Option<Progress>>> = Arc::default();
/// let l = last.clone();
/// let waited = wait_with_progress_timeout([&stuck, &quick], ReturnWhen::AllCompleted, Duration::from_millis(10), move |p: &Progress| {
///     *l.lock().unwrap() = Some(p.clone())
/// });
/// assert_eq!((waited.done.len(), waited.not_done.len()), (1, 1));
/// let last = last.lock().unwrap().clone().unwrap();
/// assert_eq!((last.done(), last.total()), (1, Some(2)));
/// tx.send(()).unwrap();
/// ```
pub fn wait_with_progress_timeout<I>(
    tasks: I,
    return_when: ReturnWhen,
    timeout: Duration,
    observer: impl ProgressObserver + 'static,
) -> Waited<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    let deadline = Instant::now().checked_add(timeout);
    wait_with_progress_until(tasks, return_when, deadline, observer)
}

/// Like [`wait_with_progress`], but returns at `deadline` even if
/// `return_when` isn't met (as [`wait_deadline`]).
///
/// # Examples
///
/// ```
/// use futurepool::{Progress, ReturnWhen, ThreadPool, wait_with_progress_deadline};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let done = Arc::new(AtomicU64::new(0));
/// let d = done.clone();
/// let deadline = Instant::now() + Duration::from_secs(60);
/// let waited = wait_with_progress_deadline(&handles, ReturnWhen::AllCompleted, deadline, move |p: &Progress| {
///     d.store(p.done(), Ordering::SeqCst)
/// });
/// assert_eq!((waited.done.len(), done.load(Ordering::SeqCst)), (3, 3));
/// ```
pub fn wait_with_progress_deadline<I>(
    tasks: I,
    return_when: ReturnWhen,
    deadline: Instant,
    observer: impl ProgressObserver + 'static,
) -> Waited<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    wait_with_progress_until(tasks, return_when, Some(deadline), observer)
}

fn wait_with_progress_until<I>(
    tasks: I,
    return_when: ReturnWhen,
    deadline: Option<Instant>,
    observer: impl ProgressObserver + 'static,
) -> Waited<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    let started = Instant::now();
    let set = WatchSet::new(tasks);
    let mut tracker = Tracker::new(observer, started, u64::try_from(set.total).ok());
    for task in set.slots.iter().flatten() {
        tracker.watch(task.completion().task_id(), 1);
    }
    tracker.wake_through(&set.notify);
    wait_set(set, return_when, deadline, Some(tracker))
}

/// Like [`wait`](wait()), but returns when `timeout` has passed even if
/// `return_when` isn't met.
///
/// # Examples
///
/// ```
/// use futurepool::{ReturnWhen, ThreadPool, wait_timeout};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let stuck = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let waited = wait_timeout([&stuck], ReturnWhen::AllCompleted, Duration::from_millis(10));
/// assert_eq!(waited.not_done.len(), 1);
/// tx.send(()).unwrap();
/// stuck.join().unwrap();
/// ```
pub fn wait_timeout<I>(tasks: I, return_when: ReturnWhen, timeout: Duration) -> Waited<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    wait_until(
        tasks,
        return_when,
        Instant::now().checked_add(timeout),
        None,
    )
}

/// Like [`wait`](wait()), but returns at `deadline` even if `return_when`
/// isn't met.
///
/// # Examples
///
/// ```
/// use futurepool::{ReturnWhen, ThreadPool, wait_deadline};
/// use std::time::{Duration, Instant};
///
/// let pool = ThreadPool::new();
/// let h = pool.submit(|| ()).unwrap();
/// let deadline = Instant::now() + Duration::from_secs(60);
/// let waited = wait_deadline([h], ReturnWhen::AllCompleted, deadline);
/// assert_eq!(waited.done.len(), 1);
/// ```
pub fn wait_deadline<I>(tasks: I, return_when: ReturnWhen, deadline: Instant) -> Waited<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    wait_until(tasks, return_when, Some(deadline), None)
}

/// Like [`wait`](wait()), for async code: a future that resolves when the
/// tasks meet `return_when`, without blocking the thread. It needs no
/// particular runtime. (For a time limit, use your runtime's timeout; drop
/// the future to stop waiting.)
///
/// # Examples
///
/// ```
/// use futurepool::{ReturnWhen, ThreadPool, wait_async};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let waited = futures::executor::block_on(wait_async(handles, ReturnWhen::AllCompleted));
/// assert_eq!(waited.done.len(), 3);
/// ```
#[doc(alias = "asyncio.wait")]
pub fn wait_async<I>(tasks: I, return_when: ReturnWhen) -> WaitAsync<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    WaitAsync {
        set: WatchSet::new(tasks),
        progress: Tally::new(return_when),
    }
}

/// The future of [`wait_async`].
///
/// # Examples
///
/// ```
/// use futurepool::{ReturnWhen, ThreadPool, wait_async};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (0..2).map(|i| pool.submit(move || i).unwrap()).collect();
/// let waiting = wait_async(&handles, ReturnWhen::FirstCompleted);
/// let waited = futures::executor::block_on(waiting);
/// assert!(!waited.done.is_empty());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct WaitAsync<H: TaskRef> {
    set: WatchSet<H>,
    progress: Tally,
}

impl<H: TaskRef> Future for WaitAsync<H> {
    type Output = Waited<H>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Waited<H>> {
        let this = self.get_mut();
        while !this.progress.met(this.set.total) {
            match this.set.notify.poll_pop(cx.waker()) {
                Some(index) => this.progress.record(&this.set, index),
                None => return Poll::Pending,
            }
        }
        Poll::Ready(split(&mut this.set))
    }
}

impl<H: TaskRef> fmt::Debug for WaitAsync<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitAsync")
            .field("return_when", &self.progress.return_when)
            .field("finished", &self.progress.finished)
            .field("total", &self.set.total)
            .finish()
    }
}

/// How far a wait has got, against its `ReturnWhen`.
struct Tally {
    return_when: ReturnWhen,
    finished: usize,
    exception: bool,
}

impl Tally {
    fn new(return_when: ReturnWhen) -> Tally {
        Tally {
            return_when,
            finished: 0,
            exception: false,
        }
    }

    fn met(&self, total: usize) -> bool {
        self.finished == total
            || match self.return_when {
                ReturnWhen::FirstCompleted => self.finished > 0,
                ReturnWhen::FirstException => self.exception,
                ReturnWhen::AllCompleted => false,
            }
    }

    fn record<H: TaskRef>(&mut self, set: &WatchSet<H>, index: usize) {
        self.finished += 1;
        let task = set.slots[index]
            .as_ref()
            .expect("each index is pushed once");
        self.exception |= task.completion().done_status() == Some(true);
    }

    /// Records, and counts for a progress report.
    fn record_tracked<H: TaskRef>(
        &mut self,
        set: &WatchSet<H>,
        index: usize,
        tracker: Option<&mut Tracker>,
    ) {
        self.record(set, index);
        if let Some(tracker) = tracker {
            let failed = set.slots[index]
                .as_ref()
                .is_some_and(|task| task.completion().is_failed());
            tracker.record(1, u64::from(failed));
            tracker.flush();
        }
    }
}

/// Unregisters and splits the tasks into done and not done, in input order.
fn split<H: TaskRef>(set: &mut WatchSet<H>) -> Waited<H> {
    let mut waited = Waited {
        done: Vec::new(),
        not_done: Vec::new(),
    };
    for task in set.take_all() {
        if task.completion().done_status().is_some() {
            waited.done.push(task);
        } else {
            waited.not_done.push(task);
        }
    }
    waited
}

fn wait_until<I>(
    tasks: I,
    return_when: ReturnWhen,
    deadline: Option<Instant>,
    tracker: Option<Tracker>,
) -> Waited<I::Item>
where
    I: IntoIterator,
    I::Item: TaskRef,
{
    wait_set(WatchSet::new(tasks), return_when, deadline, tracker)
}

fn wait_set<H: TaskRef>(
    mut set: WatchSet<H>,
    return_when: ReturnWhen,
    deadline: Option<Instant>,
    mut tracker: Option<Tracker>,
) -> Waited<H> {
    if let Some(tracker) = &mut tracker {
        tracker.flush(); // the start: nothing done yet
    }
    let mut progress = Tally::new(return_when);
    // A pool worker waiting for all, with no time limit, runs the tasks of
    // its own pool that haven't started itself before it blocks: each must
    // finish anyway. A timed or first-completed wait only lends its place
    // (running a task inline would outlast the limit, or the first one).
    let helping = deadline.is_none() && return_when == ReturnWhen::AllCompleted;
    while !progress.met(set.total) {
        let index = match set.notify.try_pop() {
            Some(index) => index,
            None if helping && set.help_next() => continue,
            None => match set.notify.pop_deadline(deadline) {
                Some(index) => index,
                None => break, // timed out
            },
        };
        if index == live::WAKE {
            // A backend's note (a task started): report it.
            if let Some(tracker) = &mut tracker {
                tracker.flush();
            }
            continue;
        }
        progress.record_tracked(&set, index, tracker.as_mut());
    }
    if let Some(tracker) = &mut tracker {
        tracker.finish();
    }
    split(&mut set)
}
