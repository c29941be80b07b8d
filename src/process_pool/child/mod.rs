//! The parent's handle on one worker process, [`WorkerProcess`]: start it
//! and shake hands, send a request and read the reply, end it and reap it.
//!
//! Worker processes run on Linux only (`linux.rs`). Everywhere else
//! `unsupported.rs` stands in with a `WorkerProcess` that has no values:
//! [`ProcessPoolBuilder::build`](crate::ProcessPoolBuilder::build) refuses
//! there, so no pool, driver or worker ever exists, and the portable code
//! (the pool, its queue and drivers, the protocol) compiles unchanged.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
mod pipes;
#[cfg(not(target_os = "linux"))]
mod unsupported;

#[cfg(target_os = "linux")]
pub(crate) use linux::{WorkerProcess, describe};
#[cfg(not(target_os = "linux"))]
pub(crate) use unsupported::{WorkerProcess, describe};

/// Why a worker could not be started.
pub(crate) enum StartError {
    /// Its initializer failed: the pool breaks like a thread pool's.
    Init(String),
    /// It could not be started, or refused to serve (another binary), or
    /// answered with garbage or not in time: another try would fail the
    /// same way, and the pool breaks.
    Start(String),
    /// It was killed during start-up: another try may succeed.
    Lost {
        pid: u32,
        code: Option<i32>,
        signal: Option<i32>,
        msg: String,
    },
}

/// Why a call got no reply.
pub(crate) enum CallError {
    /// The pipe broke or closed, or a frame stalled: the worker died (or
    /// was killed, or is as good as dead).
    Died,
    /// The worker's input was closed before the pipe took a byte of the
    /// request: it died before the task reached it.
    Undelivered,
    /// The worker sent something that is not a reply.
    Protocol(String),
    /// The reply had not begun by the reader's deadline; nothing of it was
    /// read (see `WorkerProcess::receive`).
    NotYet,
}
