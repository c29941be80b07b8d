//! Named functions on any executor (feature `remote`): the builder's
//! `submit_fn` and `try_submit_fn`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Executor;
use super::options::TaskBuilder;
use crate::core::handle::TaskHandle;
use crate::error::SubmitError;
use crate::remote::RemoteFn;

impl<E: Executor> TaskBuilder<'_, E> {
    /// Submits the named function `f` to run with `arg`, with these
    /// options; see [`Executor::submit_fn`].
    ///
    /// # Errors
    ///
    /// As for [`Executor::submit_fn`]; also refused if the executor's
    /// deadline timer thread can't be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool
    ///     .task()
    ///     .time_limit(Duration::from_secs(60))
    ///     .submit_fn(remote!(|x: u32| x + 1), 41)
    ///     .unwrap();
    /// assert_eq!(handle.join().unwrap(), 42);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    pub fn submit_fn<A, R>(self, f: RemoteFn<A, R>, arg: A) -> Result<TaskHandle<R>, SubmitError<A>>
    where
        A: Serialize + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        self.executor
            .spawn_fn(f, arg, &self.options, true)
            .map_err(|(arg, reason)| SubmitError::new(arg, reason))
    }

    /// Like [`submit_fn`](Self::submit_fn), but refuses instead of waiting
    /// when a bounded queue is full.
    ///
    /// # Errors
    ///
    /// As for `submit_fn`, and [`SubmitError::is_full`] if the queue is
    /// full.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    ///
    /// let pool = ThreadPool::new(); // unbounded: never full
    /// let handle = pool.task().try_submit_fn(remote!(|x: u8| x * 2), 4).unwrap();
    /// assert_eq!(handle.join().unwrap(), 8);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    pub fn try_submit_fn<A, R>(
        self,
        f: RemoteFn<A, R>,
        arg: A,
    ) -> Result<TaskHandle<R>, SubmitError<A>>
    where
        A: Serialize + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        self.executor
            .spawn_fn(f, arg, &self.options, false)
            .map_err(|(arg, reason)| SubmitError::new(arg, reason))
    }
}
