//! Linux: the parent's handle on one worker process: start it and shake
//! hands, send a request and read the reply, and end it (gracefully, or by
//! `SIGKILL`), always reaping it.

use std::io::{self, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::pipes::{self, Pace, PacedReader};
use super::{CallError, StartError};
use crate::core::cell::Hook;
use crate::process_pool::bulk;
use crate::process_pool::mailbox::Mailbox;
use crate::process_pool::protocol::{self, Hello, HelloReply, Outcome, Reply, Request};
use crate::process_pool::shm::{self, SharedFile};
use crate::process_pool::supervisor::Config;
use crate::process_pool::{identity, worker};
use crate::remote::registry::{self, Encoded};

/// A running, handshaken worker process. Small: its pipes and buffers are
/// boxed, since the value moves several times per round trip (parked,
/// lent, held by the thread that reads, parked again).
pub(crate) struct WorkerProcess {
    io: Box<Io>,
    pub(crate) pid: u32,
    /// Tasks it has completed.
    pub(crate) tasks: usize,
}

/// A worker's process handle, pipes and buffers.
struct Io {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<PacedReader>,
    buf: Vec<u8>,
    /// How long a frame may make no progress before the worker counts as
    /// dead (the pool's `start_timeout`).
    stall: Duration,
    /// The memfd that large frames go through, both ways, if the worker
    /// opened it (see `shm.rs`). Closed and unmapped with this value.
    shared: Option<SharedFile>,
    /// The mailbox that small frames go through while the other side
    /// looks, if the worker opened it (see `mailbox.rs`). Likewise.
    mailbox: Option<Mailbox>,
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
        // Made before the worker starts, close-on-exec: it opens it through
        // `/proc` during the handshake. Without it, frames take the pipe.
        let shared = SharedFile::create().ok();
        let mailbox = Mailbox::create().ok();
        let hello = Hello {
            shared: shared.as_ref().map(SharedFile::fd),
            mailbox: mailbox.as_ref().map(Mailbox::fd),
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
            io: Box::new(Io {
                child,
                stdin: Some(stdin),
                stdout: BufReader::new(PacedReader::new(stdout)),
                buf: Vec::new(),
                stall: config.start_timeout,
                shared,
                mailbox,
            }),
            pid,
            tasks: 0,
        };
        let nonblocking = pipes::set_nonblocking(proc.io.stdin.as_ref().expect("open"))
            .and_then(|()| pipes::set_nonblocking(proc.io.stdout.get_ref().get_ref()));
        let shaken = match nonblocking {
            Ok(()) => proc.handshake(&hello, config.start_timeout),
            Err(err) => Err(StartError::Start(format!(
                "cannot set up the pipes of worker process {pid}: {err}"
            ))),
        };
        match shaken {
            Ok(()) => Ok(proc),
            Err(err) => {
                proc.kill();
                Err(err)
            }
        }
    }

    /// Sends the `Hello` and reads the answer, all within `timeout`,
    /// whatever the worker does: stall part-way through a frame, drip it a
    /// byte at a time, or never read.
    fn handshake(&mut self, hello: &[u8], timeout: Duration) -> Result<(), StartError> {
        let pid = self.pid;
        let deadline = Instant::now().checked_add(timeout);
        let pace = deadline.map_or(Pace::Steady(Duration::MAX), Pace::By);
        let silent = || {
            StartError::Start(format!(
                "worker process {pid} did not complete the handshake within {timeout:?} \
                 (does the program call `futurepool::process::init()` first in `main`?)"
            ))
        };
        let stdin = self.io.stdin.as_mut().expect("open");
        match pipes::write_all(stdin, hello, pace) {
            Ok(()) => {}
            Err(failure) if failure.error.kind() == io::ErrorKind::TimedOut => {
                return Err(silent());
            }
            // A worker that refuses may exit before reading all of it: a
            // broken pipe here is reported by the read below, with its
            // reason.
            Err(_) => {}
        }
        self.io.stdout.get_mut().expect(deadline, pace);
        let reply = match protocol::read_frame(
            &mut self.io.stdout,
            protocol::MAX_HANDSHAKE,
            &mut self.io.buf,
        ) {
            Ok(true) => protocol::decode_handshake::<HelloReply>(&self.io.buf),
            Err(err) if err.kind() == io::ErrorKind::TimedOut => return Err(silent()),
            // Too long: garbage. The caller kills it.
            Err(err) if err.kind() == io::ErrorKind::InvalidData => Err(err.to_string()),
            // The end of its output, at once or part-way through a
            // frame: it exited, or was killed. Make sure it is gone,
            // then say how it ended.
            Ok(false) | Err(_) => {
                // Let it finish exiting (it may close its output in an
                // exit handler, before its exit status is set): a kill
                // from us now would read as a kill from outside.
                let Some(status) = self.exit_status_by(deadline) else {
                    return Err(StartError::Start(format!(
                        "worker process {pid} closed its output during start-up"
                    )));
                };
                let msg = format!(
                    "worker process {pid} exited during start-up ({status}); \
                         does the program call `futurepool::process::init()` first in `main`?"
                );
                return Err(match status.signal() {
                    // Killed: another start may well succeed.
                    Some(signal) => StartError::Lost {
                        pid,
                        code: None,
                        signal: Some(signal),
                        msg,
                    },
                    None => StartError::Start(msg),
                });
            }
        };
        match reply {
            Ok(HelloReply::Ready {
                shared, mailbox, ..
            }) => {
                // Those it could not open go.
                if !shared {
                    self.io.shared = None;
                }
                if !mailbox {
                    self.io.mailbox = None;
                }
                Ok(())
            }
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

    /// Whether the worker is known to be gone without being asked anything:
    /// its output has ended (it died, or was killed) or holds bytes nobody
    /// asked for (garbage). Either way it must not be sent a task.
    pub(crate) fn is_gone(&self) -> bool {
        !self.io.stdout.buffer().is_empty() || pipes::has_news(self.io.stdout.get_ref().get_ref())
    }

    /// Sends one encoded request frame and reads the reply. The task may
    /// run as long as it likes, but each frame must keep making progress:
    /// a frame that stalls for the stall limit (`start_timeout`) is a dead
    /// worker.
    ///
    /// A large request goes through the shared memory, if the worker has
    /// it: its payload copied there, a `Request::Shared` header on the
    /// pipe; so may the reply.
    pub(crate) fn call(&mut self, request: &[u8]) -> Result<Reply, CallError> {
        self.send(request)?;
        self.receive(None)
    }

    /// Writes one encoded request frame (see [`call`](Self::call)).
    pub(crate) fn send(&mut self, request: &[u8]) -> Result<(), CallError> {
        let stdin = self.io.stdin.as_mut().ok_or(CallError::Died)?;
        let pace = Pace::Steady(self.io.stall);
        let header;
        let payload = &request[4..];
        let shared = self
            .io
            .shared
            .as_mut()
            .filter(|_| payload.len() >= shm::SHARED_MIN);
        // (If the file can't grow, the pipe takes it.)
        let request = if shared.is_some_and(|shared| shared.put(payload).is_ok()) {
            let len = payload.len() as u64;
            header = protocol::frame(&[], &Request::Shared { len }).expect("a header encodes");
            &header[..]
        } else {
            request
        };
        // Through the mailbox if the worker looks for it.
        if let Some(mailbox) = &self.io.mailbox {
            if mailbox.post_request(&request[4..]) {
                return Ok(());
            }
        }
        if let Err(failure) = pipes::write_all(stdin, request, pace) {
            let unread = failure.error.kind() == io::ErrorKind::BrokenPipe && failure.taken == 0;
            // Its reader was gone before the pipe took a byte: the request
            // provably never reached a worker.
            return Err(if unread {
                CallError::Undelivered
            } else {
                CallError::Died
            });
        }
        Ok(())
    }

    /// Reads the reply to the request [`send`](Self::send) wrote. With
    /// `first`, a reply that has not begun by then is
    /// [`CallError::NotYet`], and nothing of it has been read: a later
    /// `receive` reads it whole. Without, the wait for its first bytes is
    /// the `read` itself (see `PacedReader`).
    pub(crate) fn receive(&mut self, first: Option<Instant>) -> Result<Reply, CallError> {
        // A look at the mailbox first: a quick task's reply comes there.
        if let Some(mailbox) = &mut self.io.mailbox {
            match mailbox.await_reply(&mut self.io.buf) {
                Ok(true) => return self.reply_in_buf(),
                Ok(false) => {}
                Err(msg) => return Err(CallError::Protocol(msg)),
            }
        }
        self.io
            .stdout
            .get_mut()
            .expect(first, Pace::Steady(self.io.stall));
        let len = match protocol::read_len(&mut self.io.stdout, protocol::MAX_FRAME) {
            Ok(Some(len)) => len,
            // Dead. A request it was posted and never took provably never
            // reached it.
            Ok(None)
                if self
                    .io
                    .mailbox
                    .as_ref()
                    .is_some_and(Mailbox::request_untaken) =>
            {
                return Err(CallError::Undelivered);
            }
            Ok(None) => return Err(CallError::Died),
            Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                return Err(CallError::Protocol(err.to_string()));
            }
            Err(err)
                if err.kind() == io::ErrorKind::TimedOut
                    && first.is_some()
                    && self.io.stdout.get_ref().awaiting_first()
                    && self.io.stdout.buffer().is_empty() =>
            {
                return Err(CallError::NotYet);
            }
            Err(_) => return Err(CallError::Died),
        };
        let read = if len >= bulk::HAND_OVER {
            self.read_large(len)
        } else {
            self.io.buf.clear();
            protocol::read_body_buffered(&mut self.io.stdout, len, &mut self.io.buf).map(|()| None)
        };
        match read {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => self.reply_in_buf(),
            // Cut short, or stalled: a dead worker either way.
            Err(_) => Err(CallError::Died),
        }
    }

    /// The reply whose payload is in `self.io.buf` (from the pipe or the
    /// mailbox), followed into the shared memory if it is a header.
    fn reply_in_buf(&mut self) -> Result<Reply, CallError> {
        match Self::reply(&self.io.buf)? {
            Reply::Shared { len } => self.read_shared(len),
            reply => Ok(reply),
        }
    }

    /// The reply whose payload the worker's `Reply::Shared { len }` header
    /// says is in the shared memory. A header that names no shared memory,
    /// or more than it holds, or garbage there, is a protocol error: the
    /// worker is treated as broken.
    fn read_shared(&mut self, len: u64) -> Result<Reply, CallError> {
        let Some(shared) = &mut self.io.shared else {
            return Err(CallError::Protocol(
                "a reply in shared memory, but the worker has none".to_owned(),
            ));
        };
        match shm::reply_in_shared(shared, len, &mut self.io.buf) {
            Ok(Reply::Refused(msg)) => Err(CallError::Protocol(format!(
                "the worker could not read the request: {msg}"
            ))),
            Ok(reply) => Ok(reply),
            Err(msg) => Err(CallError::Protocol(msg)),
        }
    }

    /// Reads a large reply's payload of `len` bytes without copying its
    /// value afterwards: a value that is one byte string is read into a
    /// buffer of its own (which a `ByteBuf` result then keeps), any other
    /// value stays in the frame's buffer, which goes with it. `None`: the
    /// payload is in `self.io.buf`, to decode as usual.
    fn read_large(&mut self, len: usize) -> io::Result<Option<Reply>> {
        let mut head = [0; 32];
        self.io.stdout.read_exact(&mut head)?;
        if let Some((value, bytes)) = bulk::lone_bytes_in_reply(&head, len) {
            let mut body = Vec::new();
            // The frame's first bytes agree with its length twice over:
            // room for the bytes is taken at once (within the frame limit;
            // untouched pages cost nothing), in huge pages where the system
            // allows, so that filling it costs a fault every 2 MiB rather
            // than every 4 KiB. If the room can't be had, it grows as the
            // bytes arrive.
            if body.try_reserve_exact(len - bytes).is_ok() {
                bulk::advise_huge_pages(&body);
            }
            body.extend_from_slice(&head[bytes..]);
            protocol::read_body(&mut self.io.stdout, len - head.len(), &mut body)?;
            let value = Encoded::split(head[value..bytes].to_vec(), body);
            return Ok(Some(Reply::One(Outcome::Value(value))));
        }
        let mut buf = std::mem::take(&mut self.io.buf);
        buf.clear();
        buf.extend_from_slice(&head);
        protocol::read_body(&mut self.io.stdout, len - head.len(), &mut buf)?;
        match bulk::value_in_reply(&buf) {
            Some(start) => Ok(Some(Reply::One(Outcome::Value(Encoded::within(
                buf, start,
            ))))),
            None => {
                self.io.buf = buf;
                Ok(None)
            }
        }
    }

    /// Decodes a reply's payload.
    fn reply(payload: &[u8]) -> Result<Reply, CallError> {
        match protocol::decode::<Reply>(payload) {
            // It exits after saying why: no reply is coming.
            Ok(Reply::Refused(msg)) => Err(CallError::Protocol(format!(
                "the worker could not read the request: {msg}"
            ))),
            Ok(reply) => Ok(reply),
            Err(err) => Err(CallError::Protocol(format!("undecodable reply: {err}"))),
        }
    }

    /// Its mailbox, if it opened one (for tests).
    #[cfg(test)]
    pub(crate) fn mailbox(&mut self) -> Option<&mut Mailbox> {
        self.io.mailbox.as_mut()
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
        let _ = self.io.child.kill();
        self.reap()
    }

    /// Asks the worker to exit (end of its input) and reaps it.
    pub(crate) fn retire(mut self) -> ExitStatus {
        drop(self.io.stdin.take());
        self.reap()
    }

    /// Waits for the worker to exit on its own until `deadline`, and reaps
    /// it: its status, or `None` if it was still running then (it is
    /// killed and reaped).
    fn exit_status_by(&mut self, deadline: Option<Instant>) -> Option<ExitStatus> {
        while deadline.is_none_or(|d| Instant::now() < d) {
            match self.io.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                // Exiting: its output is closed. Only on a failed start.
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(_) => break,
            }
        }
        let _ = self.io.child.kill();
        self.reap();
        None
    }

    fn reap(&mut self) -> ExitStatus {
        loop {
            match self.io.child.wait() {
                Ok(status) => return status,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // Only if someone else reaped it (a SIGCHLD handler set to
                // ignore): report a kill.
                Err(_) => return ExitStatus::from_raw(libc::SIGKILL),
            }
        }
    }
}

#[cfg(test)]
mod tests;
