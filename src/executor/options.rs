//! One task's options, and [`TaskBuilder`], the one builder every executor
//! submits with.

use std::fmt;
use std::time::{Duration, Instant};

use super::Executor;
use crate::error::TaskName;

/// The options of one submit, as a [`TaskBuilder`] collects them. Each
/// backend applies them its own way (see the builder's methods).
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskOptions {
    /// When the task must have ended, counted from the submit (queued time
    /// included).
    deadline: Option<Deadline>,
    /// How long the task may *run*, counted from when it starts.
    pub(crate) time_limit: Option<Duration>,
    /// How many times a named function is run again after the worker
    /// running it was lost; `None`: the executor's default.
    pub(crate) retries: Option<u32>,
    /// Shown by the handle's `Debug` and by the task's errors.
    pub(crate) name: Option<TaskName>,
    /// When the task is queued (for a periodic task, its first run); `None`:
    /// at once.
    start: Option<Deadline>,
    /// The task's span (feature `tracing`), if its submit made it earlier
    /// than the backend's spawn: a dependent's (`after.rs`), made when
    /// `after(..).submit` was called, with the dependent's id. The backend
    /// traces the task in it rather than in a span of its own.
    #[cfg(feature = "tracing")]
    pub(crate) span: Option<tracing::Span>,
    /// The span to make the task's span a child of (feature `tracing`),
    /// rather than the span current where it is spawned: a series' span
    /// (`schedule.rs`), whose runs are queued from the callback runner.
    #[cfg(feature = "tracing")]
    pub(crate) span_parent: Option<tracing::Span>,
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    After(Duration),
    At(Instant),
}

impl TaskOptions {
    /// The deadline as a point in time, resolved now (at the submit).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.deadline? {
            Deadline::After(timeout) => Instant::now().checked_add(timeout),
            Deadline::At(at) => Some(at),
        }
    }

    /// When the task is to be queued, resolved now (at the submit); `None`
    /// if that is now (or already passed). A delay too long to add to now
    /// is as good as never: a point a century away.
    pub(crate) fn start(&self) -> Option<Instant> {
        // (The clock is read only for a task that has a start: not on
        // every submit.)
        let start = self.start?;
        let now = Instant::now();
        let at = match start {
            Deadline::After(delay) => now
                .checked_add(delay)
                .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))?,
            Deadline::At(at) => at,
        };
        (at > now).then_some(at)
    }

    /// The options of one run of a periodic task: its name and time limit
    /// (the deadline is the series', and each run is queued when due).
    pub(crate) fn for_each_run(&self) -> TaskOptions {
        TaskOptions {
            deadline: None,
            start: None,
            ..self.clone()
        }
    }

    /// Options with every field but the ones a map sets per item.
    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> TaskOptions {
        self.deadline = deadline.map(Deadline::At);
        self
    }
}

/// Submits one task with options: a deadline, a limit on its running time,
/// retries. Made by `task()` on any executor
/// ([`ThreadPool::task`](crate::ThreadPool::task),
/// [`ProcessPool::task`](crate::ProcessPool::task),
/// [`Executor::task`](crate::Executor::task)).
///
/// Two kinds of time limit, counted from different moments:
///
/// | option | counts from | a task still queued when it passes | Python, Celery, pebble |
/// |--------|-------------|------------------------------------|------------------------|
/// | [`time_limit(d)`](Self::time_limit) | the moment the task **starts running** | is not affected: queue time doesn't count | Celery's `time_limit`, pebble's `timeout`, Luigi's `worker_timeout` |
/// | [`timeout(d)`](Self::timeout), [`deadline(at)`](Self::deadline) | the **submit** (`deadline`: a point in time) | ends, timed out, without running | `future.result(timeout=...)`-style waiting |
///
/// Submit 60,000 tasks and give each `time_limit(2 s)`, and each may run for
/// 2 seconds whenever its turn comes; give each `timeout(2 s)`, and most
/// time out in the queue. When either passes, the handle completes with a
/// timeout error ([`TaskError::is_timeout`](crate::TaskError::is_timeout)),
/// and what still runs is stopped where the executor can stop it: a process
/// pool kills the worker process; a thread pool signals the task's
/// [`CancelToken`](crate::CancelToken) (a closure that doesn't check one
/// runs to its end, and its value is dropped).
///
/// A task can also wait for its time ([`start_after`](Self::start_after),
/// [`start_at`](Self::start_at)) or run periodically
/// ([`every`](Self::every), which makes an [`Every`](crate::Every)): see
/// [tasks on a clock](crate::Every#tasks-on-a-clock).
///
/// The submit methods depend on the executor: closures on a thread pool
/// (`submit`, `submit_cancellable`, `try_submit`), named functions on every
/// executor (`submit_fn`, `try_submit_fn`; a process pool's `submit` is the
/// same).
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
///     .time_limit(Duration::from_millis(20))
///     .submit_cancellable(|token| {
///         while !token.is_cancelled() {
///             std::thread::yield_now(); // a long computation, checking in
///         }
///     })
///     .unwrap();
/// assert!(handle.join().unwrap_err().is_timeout());
/// ```
#[must_use = "a task builder does nothing until a submit method is called"]
pub struct TaskBuilder<'a, E: Executor> {
    pub(crate) executor: &'a E,
    pub(crate) options: TaskOptions,
}

impl<'a, E: Executor> TaskBuilder<'a, E> {
    pub(crate) fn new(executor: &'a E) -> TaskBuilder<'a, E> {
        TaskBuilder {
            executor,
            options: TaskOptions::default(),
        }
    }

    /// Names the task: its handle's [`name`](crate::TaskHandle::name) and
    /// `Debug` show it, and so do its errors
    /// ([`TaskError::task_name`](crate::TaskError::task_name), and
    /// ``task `resize` panicked: ...``). On every executor.
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
        self.options.name = Some(TaskName::new(name));
        self
    }

    /// Limits how long the task may **run**: `limit`, counted from the
    /// moment it starts (time in the queue doesn't count, nor, on a process
    /// pool, the start-up of a worker process started for it). When it passes,
    /// the handle completes with a timeout error and the task is stopped
    /// where the executor can (see the [type's docs](Self)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let busy = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// // Queued behind `busy` for as long as it takes: the limit only
    /// // counts once it runs, and then it is quick.
    /// let quick = pool.task().time_limit(Duration::from_secs(60)).submit(|| 7).unwrap();
    /// tx.send(()).unwrap();
    /// busy.join().unwrap();
    /// assert_eq!(quick.join().unwrap(), 7);
    /// ```
    #[doc(alias = "worker_timeout")]
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.options.time_limit = Some(limit);
        self
    }

    /// Gives the task `timeout`, counted from the **submit**, queued time
    /// included, to end: a task still queued then never runs. For a limit
    /// on running time, use [`time_limit`](Self::time_limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let busy = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let late = pool.task().timeout(Duration::from_millis(10)).submit(|| 7).unwrap();
    /// assert!(late.join().unwrap_err().is_timeout()); // it never got to run
    /// tx.send(()).unwrap();
    /// busy.join().unwrap();
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.deadline = Some(Deadline::After(timeout));
        self
    }

    /// Like [`timeout`](Self::timeout), with a point in time: the task must
    /// end by `deadline`, queued or running. A deadline already passed ends
    /// the task at once, unrun.
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
        self.options.deadline = Some(Deadline::At(deadline));
        self
    }

    /// Runs a named function again, up to `n` times, if the worker running
    /// it is lost (a process pool's worker process dies); overrides the
    /// executor's default (e.g.
    /// [`ProcessPoolBuilder::retries_on_worker_death`](crate::ProcessPoolBuilder::retries_on_worker_death)).
    /// On a cluster, both count: a task whose process dies on its worker
    /// runs again there up to `n` times, and one whose worker is lost is
    /// delivered to another at most `n + 1` times in all.
    /// Only a lost worker is retried: not a panic, a cancel or a timeout. A
    /// closure can't be retried (it runs once), and a thread pool's workers
    /// are never lost, so on a thread pool this does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let h = pool.task().retries(3).submit(|| 1).unwrap();
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    pub fn retries(mut self, n: u32) -> Self {
        self.options.retries = Some(n);
        self
    }

    /// Queues the task only once `delay` has passed, counted from the
    /// submit (Java's `schedule(task, delay)`, Python's `threading.Timer`).
    /// Until then it takes no queue slot and no worker: the pool's one timer
    /// thread holds it. Its handle is pending meanwhile, and
    /// [`cancel`](crate::TaskHandle::cancel) removes it for good; a
    /// shutdown ends it as cancelled. See [tasks on a
    /// clock](crate::Every#tasks-on-a-clock) for how the timer drives it.
    ///
    /// With [`timeout`](Self::timeout) or [`deadline`](Self::deadline), the
    /// deadline still counts from the submit (a deadline that passes before
    /// the start ends the task, unrun); [`time_limit`](Self::time_limit)
    /// counts from the moment it runs. A thread that waits for the task
    /// never runs it itself before its time (see
    /// [waiting inside a task](crate::ThreadPool#waiting-inside-a-task)).
    /// When its time comes it waits for room in a bounded queue (on the
    /// callback runner), so a `try_submit` with a start never reports a
    /// full queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let submitted = Instant::now();
    /// let later = pool.task().start_after(Duration::from_millis(30)).submit(Instant::now).unwrap();
    /// assert!(!later.is_running());
    /// assert!(later.join().unwrap() >= submitted + Duration::from_millis(30));
    /// ```
    #[doc(alias = "schedule")]
    #[doc(alias = "Timer")]
    pub fn start_after(mut self, delay: Duration) -> Self {
        self.options.start = Some(Deadline::After(delay));
        self
    }

    /// Like [`start_after`](Self::start_after), at a point in time: the
    /// task is queued once `at` has come (at once if it has passed).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPool::new();
    /// let at = Instant::now() + Duration::from_millis(20);
    /// let h = pool.task().start_at(at).submit(Instant::now).unwrap();
    /// assert!(h.join().unwrap() >= at);
    /// ```
    #[doc(alias = "enterabs")]
    pub fn start_at(mut self, at: Instant) -> Self {
        self.options.start = Some(Deadline::At(at));
        self
    }
}

impl<E: Executor> fmt::Debug for TaskBuilder<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("executor", self.executor)
            .field("options", &self.options)
            .finish()
    }
}
