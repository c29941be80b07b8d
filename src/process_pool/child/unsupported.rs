//! Every OS but Linux: a worker process can't be started, and the handle
//! on one is a type with no values (it holds an [`Infallible`]), so each of
//! its methods is statically unreachable. See `mod.rs`.

use std::convert::Infallible;
use std::process::ExitStatus;

use super::{CallError, StartError};
use crate::core::cell::Hook;
use crate::process_pool::builder;
use crate::process_pool::protocol::Reply;
use crate::process_pool::supervisor::Config;

/// A worker process, which can't exist here.
pub(crate) struct WorkerProcess {
    never: Infallible,
    pub(crate) pid: u32,
    pub(crate) tasks: usize,
}

/// How a worker process ended: its exit code (no signals here).
pub(crate) fn describe(status: ExitStatus) -> (Option<i32>, Option<i32>) {
    (status.code(), None)
}

impl WorkerProcess {
    /// Refuses, as the builder already did.
    pub(crate) fn start(_: &Config) -> Result<WorkerProcess, StartError> {
        Err(StartError::Start(
            builder::check_platform(std::env::consts::OS)
                .err()
                .map_or_else(|| "unsupported platform".to_owned(), |e| e.to_string()),
        ))
    }

    pub(crate) fn call(&mut self, _: &[u8]) -> Result<Reply, CallError> {
        match self.never {}
    }

    pub(crate) fn send(&mut self, _: &[u8]) -> Result<(), CallError> {
        match self.never {}
    }

    pub(crate) fn receive(&mut self, _: Option<std::time::Instant>) -> Result<Reply, CallError> {
        match self.never {}
    }

    pub(crate) fn is_gone(&self) -> bool {
        match self.never {}
    }

    pub(crate) fn kill_hook(&self) -> Hook {
        match self.never {}
    }

    pub(crate) fn kill(self) -> ExitStatus {
        match self.never {}
    }

    pub(crate) fn retire(self) -> ExitStatus {
        match self.never {}
    }
}
