//! [`TaskError`]: why a task produced no value.

use std::any::Any;
use std::io;

use super::BoxError;
use super::task_id::{TaskId, TaskName};
use crate::loom::sync::{Arc, StdMutex};

/// Why a task produced no value.
///
/// A task either returns its value or fails in one of these ways, which the
/// predicates tell apart:
///
/// | predicate | the task ...                                                    |
/// |-----------|-----------------------------------------------------------------|
/// | [`is_panic`](Self::is_panic)         | panicked; the payload is kept ([`into_panic`](Self::into_panic)), and in a worker process the backtrace if asked for ([`panic_backtrace`](Self::panic_backtrace)) |
/// | [`is_cancelled`](Self::is_cancelled) | was cancelled, by [`TaskHandle::cancel`](crate::TaskHandle::cancel) or a shutdown that cancels pending work |
/// | [`is_timeout`](Self::is_timeout)     | passed its deadline, or the deadline of the [`Map`](crate::Map) it belonged to |
/// | [`is_broken`](Self::is_broken)       | never ran because the pool is broken: a worker initializer failed, or no worker process could start ([`source`](std::error::Error::source) is the cause) |
/// | [`is_shutdown`](Self::is_shutdown)   | was refused because the pool had been shut down (only [`Map`](crate::Map) yields this) |
/// | [`is_spawn_failure`](Self::is_spawn_failure) | never ran because no worker thread could be started for it (the operating system refused; [`source`](std::error::Error::source) is its error) |
/// | [`is_worker_died`](Self::is_worker_died) | was running in a worker process that died (a crash, `abort`, a signal, `exit`); [`worker_pid`](Self::worker_pid), [`exit_code`](Self::exit_code) and [`exit_signal`](Self::exit_signal) say which and how |
/// | [`is_serialization`](Self::is_serialization) | had an argument or result that could not be serialized or deserialized on its way to or from a worker process |
/// | [`is_protocol_error`](Self::is_protocol_error) | was running in a worker process that sent something the pool could not understand (the worker was killed) |
/// | [`is_too_large`](Self::is_too_large) | had an argument or result too large for a cluster to carry |
/// | [`is_abandoned`](Self::is_abandoned) | was dropped unfinished by whatever was to produce its outcome (an executor, or a [`Promise`](crate::Promise) dropped unkept) |
/// | [`is_custom`](Self::is_custom)       | failed with an error of its producer's own: a [`Promise::fail`](crate::Promise::fail) ([`source`](std::error::Error::source) and [`custom_error`](Self::custom_error) give it) |
/// | [`is_dependency_failed`](Self::is_dependency_failed) | never ran because a task it depended on ([`TaskBuilder::after`](crate::TaskBuilder::after)) ended without a value; [`failed_dependency`](Self::failed_dependency) (also the [`source`](std::error::Error::source)) is that task's error |
///
/// `is_worker_died`, `is_serialization` and `is_protocol_error` come only from a process pool (the `process` feature); the
/// predicates exist, and return `false`, in every build.
///
/// An error that came from a task says which: [`task_id`](Self::task_id),
/// and [`task_name`](Self::task_name) if the task was given a name, which
/// `Display` then shows (``task `resize` panicked: boom``). `Debug` shows
/// both.
///
/// `TaskError` is `Send + Sync + 'static`, so `?` turns it into a
/// `Box<dyn Error + Send + Sync>` (or an `anyhow::Error`) whatever the panic
/// payload was.
///
/// A timeout while *waiting* for a task ([`TaskHandle::join_timeout`](crate::TaskHandle::join_timeout)) is not a
/// `TaskError`: the task is still running and its handle is handed back.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let handle = pool.submit(|| -> u32 { panic!("boom") }).unwrap();
/// let err = handle.join().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.panic_message(), Some("boom"));
/// assert_eq!(err.to_string(), "task panicked: boom");
///
/// // It is Send + Sync, so `?` boxes it like any other error.
/// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
/// assert_eq!(boxed.to_string(), "task panicked: boom");
/// ```
#[doc(alias = "CancelledError")]
#[doc(alias = "BrokenExecutor")]
pub struct TaskError {
    /// Boxed: errors are rare, and a small `TaskError` keeps every
    /// `Result<T, TaskError>` (and so every task's cell) small.
    pub(super) inner: Box<Inner>,
}

pub(super) struct Inner {
    pub(super) repr: Repr,
    /// The task that ended with this error, stamped by its cell when the
    /// error is published (or decoded); `None` for an error made before
    /// any task existed (a map's refusal).
    pub(super) task: Option<(TaskId, Option<TaskName>)>,
}

pub(super) enum Repr {
    /// The message is copied out when the panic is caught, and the payload
    /// kept behind a mutex, so that `TaskError` is `Sync` (it goes into a
    /// `Box<dyn Error + Send + Sync>`) whatever the payload is: nothing ever
    /// shares a reference to the payload itself.
    Panic {
        message: Option<String>,
        payload: StdMutex<Box<dyn Any + Send + 'static>>,
        /// Captured in a worker process, if its environment asked for one.
        backtrace: Option<String>,
    },
    Cancelled,
    Timeout,
    Broken(Arc<BoxError>),
    Shutdown,
    Spawn(Arc<io::Error>),
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    WorkerDied {
        pid: u32,
        code: Option<i32>,
        signal: Option<i32>,
    },
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Protocol {
        pid: u32,
        msg: Arc<str>,
    },
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Serialization(Arc<str>),
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    StartFailed(Arc<BoxError>),
    /// A cluster's own failure (feature `cluster`): no worker of the
    /// task's build took it, a message that couldn't be sent or read.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    Cluster(Arc<str>),
    /// An argument or result too large for the cluster to carry (feature
    /// `cluster`): above its `max_object_size`, or refused by the server.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    TooLarge(Arc<str>),
    /// The producer went away without ending the task.
    Abandoned,
    /// The producer's own error: a promise's `fail`. Shared, so that
    /// `duplicate` can copy it.
    Custom(Arc<BoxError>),
    /// A task this one depended on ended without a value
    /// (`TaskBuilder::after`): its error, which names it.
    Dependency(super::task_dep::Link),
}

impl TaskError {
    /// The task that ended with this error, if it came from a task (an
    /// error made before any task existed, such as a [`Map`](crate::Map)'s
    /// refusal after a shutdown, has none).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| -> u8 { panic!("boom") }).unwrap();
    /// let id = handle.id();
    /// assert_eq!(handle.join().unwrap_err().task_id(), Some(id));
    ///
    /// pool.shutdown();
    /// let refused = pool.map(|x: u8| x, [1]).next().unwrap().unwrap_err();
    /// assert_eq!(refused.task_id(), None);
    /// ```
    pub fn task_id(&self) -> Option<TaskId> {
        self.inner.task.as_ref().map(|(id, _)| *id)
    }

    /// The name of the task that ended with this error, if it had one
    /// (given with [`TaskBuilder::name`](crate::TaskBuilder::name) or
    /// [`Promise::named`](crate::Promise::named)). `Display` shows it too.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.task().name("resize").submit(|| -> u8 { panic!("boom") }).unwrap();
    /// let err = handle.join().unwrap_err();
    /// assert_eq!(err.task_name(), Some("resize"));
    /// assert_eq!(err.to_string(), "task `resize` panicked: boom");
    /// ```
    pub fn task_name(&self) -> Option<&str> {
        self.inner
            .task
            .as_ref()
            .and_then(|(_, name)| name.as_ref())
            .map(TaskName::as_str)
    }

    /// Returns `true` if the task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let err = pool.submit(|| panic!("oops")).unwrap().join().unwrap_err();
    /// assert!(err.is_panic());
    /// assert!(!err.is_cancelled());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.inner.repr, Repr::Panic { .. })
    }

    /// Returns `true` if the task was cancelled before it produced a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let blocker = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let queued = pool.submit(|| 1).unwrap();
    /// assert!(queued.cancel()); // still queued behind `blocker`
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// tx.send(()).unwrap();
    /// blocker.join().unwrap();
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.inner.repr, Repr::Cancelled)
    }

    /// Returns `true` if the task's deadline passed before it produced a value.
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
    ///     .timeout(Duration::from_millis(10))
    ///     .submit_cancellable(|token| while !token.is_cancelled() { std::thread::yield_now() })
    ///     .unwrap();
    /// assert!(handle.join().unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.repr, Repr::Timeout)
    }

    /// Returns `true` if the task never ran because the pool is broken (a
    /// worker's initializer failed, or a process pool could not start a
    /// worker process). [`Error::source`](std::error::Error::source) gives the initializer's error or
    /// the start failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder()
    ///     .initializer(|| Err("no database"))
    ///     .build()
    ///     .unwrap();
    /// let err = pool.submit(|| 1).unwrap().join().unwrap_err();
    /// assert!(err.is_broken());
    /// assert_eq!(err.to_string(), "pool is broken: worker initializer failed");
    /// // The cause is the error's source, as error reporters expect.
    /// use std::error::Error;
    /// assert_eq!(err.source().unwrap().to_string(), "no database");
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self.inner.repr, Repr::Broken(_) | Repr::StartFailed(_))
    }

    /// Returns `true` if the task was refused because its pool had been shut
    /// down. Only [`Map`](crate::Map) reports this as a `TaskError`; `submit`
    /// hands the closure back in a [`SubmitError`](crate::SubmitError) instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// pool.shutdown();
    /// let first = pool.map(|x: u32| x, 0..3).next().unwrap();
    /// assert!(first.unwrap_err().is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self.inner.repr, Repr::Shutdown)
    }

    /// Returns `true` if the task never ran because the operating system
    /// refused to start a worker thread for it (a [`Map`](crate::Map)'s
    /// item, a delayed task; a `submit` hands its closure back instead:
    /// [`SubmitError::is_spawn_failure`](crate::SubmitError::is_spawn_failure)).
    /// [`Error::source`](std::error::Error::source) gives the I/O error.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::error::Error;
    ///
    /// let pool = ThreadPool::builder().stack_size(usize::MAX / 2).build().unwrap();
    /// let err = pool.map(|x: u8| x, [1]).next().unwrap().unwrap_err();
    /// assert!(err.is_spawn_failure());
    /// assert_eq!(err.to_string(), "failed to start a worker thread");
    /// assert!(err.source().is_some()); // the operating system's error
    /// ```
    pub fn is_spawn_failure(&self) -> bool {
        matches!(self.inner.repr, Repr::Spawn(_))
    }

    /// Returns `true` if the worker process running the task died: it
    /// crashed (a segfault, `abort`, a panic with `panic = "abort"`), was
    /// killed by a signal (`kill -9`, the out-of-memory killer), or exited.
    /// Only the task it was running fails; the pool starts a new worker.
    /// Cancelling or timing out a task also kills its worker, but reports
    /// [`is_cancelled`](Self::is_cancelled) or [`is_timeout`](Self::is_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// // Threads don't die of their tasks; see `ProcessPool` for processes.
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert!(!err.is_worker_died());
    /// assert_eq!(err.worker_pid(), None);
    /// ```
    pub fn is_worker_died(&self) -> bool {
        matches!(self.inner.repr, Repr::WorkerDied { .. })
    }

    /// The process id of the worker that died running the task, or that
    /// broke the protocol ([`is_worker_died`](Self::is_worker_died),
    /// [`is_protocol_error`](Self::is_protocol_error)).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert_eq!(err.worker_pid(), None);
    /// ```
    pub fn worker_pid(&self) -> Option<u32> {
        match self.inner.repr {
            Repr::WorkerDied { pid, .. } | Repr::Protocol { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// The exit code of a worker process that died by exiting (rather than
    /// by a signal).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert_eq!(err.exit_code(), None);
    /// ```
    pub fn exit_code(&self) -> Option<i32> {
        match self.inner.repr {
            Repr::WorkerDied { code, .. } => code,
            _ => None,
        }
    }

    /// The signal that killed a worker process (for example 9 for
    /// `SIGKILL`, 11 for `SIGSEGV`, 6 for `SIGABRT`).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert_eq!(err.exit_signal(), None);
    /// ```
    pub fn exit_signal(&self) -> Option<i32> {
        match self.inner.repr {
            Repr::WorkerDied { signal, .. } => signal,
            _ => None,
        }
    }

    /// Returns `true` if the task's argument could not be serialized (it
    /// never left the caller), or could not be deserialized in the worker,
    /// or its result could not be serialized in the worker or deserialized
    /// here. The message says which. The pool and its workers are fine.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert!(!err.is_serialization());
    /// ```
    pub fn is_serialization(&self) -> bool {
        matches!(self.inner.repr, Repr::Serialization(_))
    }

    /// Returns `true` if the worker process running the task sent a reply
    /// the pool could not understand. The worker is killed and replaced.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert!(!err.is_protocol_error());
    /// ```
    pub fn is_protocol_error(&self) -> bool {
        matches!(self.inner.repr, Repr::Protocol { .. })
    }

    /// Returns `true` if the task failed for a reason of the cluster's own
    /// (feature `cluster`): no worker of the client's build took it within
    /// the match timeout, its message couldn't be sent to the server, a
    /// worker's reply couldn't be read, its worker was lost (its last
    /// delivery, or the last its [`retries`](crate::TaskBuilder::retries)
    /// allow, was never finished), the worker doesn't know its function,
    /// a scattered value it names is gone, or it failed on its worker for
    /// a reason of the worker's (its process died there, say: a cluster
    /// reports that here, naming the worker, not as
    /// [`is_worker_died`](Self::is_worker_died)). The message says which.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert!(!err.is_cluster_error());
    /// ```
    pub fn is_cluster_error(&self) -> bool {
        matches!(self.inner.repr, Repr::Cluster(_))
    }

    /// Returns `true` if the task's argument or result was too large for
    /// the cluster to carry (feature `cluster`): above the
    /// [`max_object_size`](crate::ClusterBuilder::max_object_size) that
    /// the cluster's object store takes (payloads above the server's
    /// message limit go through it), or refused by the server for its
    /// size. The message says which and how large. The task never ran (an
    /// argument) or its result is lost (a result); nothing else is
    /// affected.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert!(!err.is_too_large());
    /// ```
    #[doc(alias = "payload too large")]
    pub fn is_too_large(&self) -> bool {
        matches!(self.inner.repr, Repr::TooLarge(_))
    }

    /// Returns `true` if whatever was to produce the task's outcome went away
    /// without producing one: a [`Promise`](crate::Promise) dropped without
    /// being kept, or an executor that dropped the task unfinished (a fault
    /// in the executor). Either way it is reported, rather than leaving the
    /// handle waiting forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!()).unwrap().join().unwrap_err();
    /// assert!(!err.is_abandoned());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        matches!(self.inner.repr, Repr::Abandoned)
    }

    /// Returns `true` if the task failed with an error of its producer's
    /// own: a [`Promise`](crate::Promise) kept with
    /// [`fail`](crate::Promise::fail). The error is the
    /// [`source`](std::error::Error::source) (and
    /// [`custom_error`](Self::custom_error)); `Display` says only that the
    /// task failed, so that error reporters show the cause once.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::Promise;
    /// use std::error::Error;
    ///
    /// let (promise, handle) = Promise::<u32>::new();
    /// promise.fail("disk full").unwrap();
    /// let err = handle.join().unwrap_err();
    /// assert!(err.is_custom());
    /// assert!(!err.is_panic());
    /// assert_eq!(err.to_string(), "task failed");
    /// assert_eq!(err.source().unwrap().to_string(), "disk full");
    /// ```
    pub fn is_custom(&self) -> bool {
        matches!(self.inner.repr, Repr::Custom(_))
    }

    /// The producer's own error, if the task failed with one
    /// ([`is_custom`](Self::is_custom)); `downcast_ref` it to its type.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::Promise;
    /// use std::io;
    ///
    /// let (promise, handle) = Promise::<u32>::new();
    /// promise.fail(io::Error::new(io::ErrorKind::NotFound, "no such user")).unwrap();
    /// let err = handle.join().unwrap_err();
    /// let io = err.custom_error().unwrap().downcast_ref::<io::Error>().unwrap();
    /// assert_eq!(io.kind(), io::ErrorKind::NotFound);
    /// ```
    pub fn custom_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.inner.repr {
            Repr::Custom(err) => Some(err.as_ref().as_ref()),
            _ => None,
        }
    }

    /// The panic message, if the task panicked with a `&str` or `String`
    /// payload (as `panic!("...")` does).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let err = pool.submit(|| panic!("code {}", 7)).unwrap().join().unwrap_err();
    /// assert_eq!(err.panic_message(), Some("code 7"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match &self.inner.repr {
            Repr::Panic { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// The backtrace of a panic in a worker process, as
    /// [`std::backtrace::Backtrace`] prints it, if the user asked for one:
    /// `RUST_LIB_BACKTRACE`, or else `RUST_BACKTRACE`, set and not `0` in
    /// the worker's environment (which is this process's), as
    /// [`Backtrace::capture`](std::backtrace::Backtrace::capture) reads
    /// them. The worker doesn't print it: it comes here instead.
    ///
    /// `None` for any other error, and for a thread pool's task: that one
    /// panics in this process, where the panic hook (by default, printing
    /// to stderr) shows its backtrace as for any panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let err = ThreadPool::new().submit(|| panic!("here")).unwrap().join().unwrap_err();
    /// assert_eq!(err.panic_backtrace(), None); // the panic hook showed it
    /// # #[cfg(feature = "process")] {
    /// # futurepool::process::init();
    /// # if cfg!(not(target_os = "linux")) { return; } // process pools run on Linux only
    ///
    /// fn fails(_: ()) -> u8 {
    ///     panic!("there")
    /// }
    ///
    /// let pool = futurepool::ProcessPool::builder().max_workers(1).build().unwrap();
    /// let err = pool.submit(futurepool::remote!(fails), ()).unwrap().join().unwrap_err();
    /// assert_eq!(err.panic_message(), Some("there"));
    /// // Whether it was asked for, as `Backtrace::capture` decides.
    /// let asked = match std::env::var("RUST_LIB_BACKTRACE") {
    ///     Ok(value) => value != "0",
    ///     Err(_) => std::env::var("RUST_BACKTRACE").is_ok_and(|value| value != "0"),
    /// };
    /// assert_eq!(err.panic_backtrace().is_some(), asked);
    /// if let Some(backtrace) = err.panic_backtrace() {
    ///     assert!(backtrace.contains("fails"));
    /// }
    /// # }
    /// ```
    pub fn panic_backtrace(&self) -> Option<&str> {
        match &self.inner.repr {
            Repr::Panic { backtrace, .. } => backtrace.as_deref(),
            _ => None,
        }
    }

    /// Consumes the error, returning the panic payload, so the panic can be
    /// resumed on this thread with [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// Panics if the error is not a panic; see [`try_into_panic`](Self::try_into_panic).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let err = pool.submit(|| std::panic::panic_any(42_u8)).unwrap().join().unwrap_err();
    /// let payload = err.into_panic();
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&42));
    /// ```
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("`TaskError::into_panic` called on an error that is not a panic")
    }

    /// Consumes the error, returning the panic payload if the task panicked,
    /// or the error itself otherwise.
    ///
    /// # Errors
    ///
    /// Returns `Err(self)` if the task did not panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let err = pool.submit(|| panic!("x")).unwrap().join().unwrap_err();
    /// assert!(err.try_into_panic().is_ok());
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskError> {
        match self.inner.repr {
            Repr::Panic { payload, .. } => Ok(payload
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())),
            _ => Err(self),
        }
    }
}
