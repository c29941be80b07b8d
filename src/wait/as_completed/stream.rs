//! [`AsCompletedStream`]: [`as_completed`](crate::as_completed) as a
//! [`Stream`], for async code.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::AsCompleted;
use crate::wait::set::TaskRef;

/// The [`Stream`] of [`as_completed`](crate::as_completed): made by
/// [`AsCompleted::into_stream`].
///
/// Tasks can be [added](Self::add) while polling, as to [`AsCompleted`];
/// for that reason it is not a `FusedStream`.
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

impl<H: TaskRef> AsCompletedStream<H> {
    /// `inner`, polled.
    pub(super) fn new(inner: AsCompleted<H>) -> AsCompletedStream<H> {
        AsCompletedStream { inner }
    }

    /// Adds a task while polling; see [`AsCompleted::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use futurepool::{ThreadPool, as_completed};
    ///
    /// let pool = ThreadPool::new();
    /// let mut stream = as_completed([pool.submit(|| 1).unwrap()]).into_stream();
    /// let sum = futures::executor::block_on(async {
    ///     let mut sum = 0;
    ///     while let Some(handle) = stream.next().await {
    ///         let n = handle.await.unwrap();
    ///         sum += n;
    ///         if n < 3 {
    ///             stream.add(pool.submit(move || n + 1).unwrap());
    ///         }
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 1 + 2 + 3);
    /// ```
    pub fn add(&mut self, task: H) -> bool {
        self.inner.add(task)
    }
}

impl<H: TaskRef> Stream for AsCompletedStream<H> {
    type Item = H;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<H>> {
        self.get_mut().inner.poll_next_task(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

// Not a `FusedStream`: a task added after the end is yielded (see `add`).

impl<H: TaskRef> fmt::Debug for AsCompletedStream<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedStream")
            .field("remaining", &self.inner.remaining)
            .field("total", &self.inner.set.total)
            .finish()
    }
}
