//! [`TaskBuilder`]: one submit with options (a deadline).

use std::fmt;
use std::time::{Duration, Instant};

use super::ThreadPool;
use super::job::{Job, Plain, WithToken};
use crate::core::handle::TaskHandle;
use crate::core::token::CancelToken;
use crate::error::{SubmitError, TaskName};

/// Submits one task with options; made by [`ThreadPool::task`].
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let handle = pool
///     .task()
///     .timeout(Duration::from_millis(20))
///     .submit_cancellable(|token| {
///         while !token.is_cancelled() {
///             std::thread::yield_now(); // a long computation, checking in
///         }
///     })
///     .unwrap();
/// assert!(handle.join().unwrap_err().is_timeout());
/// ```
#[must_use = "a task builder does nothing until a submit method is called"]
pub struct TaskBuilder<'a> {
    pool: &'a ThreadPool,
    deadline: Option<Deadline>,
    name: Option<TaskName>,
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    After(Duration),
    At(Instant),
}

impl<'a> TaskBuilder<'a> {
    pub(super) fn new(pool: &'a ThreadPool) -> TaskBuilder<'a> {
        TaskBuilder {
            pool,
            deadline: None,
            name: None,
        }
    }

    /// Names the task: its handle's `Debug` and
    /// [`name`](TaskHandle::name) show it, and so does its error
    /// ([`TaskError::task_name`](crate::TaskError::task_name), and
    /// ``task `resize` panicked: ...``).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let h = pool.task().name("resize").submit(|| -> u8 { panic!("too big") }).unwrap();
    /// assert_eq!(h.name(), Some("resize"));
    /// assert_eq!(h.join().unwrap_err().to_string(), "task `resize` panicked: too big");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(TaskName::new(name));
        self
    }

    /// Gives the task `timeout`, counted from the submit, to finish. When it
    /// passes, the task's handle completes with a timeout error
    /// ([`TaskError::is_timeout`](crate::TaskError::is_timeout)): a queued task
    /// never runs; a running one has its [`CancelToken`] signalled. A thread
    /// can't be stopped from outside, so a running closure that doesn't check
    /// a token goes on to the end, holding its worker; its value is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let h = pool.task().timeout(Duration::from_secs(60)).submit(|| 3).unwrap();
    /// assert_eq!(h.join().unwrap(), 3);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Deadline::After(timeout));
        self
    }

    /// Like [`timeout`](Self::timeout), with a point in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Instant;
    ///
    /// let pool = ThreadPool::new();
    /// let h = pool.task().deadline(Instant::now()).submit(|| 3).unwrap();
    /// assert!(h.join().unwrap_err().is_timeout()); // already passed
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(Deadline::At(deadline));
        self
    }

    fn resolve(&self) -> Option<Instant> {
        match self.deadline? {
            Deadline::After(d) => Instant::now().checked_add(d),
            Deadline::At(at) => Some(at),
        }
    }

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
        let deadline = self.resolve();
        self.pool
            .spawn_named(Plain(f), None, deadline, true, self.name)
            .map_err(|(job, reason)| SubmitError::new(job.into_given(), reason))
    }

    /// Submits `f`, as [`ThreadPool::submit_cancellable`] does, with these
    /// options. The token is signalled by `cancel()` and when the deadline
    /// passes.
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
    ///     .timeout(Duration::from_secs(60))
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
        let deadline = self.resolve();
        self.pool
            .spawn_named(
                WithToken(f, token.clone()),
                Some(token),
                deadline,
                true,
                self.name,
            )
            .map_err(|(job, reason)| SubmitError::new(job.into_given(), reason))
    }
}

impl fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("deadline", &self.deadline)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
