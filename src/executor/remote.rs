//! Named functions on any executor (feature `remote`): the builder's
//! `submit_fn` and `try_submit_fn`, and a periodic one's (`Every`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Executor;
use super::options::TaskBuilder;
use super::schedule::Every;
use crate::core::handle::TaskHandle;
use crate::error::SubmitError;
use crate::loom::sync::Mutex;
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

impl<E: Executor> Every<'_, E> {
    /// Runs the named function `f` with a clone of `arg` every period, on
    /// any executor (a process pool runs each in a worker process); see
    /// [`Every`] for the rules. Its value is dropped.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding `arg` if the executor is shut down, its
    /// timer thread can't be started, or the period is zero
    /// ([`SubmitError::is_zero_period`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{Executor, ThreadPool, remote};
    /// use std::time::Duration;
    ///
    /// fn check(limit: u32) {
    ///     assert!(limit > 0, "limit must be positive");
    /// }
    ///
    /// fn watch(executor: &impl Executor) -> futurepool::TaskHandle<()> {
    ///     executor.task().every(Duration::from_millis(5)).submit_fn(remote!(check), 0).unwrap()
    /// }
    ///
    /// let err = watch(&ThreadPool::new()).join().unwrap_err(); // the first run panics
    /// assert_eq!(err.panic_message(), Some("limit must be positive"));
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    #[doc(alias = "scheduleAtFixedRate")]
    pub fn submit_fn<A, R>(
        self,
        f: RemoteFn<A, R>,
        arg: A,
    ) -> Result<TaskHandle<()>, SubmitError<A>>
    where
        A: Serialize + Clone + Send + 'static,
        R: DeserializeOwned + Send + 'static,
    {
        self.launch(arg, |arg| {
            let arg = Mutex::new(arg);
            Box::new(move |executor: &E, options, _token, done| {
                let arg = arg.lock().clone();
                let run = executor
                    .spawn_fn(f, arg, options, true)
                    .map_err(|(_, reason)| reason)?;
                run.add_done_callback(move |outcome| done(outcome.map(drop)));
                Ok(())
            })
        })
    }
}
