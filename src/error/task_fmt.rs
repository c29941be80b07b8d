//! How a [`TaskError`] reads: `Display`, `Debug`, and `Error::source`.

use std::error::Error;
use std::fmt;

use super::task::{Repr, TaskError};

/// Names the task in a message: `task`, or ``task `resize` `` if it has a
/// name.
struct Subject<'a>(Option<&'a str>);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, "task `{name}`"),
            None => f.write_str("task"),
        }
    }
}

/// Says what went wrong, naming the task if it has a name: ``task `resize`
/// panicked: boom``, else `task panicked: boom`. A message about the pool
/// or a worker gets the named task in front (``task `resize`: worker
/// process 7 died``).
impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.task_name();
        let task = Subject(name);
        match &self.inner.repr {
            Repr::Panic { message, .. } => match message {
                Some(msg) => write!(f, "{task} panicked: {msg}"),
                None => write!(f, "{task} panicked"),
            },
            Repr::Cancelled => write!(f, "{task} was cancelled"),
            Repr::Timeout => write!(f, "{task} timed out"),
            Repr::Abandoned => write!(
                f,
                "{task} was abandoned: its promise or executor was dropped before it ended"
            ),
            // The producer's error is the `source()`, not part of this
            // message.
            Repr::Custom(_) => write!(f, "{task} failed"),
            // The dependency's own error is the `source()`.
            Repr::Dependency(dep) => {
                if name.is_some() {
                    write!(f, "{task}: ")?;
                }
                f.write_str("dependency ")?;
                match dep.task_id() {
                    Some(id) => write!(f, "task {}", id.as_u64())?,
                    None => f.write_str("task")?,
                }
                if let Some(dep_name) = dep.task_name() {
                    write!(f, " `{dep_name}`")?;
                }
                f.write_str(" failed")
            }
            other => {
                if name.is_some() {
                    write!(f, "{task}: ")?;
                }
                fmt_pool_or_worker(other, f)
            }
        }
    }
}

/// The messages that are about the pool or a worker rather than the task.
fn fmt_pool_or_worker(repr: &Repr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match repr {
        // Each cause is the `source()`, not part of this message.
        Repr::Broken(_) => f.write_str("pool is broken: worker initializer failed"),
        Repr::Shutdown => f.write_str("pool is shut down"),
        Repr::Spawn(_) => f.write_str("failed to start a worker thread"),
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
        Repr::Serialization(msg) | Repr::Cluster(msg) | Repr::TooLarge(msg) => f.write_str(msg),
        Repr::StartFailed(_) => f.write_str("pool is broken: failed to start a worker process"),
        Repr::Panic { .. }
        | Repr::Cancelled
        | Repr::Timeout
        | Repr::Abandoned
        | Repr::Custom(_)
        | Repr::Dependency(_) => unreachable!("about the task, written by `Display`"),
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

/// `TaskError { kind: Panic("boom"), task: TaskId(17), name: "resize" }`:
/// the kind, then the task (if the error came from one) and its name (if
/// it has one). A panic shows its message, never its payload. A dependency's
/// error shows nested, down to 8 links of a chain, then `Dependency(..)`.
impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&At(self, 0), f)
    }
}

/// How many dependencies' errors a dependent's `Debug` shows, nested: a
/// chain thousands long must not nest thousands deep (nor overflow the
/// stack of the thread that prints it).
const DEBUG_DEPTH: usize = 8;

/// A [`TaskError`] at `.1` links down a chain, for `Debug`.
struct At<'a>(&'a TaskError, usize);

impl fmt::Debug for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let At(err, depth) = *self;
        let mut s = f.debug_struct("TaskError");
        s.field("kind", &Kind(&err.inner.repr, depth));
        if let Some((id, name)) = &err.inner.task {
            s.field("task", id);
            if let Some(name) = name {
                s.field("name", name);
            }
        }
        s.finish()
    }
}

/// The kind of a [`TaskError`] at `.1` links down a chain, for `Debug`.
struct Kind<'a>(&'a Repr, usize);

impl fmt::Debug for Kind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Panic { message, .. } => f
                .debug_tuple("Panic")
                .field(&message.as_deref().unwrap_or("..."))
                .finish(),
            Repr::Cancelled => f.write_str("Cancelled"),
            Repr::Timeout => f.write_str("Timeout"),
            Repr::Broken(cause) => f.debug_tuple("Broken").field(cause).finish(),
            Repr::Shutdown => f.write_str("Shutdown"),
            Repr::Spawn(err) => f.debug_tuple("Spawn").field(err).finish(),
            Repr::WorkerDied { pid, code, signal } => f
                .debug_struct("WorkerDied")
                .field("pid", pid)
                .field("code", code)
                .field("signal", signal)
                .finish(),
            Repr::Protocol { pid, msg } => f
                .debug_struct("Protocol")
                .field("pid", pid)
                .field("msg", msg)
                .finish(),
            Repr::Serialization(msg) => f.debug_tuple("Serialization").field(msg).finish(),
            Repr::Cluster(msg) => f.debug_tuple("Cluster").field(msg).finish(),
            Repr::TooLarge(msg) => f.debug_tuple("TooLarge").field(msg).finish(),
            Repr::StartFailed(cause) => f.debug_tuple("StartFailed").field(cause).finish(),
            Repr::Abandoned => f.write_str("Abandoned"),
            Repr::Custom(err) => f.debug_tuple("Custom").field(err).finish(),
            Repr::Dependency(_) if self.1 >= DEBUG_DEPTH => f.write_str("Dependency(..)"),
            Repr::Dependency(err) => f
                .debug_tuple("Dependency")
                .field(&At(err, self.1 + 1))
                .finish(),
        }
    }
}

impl Error for TaskError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.inner.repr {
            Repr::Broken(cause) | Repr::StartFailed(cause) | Repr::Custom(cause) => {
                Some(cause.as_ref().as_ref())
            }
            Repr::Spawn(err) => Some(err.as_ref()),
            Repr::Dependency(err) => Some(&**err),
            _ => None,
        }
    }
}
