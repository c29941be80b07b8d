//! The thread pool's half of the executor layer: the closure submits of the
//! one [`TaskBuilder`], and the pool's [`Executor`] implementation.

use super::ThreadPool;
use super::job::{Job, Plain, WithToken};
use crate::core::handle::TaskHandle;
use crate::core::token::CancelToken;
use crate::error::SubmitError;
use crate::executor::Executor;
use crate::executor::options::TaskBuilder;
use crate::executor::sealed::Sealed;
use crate::executor::shutdown::ShutdownOptions;

impl TaskBuilder<'_, ThreadPool> {
    /// Submits `f`, as [`ThreadPool::submit`] does, with these options.
    ///
    /// # Errors
    ///
    /// As for [`ThreadPool::submit`]; also refused if the pool's deadline
    /// timer thread can't be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(pool.task().submit(|| 'x').unwrap().join().unwrap(), 'x');
    /// ```
    pub fn submit<F, T>(self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.executor
            .spawn(Plain(f), None, &self.options, true)
            .map_err(|(job, reason)| SubmitError::new(job.into_given(), reason))
    }

    /// Like [`submit`](Self::submit), but refuses instead of waiting when a
    /// bounded queue is full.
    ///
    /// # Errors
    ///
    /// As for `submit`, and [`SubmitError::is_full`] if the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new(); // unbounded: never full
    /// let h = pool.task().time_limit(Duration::from_secs(9)).try_submit(|| 1).unwrap();
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    pub fn try_submit<F, T>(self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.executor
            .spawn(Plain(f), None, &self.options, false)
            .map_err(|(job, reason)| SubmitError::new(job.into_given(), reason))
    }

    /// Submits `f`, as [`ThreadPool::submit_cancellable`] does, with these
    /// options. The token is signalled by `cancel()`, by a time limit or
    /// deadline that passes, and by a shutdown that cancels running work.
    ///
    /// # Errors
    ///
    /// As for [`submit`](Self::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let h = pool
    ///     .task()
    ///     .time_limit(Duration::from_secs(60))
    ///     .submit_cancellable(|token| token.is_cancelled())
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), false);
    /// ```
    pub fn submit_cancellable<F, T>(self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let token = CancelToken::new();
        self.executor
            .spawn(
                WithToken(f, token.clone()),
                Some(token),
                &self.options,
                true,
            )
            .map_err(|(job, reason)| SubmitError::new(job.into_given(), reason))
    }
}

impl Executor for ThreadPool {
    fn shutdown_with(&self, options: ShutdownOptions) -> bool {
        ThreadPool::shutdown_with(self, options)
    }

    fn is_shutdown(&self) -> bool {
        ThreadPool::is_shutdown(self)
    }

    fn max_workers(&self) -> usize {
        ThreadPool::max_workers(self)
    }

    fn worker_count(&self) -> usize {
        ThreadPool::worker_count(self)
    }

    fn queued(&self) -> usize {
        ThreadPool::queued(self)
    }

    fn metrics(&self) -> crate::PoolMetrics {
        ThreadPool::metrics(self)
    }
}

// `Sealed`'s methods take crate-private types on purpose: the trait is
// sealed, and they are how the executor layer reaches the backend.
#[allow(private_interfaces)]
impl Sealed for ThreadPool {
    fn expire_at(
        &self,
        deadline: std::time::Instant,
        task: crate::loom::sync::Weak<dyn crate::core::timer::Expire>,
    ) -> bool {
        self.inner().timer.schedule(deadline, task).is_ok()
    }

    #[cfg(feature = "remote")]
    fn spawn_fn<A, R>(
        &self,
        f: crate::remote::RemoteFn<A, R>,
        arg: A,
        options: &crate::executor::options::TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<R>, (A, crate::error::Refusal)>
    where
        A: serde::Serialize + Send + 'static,
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        self.spawn(Named(f, arg), None, options, block)
            .map_err(|(job, reason)| (job.1, reason))
    }

    #[cfg(feature = "remote")]
    fn spawn_fn_chunk<A, R>(
        &self,
        f: crate::remote::RemoteFn<A, R>,
        args: Vec<A>,
        options: &crate::executor::options::TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<Vec<Result<R, crate::error::TaskError>>>, (Vec<A>, crate::error::Refusal)>
    where
        A: serde::Serialize + Send + 'static,
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        self.spawn(NamedChunk(f, args), None, options, block)
            .map_err(|(job, reason)| (job.1, reason))
    }
}

/// The job of a named function over a chunk of arguments on a thread
/// pool: each call's panic is its own.
#[cfg(feature = "remote")]
struct NamedChunk<A, R>(crate::remote::RemoteFn<A, R>, Vec<A>);

#[cfg(feature = "remote")]
impl<A, R> Job<Vec<Result<R, crate::error::TaskError>>> for NamedChunk<A, R>
where
    A: Send + 'static,
    R: 'static,
{
    type Given = Self;
    fn call(self) -> Vec<Result<R, crate::error::TaskError>> {
        let f = self.0;
        self.1
            .into_iter()
            .map(|arg| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.call(arg)))
                    .map_err(crate::error::TaskError::panic)
            })
            .collect()
    }
    fn into_given(self) -> Self {
        self
    }
}

/// The job of a named function on a thread pool: called directly, its
/// argument never encoded.
#[cfg(feature = "remote")]
struct Named<A, R>(crate::remote::RemoteFn<A, R>, A);

#[cfg(feature = "remote")]
impl<A, R> Job<R> for Named<A, R>
where
    A: Send + 'static,
    R: 'static,
{
    type Given = Self;
    fn call(self) -> R {
        self.0.call(self.1)
    }
    fn into_given(self) -> Self {
        self
    }
}
