//! The handle to a submitted task: Python's `Future`, with Rust's ownership;
//! (`join_error.rs`) the errors of a bounded `join`, which hand it back;
//! (`cancel_on_drop.rs`) the future that cancels its task when dropped; and
//! (`shared/`) the handle that many consumers share; and (`helpable.rs`)
//! a task reached without its handle, by a waiter that may run it.

mod cancel_on_drop;
mod helpable;
mod join_error;
mod shared;
mod then;

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use cancel_on_drop::CancelOnDrop;
pub(crate) use helpable::Helpable;
pub use join_error::{JoinTimeoutError, TryJoinError};
pub use shared::{SharedGet, SharedHandle};
pub(crate) use then::Then;

use super::cell::Cell;
use super::state::Phase;
use super::watch::{Completion, Watcher};
use crate::error::{TaskError, TaskId};
use crate::loom::sync::Arc;

/// A handle to a task submitted to a pool: ask whether it is done, wait for
/// it, take its outcome, cancel it, or run a callback when it ends.
///
/// This is Python's `concurrent.futures.Future`. The outcome of a task is a
/// `Result<T, TaskError>`: the closure's value, or why there is none (it
/// panicked, was cancelled, timed out, or its pool broke).
///
/// # Taking the outcome
///
/// The outcome is moved out to the caller, so the methods that return it
/// consume the handle: [`join`](Self::join) blocks,
/// [`join_timeout`](Self::join_timeout) and [`join_deadline`](Self::join_deadline)
/// block for a while and hand the handle back if the task is not done,
/// [`try_join`](Self::try_join) doesn't block. To wait *without* taking
/// (to poll for progress, say) use [`wait`](Self::wait) and friends, which
/// borrow. A handle is also a [`std::future::Future`]: `.await` it from any
/// async runtime. To read the outcome from several places, or more than
/// once, make the handle [`shared`](Self::shared).
///
/// # Dropping
///
/// Dropping a handle does not cancel the task: it runs to the end and its
/// outcome is dropped (like `std::thread::JoinHandle` and Python's futures).
/// Call [`cancel`](Self::cancel) first to stop it.
///
/// # Memory ordering
///
/// Everything the task did *happens-before* any observation that it is done:
/// `is_done()` returning `true`, a `join` returning, or the `.await` waking.
/// Done-callbacks added before completion have all run by then too.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let handle = pool.submit(|| 6 * 7).unwrap();
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
#[doc(alias = "Future")]
#[doc(alias = "JoinHandle")]
#[must_use = "dropping a TaskHandle does not cancel the task; its outcome is lost"]
pub struct TaskHandle<T> {
    cell: Arc<Cell<T>>,
}

impl<T> TaskHandle<T> {
    pub(crate) fn new(cell: Arc<Cell<T>>) -> TaskHandle<T> {
        TaskHandle { cell }
    }

    /// The task's id: unique in this process, the same in its errors
    /// ([`TaskError::task_id`]) and its `Debug`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| -> () { panic!("boom") }).unwrap();
    /// let id = handle.id();
    /// assert!(format!("{handle:?}").contains(&format!("id: {}", id.as_u64())));
    /// assert_eq!(handle.join().unwrap_err().task_id(), Some(id));
    /// ```
    pub fn id(&self) -> TaskId {
        self.cell.task_id()
    }

    /// The task's name, if it was given one
    /// ([`TaskBuilder::name`](crate::TaskBuilder::name),
    /// [`Promise::named`](crate::Promise::named)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let named = pool.task().name("thumbnail").submit(|| ()).unwrap();
    /// let unnamed = pool.submit(|| ()).unwrap();
    /// assert_eq!(named.name(), Some("thumbnail"));
    /// assert_eq!(unnamed.name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.cell.name()
    }

    /// Returns `true` if the task has ended: with a value, a panic, a
    /// cancellation, a timeout, or a broken pool. A `join` would not block.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| ()).unwrap();
    /// handle.wait();
    /// assert!(handle.is_done());
    /// ```
    #[doc(alias = "done")]
    pub fn is_done(&self) -> bool {
        self.cell.phase() == Phase::Done
    }

    /// Returns `true` while a worker is running the task (and while the
    /// done-callbacks of a task that ran are running). A queued task is not
    /// running; neither is one that has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::new();
    /// let (started_tx, started_rx) = mpsc::channel();
    /// let (go_tx, go_rx) = mpsc::channel::<()>();
    /// let handle = pool
    ///     .submit(move || { started_tx.send(()).unwrap(); go_rx.recv().unwrap() })
    ///     .unwrap();
    /// started_rx.recv().unwrap();
    /// assert!(handle.is_running());
    /// go_tx.send(()).unwrap();
    /// handle.wait();
    /// assert!(!handle.is_running());
    /// ```
    #[doc(alias = "running")]
    pub fn is_running(&self) -> bool {
        self.cell.is_running()
    }

    /// Returns `true` if the task ended by being cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let blocker = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let queued = pool.submit(|| ()).unwrap();
    /// assert!(!queued.is_cancelled());
    /// queued.cancel();
    /// assert!(queued.is_cancelled());
    /// tx.send(()).unwrap();
    /// blocker.join().unwrap();
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.cell.is_cancelled()
    }

    /// Cancels the task, if it can still be stopped, and returns whether it
    /// is cancelled.
    ///
    /// - A task still **queued** is cancelled: it will never run, its outcome
    ///   is a cancelled [`TaskError`], and its closure is dropped right away,
    ///   in this call (after the callbacks; a drop that panics is caught and
    ///   reported by the panic hook, so `cancel` still returns). A task that
    ///   times out while queued is different: the timer thread runs no user
    ///   code, so its closure is dropped by whichever comes first of the
    ///   worker that reaches it in the queue, a `cancel` (which returns
    ///   `false`: it timed out), or the thread that takes its outcome.
    /// - A **running** task submitted with a [`CancelToken`](crate::CancelToken)
    ///   is cancelled: the token is signalled and the handle completes as
    ///   cancelled at once. The closure keeps its worker until it notices the
    ///   token and returns; what it returns is dropped.
    /// - A running process-pool task is cancelled by killing its worker
    ///   process.
    /// - A running thread-pool task without a token can't be stopped
    ///   (threads can't be killed): returns `false`.
    /// - A running **cluster** task can only be asked to stop: `cancel`
    ///   sends the request to the worker that runs it and returns `false`
    ///   (not cancelled *yet*). The handle resolves as cancelled once the
    ///   worker has killed the task's process (then
    ///   [`is_cancelled`](Self::is_cancelled) and later `cancel` calls
    ///   return `true`), or with the task's outcome if it ended first.
    /// - A task that already ended returns whether it ended by cancellation.
    ///
    /// Done-callbacks run in this call when it cancels the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| 1).unwrap();
    /// handle.wait();
    /// assert!(!handle.cancel()); // too late: it finished
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn cancel(&self) -> bool {
        self.cell.cancel()
    }

    /// Blocks until the task has ended, without taking its outcome.
    ///
    /// Called from a pool worker, the worker lends its place in the pool
    /// while it blocks, so waiting on other tasks of the same full pool does
    /// not deadlock (see [`ThreadPool`](crate::ThreadPool#waiting-inside-a-task)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| 3).unwrap();
    /// handle.wait();
    /// assert!(handle.is_done());
    /// ```
    pub fn wait(&self) {
        self.cell.wait_deadline(None);
    }

    /// Blocks until the task has ended or `timeout` has passed, and returns
    /// whether it has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let handle = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// assert!(!handle.wait_timeout(Duration::from_millis(5)));
    /// tx.send(()).unwrap();
    /// assert!(handle.wait_timeout(Duration::from_secs(60)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline_opt(Instant::now().checked_add(timeout))
    }

    /// Blocks until the task has ended or `deadline` is reached, and returns
    /// whether it has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| ()).unwrap();
    /// assert!(handle.wait_deadline(Instant::now() + Duration::from_secs(60)));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_deadline_opt(Some(deadline))
    }

    fn wait_deadline_opt(&self, deadline: Option<Instant>) -> bool {
        self.cell.wait_deadline(deadline)
    }

    /// Blocks until the task has ended and returns its outcome.
    ///
    /// # Errors
    ///
    /// The task's [`TaskError`]: it panicked (the payload is in the error),
    /// was cancelled, timed out, or its pool broke.
    ///
    /// # Panics
    ///
    /// If the handle was already polled to completion as a `Future`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let ok = pool.submit(|| "fine").unwrap();
    /// let bad = pool.submit(|| -> &str { panic!("not fine") }).unwrap();
    /// assert_eq!(ok.join().unwrap(), "fine");
    /// assert_eq!(bad.join().unwrap_err().panic_message(), Some("not fine"));
    /// ```
    #[doc(alias = "result")]
    pub fn join(self) -> Result<T, TaskError> {
        self.cell
            .take_deadline(None)
            .expect("the task is done after an unbounded wait")
    }

    /// Blocks until the task has ended or `timeout` has passed.
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] with this handle if the task has not
    /// ended in time (it goes on running), or [`JoinTimeoutError::Failed`] with
    /// the task's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| 5).unwrap();
    /// assert_eq!(handle.join_timeout(Duration::from_secs(60)).unwrap(), 5);
    /// ```
    pub fn join_timeout(self, timeout: Duration) -> Result<T, JoinTimeoutError<T>> {
        let deadline = Instant::now().checked_add(timeout);
        self.join_deadline_opt(deadline)
    }

    /// Blocks until the task has ended or `deadline` is reached.
    ///
    /// # Errors
    ///
    /// As for [`join_timeout`](Self::join_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::Instant;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let handle = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let err = handle.join_deadline(Instant::now()).unwrap_err(); // already passed
    /// assert!(err.is_timeout());
    /// tx.send(()).unwrap();
    /// ```
    pub fn join_deadline(self, deadline: Instant) -> Result<T, JoinTimeoutError<T>> {
        self.join_deadline_opt(Some(deadline))
    }

    fn join_deadline_opt(self, deadline: Option<Instant>) -> Result<T, JoinTimeoutError<T>> {
        match self.cell.take_deadline(deadline) {
            Some(outcome) => outcome.map_err(JoinTimeoutError::Failed),
            None => Err(JoinTimeoutError::Timeout(self)),
        }
    }

    /// Returns the outcome if the task has ended, without blocking.
    ///
    /// # Errors
    ///
    /// [`TryJoinError::NotReady`] with this handle if the task has not ended,
    /// or [`TryJoinError::Failed`] with the task's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let mut handle = pool.submit(|| 9).unwrap();
    /// let value = loop {
    ///     match handle.try_join() {
    ///         Ok(v) => break v,
    ///         Err(e) => handle = match e {
    ///             futurepool::TryJoinError::NotReady(h) => h,
    ///             futurepool::TryJoinError::Failed(e) => panic!("{e}"),
    ///         },
    ///     }
    /// };
    /// assert_eq!(value, 9);
    /// ```
    pub fn try_join(self) -> Result<T, TryJoinError<T>> {
        match self.cell.try_take() {
            Some(outcome) => outcome.map_err(TryJoinError::Failed),
            None => Err(TryJoinError::NotReady(self)),
        }
    }

    /// Runs `callback` with the task's outcome when the task ends.
    ///
    /// - Callbacks run exactly once, in the order they were added, whether the
    ///   task returned, panicked, was cancelled or timed out.
    /// - They run before the task is seen as done: once `join` returns (or
    ///   `is_done` says `true`, or an `.await` wakes), every callback added
    ///   before the task ended has run.
    /// - Where they run: on the thread that ended the task when that thread
    ///   runs user code anyway (the thread-pool worker that ran it, or the
    ///   thread that called [`cancel`](Self::cancel)); otherwise on the
    ///   crate's *callback runner*, a small set of threads kept for this
    ///   (a task that timed out, whose deadline the pool's timer thread
    ///   fired; every process-pool task, ended by a driver thread). The
    ///   timer and the drivers never run a callback, so a callback that
    ///   blocks can't stop other tasks' timeouts, other callbacks, or a
    ///   shutdown: it holds only its own runner thread (and its own task,
    ///   which is done once its callbacks return).
    /// - Added after the task ended, the callback runs at once, in this call.
    ///   (If a late callback is already running at that moment, on another
    ///   thread or as the caller, the new one runs right after it, on that
    ///   thread: callbacks of a task never run concurrently.)
    /// - A callback that panics is reported by the panic hook and otherwise
    ///   ignored: the other callbacks still run, and the thread carries on.
    ///
    /// Keep callbacks short: a worker running them is not running tasks. A
    /// callback must not wait for its own task (through a handle to it
    /// shared some other way): the task is done only after its callbacks
    /// return, so that wait would never end.
    ///
    /// # Panics
    ///
    /// If the handle was already polled to completion as a `Future` (its
    /// outcome is gone).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel();
    /// let handle = pool.submit(|| 21 * 2).unwrap();
    /// handle.add_done_callback(move |outcome| tx.send(*outcome.unwrap()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// assert_eq!(handle.join().unwrap(), 42);
    /// ```
    pub fn add_done_callback<F>(&self, callback: F)
    where
        F: FnOnce(Result<&T, &TaskError>) + Send + 'static,
    {
        self.cell.add_callback(Box::new(callback));
    }

    /// How many watchers and callbacks wait on the task (for tests).
    #[cfg(test)]
    pub(crate) fn waiter_count(&self) -> usize {
        self.cell.waiter_count()
    }
}

/// Awaiting a handle gives the same outcome as [`join`](TaskHandle::join),
/// without blocking the thread. It needs no particular async runtime: the
/// waker of the last poll is woken when the task ends.
///
/// Dropping the handle (and so a future awaiting it) does not cancel the
/// task.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let handle = pool.submit(|| 1 + 1).unwrap();
/// let two = futures::executor::block_on(async { handle.await.unwrap() });
/// assert_eq!(two, 2);
/// ```
impl<T> std::future::Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.cell.poll(cx)
    }
}

/// Shows the task's id, its name if it has one, and its state, as Python's
/// repr does: `pending`, `running`, `finishing` (its callbacks are
/// running), `cancelled`, `failed` or `finished`.
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let handle = pool.submit(|| 1).unwrap();
/// handle.wait();
/// let shown = format!("{handle:?}");
/// assert!(shown.starts_with("TaskHandle { id: "), "{shown}");
/// assert!(shown.ends_with(", state: finished }"), "{shown}");
///
/// let named = pool.task().name("resize").submit(|| 1).unwrap();
/// named.wait();
/// let id = named.id().as_u64();
/// assert_eq!(format!("{named:?}"), format!("TaskHandle {{ id: {id}, name: \"resize\", state: finished }}"));
/// ```
impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_task(f, "TaskHandle", &self.cell)
    }
}

/// `Name { id: 17, name: "resize", state: running }`, for the handles and
/// the promise (the name only if the task has one).
pub(crate) fn debug_task<T, P: ?Sized + super::cell::Payload>(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    cell: &Cell<T, P>,
) -> fmt::Result {
    let mut s = f.debug_struct(what);
    s.field("id", &cell.id());
    if let Some(name) = cell.name() {
        s.field("name", &name);
    }
    s.field("state", &format_args!("{}", cell.describe()))
        .finish()
}

/// What `as_completed` and `wait` need of a task, reached through its
/// handle (the task itself is unsized, so it can't be a `&dyn` on its own).
impl<T: Send + 'static> Completion for TaskHandle<T> {
    fn done_status(&self) -> Option<bool> {
        self.cell.done_status()
    }

    fn is_failed(&self) -> bool {
        self.cell.is_failed()
    }

    fn watch(&self, w: Watcher) -> Option<bool> {
        self.cell.watch(w)
    }

    fn unwatch(&self, id: u64) {
        self.cell.unwatch(id);
    }

    fn identity(&self) -> *const () {
        Arc::as_ptr(&self.cell).cast()
    }

    fn task_id(&self) -> u64 {
        self.id().as_u64()
    }

    fn help(&self) -> bool {
        self.cell.help()
    }
}
