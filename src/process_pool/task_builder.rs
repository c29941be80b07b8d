//! [`ProcessTaskBuilder`]: one process task with options (a timeout, a
//! deadline, retries).

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Options, ProcessPool, RemoteFn};
use crate::core::handle::TaskHandle;
use crate::error::{SubmitError, TaskName};

/// Submits one process task with options; made by [`ProcessPool::task`].
///
/// # Examples
///
/// ```
/// # fn main() {
/// # futurepool::process::init();
/// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
/// use futurepool::{ProcessPool, remote};
/// use std::time::Duration;
///
/// fn forever(_: ()) {
///     loop {
///         std::thread::park();
///     }
/// }
///
/// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
/// let handle = pool
///     .task()
///     .timeout(Duration::from_millis(100))
///     .submit(remote!(forever), ())
///     .unwrap();
/// assert!(handle.join().unwrap_err().is_timeout()); // the worker was killed
/// # }
/// ```
#[must_use = "a task builder does nothing until `submit` is called"]
pub struct ProcessTaskBuilder<'a> {
    pool: &'a ProcessPool,
    deadline: Option<Deadline>,
    retries: Option<u32>,
    name: Option<TaskName>,
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    After(Duration),
    At(Instant),
}

impl<'a> ProcessTaskBuilder<'a> {
    pub(super) fn new(pool: &'a ProcessPool) -> ProcessTaskBuilder<'a> {
        ProcessTaskBuilder {
            pool,
            deadline: None,
            retries: None,
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
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let fails = remote!(|_: ()| -> u8 { panic!("too big") });
    /// let h = pool.task().name("resize").submit(fails, ()).unwrap();
    /// assert_eq!(h.name(), Some("resize"));
    /// assert_eq!(h.join().unwrap_err().to_string(), "task `resize` panicked: too big");
    /// # }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(TaskName::new(name));
        self
    }

    /// Gives the task `timeout`, counted from the submit, to finish. When it
    /// passes, the handle completes with a timeout error
    /// ([`TaskError::is_timeout`](crate::TaskError::is_timeout)): a queued task never runs, and a running
    /// one is **stopped**: its worker is killed and replaced.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    /// use std::time::Duration;
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let worker_pid = remote!(|_: ()| std::process::id());
    /// let before = pool.submit(worker_pid, ()).unwrap().join().unwrap();
    ///
    /// let stuck = remote!(|_: ()| -> u8 { loop { std::thread::park() } });
    /// let handle = pool.task().timeout(Duration::from_millis(100)).submit(stuck, ()).unwrap();
    /// assert!(handle.join().unwrap_err().is_timeout());
    ///
    /// // The worker that ran it was killed; the next task gets a fresh one.
    /// let after = pool.submit(worker_pid, ()).unwrap().join().unwrap();
    /// assert_ne!(before, after);
    /// # }
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
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    /// use std::time::Instant;
    ///
    /// let pool = ProcessPool::new();
    /// let h = pool.task().deadline(Instant::now()).submit(remote!(|x: u8| x), 1).unwrap();
    /// assert!(h.join().unwrap_err().is_timeout()); // already passed
    /// # }
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(Deadline::At(deadline));
        self
    }

    /// Runs the task again, on a fresh worker, up to `n` times if the worker
    /// running it dies; overrides
    /// [`ProcessPoolBuilder::retries_on_worker_death`](crate::ProcessPoolBuilder::retries_on_worker_death). Only a death is
    /// retried: not a panic, a cancel or a timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let crash = remote!(|_: ()| -> u8 { std::process::abort() });
    /// let err = pool.task().retries(2).submit(crash, ()).unwrap().join().unwrap_err();
    /// assert!(err.is_worker_died());
    /// // It ran three times, each time on a fresh worker: once, and two retries.
    /// assert_eq!(pool.workers_started(), 3);
    /// # }
    /// ```
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = Some(n);
        self
    }

    /// Submits `f(arg)`, as [`ProcessPool::submit`] does, with these options.
    ///
    /// # Errors
    ///
    /// As for [`ProcessPool::submit`]; also refused if the pool's deadline
    /// timer thread can't be started.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    /// use std::time::Duration;
    ///
    /// let count = remote!(|s: String| s.chars().count());
    /// let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    /// let handle = pool
    ///     .task()
    ///     .timeout(Duration::from_secs(60))
    ///     .retries(1)
    ///     .submit(count, "naïve".to_owned())
    ///     .unwrap();
    /// assert_eq!(handle.join().unwrap(), 5);
    ///
    /// // Refused once the pool is shut down, with the argument handed back.
    /// pool.shutdown();
    /// let refused = pool.task().submit(count, "again".to_owned()).unwrap_err();
    /// assert!(refused.is_shutdown());
    /// assert_eq!(refused.into_inner(), "again");
    /// # }
    /// ```
    pub fn submit<A, R>(self, f: RemoteFn<A, R>, arg: A) -> Result<TaskHandle<R>, SubmitError<A>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let deadline = match self.deadline {
            None => None,
            Some(Deadline::After(d)) => Instant::now().checked_add(d),
            Some(Deadline::At(at)) => Some(at),
        };
        let options = Options {
            deadline,
            retries: self.retries,
            name: self.name,
        };
        self.pool.submit_with(f, arg, options, true)
    }
}

impl fmt::Debug for ProcessTaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessTaskBuilder")
            .field("deadline", &self.deadline)
            .field("retries", &self.retries)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
