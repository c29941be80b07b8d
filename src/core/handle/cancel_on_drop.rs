//! [`CancelOnDrop`]: a handle's future that cancels its task when dropped.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::TaskHandle;
use crate::error::TaskError;

impl<T> TaskHandle<T> {
    /// Wraps the handle in a future that **cancels the task when dropped**
    /// before it completes, as Python's `asyncio.wrap_future` does when the
    /// awaiting coroutine is cancelled.
    ///
    /// By default, dropping a handle (or a future awaiting it) does not cancel
    /// the task: the work goes on and its outcome is dropped, which is right
    /// for work with side effects that must finish. Use this instead when the
    /// result is only wanted by the awaiting code, so that an abandoned
    /// request (a client that went away, a `select!` that took another branch,
    /// a runtime timeout) doesn't leave work queued. A queued task is then
    /// never run; a running one is stopped only if it takes a
    /// [`CancelToken`](crate::CancelToken) (see [`cancel`](Self::cancel)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let busy = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let queued = pool.submit(|| 1).unwrap();
    /// let watch = pool.submit(|| ()).unwrap(); // queued behind `queued`
    /// drop(queued.cancel_on_drop()); // e.g. the awaiting future was dropped
    /// tx.send(()).unwrap();
    /// busy.join().unwrap();
    /// watch.join().unwrap();
    /// ```
    pub fn cancel_on_drop(self) -> CancelOnDrop<T> {
        CancelOnDrop { handle: Some(self) }
    }
}

/// A [`TaskHandle`] that cancels its task when dropped before completion;
/// made by [`TaskHandle::cancel_on_drop`].
///
/// Awaiting it gives the task's outcome, as awaiting the handle does.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let guarded = pool.submit(|| 5).unwrap().cancel_on_drop();
/// assert_eq!(futures::executor::block_on(guarded).unwrap(), 5);
/// ```
#[must_use = "dropping a CancelOnDrop cancels the task"]
pub struct CancelOnDrop<T> {
    handle: Option<TaskHandle<T>>,
}

impl<T> CancelOnDrop<T> {
    /// Takes the handle back out, so that dropping no longer cancels.
    ///
    /// # Panics
    ///
    /// If the future was already polled to completion (the outcome, and
    /// with it the handle, is gone).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| 5).unwrap().cancel_on_drop().into_inner();
    /// assert_eq!(handle.join().unwrap(), 5);
    /// ```
    pub fn into_inner(mut self) -> TaskHandle<T> {
        self.handle
            .take()
            .expect("the handle is present until completion or into_inner")
    }
}

impl<T> std::future::Future for CancelOnDrop<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let handle = this
            .handle
            .as_mut()
            .expect("`CancelOnDrop` polled after completion");
        let outcome = Pin::new(handle).poll(cx);
        if outcome.is_ready() {
            this.handle = None; // completed: nothing left to cancel
        }
        outcome
    }
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.cancel();
        }
    }
}

impl<T> fmt::Debug for CancelOnDrop<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelOnDrop")
            .field("armed", &self.handle.is_some())
            .finish()
    }
}
