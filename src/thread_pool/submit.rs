//! The thread pool's half of the executor layer: the closure submits of the
//! one [`TaskBuilder`], and the pool's [`Executor`] implementation.

use std::time::Instant;

use super::ThreadPool;
use super::inner::Inner;
use super::job::{Job, Plain, Run, WithToken};
use crate::core::handle::TaskHandle;
use crate::core::runner;
use crate::core::timer::{Fire, ScheduleError, Timer};
use crate::core::token::CancelToken;
use crate::error::{Refusal, SubmitError};
use crate::executor::Executor;
use crate::executor::options::TaskBuilder;
use crate::executor::schedule::{Every, Spawn};
use crate::executor::sealed::Sealed;
use crate::executor::shutdown::ShutdownOptions;
use crate::loom::sync::{Arc, Weak};

impl ThreadPool {
    /// Hands `cell`, a task that starts later, to the pool's timer, which
    /// queues it at `at` (on the callback runner: see `core/timer.rs`). A
    /// refusal hands the cell back, its closure untouched.
    pub(super) fn push_at<R: Run + 'static>(
        &self,
        at: Instant,
        cell: Arc<R>,
    ) -> Result<(), (Arc<R>, Refusal)> {
        let inner = self.inner();
        if let Some(reason) = inner.refusal() {
            return Err((cell, reason));
        }
        let pool = Arc::downgrade(inner);
        let held = cell.clone();
        match inner
            .timer
            .run_at(at, Box::new(move |fire| queue_due(fire, &pool, held)))
        {
            Ok(_) => Ok(()),
            Err(ScheduleError::Closed) => Err((cell, Refusal::Shutdown)),
            Err(ScheduleError::Spawn(err)) => Err((cell, Refusal::spawn(err))),
        }
    }
}

/// A task that started later is due (queued now, waiting for room in a
/// bounded queue if need be), or its pool's timer closed (it ends as
/// cancelled, as does a due task that its shut-down pool refuses). Due, it
/// runs on the timer's lane, which user code must not hold up: a refused
/// task is ended (its callbacks run, its closure dropped) on the runner.
/// Closed, it runs on the thread that shuts the pool down, and ends there.
fn queue_due<R: Run + 'static>(fire: Fire, pool: &Weak<Inner>, cell: Arc<R>) {
    let pool = pool.upgrade();
    match (fire, pool) {
        (Fire::Due, Some(pool)) => match pool.push(cell, true) {
            Ok(()) => {}
            Err((cell, Refusal::Shutdown)) => {
                runner::spawn(Box::new(move || cell.cancel_queued(None)))
            }
            Err((cell, reason)) => {
                let err = reason.to_task_error();
                runner::spawn(Box::new(move || cell.fail_queued(err, None)));
            }
        },
        (Fire::Due, None) => runner::spawn(Box::new(move || cell.cancel_queued(None))),
        (Fire::Closed, _) => cell.cancel_queued(None),
    }
}

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

impl Every<'_, ThreadPool> {
    /// Runs `f` every period on the pool, until cancelled; see [`Every`]
    /// for the rules. Runs never overlap, so `f` may keep state
    /// (`FnMut`). It is dropped, once the series has ended, on a worker,
    /// the callback runner, or the thread that shuts the pool down.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding `f` if the pool is shut down, its timer
    /// thread can't be started, or the period is zero
    /// ([`SubmitError::is_zero_period`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let mut left = 3;
    /// let countdown = pool
    ///     .task()
    ///     .every(Duration::from_millis(5))
    ///     .submit(move || {
    ///         left -= 1;
    ///         assert!(left > 0, "lift-off"); // the third run ends the series
    ///     })
    ///     .unwrap();
    /// let err = countdown.join().unwrap_err();
    /// assert!(err.is_panic());
    /// assert_eq!(err.panic_message(), Some("lift-off"));
    /// ```
    #[doc(alias = "scheduleAtFixedRate")]
    pub fn submit<F>(self, f: F) -> Result<TaskHandle<()>, SubmitError<F>>
    where
        F: FnMut() + Send + 'static,
    {
        self.launch(f, |f| {
            let f = crate::loom::sync::Mutex::new(f);
            run_each(Arc::new(move |_: &CancelToken| (f.lock())()))
        })
    }

    /// Like [`submit`](Self::submit), and each run gets the series'
    /// [`CancelToken`]: signalled when the series is cancelled (by its
    /// handle, or a shutdown that cancels running work) or a run's time
    /// limit passes, so a long run can stop early.
    ///
    /// # Errors
    ///
    /// As for [`submit`](Self::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel();
    /// let series = pool
    ///     .task()
    ///     .every(Duration::from_millis(5))
    ///     .submit_cancellable(move |token| {
    ///         let _ = tx.send(());
    ///         while !token.is_cancelled() {
    ///             std::thread::yield_now(); // a long run, checking in
    ///         }
    ///     })
    ///     .unwrap();
    /// rx.recv().unwrap(); // the first run is under way
    /// assert!(series.cancel()); // it sees the token and stops
    /// pool.shutdown();
    /// assert!(rx.try_recv().is_err()); // no second run
    /// ```
    pub fn submit_cancellable<F>(self, f: F) -> Result<TaskHandle<()>, SubmitError<F>>
    where
        F: FnMut(&CancelToken) + Send + 'static,
    {
        self.launch(f, |f| {
            let f = crate::loom::sync::Mutex::new(f);
            run_each(Arc::new(move |token: &CancelToken| (f.lock())(token)))
        })
    }
}

/// How a series of closures queues each run: a plain job that checks the
/// series' token first, so that no run starts once the series is
/// cancelled, with that token as the run's own (a time limit, a shutdown
/// that cancels running work signal it).
fn run_each(f: Arc<dyn Fn(&CancelToken) + Send + Sync>) -> Spawn<ThreadPool> {
    Box::new(move |pool, options, token, done| {
        let (f, check) = (f.clone(), token.clone());
        let job = Plain(move || {
            if !check.is_cancelled() {
                f(&check);
            }
        });
        let run = pool
            .spawn(job, Some(token.clone()), options, true)
            .map_err(|(_, reason)| reason)?;
        run.add_done_callback(move |outcome| done(outcome.map(drop)));
        Ok(())
    })
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
    fn timer(&self) -> &Timer {
        &self.inner().timer
    }

    fn weak(&self) -> Box<dyn Fn() -> Option<Self> + Send + Sync> {
        let weak = self.downgrade();
        Box::new(move || weak.upgrade())
    }

    #[cfg(feature = "tracing")]
    fn trace_pool(&self) -> Option<&str> {
        Some(self.inner().config.name_prefix.as_str())
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
