//! Every error type of the crate.
//!
//! A task's failure is one opaque [`TaskError`] with predicates, in the manner
//! of tokio's `JoinError`: callers ask `is_panic()`, `is_cancelled()`,
//! `is_timeout()`, and new kinds of failure (a dead worker process, say) can be
//! added without breaking a `match`. Errors of a single operation are small
//! enums, like crossbeam's `RecvTimeoutError`. Whatever the caller handed in
//! and was refused comes back inside the error.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::io;

use crate::TaskHandle;
use crate::sync::{Arc, Mutex};

/// A boxed error, as an initializer returns it.
pub(crate) type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why a task produced no value.
///
/// A task either returns its value or fails in one of these ways, which the
/// predicates tell apart:
///
/// | predicate | the task ...                                                    |
/// |-----------|-----------------------------------------------------------------|
/// | [`is_panic`](Self::is_panic)         | panicked; the payload is kept ([`into_panic`](Self::into_panic)) |
/// | [`is_cancelled`](Self::is_cancelled) | was cancelled, by [`TaskHandle::cancel`] or a shutdown that cancels pending work |
/// | [`is_timeout`](Self::is_timeout)     | passed its deadline, or the deadline of the [`Map`](crate::Map) it belonged to |
/// | [`is_broken`](Self::is_broken)       | never ran because the pool is broken: a worker initializer failed ([`source`](Error::source) is its error) |
/// | [`is_shutdown`](Self::is_shutdown)   | was refused because the pool had been shut down (only [`Map`](crate::Map) yields this) |
/// | [`is_worker_died`](Self::is_worker_died) | was running in a worker process that died (a crash, `abort`, a signal, `exit`); [`worker_pid`](Self::worker_pid), [`exit_code`](Self::exit_code) and [`exit_signal`](Self::exit_signal) say which and how |
/// | [`is_serialization`](Self::is_serialization) | had an argument or result that could not be serialized or deserialized on its way to or from a worker process |
/// | [`is_protocol_error`](Self::is_protocol_error) | was running in a worker process that sent something the pool could not understand (the worker was killed) |
///
/// The last three come only from a process pool (the `process` feature); the
/// predicates exist, and return `false`, in every build.
///
/// `TaskError` is `Send + Sync + 'static`, so `?` turns it into a
/// `Box<dyn Error + Send + Sync>` (or an `anyhow::Error`) whatever the panic
/// payload was.
///
/// A timeout while *waiting* for a task ([`TaskHandle::join_timeout`]) is not a
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
    repr: Repr,
}

enum Repr {
    /// The message is copied out when the panic is caught, and the payload
    /// kept behind a mutex, so that `TaskError` is `Sync` (it goes into a
    /// `Box<dyn Error + Send + Sync>`) whatever the payload is: nothing ever
    /// shares a reference to the payload itself.
    Panic {
        message: Option<String>,
        payload: Mutex<Box<dyn Any + Send + 'static>>,
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
}

#[cfg(feature = "process")]
impl TaskError {
    /// The worker process `pid` died with this exit code or signal.
    pub(crate) fn worker_died(pid: u32, code: Option<i32>, signal: Option<i32>) -> TaskError {
        TaskError {
            repr: Repr::WorkerDied { pid, code, signal },
        }
    }

    /// The worker process `pid` sent garbage (or a reply that made no sense).
    pub(crate) fn protocol(pid: u32, msg: impl Into<Arc<str>>) -> TaskError {
        TaskError {
            repr: Repr::Protocol {
                pid,
                msg: msg.into(),
            },
        }
    }

    /// An argument or result failed to cross the process boundary;
    /// `msg` says which and why.
    pub(crate) fn serialization(msg: impl Into<Arc<str>>) -> TaskError {
        TaskError {
            repr: Repr::Serialization(msg.into()),
        }
    }

    /// No worker process could be started, so the pool is broken.
    pub(crate) fn start_failed(cause: Arc<BoxError>) -> TaskError {
        TaskError {
            repr: Repr::StartFailed(cause),
        }
    }

    /// A copy of this error, for every task of a chunk that failed as one
    /// (a panic payload is copied as its message).
    pub(crate) fn duplicate(&self) -> TaskError {
        let repr = match &self.repr {
            Repr::Panic { message, .. } => {
                let message = message
                    .clone()
                    .unwrap_or_else(|| "(non-string payload)".to_owned());
                Repr::Panic {
                    payload: Mutex::new(Box::new(message.clone())),
                    message: Some(message),
                }
            }
            Repr::Cancelled => Repr::Cancelled,
            Repr::Timeout => Repr::Timeout,
            Repr::Broken(cause) => Repr::Broken(cause.clone()),
            Repr::Shutdown => Repr::Shutdown,
            Repr::Spawn(err) => Repr::Spawn(err.clone()),
            Repr::WorkerDied { pid, code, signal } => Repr::WorkerDied {
                pid: *pid,
                code: *code,
                signal: *signal,
            },
            Repr::Protocol { pid, msg } => Repr::Protocol {
                pid: *pid,
                msg: msg.clone(),
            },
            Repr::Serialization(msg) => Repr::Serialization(msg.clone()),
            Repr::StartFailed(cause) => Repr::StartFailed(cause.clone()),
        };
        TaskError { repr }
    }
}

impl TaskError {
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> TaskError {
        TaskError {
            repr: Repr::Panic {
                message: payload_message(payload.as_ref()).map(str::to_owned),
                payload: Mutex::new(payload),
            },
        }
    }

    pub(crate) fn cancelled() -> TaskError {
        TaskError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn timeout() -> TaskError {
        TaskError {
            repr: Repr::Timeout,
        }
    }

    pub(crate) fn spawn_failure(err: Arc<io::Error>) -> TaskError {
        TaskError {
            repr: Repr::Spawn(err),
        }
    }

    pub(crate) fn broken(cause: Arc<BoxError>) -> TaskError {
        TaskError {
            repr: Repr::Broken(cause),
        }
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
        matches!(self.repr, Repr::Panic { .. })
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
        matches!(self.repr, Repr::Cancelled)
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
        matches!(self.repr, Repr::Timeout)
    }

    /// Returns `true` if the task never ran because the pool is broken (a
    /// worker's initializer failed, or a process pool could not start a
    /// worker process). [`Error::source`] gives the initializer's error or
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
    /// assert_eq!(err.to_string(), "pool is broken: worker initializer failed: no database");
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self.repr, Repr::Broken(_) | Repr::StartFailed(_))
    }

    /// Returns `true` if the task was refused because its pool had been shut
    /// down. Only [`Map`](crate::Map) reports this as a `TaskError`; `submit`
    /// hands the closure back in a [`SubmitError`] instead.
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
        matches!(self.repr, Repr::Shutdown)
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
        matches!(self.repr, Repr::WorkerDied { .. })
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
        match self.repr {
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
        match self.repr {
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
        match self.repr {
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
        matches!(self.repr, Repr::Serialization(_))
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
        matches!(self.repr, Repr::Protocol { .. })
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
        match &self.repr {
            Repr::Panic { message, .. } => message.as_deref(),
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
        match self.repr {
            Repr::Panic { payload, .. } => Ok(payload.into_inner()),
            repr => Err(TaskError { repr }),
        }
    }
}

/// The message of a panic payload made by `panic!`, if it has one.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panic { message, .. } => match message {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked"),
            },
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Timeout => f.write_str("task timed out"),
            Repr::Broken(cause) => write!(f, "pool is broken: worker initializer failed: {cause}"),
            Repr::Shutdown => f.write_str("pool is shut down"),
            Repr::Spawn(err) => write!(f, "failed to start a worker thread: {err}"),
            Repr::WorkerDied { pid, code, signal } => {
                write!(f, "worker process {pid} died")?;
                match (code, signal) {
                    (_, Some(sig)) => match signal_name(*sig) {
                        Some(name) => write!(f, ": killed by signal {sig} ({name})"),
                        None => write!(f, ": killed by signal {sig}"),
                    },
                    (Some(code), None) => write!(f, ": exited with code {code}"),
                    (None, None) => Ok(()),
                }
            }
            Repr::Protocol { pid, msg } => {
                write!(f, "worker process {pid} broke the protocol: {msg}")
            }
            Repr::Serialization(msg) => f.write_str(msg),
            Repr::StartFailed(cause) => {
                write!(
                    f,
                    "pool is broken: failed to start a worker process: {cause}"
                )
            }
        }
    }
}

/// The usual name of a Unix signal number, for messages.
fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return None,
    })
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panic { message, .. } => f
                .debug_tuple("TaskError::Panic")
                .field(&message.as_deref().unwrap_or("..."))
                .finish(),
            Repr::Cancelled => f.write_str("TaskError::Cancelled"),
            Repr::Timeout => f.write_str("TaskError::Timeout"),
            Repr::Broken(cause) => f.debug_tuple("TaskError::Broken").field(cause).finish(),
            Repr::Shutdown => f.write_str("TaskError::Shutdown"),
            Repr::Spawn(err) => f.debug_tuple("TaskError::Spawn").field(err).finish(),
            Repr::WorkerDied { pid, code, signal } => f
                .debug_struct("TaskError::WorkerDied")
                .field("pid", pid)
                .field("code", code)
                .field("signal", signal)
                .finish(),
            Repr::Protocol { pid, msg } => f
                .debug_struct("TaskError::Protocol")
                .field("pid", pid)
                .field("msg", msg)
                .finish(),
            Repr::Serialization(msg) => f
                .debug_tuple("TaskError::Serialization")
                .field(msg)
                .finish(),
            Repr::StartFailed(cause) => f
                .debug_tuple("TaskError::StartFailed")
                .field(cause)
                .finish(),
        }
    }
}

impl Error for TaskError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.repr {
            Repr::Broken(cause) | Repr::StartFailed(cause) => Some(cause.as_ref().as_ref()),
            Repr::Spawn(err) => Some(err.as_ref()),
            _ => None,
        }
    }
}

/// The error of [`TaskHandle::join_timeout`] and [`TaskHandle::join_deadline`].
///
/// # Examples
///
/// ```
/// use futurepool::{JoinTimeoutError, ThreadPool};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<u32>();
/// let handle = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let handle = match handle.join_timeout(Duration::from_millis(1)) {
///     Err(JoinTimeoutError::Timeout(handle)) => handle, // still running: handed back
///     other => panic!("unexpected {other:?}"),
/// };
/// tx.send(5).unwrap();
/// assert_eq!(handle.join().unwrap(), 5);
/// ```
pub enum JoinTimeoutError<T> {
    /// The task did not finish in time. Its handle is handed back, so the
    /// caller can wait again, cancel it, or drop it.
    Timeout(TaskHandle<T>),
    /// The task finished without a value.
    Failed(TaskError),
}

/// The error of [`TaskHandle::try_join`].
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, TryJoinError};
///
/// let pool = ThreadPool::new();
/// let handle = pool.submit(|| 2).unwrap();
/// handle.wait();
/// assert!(matches!(handle.try_join(), Ok(2)));
/// ```
pub enum TryJoinError<T> {
    /// The task has not finished yet. Its handle is handed back.
    NotReady(TaskHandle<T>),
    /// The task finished without a value.
    Failed(TaskError),
}

impl<T> JoinTimeoutError<T> {
    /// Returns `true` if the wait timed out (the task is still unfinished).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let handle = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let err = handle.join_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert!(err.is_timeout());
    /// tx.send(()).unwrap();
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, JoinTimeoutError::Timeout(_))
    }

    /// Returns the task's error if it failed, or `None` if the wait timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| -> u8 { panic!("no") }).unwrap();
    /// let err = handle.join_timeout(Duration::from_secs(60)).unwrap_err();
    /// assert!(err.into_task_error().unwrap().is_panic());
    /// ```
    pub fn into_task_error(self) -> Option<TaskError> {
        match self {
            JoinTimeoutError::Timeout(_) => None,
            JoinTimeoutError::Failed(err) => Some(err),
        }
    }
}

impl<T> fmt::Debug for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout(_) => f.write_str("JoinTimeoutError::Timeout(..)"),
            JoinTimeoutError::Failed(err) => f
                .debug_tuple("JoinTimeoutError::Failed")
                .field(err)
                .finish(),
        }
    }
}

impl<T> fmt::Display for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout(_) => f.write_str("timed out waiting for the task"),
            JoinTimeoutError::Failed(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl<T> Error for JoinTimeoutError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            JoinTimeoutError::Timeout(_) => None,
            JoinTimeoutError::Failed(err) => Some(err),
        }
    }
}

impl<T> TryJoinError<T> {
    /// Returns `true` if the task has not finished yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let handle = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// assert!(handle.try_join().unwrap_err().is_not_ready());
    /// tx.send(()).unwrap();
    /// ```
    pub fn is_not_ready(&self) -> bool {
        matches!(self, TryJoinError::NotReady(_))
    }

    /// Returns the task's error if it failed, or `None` if it was not
    /// finished yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let handle = pool.submit(|| -> u8 { panic!("no") }).unwrap();
    /// handle.wait();
    /// assert!(handle.try_join().unwrap_err().into_task_error().unwrap().is_panic());
    /// ```
    pub fn into_task_error(self) -> Option<TaskError> {
        match self {
            TryJoinError::NotReady(_) => None,
            TryJoinError::Failed(err) => Some(err),
        }
    }
}

impl<T> fmt::Debug for TryJoinError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryJoinError::NotReady(_) => f.write_str("TryJoinError::NotReady(..)"),
            TryJoinError::Failed(err) => f.debug_tuple("TryJoinError::Failed").field(err).finish(),
        }
    }
}

impl<T> fmt::Display for TryJoinError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryJoinError::NotReady(_) => f.write_str("task is not finished"),
            TryJoinError::Failed(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl<T> Error for TryJoinError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TryJoinError::NotReady(_) => None,
            TryJoinError::Failed(err) => Some(err),
        }
    }
}

/// A task handed to a pool and refused. The task comes back inside the error.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// pool.shutdown();
/// let err = pool.submit(|| 40 + 2).unwrap_err();
/// assert!(err.is_shutdown());
/// assert_eq!(err.to_string(), "pool is shut down");
/// let task = err.into_inner(); // nothing is lost: run it here instead
/// assert_eq!(task(), 42);
/// ```
pub struct SubmitError<F> {
    task: F,
    reason: Refusal,
}

pub(crate) enum Refusal {
    Shutdown,
    Broken(Arc<BoxError>),
    Full,
    Spawn(io::Error),
    /// A process pool could not start a worker process.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    StartFailed(Arc<BoxError>),
}

impl<F> SubmitError<F> {
    pub(crate) fn new(task: F, reason: Refusal) -> SubmitError<F> {
        SubmitError { task, reason }
    }

    /// The refusal as the failure of a task that never ran (for `Map`).
    pub(crate) fn to_task_error(&self) -> TaskError {
        TaskError {
            repr: match &self.reason {
                Refusal::Shutdown | Refusal::Full => Repr::Shutdown,
                Refusal::Broken(cause) => Repr::Broken(cause.clone()),
                Refusal::StartFailed(cause) => Repr::StartFailed(cause.clone()),
                Refusal::Spawn(err) => {
                    Repr::Spawn(Arc::new(io::Error::new(err.kind(), err.to_string())))
                }
            },
        }
    }

    /// Returns the refused task.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// pool.shutdown();
    /// let task = pool.submit(|| "ran anyway").unwrap_err().into_inner();
    /// assert_eq!(task(), "ran anyway");
    /// ```
    pub fn into_inner(self) -> F {
        self.task
    }

    /// Returns `true` if the pool had been shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// pool.shutdown();
    /// assert!(pool.submit(|| ()).unwrap_err().is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self.reason, Refusal::Shutdown)
    }

    /// Returns `true` if the pool is broken because a worker initializer
    /// failed, or a process pool could not start a worker process;
    /// [`Error::source`] gives the initializer's error or the start failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().initializer(|| Err("no")).build().unwrap();
    /// let first = pool.submit(|| ()).unwrap(); // accepted; fails once the worker starts
    /// assert!(first.join().unwrap_err().is_broken());
    /// assert!(pool.submit(|| ()).unwrap_err().is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self.reason, Refusal::Broken(_) | Refusal::StartFailed(_))
    }

    /// Returns `true` if a bounded queue was full (only
    /// [`ThreadPool::try_submit`](crate::ThreadPool::try_submit) says this;
    /// `submit` waits for room instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPool::builder().max_workers(1).bounded(1).build().unwrap();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let (started_tx, started_rx) = mpsc::channel();
    /// let running = pool.submit(move || { started_tx.send(()).unwrap(); rx.recv().unwrap() }).unwrap();
    /// started_rx.recv().unwrap();
    /// let queued = pool.submit(|| ()).unwrap(); // fills the one queue slot
    /// assert!(pool.try_submit(|| ()).unwrap_err().is_full());
    /// tx.send(()).unwrap();
    /// running.join().unwrap();
    /// queued.join().unwrap();
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self.reason, Refusal::Full)
    }

    /// Returns `true` if no worker thread could be started to run the task
    /// (the operating system refused to create a thread);
    /// [`Error::source`] gives the I/O error.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert!(!pool.submit(|| ()).map(|h| h.join()).is_err());
    /// ```
    pub fn is_spawn_failure(&self) -> bool {
        matches!(self.reason, Refusal::Spawn(_))
    }
}

impl<F> fmt::Debug for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("reason", &self.to_string())
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Refusal::Shutdown => f.write_str("pool is shut down"),
            Refusal::Broken(cause) => {
                write!(f, "pool is broken: worker initializer failed: {cause}")
            }
            Refusal::Full => f.write_str("pool queue is full"),
            Refusal::Spawn(err) => write!(f, "failed to start a worker thread: {err}"),
            Refusal::StartFailed(cause) => {
                write!(
                    f,
                    "pool is broken: failed to start a worker process: {cause}"
                )
            }
        }
    }
}

impl<F> Error for SubmitError<F> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.reason {
            Refusal::Broken(cause) | Refusal::StartFailed(cause) => Some(cause.as_ref().as_ref()),
            Refusal::Spawn(err) => Some(err),
            _ => None,
        }
    }
}

/// A pool configuration that can't be built.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let err = ThreadPool::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "max_workers must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BuildErrorKind {
    ZeroWorkers,
    ZeroCapacity,
    /// A process pool setting that can't work, with the reason.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Process(String),
}

impl BuildError {
    pub(crate) fn new(kind: BuildErrorKind) -> BuildError {
        BuildError { kind }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::ZeroWorkers => f.write_str("max_workers must be at least 1"),
            BuildErrorKind::ZeroCapacity => {
                f.write_str("a bounded queue needs a capacity of at least 1")
            }
            BuildErrorKind::Process(msg) => f.write_str(msg),
        }
    }
}

impl Error for BuildError {}

/// The error [`AsCompletedTimeout`](crate::AsCompletedTimeout) yields when its
/// deadline passes: how many tasks were unfinished, and their handles.
///
/// # Examples
///
/// ```
/// use futurepool::{ThreadPool, as_completed};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new();
/// let (tx, rx) = mpsc::channel::<()>();
/// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
/// let fast = pool.submit(|| ()).unwrap();
/// fast.wait();
/// let mut it = as_completed([slow, fast]).timeout(Duration::from_millis(20));
/// assert!(it.next().unwrap().is_ok()); // `fast` was already done
/// let err = it.next().unwrap().unwrap_err();
/// assert_eq!(err.to_string(), "1 (of 2) tasks unfinished");
/// let unfinished = err.into_unfinished();
/// tx.send(()).unwrap();
/// for handle in unfinished {
///     handle.join().unwrap();
/// }
/// ```
pub struct TimeoutError<H> {
    unfinished: Vec<H>,
    total: usize,
}

impl<H> TimeoutError<H> {
    pub(crate) fn new(unfinished: Vec<H>, total: usize) -> TimeoutError<H> {
        TimeoutError { unfinished, total }
    }

    /// How many tasks were unfinished when the deadline passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::{ThreadPool, as_completed};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
    /// let err = as_completed([slow]).timeout(Duration::ZERO).next().unwrap().unwrap_err();
    /// assert_eq!((err.unfinished_count(), err.total()), (1, 1));
    /// tx.send(()).unwrap();
    /// ```
    pub fn unfinished_count(&self) -> usize {
        self.unfinished.len()
    }

    /// How many distinct tasks were given to wait for.
    ///
    /// See [`unfinished_count`](Self::unfinished_count) for an example.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The unfinished tasks' handles (or whatever was given in their place),
    /// in the order they were given.
    ///
    /// See the [type's example](Self).
    pub fn into_unfinished(self) -> Vec<H> {
        self.unfinished
    }
}

impl<H> fmt::Debug for TimeoutError<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutError")
            .field("unfinished", &self.unfinished.len())
            .field("total", &self.total)
            .finish()
    }
}

impl<H> fmt::Display for TimeoutError<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (of {}) tasks unfinished",
            self.unfinished.len(),
            self.total
        )
    }
}

impl<H> Error for TimeoutError<H> {}
