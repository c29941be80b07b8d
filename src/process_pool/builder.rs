//! [`ProcessPoolBuilder`]: how a process pool is configured.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::supervisor::{Config, Shared};
use super::{ProcessPool, protocol};
use crate::error::{BuildError, BuildErrorKind};

use crate::remote::RemoteFn;

/// Configures and builds a [`ProcessPool`].
///
/// # Examples
///
/// ```
/// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
/// use futurepool::ProcessPool;
///
/// let err = ProcessPool::builder().max_tasks_per_child(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "max_tasks_per_child must be at least 1");
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    program: Option<PathBuf>,
    init: Option<Result<(String, Vec<u8>), String>>,
    max_tasks_per_child: Option<usize>,
    capacity: Option<usize>,
    start_timeout: Duration,
    retries: u32,
    worker_stderr: bool,
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder::new()
    }
}

impl ProcessPoolBuilder {
    /// A builder with the defaults: one worker per core
    /// ([`available_parallelism`](std::thread::available_parallelism)),
    /// workers run from [`current_exe`](std::env::current_exe), no
    /// initializer, workers live until shutdown, an unbounded queue, no
    /// retries, 30 seconds for a worker to start, and workers' output
    /// discarded.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPoolBuilder;
    ///
    /// let pool = ProcessPoolBuilder::new().build().unwrap();
    /// let cores = std::thread::available_parallelism().unwrap().get();
    /// assert_eq!(pool.max_workers(), cores);
    /// assert_eq!(pool.worker_count(), 0); // workers start when work comes
    /// ```
    pub fn new() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            max_workers: None,
            program: None,
            init: None,
            max_tasks_per_child: None,
            capacity: None,
            start_timeout: Duration::from_secs(30),
            retries: 0,
            worker_stderr: false,
        }
    }

    /// The most worker processes, and so tasks running at once. Workers
    /// start as tasks arrive and no idle worker can take them.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert_eq!(ProcessPool::builder().max_workers(3).build().unwrap().max_workers(), 3);
    /// assert!(ProcessPool::builder().max_workers(0).build().is_err());
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Replaces a worker with a fresh process after it has completed `n`
    /// tasks (a chunk of a `map` counts as one). Python's
    /// `max_tasks_per_child`: a cure for leaks in the code tasks call.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert!(ProcessPool::builder().max_tasks_per_child(100).build().is_ok());
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Runs `f(arg)` in every worker process before its first task. If it
    /// returns an error or panics, the pool is broken, as a thread pool is
    /// by a failing initializer: queued tasks fail with
    /// [`TaskError::is_broken`](crate::TaskError::is_broken) and later
    /// submits are refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// fn connect(url: String) -> Result<(), String> {
    ///     if url.is_empty() { Err("no url".into()) } else { Ok(()) }
    /// }
    ///
    /// let pool = ProcessPool::builder()
    ///     .initializer(remote!(connect), "db://localhost".to_owned())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.submit(remote!(|x: u8| x + 1), 1).unwrap().join().unwrap(), 2);
    ///
    /// // An initializer that fails breaks the pool.
    /// let pool = ProcessPool::builder().initializer(remote!(connect), String::new()).build().unwrap();
    /// let err = pool.submit(remote!(|x: u8| x), 1).unwrap().join().unwrap_err();
    /// assert!(err.is_broken());
    /// assert_eq!(err.to_string(), "pool is broken: worker initializer failed");
    /// assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "no url");
    /// # }
    /// ```
    pub fn initializer<A: Serialize>(mut self, f: RemoteFn<A, Result<(), String>>, arg: A) -> Self {
        self.init = Some(
            protocol::encode(&arg)
                .map(|bytes| (f.name().to_owned(), bytes))
                .map_err(|err| format!("failed to serialize the initializer's argument: {err}")),
        );
        self
    }

    /// Bounds the queue of tasks waiting for a worker to `capacity`:
    /// [`submit`](ProcessPool::submit) then waits for room, and
    /// [`try_submit`](ProcessPool::try_submit) refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert!(ProcessPool::builder().bounded(0).build().is_err());
    /// assert!(ProcessPool::builder().bounded(64).build().is_ok());
    /// ```
    pub fn bounded(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// How many times a task is run again, on a fresh worker, when the
    /// worker running it dies. The default is 0: the task fails with
    /// [`TaskError::is_worker_died`](crate::TaskError::is_worker_died).
    /// [`ProcessTaskBuilder::retries`](crate::ProcessTaskBuilder::retries)
    /// overrides it for one task. Cancelled and timed-out tasks are never
    /// retried.
    ///
    /// A task that provably never reached a worker (the worker was found
    /// dead before the task was written, or was killed during its start-up)
    /// goes to a fresh worker whatever this setting, without using a retry.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// assert!(ProcessPool::builder().retries_on_worker_death(2).build().is_ok());
    /// ```
    pub fn retries_on_worker_death(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Runs workers from `program` instead of this program's own executable
    /// ([`std::env::current_exe`]). It must be the same binary (a copy of
    /// it, say): a worker that finds itself built differently refuses to
    /// start, and the pool reports it as broken.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// let exe = std::env::current_exe().unwrap();
    /// assert!(ProcessPool::builder().worker_program(exe).build().is_ok());
    /// ```
    pub fn worker_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// How long a new worker may take to start: the whole handshake
    /// (sending it the initializer's argument, running the initializer,
    /// reading its answer), whatever the worker does on the pipes (stall
    /// part-way through a frame, send it a byte at a time, not read). A
    /// worker that takes longer is killed and the pool reports it broken.
    /// A zero timeout is refused by [`build`](Self::build): no worker could
    /// ever start.
    ///
    /// It is also the **stall limit** of every frame after the handshake:
    /// a task may run as long as it likes, but once a worker has started
    /// sending its result (or the pool sending it a task), the frame must
    /// never go this long without moving on, or the worker counts as dead
    /// (it is killed, and the task fails with
    /// [`TaskError::is_worker_died`](crate::TaskError::is_worker_died), or
    /// is retried).
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    /// use std::time::Duration;
    ///
    /// assert!(ProcessPool::builder().start_timeout(Duration::from_secs(5)).build().is_ok());
    /// let err = ProcessPool::builder().start_timeout(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.to_string(), "start_timeout must be more than zero");
    /// ```
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Lets the worker processes' output through to this process's stderr
    /// (`true`), or discards it (`false`, the default).
    ///
    /// By default a worker prints nothing: its stderr is `/dev/null`, and so
    /// is its stdout (which it sends to its stderr, since its real stdout is
    /// the pipe to the pool). A task's panic doesn't print either: its
    /// message, and its backtrace if `RUST_BACKTRACE` asks for one, come
    /// back in the task's error ([`TaskError::panic_message`],
    /// [`TaskError::panic_backtrace`]), and whatever stops a worker from
    /// starting or serving comes back as the pool's or the task's error.
    ///
    /// With `true`, workers write to this process's stderr: what tasks
    /// print (to stdout or stderr), and their panics, printed by the
    /// standard panic hook as well as returned, as on a thread.
    ///
    /// [`TaskError::panic_message`]: crate::TaskError::panic_message
    /// [`TaskError::panic_backtrace`]: crate::TaskError::panic_backtrace
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::{ProcessPool, remote};
    ///
    /// // While debugging: see what the tasks print.
    /// let pool = ProcessPool::builder().max_workers(1).worker_stderr(true).build().unwrap();
    /// let chatty = remote!(|x: u32| {
    ///     eprintln!("working on {x}"); // reaches this process's stderr
    ///     x + 1
    /// });
    /// assert_eq!(pool.submit(chatty, 1).unwrap().join().unwrap(), 2);
    /// # }
    /// ```
    pub fn worker_stderr(mut self, through: bool) -> Self {
        self.worker_stderr = through;
        self
    }

    /// Builds the pool. No worker starts until a task is submitted.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] if this platform is not Linux
    /// ([`BuildError::is_unsupported`]; see
    /// [`ProcessPool`](ProcessPool#platforms)), if `max_workers`, `bounded`
    /// or `max_tasks_per_child` is 0, the initializer's argument can't be
    /// serialized, or this program's executable can't be found.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    /// use futurepool::ProcessPool;
    ///
    /// let err = ProcessPool::builder().max_workers(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "max_workers must be at least 1");
    /// ```
    pub fn build(self) -> Result<ProcessPool, BuildError> {
        check_platform(std::env::consts::OS)?;
        let max_workers = match self.max_workers {
            Some(0) => return Err(BuildError::new(BuildErrorKind::ZeroWorkers)),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.capacity == Some(0) {
            return Err(BuildError::new(BuildErrorKind::ZeroCapacity));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(process_error("max_tasks_per_child must be at least 1"));
        }
        if self.start_timeout.is_zero() {
            return Err(process_error("start_timeout must be more than zero"));
        }
        let init = self.init.transpose().map_err(process_error)?;
        let program = match self.program {
            Some(program) => program,
            None => std::env::current_exe().map_err(|err| {
                process_error(format!("cannot find this program's executable: {err}"))
            })?,
        };
        let config = Config {
            max_workers,
            program,
            init,
            max_tasks_per_child: self.max_tasks_per_child,
            capacity: self.capacity,
            start_timeout: self.start_timeout,
            retries: self.retries,
            worker_stderr: self.worker_stderr,
        };
        Ok(ProcessPool::from_shared(Shared::new(config)))
    }
}

/// Worker processes run on Linux only (see `child/mod.rs`): anywhere else,
/// building a pool is refused with an error that says so.
pub(crate) fn check_platform(os: &'static str) -> Result<(), BuildError> {
    if os == "linux" {
        Ok(())
    } else {
        Err(BuildError::new(BuildErrorKind::Unsupported { os }))
    }
}

fn process_error(msg: impl Into<String>) -> BuildError {
    BuildError::new(BuildErrorKind::Process(msg.into()))
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("program", &self.program)
            .field(
                "initializer",
                &self.init.as_ref().map(|i| i.as_ref().map(|(n, _)| n)),
            )
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("capacity", &self.capacity)
            .field("start_timeout", &self.start_timeout)
            .field("retries", &self.retries)
            .field("worker_stderr", &self.worker_stderr)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_linux_builds() {
        assert!(check_platform("linux").is_ok());
        for os in ["macos", "windows", "freebsd"] {
            let err = check_platform(os).unwrap_err();
            assert!(err.is_unsupported());
            assert_eq!(
                err.to_string(),
                format!(
                    "process pools run on Linux only, not on {os}: \
                     use a ThreadPool, which runs everywhere"
                )
            );
        }
        assert_eq!(
            ProcessPoolBuilder::new().build().is_ok(),
            cfg!(target_os = "linux")
        );
    }
}
