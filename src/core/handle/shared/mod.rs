//! [`SharedHandle`]: one task's outcome, read by many consumers.
//!
//! A [`TaskHandle`] moves its outcome out to one owner. A shared handle
//! keeps it: the first reader after the task is done takes the outcome out
//! of the cell (decoding a deferred value there, on its own thread, under
//! `catch_unwind`) and puts it where every clone can borrow it, a `OnceLock`
//! beside the handle. Readers after that borrow it; nothing is decoded or
//! moved twice.
//!
//! - here: the handle, its blocking and borrowing reads, and its callbacks;
//! - `future.rs`: awaiting it, by any number of clones (or borrows) at once:
//!   each awaiting future registers a ready-queue of its own with the cell,
//!   as `as_completed` does, since the cell keeps the waker of one poller.

mod future;
#[cfg(all(test, not(futurepool_loom)))]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

pub use future::SharedGet;
use future::Waiter;

use super::TaskHandle;
use crate::core::cell::run_callback;
use crate::core::watch::Completion;
use crate::error::{TaskError, TaskId};
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Mutex, OnceLock};

/// A handle that many consumers share: each clone can wait for the task,
/// borrow its outcome, await it, or add a callback; the outcome is kept, so
/// it can be read again and again. Made by [`TaskHandle::shared`].
///
/// This is Python's future as Python has it (its `result()` can be called
/// any number of times, from any thread), and Dask's futures. A
/// [`TaskHandle`] moves the task's value out to one owner instead; share it
/// when several parts of a program want the same result.
///
/// - Reading borrows: [`get`](Self::get) (blocking),
///   [`get_timeout`](Self::get_timeout), [`get_deadline`](Self::get_deadline)
///   and [`try_get`](Self::try_get) give `Result<&T, &TaskError>` borrowed
///   from the handle, for any `T`. For `T: Clone`, [`join`](Self::join)
///   gives a clone of the value (or of the error).
/// - Awaiting: a clone is a [`Future`](std::future::Future) whose output is
///   a clone (`T: Clone`); `(&shared).await` borrows instead (any `T`). Any
///   number of clones and borrows can be awaited at once, on any runtimes:
///   each has its own waker.
/// - [`cancel`](Self::cancel) cancels the task for every clone.
///
/// `SharedHandle<T>` is `Clone`, and `Send + Sync` when `T` is
/// `Send + Sync`.
///
/// A process pool's value is decoded once, by the first reader (on the
/// reader's thread, a panicking `Deserialize` caught and reported as the
/// task's error), never on the pool's internal threads.
///
/// # Memory ordering
///
/// Everything the task did *happens-before* any read of its outcome through
/// any clone, and any observation that it is done.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use std::thread;
///
/// let pool = ThreadPool::new();
/// let config = pool.submit(|| String::from("loaded")).unwrap().shared();
/// let readers: Vec<_> = (0..3)
///     .map(|_| {
///         let config = config.clone();
///         thread::spawn(move || config.get().unwrap().len())
///     })
///     .collect();
/// for reader in readers {
///     assert_eq!(reader.join().unwrap(), 6);
/// }
/// assert_eq!(config.get().unwrap(), "loaded"); // still there
/// ```
#[doc(alias = "Future")]
#[doc(alias = "result")]
pub struct SharedHandle<T> {
    shared: Arc<Shared<T>>,
    /// This clone's registration with the task while it is awaited.
    waiter: Waiter,
}

/// What every clone shares.
struct Shared<T> {
    handle: TaskHandle<T>,
    /// Held by the one reader that takes the outcome out of the cell, so
    /// that it is taken (and decoded) once. A lock of the seam, so that the
    /// models see it; the `OnceLock` is only ever set under it, so no
    /// thread ever blocks in the `OnceLock`.
    taking: Mutex<()>,
    /// Whether `outcome` is set: the hand-off from the reader that took it
    /// to the others, as the models see it (loom can't see inside a std
    /// `OnceLock`, and would miss the interleavings it orders).
    taken: AtomicBool,
    /// The outcome, once a reader took it out of the cell.
    outcome: OnceLock<Result<T, TaskError>>,
}

impl<T> Shared<T> {
    /// The outcome, if the task is done: taken out of the cell by the
    /// first reader, borrowed by the others.
    fn outcome(&self) -> Option<&Result<T, TaskError>> {
        // ORDERING: Acquire pairs with the Release store below: the
        // outcome set before it is seen here.
        if self.taken.load(Ordering::Acquire) {
            return self.outcome.get();
        }
        if !self.handle.is_done() {
            return None;
        }
        let _taking = self.taking.lock();
        // ORDERING: under `taking`, which the setter held: Relaxed sees its
        // store.
        if !self.taken.load(Ordering::Relaxed) {
            let outcome = self.handle.cell.try_take().expect("the task is done");
            // Only the holder of `taking` sets it, so this can't fail.
            let _ = self.outcome.set(outcome);
            // ORDERING: Release publishes the outcome to the readers that
            // don't take the lock (the Acquire load above).
            self.taken.store(true, Ordering::Release);
        }
        self.outcome.get()
    }

    /// The outcome of a task known to be done.
    fn done_outcome(&self) -> Result<&T, &TaskError> {
        self.outcome()
            .expect("the task is done after a completed wait")
            .as_ref()
    }
}

impl<T> TaskHandle<T> {
    /// Makes this handle shareable: the outcome is kept, to be read by any
    /// number of consumers, any number of times. See [`SharedHandle`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let shared = pool.submit(|| vec![1, 2, 3]).unwrap().shared();
    /// let other = shared.clone();
    /// assert_eq!(shared.get().unwrap(), &[1, 2, 3]);
    /// assert_eq!(other.join().unwrap(), vec![1, 2, 3]); // a clone of the value
    /// assert_eq!(other.id(), shared.id());
    /// ```
    pub fn shared(self) -> SharedHandle<T> {
        SharedHandle {
            shared: Arc::new(Shared {
                handle: self,
                taking: Mutex::new(()),
                taken: AtomicBool::new(false),
                outcome: OnceLock::new(),
            }),
            waiter: Waiter::default(),
        }
    }
}

/// The same as [`TaskHandle::shared`].
///
/// # Examples
///
/// ```
/// use futurepool::{SharedHandle, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let shared: SharedHandle<u8> = pool.submit(|| 7).unwrap().into();
/// assert_eq!(shared.get().unwrap(), &7);
/// ```
impl<T> From<TaskHandle<T>> for SharedHandle<T> {
    fn from(handle: TaskHandle<T>) -> SharedHandle<T> {
        handle.shared()
    }
}

impl<T> SharedHandle<T> {
    fn handle(&self) -> &TaskHandle<T> {
        &self.shared.handle
    }

    /// The task's id; every clone has the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| ()).unwrap();
    /// let id = handle.id();
    /// let shared = handle.shared();
    /// assert_eq!(shared.id(), id);
    /// assert_eq!(shared.clone().id(), id);
    /// ```
    pub fn id(&self) -> TaskId {
        self.handle().id()
    }

    /// The task's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let shared = pool.task().name("index").submit(|| ()).unwrap().shared();
    /// assert_eq!(shared.name(), Some("index"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.handle().name()
    }

    /// Returns `true` if the task has ended; see [`TaskHandle::is_done`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let shared = pool.submit(|| ()).unwrap().shared();
    /// shared.wait();
    /// assert!(shared.is_done());
    /// ```
    #[doc(alias = "done")]
    pub fn is_done(&self) -> bool {
        self.handle().is_done()
    }

    /// Returns `true` while the task runs; see [`TaskHandle::is_running`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let shared = pool.submit(|| ()).unwrap().shared();
    /// shared.wait();
    /// assert!(!shared.is_running());
    /// ```
    #[doc(alias = "running")]
    pub fn is_running(&self) -> bool {
        self.handle().is_running()
    }

    /// Returns `true` if the task ended by being cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_promise, handle) = futurepool::Promise::<u8>::new();
    /// let shared = handle.shared();
    /// assert!(!shared.is_cancelled());
    /// shared.clone().cancel();
    /// assert!(shared.is_cancelled());
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.handle().is_cancelled()
    }

    /// Cancels the task, for every clone, if it can still be stopped, and
    /// returns whether it is cancelled; see [`TaskHandle::cancel`] for what
    /// can be. Done-callbacks run in this call when it cancels the task.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_promise, handle) = futurepool::Promise::<u8>::new();
    /// let shared = handle.shared();
    /// let other = shared.clone();
    /// assert!(shared.cancel());
    /// assert!(other.get().unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        self.handle().cancel()
    }

    /// Blocks until the task has ended; see [`TaskHandle::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let shared = pool.submit(|| 3).unwrap().shared();
    /// shared.wait();
    /// assert!(shared.is_done());
    /// ```
    pub fn wait(&self) {
        self.handle().wait();
    }

    /// Blocks until the task has ended or `timeout` has passed, and returns
    /// whether it has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (promise, handle) = futurepool::Promise::new();
    /// let shared = handle.shared();
    /// assert!(!shared.wait_timeout(Duration::from_millis(1)));
    /// promise.set(1).unwrap();
    /// assert!(shared.wait_timeout(Duration::from_secs(60)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.handle().wait_timeout(timeout)
    }

    /// Blocks until the task has ended or `deadline` is reached, and returns
    /// whether it has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// let (promise, handle) = futurepool::Promise::new();
    /// let shared = handle.shared();
    /// assert!(!shared.wait_deadline(Instant::now()));
    /// promise.set(1).unwrap();
    /// assert!(shared.wait_deadline(Instant::now()));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.handle().wait_deadline(deadline)
    }

    /// Blocks until the task has ended and borrows its outcome: the value,
    /// or why there is none. It can be called again, from any clone.
    ///
    /// # Errors
    ///
    /// The task's [`TaskError`], borrowed.
    ///
    /// # Panics
    ///
    /// If the [`TaskHandle`] was polled to completion as a `Future` before
    /// it was shared (its outcome is gone).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let ok = pool.submit(|| String::from("fine")).unwrap().shared();
    /// let bad = pool.submit(|| -> String { panic!("not fine") }).unwrap().shared();
    /// assert_eq!(ok.get().unwrap(), "fine");
    /// assert_eq!(ok.get().unwrap(), "fine"); // again
    /// assert_eq!(bad.get().unwrap_err().panic_message(), Some("not fine"));
    /// ```
    #[doc(alias = "result")]
    pub fn get(&self) -> Result<&T, &TaskError> {
        self.wait();
        self.shared.done_outcome()
    }

    /// Blocks until the task has ended or `timeout` has passed, and borrows
    /// its outcome; `None` if it has not ended in time.
    ///
    /// # Panics
    ///
    /// As for [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (promise, handle) = futurepool::Promise::new();
    /// let shared = handle.shared();
    /// assert!(shared.get_timeout(Duration::from_millis(1)).is_none());
    /// promise.set(5).unwrap();
    /// assert_eq!(shared.get_timeout(Duration::from_secs(60)).unwrap().unwrap(), &5);
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Option<Result<&T, &TaskError>> {
        self.wait_timeout(timeout)
            .then(|| self.shared.done_outcome())
    }

    /// Blocks until the task has ended or `deadline` is reached, and borrows
    /// its outcome; `None` if it has not ended in time.
    ///
    /// # Panics
    ///
    /// As for [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let (promise, handle) = futurepool::Promise::new();
    /// let shared = handle.shared();
    /// promise.set("here").unwrap();
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// assert_eq!(shared.get_deadline(deadline).unwrap().unwrap(), &"here");
    /// ```
    pub fn get_deadline(&self, deadline: Instant) -> Option<Result<&T, &TaskError>> {
        self.wait_deadline(deadline)
            .then(|| self.shared.done_outcome())
    }

    /// Borrows the outcome if the task has ended, without blocking; `None`
    /// if it has not.
    ///
    /// # Panics
    ///
    /// As for [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let (promise, handle) = futurepool::Promise::new();
    /// let shared = handle.shared();
    /// assert!(shared.try_get().is_none());
    /// promise.set(9).unwrap();
    /// assert_eq!(shared.try_get().unwrap().unwrap(), &9);
    /// ```
    pub fn try_get(&self) -> Option<Result<&T, &TaskError>> {
        self.shared.outcome().map(Result::as_ref)
    }

    /// Runs `callback` with the task's outcome when the task ends, as
    /// [`TaskHandle::add_done_callback`] does: exactly once, before the
    /// task is seen as done if added before it ended, where user code may
    /// run. Added after the task ended, it runs at once, in this call, with
    /// the kept outcome. (Late callbacks added through different clones on
    /// different threads may then run at the same time: `T` is `Sync` for a
    /// handle shared between threads.)
    ///
    /// # Panics
    ///
    /// As for [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel();
    /// let shared = pool.submit(|| 21 * 2).unwrap().shared();
    /// for _ in 0..2 {
    ///     let tx = tx.clone();
    ///     shared.clone().add_done_callback(move |outcome| tx.send(*outcome.unwrap()).unwrap());
    /// }
    /// assert_eq!([rx.recv().unwrap(), rx.recv().unwrap()], [42, 42]);
    /// ```
    pub fn add_done_callback<F>(&self, callback: F)
    where
        F: FnOnce(Result<&T, &TaskError>) + Send + 'static,
    {
        if let Err(callback) = self.handle().cell.add_callback_pending(Box::new(callback)) {
            // Done: run it here, with the kept outcome.
            run_callback(callback, self.shared.done_outcome());
        }
    }

    /// What `as_completed` and `wait` need of the task. (The `TaskRef`
    /// impls for shared handles, in `src/wait/set.rs`, return this.)
    pub(crate) fn as_completion(&self) -> &dyn Completion
    where
        T: Send + 'static,
    {
        self.handle()
    }
}

impl<T: Clone> SharedHandle<T> {
    /// Blocks until the task has ended and returns a clone of its outcome:
    /// of the value, or of the error (a panic is copied as its message: the
    /// payload itself stays with the handle, see [`get`](Self::get)).
    ///
    /// # Errors
    ///
    /// A copy of the task's [`TaskError`].
    ///
    /// # Panics
    ///
    /// As for [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let shared = pool.submit(|| -> u8 { panic!("bad input") }).unwrap().shared();
    /// let first = shared.join().unwrap_err();
    /// let second = shared.join().unwrap_err();
    /// assert_eq!(first.panic_message(), Some("bad input"));
    /// assert_eq!(second.to_string(), first.to_string());
    /// ```
    #[doc(alias = "result")]
    pub fn join(&self) -> Result<T, TaskError> {
        cloned(self.get())
    }
}

/// An owned copy of a borrowed outcome.
fn cloned<T: Clone>(outcome: Result<&T, &TaskError>) -> Result<T, TaskError> {
    outcome.cloned().map_err(TaskError::duplicate)
}

/// Another handle to the same task, to read or await on its own.
impl<T> Clone for SharedHandle<T> {
    fn clone(&self) -> SharedHandle<T> {
        SharedHandle {
            shared: self.shared.clone(),
            waiter: Waiter::default(),
        }
    }
}

impl<T> Drop for SharedHandle<T> {
    fn drop(&mut self) {
        self.waiter.unregister(&self.shared.handle);
    }
}

/// Shows the task as [`TaskHandle`]'s `Debug` does.
///
/// ```
/// let (promise, handle) = futurepool::Promise::named("load");
/// let shared = handle.shared();
/// promise.set(1).unwrap();
/// let id = shared.id().as_u64();
/// assert_eq!(
///     format!("{shared:?}"),
///     format!("SharedHandle {{ id: {id}, name: \"load\", state: finished }}"),
/// );
/// ```
impl<T> fmt::Debug for SharedHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::debug_task(f, "SharedHandle", &self.handle().cell)
    }
}
