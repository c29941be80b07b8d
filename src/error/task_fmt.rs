//! How a [`TaskError`] reads: `Display`, `Debug`, and `Error::source`.

use std::error::Error;
use std::fmt;

use super::task::{Repr, TaskError};

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            Repr::Panic { message, .. } => match message {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked"),
            },
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Timeout => f.write_str("task timed out"),
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
            Repr::Serialization(msg) => f.write_str(msg),
            Repr::StartFailed(_) => f.write_str("pool is broken: failed to start a worker process"),
            Repr::Abandoned => f.write_str("task was dropped by its executor before it ended"),
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
        match &*self.repr {
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
            Repr::Abandoned => f.write_str("TaskError::Abandoned"),
        }
    }
}

impl Error for TaskError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &*self.repr {
            Repr::Broken(cause) | Repr::StartFailed(cause) => Some(cause.as_ref().as_ref()),
            Repr::Spawn(err) => Some(err.as_ref()),
            _ => None,
        }
    }
}
