//! [`TaskGroup`]: a set of tasks joined in the order they finish, which
//! cancels what is left when dropped (tokio's `JoinSet`).
//!
//! It registers one [`Watcher`] per task on one [`Notify`] of its own, as
//! [`WatchSet`](super::set::WatchSet) does, but for a set that changes: each
//! task gets a fresh index, never reused, so an index in the ready-queue
//! always names the task that pushed it. A task leaves the group in one of
//! two ways: its index is popped and it is joined; or the group lets go of
//! every task at once (detach, drop), unregistering them and dropping the
//! queue with whatever indices were pushed meanwhile.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::group_error::JoinNextTimeoutError;
use crate::core::handle::TaskHandle;
use crate::core::watch::{Completion, Notify, Watcher};
use crate::error::TaskError;
use crate::loom::sync::Arc;

/// A set of tasks of one output type, joined in the order they finish,
/// that **cancels the tasks still in it when dropped**. tokio's `JoinSet`,
/// for any pool's handles.
///
/// [`insert`](Self::insert) a [`TaskHandle`] from any pool (a thread pool,
/// a process pool, both at once); [`join_next`](Self::join_next) takes the
/// outcome of the next task to finish, and returns `None` once the group is
/// empty. A task's panic is an outcome like any other: an `Err` holding the
/// payload.
///
/// # Dropping cancels
///
/// Unlike a lone [`TaskHandle`], whose drop lets the task run on, a group
/// owns its tasks: dropping it cancels each task still in it, in the order
/// inserted, as [`TaskHandle::cancel`] does:
///
/// | the task, when the group is dropped     | what happens |
/// |-----------------------------------------|--------------|
/// | queued                                  | cancelled: it never runs; its closure is dropped in the drop |
/// | running on a thread pool, with a [`CancelToken`](crate::CancelToken) | cancelled: the token is signalled; the closure keeps its worker until it notices and returns |
/// | running on a thread pool, without a token | not stoppable (threads can't be killed): it runs to its end, and its value is dropped |
/// | running on a process pool               | cancelled: its worker process is killed |
/// | finished, not yet joined                | its outcome is dropped |
///
/// The done-callbacks of the tasks it cancels run on the dropping thread.
/// [`cancel_all`](Self::cancel_all) does the same without dropping (the
/// tasks stay, to be joined); [`detach_all`](Self::detach_all) lets go of
/// every task without cancelling.
///
/// # Waiting
///
/// Blocking waits come in threes, [`join_next`](Self::join_next),
/// [`join_next_timeout`](Self::join_next_timeout) and
/// [`join_next_deadline`](Self::join_next_deadline), plus
/// [`try_join_next`](Self::try_join_next), which doesn't block. On a pool
/// worker, a blocked `join_next` lends the worker's place, as every
/// futurepool wait does. Async code awaits
/// [`join_next_async`](Self::join_next_async), on any runtime.
///
/// # Examples
///
/// ```
/// use futurepool::{TaskGroup, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let mut group = TaskGroup::new();
/// for i in 1..=3 {
///     group.insert(pool.submit(move || i * 10).unwrap());
/// }
/// group.insert(pool.submit(|| panic!("bad input")).unwrap());
/// let (mut sum, mut panics) = (0, 0);
/// while let Some(outcome) = group.join_next() {
///     match outcome {
///         Ok(value) => sum += value,
///         Err(err) => panics += usize::from(err.is_panic()),
///     }
/// }
/// assert_eq!((sum, panics), (60, 1));
/// ```
///
/// Dropping the group cancels what it still holds:
///
/// ```
/// use futurepool::{TaskGroup, ThreadPool};
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (go, wait) = mpsc::channel::<()>();
/// let busy = pool.submit(move || wait.recv().unwrap()).unwrap();
/// let (tx, rx) = mpsc::channel::<&str>();
/// let mut group = TaskGroup::new();
/// group.insert(pool.submit(move || tx.send("ran").unwrap()).unwrap()); // queued behind `busy`
/// drop(group); // cancels it: it will never run
/// assert!(rx.recv().is_err()); // its closure, and the sender in it, were dropped unrun
/// go.send(()).unwrap();
/// busy.join().unwrap();
/// ```
#[doc(alias = "JoinSet")]
#[must_use = "dropping a TaskGroup cancels its tasks"]
pub struct TaskGroup<T: Send + 'static> {
    /// By index, which is the order inserted.
    tasks: BTreeMap<usize, TaskHandle<T>>,
    /// Where the tasks push their index when they end.
    notify: Arc<Notify>,
    /// This group's watcher id.
    id: u64,
    /// The next task's index.
    next: usize,
}

impl<T: Send + 'static> TaskGroup<T> {
    /// An empty group.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::TaskGroup;
    ///
    /// let mut group = TaskGroup::<u32>::new();
    /// assert!(group.is_empty());
    /// assert!(group.join_next().is_none()); // nothing to wait for
    /// ```
    pub fn new() -> TaskGroup<T> {
        TaskGroup {
            tasks: BTreeMap::new(),
            notify: Arc::new(Notify::default()),
            id: crate::loom::next_id(),
            next: 0,
        }
    }

    /// Adds a task, from any pool. From now on the group owns it: it comes
    /// out through `join_next` (or `join_all`) when it ends, and is
    /// cancelled if the group is dropped first. A task that has already
    /// ended is ready to be joined at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    ///
    /// let threads = ThreadPool::new();
    /// let other = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let mut group = TaskGroup::new();
    /// group.insert(threads.submit(|| 1).unwrap());
    /// group.insert(other.submit(|| 2).unwrap());
    /// assert_eq!(group.len(), 2);
    /// let sum: i32 = group.join_all().into_iter().map(Result::unwrap).sum();
    /// assert_eq!(sum, 3);
    /// ```
    #[doc(alias = "spawn")]
    pub fn insert(&mut self, task: TaskHandle<T>) {
        let index = self.next;
        self.next += 1;
        let watcher = Watcher {
            id: self.id,
            notify: self.notify.clone(),
            index,
        };
        if Completion::watch(&task, watcher).is_some() {
            self.notify.push(index); // already ended: not registered
        }
        self.tasks.insert(index, task);
    }

    /// How many tasks the group holds: those not joined yet, whether they
    /// are queued, running, or ended (a cancelled task stays until joined).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let mut group: TaskGroup<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    /// assert_eq!(group.len(), 3);
    /// group.join_next().unwrap().unwrap();
    /// assert_eq!(group.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Returns `true` if the group holds no task: `join_next` would return
    /// `None` at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let mut group = TaskGroup::new();
    /// group.insert(pool.submit(|| ()).unwrap());
    /// assert!(!group.is_empty());
    /// group.join_all();
    /// assert!(group.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Blocks until a task of the group ends, takes it out, and returns its
    /// outcome: the tasks come out in the order they end (those already
    /// ended first). Returns `None` if the group is empty.
    ///
    /// On a pool worker, the worker lends its place while it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let mut group = TaskGroup::new();
    /// group.insert(pool.submit(move || { rx.recv().unwrap(); "slow" }).unwrap());
    /// group.insert(pool.submit(|| "fast").unwrap());
    /// assert_eq!(group.join_next().unwrap().unwrap(), "fast");
    /// tx.send(()).unwrap();
    /// assert_eq!(group.join_next().unwrap().unwrap(), "slow");
    /// assert!(group.join_next().is_none());
    /// ```
    pub fn join_next(&mut self) -> Option<Result<T, TaskError>> {
        self.join_next_by(None).expect("no deadline, no timeout")
    }

    /// Like [`join_next`](Self::join_next), but gives up when `timeout` has
    /// passed. The result reads like a runtime's timeout around an async
    /// `join_next`: `Ok` of what `join_next` returns, or an error; so `?`
    /// passes the timeout on.
    ///
    /// # Errors
    ///
    /// [`JoinNextTimeoutError`] if no task ended in time; the group keeps
    /// every task.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<u8>();
    /// let mut group = TaskGroup::new();
    /// group.insert(pool.submit(move || rx.recv().unwrap()).unwrap());
    /// assert!(group.join_next_timeout(Duration::from_millis(10)).is_err());
    /// assert_eq!(group.len(), 1); // still there
    /// tx.send(4).unwrap();
    /// let next = group.join_next_timeout(Duration::from_secs(60)).unwrap();
    /// assert_eq!(next.unwrap().unwrap(), 4);
    /// assert!(matches!(group.join_next_timeout(Duration::ZERO), Ok(None))); // empty
    /// ```
    pub fn join_next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Result<T, TaskError>>, JoinNextTimeoutError> {
        self.join_next_by(Instant::now().checked_add(timeout))
    }

    /// Like [`join_next`](Self::join_next), but gives up at `deadline`; see
    /// [`join_next_timeout`](Self::join_next_timeout).
    ///
    /// # Errors
    ///
    /// [`JoinNextTimeoutError`] if no task ended by `deadline`.
    ///
    /// # Examples
    ///
    /// One deadline for a whole loop bounds the loop:
    ///
    /// ```
    /// use futurepool::{JoinNextTimeoutError, TaskGroup, ThreadPool};
    /// use std::time::{Duration, Instant};
    ///
    /// fn sum_within(group: &mut TaskGroup<u64>, deadline: Instant) -> Result<u64, JoinNextTimeoutError> {
    ///     let mut sum = 0;
    ///     while let Some(outcome) = group.join_next_deadline(deadline)? {
    ///         sum += outcome.unwrap_or(0);
    ///     }
    ///     Ok(sum)
    /// }
    ///
    /// let pool = ThreadPool::new();
    /// let mut group: TaskGroup<u64> = (1..=4).map(|i| pool.submit(move || i).unwrap()).collect();
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// assert_eq!(sum_within(&mut group, deadline), Ok(10));
    /// ```
    pub fn join_next_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<Result<T, TaskError>>, JoinNextTimeoutError> {
        self.join_next_by(Some(deadline))
    }

    /// Takes out a task that has ended and returns its outcome, without
    /// blocking; `None` if none has ended (or the group is empty: see
    /// [`is_empty`](Self::is_empty)). As tokio's `JoinSet::try_join_next`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let mut group = TaskGroup::new();
    /// group.insert(pool.submit(move || rx.recv().unwrap()).unwrap());
    /// assert!(group.try_join_next().is_none()); // not ended
    /// tx.send(()).unwrap();
    /// group.join_next().unwrap().unwrap();
    /// assert!(group.try_join_next().is_none()); // empty
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, TaskError>> {
        if self.tasks.is_empty() {
            return None;
        }
        let index = self.notify.try_pop()?;
        Some(self.take(index))
    }

    /// Like [`join_next`](Self::join_next), for async code: a future that
    /// resolves to the next outcome (`None` if the group is empty), without
    /// blocking the thread, on any runtime.
    ///
    /// It is cancel safe: dropping the future before it resolves (a
    /// `select!` took another branch, a runtime's timeout fired) loses no
    /// outcome and cancels no task; the group keeps them all.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let mut group: TaskGroup<_> = (1..=3).map(|i| pool.submit(move || i).unwrap()).collect();
    /// let sum = futures::executor::block_on(async {
    ///     let mut sum = 0;
    ///     while let Some(outcome) = group.join_next_async().await {
    ///         sum += outcome.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 6);
    /// ```
    pub fn join_next_async(&mut self) -> JoinNextAsync<'_, T> {
        JoinNextAsync { group: self }
    }

    /// Blocks until every task of the group has ended, and returns their
    /// outcomes in the order they ended. The group is then empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let mut group = TaskGroup::new();
    /// group.insert(pool.submit(|| 1).unwrap());
    /// group.insert(pool.submit(|| panic!("two")).unwrap());
    /// let outcomes = group.join_all();
    /// assert_eq!(outcomes.len(), 2);
    /// assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 1);
    /// assert!(group.is_empty());
    /// ```
    pub fn join_all(&mut self) -> Vec<Result<T, TaskError>> {
        std::iter::from_fn(|| self.join_next()).collect()
    }

    /// Cancels every task in the group, in the order inserted, as
    /// [`TaskHandle::cancel`] does (see the table in
    /// [Dropping cancels](Self#dropping-cancels)). The tasks stay in the
    /// group: join them to see how each ended (a cancelled task's outcome is
    /// a cancelled [`TaskError`]; a running one that couldn't be stopped
    /// gives its own outcome when it ends).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let mut group = TaskGroup::new();
    /// for _ in 0..3 {
    ///     group.insert(
    ///         pool.submit_cancellable(|token| while !token.is_cancelled() { std::thread::yield_now() })
    ///             .unwrap(),
    ///     );
    /// }
    /// group.cancel_all();
    /// assert_eq!(group.len(), 3);
    /// assert!(group.join_all().iter().all(|o| o.as_ref().unwrap_err().is_cancelled()));
    /// ```
    #[doc(alias = "abort_all")]
    pub fn cancel_all(&self) {
        for task in self.tasks.values() {
            task.cancel();
        }
    }

    /// Lets go of every task without cancelling it: the tasks run on, and
    /// their outcomes are dropped when they end, as when a [`TaskHandle`]
    /// is dropped. The group is then empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{TaskGroup, ThreadPool};
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (go, wait) = mpsc::channel::<()>();
    /// let busy = pool.submit(move || wait.recv().unwrap()).unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let mut group = TaskGroup::new();
    /// group.insert(pool.submit(move || tx.send("ran anyway").unwrap()).unwrap());
    /// group.detach_all();
    /// drop(group); // nothing left to cancel
    /// go.send(()).unwrap();
    /// assert_eq!(rx.recv().unwrap(), "ran anyway");
    /// busy.join().unwrap();
    /// ```
    pub fn detach_all(&mut self) {
        drop(self.unregister_all());
        // The old queue may hold indices pushed before the unregistering:
        // start afresh, so that every queued index names a task held.
        self.notify = Arc::new(Notify::default());
    }

    /// Unregisters and returns every task, in the order inserted.
    fn unregister_all(&mut self) -> Vec<TaskHandle<T>> {
        let id = self.id;
        std::mem::take(&mut self.tasks)
            .into_values()
            .inspect(|task| Completion::unwatch(task, id))
            .collect()
    }

    /// Takes out the task at `index`, which has ended, and its outcome.
    fn take(&mut self, index: usize) -> Result<T, TaskError> {
        // An index is pushed once, when its task ends; the task leaves the
        // group when its index is popped, or with every other task through
        // `detach_all`, which starts a fresh queue (or the drop).
        let task = self
            .tasks
            .remove(&index)
            .expect("a queued index names a task of the group");
        // Done, so this doesn't block; a process task's value is decoded here.
        task.join()
    }

    /// Help-while-waiting: on a pool worker, runs here one task of the
    /// group that this thread may run itself (see `Cell::help`); whether it
    /// ran one.
    fn help_one(&self) -> bool {
        crate::core::watch::help_one(self.tasks.values().map(|task| task as &dyn Completion))
    }

    fn join_next_by(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Result<T, TaskError>>, JoinNextTimeoutError> {
        if self.tasks.is_empty() {
            return Ok(None);
        }
        // With no time limit, a pool worker runs a task of its own pool that
        // hasn't started itself (help-while-waiting), rather than block.
        let index = loop {
            if let Some(index) = self.notify.try_pop() {
                break Some(index);
            }
            if deadline.is_some() || !self.help_one() {
                break self.notify.pop_deadline(deadline);
            }
        };
        match index {
            Some(index) => Ok(Some(self.take(index))),
            None => Err(JoinNextTimeoutError::new()),
        }
    }

    fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, TaskError>>> {
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        match self.notify.poll_pop(cx.waker()) {
            Some(index) => Poll::Ready(Some(self.take(index))),
            None => Poll::Pending,
        }
    }
}

impl<T: Send + 'static> Default for TaskGroup<T> {
    fn default() -> TaskGroup<T> {
        TaskGroup::new()
    }
}

/// Cancels every task still in the group: see
/// [Dropping cancels](TaskGroup#dropping-cancels).
impl<T: Send + 'static> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        for task in self.unregister_all() {
            task.cancel();
        }
    }
}

/// A group of the given tasks, as [`insert`](TaskGroup::insert)ed one by one.
///
/// # Examples
///
/// ```
/// use futurepool::{TaskGroup, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let group: TaskGroup<_> = (0..5).map(|i| pool.submit(move || i).unwrap()).collect();
/// assert_eq!(group.len(), 5);
/// ```
impl<T: Send + 'static> FromIterator<TaskHandle<T>> for TaskGroup<T> {
    fn from_iter<I: IntoIterator<Item = TaskHandle<T>>>(tasks: I) -> TaskGroup<T> {
        let mut group = TaskGroup::new();
        group.extend(tasks);
        group
    }
}

/// [`insert`](TaskGroup::insert)s each task.
///
/// # Examples
///
/// ```
/// use futurepool::{TaskGroup, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let mut group = TaskGroup::new();
/// group.extend((0..3).map(|i| pool.submit(move || i).unwrap()));
/// assert_eq!(group.join_all().len(), 3);
/// ```
impl<T: Send + 'static> Extend<TaskHandle<T>> for TaskGroup<T> {
    fn extend<I: IntoIterator<Item = TaskHandle<T>>>(&mut self, tasks: I) {
        for task in tasks {
            self.insert(task);
        }
    }
}

/// Shows how many tasks the group holds.
///
/// ```
/// use futurepool::{TaskGroup, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let group: TaskGroup<_> = (0..2).map(|i| pool.submit(move || i).unwrap()).collect();
/// assert_eq!(format!("{group:?}"), "TaskGroup { len: 2 }");
/// ```
impl<T: Send + 'static> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("len", &self.tasks.len())
            .finish()
    }
}

/// The future of [`TaskGroup::join_next_async`]: the next outcome, or
/// `None` if the group is empty. Dropping it loses nothing.
///
/// # Examples
///
/// ```
/// use futurepool::{TaskGroup, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let mut group = TaskGroup::new();
/// group.insert(pool.submit(|| "one").unwrap());
/// let next = group.join_next_async();
/// assert_eq!(futures::executor::block_on(next).unwrap().unwrap(), "one");
/// assert!(futures::executor::block_on(group.join_next_async()).is_none());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct JoinNextAsync<'a, T: Send + 'static> {
    group: &'a mut TaskGroup<T>,
}

impl<T: Send + 'static> Future for JoinNextAsync<'_, T> {
    type Output = Option<Result<T, TaskError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().group.poll_join_next(cx)
    }
}

impl<T: Send + 'static> fmt::Debug for JoinNextAsync<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinNextAsync")
            .field("group", &self.group)
            .finish()
    }
}
