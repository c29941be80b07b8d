//! The thread pool's closure submit of a dependent task
//! ([`After::submit`]); the mechanism is the executor layer's
//! (`src/executor/after.rs`).

use super::ThreadPool;
use super::job::Job;
use crate::core::handle::TaskHandle;
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
