//! Linux: the parent's handle on one worker process: start it and shake
//! hands, send a request and read the reply, and end it (gracefully, or by
//! `SIGKILL`), always reaping it.

use std::io::{self, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{CallError, StartError};
use crate::core::cell::Hook;
use crate::process_pool::protocol::{self, Hello, HelloReply, Reply};
use crate::process_pool::supervisor::Config;
use crate::process_pool::{identity, worker};
use crate::remote::registry;

/// A running, handshaken worker process.
pub(crate) struct WorkerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub(crate) pid: u32,
    /// Tasks it has completed.
    pub(crate) tasks: usize,
    buf: Vec<u8>,
}

/// How a worker process ended, for error messages: its exit code or the
/// signal that killed it.
pub(crate) fn describe(status: ExitStatus) -> (Option<i32>, Option<i32>) {
    (status.code(), status.signal())
}

impl WorkerProcess {
    /// Starts a worker from `config.program` and shakes hands with it.
    pub(crate) fn start(config: &Config) -> Result<WorkerProcess, StartError> {
        worker::check_not_recursing().map_err(StartError::Start)?;
        let own = identity::exe_id("/proc/self/exe".as_ref())
            .ok_or_else(|| StartError::Start("cannot stat /proc/self/exe".to_owned()))?;
        let exe_hash = if identity::exe_id(&config.program) == Some(own) {
            None
        } else {
            Some(identity::own_exe_hash().map_err(|err| {
                StartError::Start(format!("cannot read this program's executable: {err}"))
            })?)
        };
        let hello = Hello {
            parent_pid: std::process::id(),
            exe: own,
            exe_hash,
            registry: registry::digest(),
            init: config.init.clone(),
            worker_stderr: config.worker_stderr,
        };
        let hello = protocol::handshake_frame(&hello)
            .map_err(|err| StartError::Start(format!("cannot encode the handshake: {err}")))?;

        let mut child = Command::new(&config.program)
            .arg(worker::marker_arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Quiet by default: what a worker prints (its tasks' output
            // included: its stdout goes to its stderr) is discarded, and
            // what matters comes back in the protocol.
            .stderr(if config.worker_stderr {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(|err| {
                StartError::Start(format!("cannot run {}: {err}", config.program.display()))
            })?;
        let pid = child.id();
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let mut proc = WorkerProcess {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            pid,
            tasks: 0,
            buf: Vec::new(),
        };
        match proc.handshake(&hello, config.start_timeout) {
            Ok(()) => Ok(proc),
            Err(err) => {
                proc.kill();
                Err(err)
            }
        }
    }

    fn handshake(&mut self, hello: &[u8], timeout: Duration) -> Result<(), StartError> {
        let pid = self.pid;
        let stdin = self.stdin.as_mut().expect("open");
        // A worker that refuses may exit before reading: a broken pipe here
        // is reported by the read below, with its reason.
        let _ = protocol::write_frame(stdin, hello);
        let deadline = Instant::now() + timeout;
        if !wait_readable(self.stdout.get_ref(), deadline) {
            return Err(StartError::Start(format!(
                "worker process {pid} did not answer within {timeout:?} \
                 (does the program call `futurepool::process::init()` first in `main`?)"
            )));
        }
        let reply =
            match protocol::read_frame(&mut self.stdout, protocol::MAX_HANDSHAKE, &mut self.buf) {
                Ok(true) => protocol::decode_handshake::<HelloReply>(&self.buf),
                Ok(false) => {
                    // End of stream: it exited (or closed its output). Make
                    // sure it is gone, then say how it ended.
                    let _ = self.child.kill();
                    let status = self.child.wait().ok();
                    return Err(StartError::Start(format!(
                        "worker process {pid} exited during start-up ({}); \
                         does the program call `futurepool::process::init()` first in `main`?",
                        status.map_or("unknown status".to_owned(), |s| s.to_string())
                    )));
                }
                // Too long, or cut short: garbage either way. The caller
                // kills it.
                Err(err) => Err(err.to_string()),
            };
        match reply {
            Ok(HelloReply::Ready { .. }) => Ok(()),
            Ok(HelloReply::Refused(msg)) => Err(StartError::Start(format!(
                "worker process {pid} refused to start: {msg}"
            ))),
            Ok(HelloReply::InitFailed(msg)) => Err(StartError::Init(msg)),
            Err(msg) => Err(StartError::Start(format!(
                "worker process {pid} answered the handshake with garbage: {msg} \
                 (does the program call `futurepool::process::init()` first in `main`?)"
            ))),
        }
    }

    /// Sends one encoded request frame and reads the reply.
    pub(crate) fn call(&mut self, request: &[u8]) -> Result<Reply, CallError> {
        let stdin = self.stdin.as_mut().ok_or(CallError::Died)?;
        if protocol::write_frame(stdin, request).is_err() {
            return Err(CallError::Died);
        }
        match protocol::read_frame(&mut self.stdout, protocol::MAX_FRAME, &mut self.buf) {
            Ok(true) => match protocol::decode::<Reply>(&self.buf) {
                // It exits after saying why: no reply is coming.
                Ok(Reply::Refused(msg)) => Err(CallError::Protocol(format!(
                    "the worker could not read the request: {msg}"
                ))),
                Ok(reply) => Ok(reply),
                Err(err) => Err(CallError::Protocol(format!("undecodable reply: {err}"))),
            },
            Ok(false) => Err(CallError::Died),
            Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                Err(CallError::Protocol(err.to_string()))
            }
            Err(_) => Err(CallError::Died),
        }
    }

    /// What cancelling or timing out its task does, from the moment the
    /// request is sent until the reply is in: `SIGKILL` to the worker.
    pub(crate) fn kill_hook(&self) -> Hook {
        let pid = self.pid;
        Box::new(move || {
            // SAFETY: `kill` takes plain integers. The pid is that of our
            // child, which the driver doesn't reap before it has cleared
            // this hook (see README.md, "Killing a running task"), so it
            // can't have been reused by another process.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        })
    }

    /// Kills the worker (if it still runs) and reaps it.
    pub(crate) fn kill(mut self) -> ExitStatus {
        // A worker that already died is a zombie until reaped below: the
        // signal can't reach another process, and doesn't change the status
        // of one that is already exiting.
        let _ = self.child.kill();
        self.reap()
    }

    /// Asks the worker to exit (end of its input) and reaps it.
    pub(crate) fn retire(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.reap()
    }

    fn reap(&mut self) -> ExitStatus {
        loop {
            match self.child.wait() {
                Ok(status) => return status,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // Only if someone else reaped it (a SIGCHLD handler set to
                // ignore): report a kill.
                Err(_) => return ExitStatus::from_raw(libc::SIGKILL),
            }
        }
    }
}

/// Waits until `fd` can be read (or is closed), or `deadline` passes.
fn wait_readable(fd: &impl AsRawFd, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid `pollfd` that outlives the call, and the
        // count is 1.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            return true;
        }
        if n == 0 {
            return false;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return true; // let the read report it
        }
    }
}
