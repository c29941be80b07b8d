//! Awaiting a [`SharedHandle`]: by value (a clone of the outcome) or through
//! a borrow ([`SharedGet`], the outcome borrowed), by any number of clones
//! at once.
//!
//! The cell keeps the waker of *one* poller, its handle's. Each awaiting
//! future here registers a [`Watcher`] of its own instead, as
//! `as_completed` does: a one-slot ready-queue ([`Notify`]) that the cell
//! pushes when it publishes the outcome, and that wakes the future's latest
//! waker. The registration is made on the first poll that finds the task
//! not done, and removed when the future is dropped unfinished.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{SharedHandle, cloned};
use crate::core::handle::TaskHandle;
use crate::core::watch::{Notify, Watcher};
use crate::error::TaskError;
use crate::loom::sync::Arc;

/// One awaiting future's registration with its task.
#[derive(Default)]
pub(super) struct Waiter {
    /// The ready-queue the cell pushes to, and the watcher's id.
    registered: Option<(Arc<Notify>, u64)>,
}

impl Waiter {
    /// Whether the task is done; if not, `cx`'s waker will be woken when it
    /// is.
    fn poll_done<T>(&mut self, handle: &TaskHandle<T>, cx: &mut Context<'_>) -> Poll<()> {
        if handle.is_done() {
            self.registered = None; // the cell dropped its watchers
            return Poll::Ready(());
        }
        let notify = match &self.registered {
            Some((notify, _)) => notify,
            None => {
                let notify = Arc::new(Notify::default());
                let id = crate::loom::next_id();
                let watcher = Watcher {
                    id,
                    notify: notify.clone(),
                    index: 0,
                };
                if handle.cell.watch(watcher).is_some() {
                    return Poll::Ready(()); // done meanwhile: not registered
                }
                &self.registered.insert((notify, id)).0
            }
        };
        // The waker is stored before the pop looks, under the queue's lock:
        // a publish after this wakes it; one before has pushed already.
        match notify.poll_pop(cx.waker()) {
            Some(_) => {
                self.registered = None;
                Poll::Ready(())
            }
            None => Poll::Pending,
        }
    }

    /// Removes the registration of a future dropped unfinished.
    pub(super) fn unregister<T>(&mut self, handle: &TaskHandle<T>) {
        if let Some((_, id)) = self.registered.take() {
            handle.cell.unwatch(id);
        }
    }
}

/// Awaiting a shared handle gives a clone of the outcome, as
/// [`join`](SharedHandle::join) does, without blocking. Every clone can be
/// awaited at the same time, on any runtimes; to borrow the outcome
/// instead (for any `T`), await `&shared`.
///
/// Dropping a shared handle, awaited or not, does not cancel the task.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use futures::future::join_all;
///
/// let pool = ThreadPool::new();
/// let shared = pool.submit(|| 6 * 7).unwrap().shared();
/// let all = futures::executor::block_on(join_all((0..3).map(|_| shared.clone())));
/// assert!(all.iter().all(|outcome| matches!(outcome, Ok(42))));
/// ```
impl<T: Clone> Future for SharedHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.waiter.poll_done(&this.shared.handle, cx) {
            Poll::Ready(()) => Poll::Ready(cloned(this.shared.done_outcome())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The future of `(&shared).await`: the outcome of a [`SharedHandle`]'s
/// task, borrowed from the handle, for any `T`.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// struct NotClone(u32);
///
/// let pool = ThreadPool::new();
/// let shared = pool.submit(|| NotClone(7)).unwrap().shared();
/// let seven = futures::executor::block_on(async { (&shared).await.unwrap().0 });
/// assert_eq!(seven, 7);
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SharedGet<'a, T> {
    handle: &'a SharedHandle<T>,
    waiter: Waiter,
}

impl<'a, T> IntoFuture for &'a SharedHandle<T> {
    type Output = Result<&'a T, &'a TaskError>;
    type IntoFuture = SharedGet<'a, T>;

    fn into_future(self) -> SharedGet<'a, T> {
        SharedGet {
            handle: self,
            waiter: Waiter::default(),
        }
    }
}

impl<'a, T> Future for SharedGet<'a, T> {
    type Output = Result<&'a T, &'a TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let handle: &'a SharedHandle<T> = this.handle;
        match this.waiter.poll_done(&handle.shared.handle, cx) {
            Poll::Ready(()) => Poll::Ready(handle.shared.done_outcome()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for SharedGet<'_, T> {
    fn drop(&mut self) {
        self.waiter.unregister(&self.handle.shared.handle);
    }
}

impl<T> std::fmt::Debug for SharedGet<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedGet")
            .field("handle", self.handle)
            .field("registered", &self.waiter.registered.is_some())
            .finish()
    }
}
