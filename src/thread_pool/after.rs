//! The thread pool's closure submit of a dependent task
//! ([`After::submit`]); the mechanism is the executor layer's
//! (`src/executor/after.rs`).

use super::ThreadPool;
use super::job::Job;
use crate::core::handle::TaskHandle;
use crate::core::token::CancelToken;
use crate::error::SubmitError;
use crate::executor::after::After;
use crate::executor::deps::Dependencies;

impl<D: Dependencies> After<'_, ThreadPool, D> {
    /// Submits the closure `f` to run on the pool once the dependencies
    /// have all finished, with their values
    /// ([`D::Output`](Dependencies::Output): one value, a tuple, a `Vec`).
    /// See [`After`] for failures, cancel and time.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding the dependencies and `f` if the pool is
    /// shut down. A refusal after the dependencies finished (the pool shut
    /// down meanwhile) ends the dependent with the refusal's error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let words = pool.submit(|| String::from("a diamond of tasks")).unwrap().shared();
    /// let count = pool.task().after(&words).submit(|s: String| s.split(' ').count()).unwrap();
    /// let longest = pool
    ///     .task()
    ///     .after(&words)
    ///     .submit(|s: String| s.split(' ').map(str::len).max().unwrap())
    ///     .unwrap();
    /// let both = pool.task().after((count, longest)).submit(|(n, len)| n * 10 + len).unwrap();
    /// assert_eq!(both.join().unwrap(), 47);
    ///
    /// pool.shutdown();
    /// let (deps, f) = pool.task().after(()).submit(|()| 1).unwrap_err().into_inner();
    /// assert_eq!((deps, f(())), ((), 1)); // handed back
    /// ```
    pub fn submit<F, R>(self, f: F) -> Result<TaskHandle<R>, SubmitError<(D, F)>>
    where
        F: FnOnce(D::Output) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_with(
            f,
            |f, values| Dependent(f, values),
            |pool: &ThreadPool, job, options, block| pool.spawn(job, None, options, block),
        )
    }
}

impl<D: Dependencies> After<'_, ThreadPool, D> {
    /// Like [`submit`](Self::submit), for a closure that takes a
    /// [`CancelToken`] beside the values: a cancel of the dependent (or
    /// its deadline, or its time limit) signals the token once the closure
    /// runs, as [`ThreadPool::submit_cancellable`] does. (A closure without
    /// a token that is already running when its dependent is cancelled runs
    /// to its end, and its value is dropped.)
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
    ///
    /// let pool = ThreadPool::new();
    /// let (started_tx, started_rx) = mpsc::channel();
    /// let steps = pool.submit(|| 1_000_000u64).unwrap();
    /// let dep = pool
    ///     .task()
    ///     .after(steps)
    ///     .submit_cancellable(move |token, steps: u64| {
    ///         started_tx.send(()).unwrap();
    ///         let mut done = 0;
    ///         while done < steps && !token.is_cancelled() {
    ///             std::thread::yield_now(); // a step of a long computation
    ///             done += 1;
    ///         }
    ///     })
    ///     .unwrap();
    /// started_rx.recv().unwrap();
    /// assert!(dep.cancel()); // running: its token is signalled
    /// assert!(dep.join().unwrap_err().is_cancelled());
    /// ```
    pub fn submit_cancellable<F, R>(self, f: F) -> Result<TaskHandle<R>, SubmitError<(D, F)>>
    where
        F: FnOnce(CancelToken, D::Output) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_with(
            f,
            |f, values| Dependent(f, values),
            |pool: &ThreadPool, job, options, block| {
                let token = CancelToken::new();
                pool.spawn(WithToken(job, token.clone()), Some(token), options, block)
                    .map_err(|(job, reason)| (job.0, reason))
            },
        )
    }
}

/// A dependent closure with its token.
struct WithToken<F, V>(Dependent<F, V>, CancelToken);

impl<F, V, R> Job<R> for WithToken<F, V>
where
    F: FnOnce(CancelToken, V) -> R + Send,
    V: Send,
{
    type Given = Self;
    fn call(self) -> R {
        let Dependent(f, values) = self.0;
        f(self.1, values)
    }
    fn into_given(self) -> Self {
        self
    }
}

/// The job of a dependent closure: the closure and its values.
struct Dependent<F, V>(F, V);

impl<F, V, R> Job<R> for Dependent<F, V>
where
    F: FnOnce(V) -> R + Send,
    V: Send,
{
    type Given = Self;
    fn call(self) -> R {
        (self.0)(self.1)
    }
    fn into_given(self) -> Self {
        self
    }
}
