//! [`first_ok`](first_ok()): the value of the first task to succeed, the
//! others cancelled (Java's `ExecutorService.invokeAny`).
//!
//! It is a race over a [`WatchSet`]: finished tasks come out of its
//! ready-queue one at a time; a failure is noted in its place and the race
//! goes on; the first value ends it, and the tasks still held are
//! unregistered and cancelled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::first_ok_error::{AllFailedError, FirstOkTimeoutError};
use super::set::WatchSet;
use crate::core::handle::TaskHandle;
use crate::error::{TaskError, TimeoutError};

/// Waits for the first of `tasks` to **succeed**, returns its value, and
/// cancels the others. Java's `ExecutorService.invokeAny`; for hedged
/// requests (ask three mirrors, take the first answer).
///
/// - A task that fails (panics, is cancelled, times out, loses its pool or
///   its worker process) doesn't count: `first_ok` waits for the others.
/// - Tasks already finished when it is called are looked at first, in the
///   order given (of several that already succeeded, the first given wins);
///   then the others, in the order they finish.
/// - If every task fails, the error holds every task's [`TaskError`], in
///   the order given. With no task at all, that is an error with none.
/// - On a pool worker, the worker lends its place while it waits, as every
///   futurepool wait does, so racing tasks of its own full pool doesn't
///   deadlock.
///
/// # Cancelling the others
///
/// When a task succeeds, every other task is cancelled in this call, before
/// it returns, exactly as [`TaskHandle::cancel`] does it:
///
/// - a task still **queued** never runs; its closure is dropped here;
/// - a **running** thread-pool task that takes a
///   [`CancelToken`](crate::CancelToken) has its token signalled and ends as
///   cancelled at once; its closure keeps its worker until it notices the
///   token and returns;
/// - a **running** thread-pool task without a token can't be stopped: it
///   runs to its end, and its value is dropped;
/// - a **running** process-pool task is stopped by killing its worker
///   process;
/// - a task that has already finished is left as it is (its value is
///   dropped).
///
/// The done-callbacks of the tasks it cancels run on this thread, in this
/// call.
///
/// # Errors
///
/// [`AllFailedError`] if no task succeeded.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, first_ok};
///
/// let pool = ThreadPool::new();
/// let down = pool.submit(|| -> &str { panic!("mirror a is down") }).unwrap();
/// let up = pool.submit(|| "the answer, from mirror b").unwrap();
/// assert_eq!(first_ok([down, up]).unwrap(), "the answer, from mirror b");
/// ```
///
/// The losers are cancelled: here a task still queued behind a busy worker.
///
/// ```
/// use futurepool::{ThreadPool, first_ok};
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (go, wait) = mpsc::channel::<()>();
/// let busy = pool.submit(move || wait.recv().unwrap()).unwrap();
/// let queued = pool.submit(|| "queued").unwrap();
/// let (tx, rx) = mpsc::channel();
/// queued.add_done_callback(move |outcome| tx.send(outcome.unwrap_err().is_cancelled()).unwrap());
/// let other_pool = ThreadPool::new();
/// let quick = other_pool.submit(|| "quick").unwrap();
/// assert_eq!(first_ok([queued, quick]).unwrap(), "quick");
/// assert_eq!(rx.try_recv(), Ok(true)); // cancelled, in the call
/// go.send(()).unwrap();
/// busy.join().unwrap();
/// ```
#[doc(alias = "invokeAny")]
#[doc(alias = "invoke_any")]
pub fn first_ok<T, I>(tasks: I) -> Result<T, AllFailedError>
where
    I: IntoIterator<Item = TaskHandle<T>>,
    T: Send + 'static,
{
    first_ok_until(tasks, None).map_err(|err| match err {
        FirstOkTimeoutError::AllFailed(err) => err,
        FirstOkTimeoutError::Timeout(_) => unreachable!("no deadline, no timeout"),
    })
}

/// Like [`first_ok`](first_ok()), but gives up when `timeout` has passed,
/// handing back the tasks still unfinished.
///
/// # Errors
///
/// [`FirstOkTimeoutError::Timeout`] if no task succeeded in time, with the
/// unfinished tasks (not cancelled: they are yours again), or
/// [`FirstOkTimeoutError::AllFailed`] if every task failed in time.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, first_ok_timeout};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<u32>();
/// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let err = first_ok_timeout([slow], Duration::from_millis(10)).unwrap_err();
/// assert!(err.is_timeout());
/// let mut unfinished = err.into_unfinished();
/// unfinished.push(pool.submit(|| 2).unwrap()); // try again, with one more
/// assert_eq!(first_ok_timeout(unfinished, Duration::from_secs(60)).unwrap(), 2);
/// // `slow` lost: cancelled if still queued; if running, it can't be (no
/// // token), so let it end.
/// let _ = tx.send(1);
/// ```
pub fn first_ok_timeout<T, I>(tasks: I, timeout: Duration) -> Result<T, FirstOkTimeoutError<T>>
where
    I: IntoIterator<Item = TaskHandle<T>>,
    T: Send + 'static,
{
    first_ok_until(tasks, Instant::now().checked_add(timeout))
}

/// Like [`first_ok`](first_ok()), but gives up at `deadline`, handing back
/// the tasks still unfinished; see [`first_ok_timeout`].
///
/// # Errors
///
/// As for [`first_ok_timeout`].
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, first_ok_deadline};
/// use std::time::{Duration, Instant};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (1..=3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let deadline = Instant::now() + Duration::from_secs(60);
/// let first = first_ok_deadline(handles, deadline).unwrap();
/// assert!((1..=3).contains(&first));
/// ```
pub fn first_ok_deadline<T, I>(tasks: I, deadline: Instant) -> Result<T, FirstOkTimeoutError<T>>
where
    I: IntoIterator<Item = TaskHandle<T>>,
    T: Send + 'static,
{
    first_ok_until(tasks, Some(deadline))
}

/// Like [`first_ok`](first_ok()), for async code: a future that resolves to
/// the first value, or to the error holding every task's error, without
/// blocking the thread. It needs no particular runtime; for a time limit,
/// use your runtime's timeout.
///
/// The losers are cancelled as [`first_ok`](first_ok#cancelling-the-others)
/// says, in the poll that sees the first success (their done-callbacks run
/// there). Dropping the future before that does **not** cancel the tasks,
/// as dropping a handle doesn't; call
/// [`cancel_on_drop`](FirstOkAsync::cancel_on_drop) for that.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, first_ok_async};
///
/// let pool = ThreadPool::new();
/// let down = pool.submit(|| -> u32 { panic!("down") }).unwrap();
/// let up = pool.submit(|| 7).unwrap();
/// let value = futures::executor::block_on(first_ok_async([down, up]));
/// assert_eq!(value.unwrap(), 7);
/// ```
pub fn first_ok_async<T, I>(tasks: I) -> FirstOkAsync<T>
where
    I: IntoIterator<Item = TaskHandle<T>>,
    T: Send + 'static,
{
    FirstOkAsync {
        race: Race::new(tasks),
        finished: false,
        cancel_on_drop: false,
    }
}

/// The future of [`first_ok_async`].
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, first_ok_async};
///
/// let pool = ThreadPool::new();
/// let handles: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let racing = first_ok_async(handles);
/// let first = futures::executor::block_on(racing).unwrap();
/// assert!((0..3).contains(&first));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct FirstOkAsync<T: Send + 'static> {
    race: Race<T>,
    finished: bool,
    cancel_on_drop: bool,
}

impl<T: Send + 'static> FirstOkAsync<T> {
    /// Makes dropping the future before it resolves cancel every task it
    /// still holds (as [`TaskHandle::cancel`] does), as when a runtime's
    /// timeout or a `select!` drops it: nobody can have their values any
    /// more.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, first_ok_async};
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (go, wait) = mpsc::channel::<()>();
    /// let busy = pool.submit(move || wait.recv().unwrap()).unwrap();
    /// let (tx, rx) = mpsc::channel::<&str>();
    /// let queued = pool.submit(move || tx.send("ran").unwrap()).unwrap();
    /// let mut racing = first_ok_async([queued]).cancel_on_drop();
    /// futures::executor::block_on(async {
    ///     assert!(futures::poll!(&mut racing).is_pending());
    /// });
    /// drop(racing); // a runtime's timeout gave up on it, say
    /// assert!(rx.recv().is_err()); // the closure was dropped unrun, and its sender with it
    /// go.send(()).unwrap();
    /// busy.join().unwrap();
    /// ```
    pub fn cancel_on_drop(mut self) -> FirstOkAsync<T> {
        self.cancel_on_drop = true;
        self
    }
}

impl<T: Send + 'static> Future for FirstOkAsync<T> {
    type Output = Result<T, AllFailedError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.finished, "`FirstOkAsync` polled after completion");
        while !this.race.all_failed() {
            let Some(index) = this.race.set.notify.poll_pop(cx.waker()) else {
                return Poll::Pending;
            };
            if let Some(value) = this.race.record(index) {
                this.finished = true;
                return Poll::Ready(Ok(value));
            }
        }
        this.finished = true;
        Poll::Ready(Err(this.race.all_failed_error()))
    }
}

impl<T: Send + 'static> Drop for FirstOkAsync<T> {
    fn drop(&mut self) {
        if self.cancel_on_drop && !self.finished {
            self.race.cancel_the_rest();
        }
    }
}

impl<T: Send + 'static> fmt::Debug for FirstOkAsync<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstOkAsync")
            .field("failed", &self.race.failed)
            .field("total", &self.race.set.total)
            .field("finished", &self.finished)
            .field("cancel_on_drop", &self.cancel_on_drop)
            .finish()
    }
}

/// The state of one `first_ok`: the tasks still held, and the errors of
/// those that failed, each in its place.
struct Race<T: Send + 'static> {
    set: WatchSet<TaskHandle<T>>,
    errors: Vec<Option<TaskError>>,
    failed: usize,
}

impl<T: Send + 'static> Race<T> {
    fn new(tasks: impl IntoIterator<Item = TaskHandle<T>>) -> Race<T> {
        let set = WatchSet::new(tasks);
        let errors = (0..set.total).map(|_| None).collect();
        Race {
            set,
            errors,
            failed: 0,
        }
    }

    /// Whether every task failed (at once, if none was given).
    fn all_failed(&self) -> bool {
        self.failed == self.set.total
    }

    /// Takes the finished task at `index`: its value ends the race (the
    /// rest are cancelled), its error is kept in its place.
    fn record(&mut self, index: usize) -> Option<T> {
        let task = self.set.slots[index]
            .take()
            .expect("each index is pushed once");
        // Done, so this doesn't block; a process task's value is decoded here.
        match task.join() {
            Ok(value) => {
                self.cancel_the_rest();
                Some(value)
            }
            Err(err) => {
                self.errors[index] = Some(err);
                self.failed += 1;
                None
            }
        }
    }

    /// Unregisters and cancels every task still held.
    fn cancel_the_rest(&mut self) {
        for task in self.set.take_all() {
            task.cancel();
        }
    }

    /// The error once every task failed, in the order given.
    fn all_failed_error(&mut self) -> AllFailedError {
        let errors = self
            .errors
            .drain(..)
            .map(|err| err.expect("every task failed"))
            .collect();
        AllFailedError::new(errors)
    }
}

fn first_ok_until<T, I>(tasks: I, deadline: Option<Instant>) -> Result<T, FirstOkTimeoutError<T>>
where
    I: IntoIterator<Item = TaskHandle<T>>,
    T: Send + 'static,
{
    let mut race = Race::new(tasks);
    while !race.all_failed() {
        let Some(index) = race.set.notify.pop_deadline(deadline) else {
            let total = race.set.total;
            let unfinished = race.set.take_all();
            return Err(FirstOkTimeoutError::Timeout(TimeoutError::new(
                unfinished, total,
            )));
        };
        if let Some(value) = race.record(index) {
            return Ok(value);
        }
    }
    Err(FirstOkTimeoutError::AllFailed(race.all_failed_error()))
}
