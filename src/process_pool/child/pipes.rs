//! Linux: the parent's ends of a worker's pipes, nonblocking, read and
//! written under `poll` with deadlines, so that no worker can hold a driver
//! by stalling a frame (see README.md, "Frames that must make progress").
//!
//! - The handshake is bounded as a whole: every wait, for room to write the
//!   `Hello` or for bytes of the reply, ends at one instant
//!   ([`Pace::By`]).
//! - After it, a task may run as long as it likes before its reply starts,
//!   but each step of a frame (room for the next bytes of a request, the
//!   next bytes of a reply once the first have come) must come within the
//!   stall limit ([`Pace::Steady`]); a frame that stalls is a dead worker.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

/// How long each wait on a pipe may last.
#[derive(Clone, Copy, Debug)]
pub(super) enum Pace {
    /// Every wait ends at this instant: the whole exchange is bounded.
    By(Instant),
    /// Each wait ends this long after it began: the exchange must keep
    /// making progress, however long it takes in all.
    Steady(Duration),
}

impl Pace {
    fn next_deadline(self) -> Option<Instant> {
        match self {
            Pace::By(at) => Some(at),
            Pace::Steady(limit) => Instant::now().checked_add(limit),
        }
    }
}

/// Sets `O_NONBLOCK` on the parent's end of a pipe. (Each end of a pipe is
/// its own open file description: the worker's ends stay blocking.)
pub(super) fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    set_blocking(fd, false)
}

/// Sets or clears `O_NONBLOCK` on the parent's end of a pipe.
fn set_blocking(fd: &impl AsRawFd, blocking: bool) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: `fcntl` with `F_GETFL` / `F_SETFL` on a descriptor we own
    // reads and sets its flags; it touches no memory.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        let flags = if blocking {
            flags & !libc::O_NONBLOCK
        } else {
            flags | libc::O_NONBLOCK
        };
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags) >= 0
    };
    if ok {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits until `fd` has one of `events` (or an error or hang-up), or until
/// `deadline` (`None`: no limit). Returns whether it is ready.
pub(super) fn wait_for(
    fd: &impl AsRawFd,
    events: libc::c_short,
    deadline: Option<Instant>,
) -> bool {
    loop {
        let ms = match deadline {
            None => -1,
            Some(deadline) => {
                // Rounded up: a wait never ends before its deadline.
                let left = deadline.saturating_duration_since(Instant::now());
                let ms = left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 != 0);
                i32::try_from(ms).unwrap_or(i32::MAX)
            }
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid `pollfd` that outlives the call, and the
        // count is 1.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            return true;
        }
        if n == 0 {
            if deadline.is_some_and(|d| Instant::now() < d) {
                continue; // woke early
            }
            return false;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return true; // let the read or write report it
        }
    }
}

/// Whether a pipe end has anything to report right now: bytes, end of
/// file, or an error. For an idle worker's output, any of these means it
/// is gone (an idle worker writes nothing unasked).
pub(super) fn has_news(fd: &impl AsRawFd) -> bool {
    wait_for(fd, libc::POLLIN, Some(Instant::now()))
}

/// Why a frame could not be written.
#[derive(Debug)]
pub(super) struct WriteFailure {
    /// How many bytes the pipe took before it failed.
    pub(super) taken: usize,
    /// The cause: `BrokenPipe` (the reader is gone), `TimedOut` (no room
    /// came in time), or another error.
    pub(super) error: io::Error,
}

/// Writes all of `bytes` to a nonblocking pipe, each wait for room paced
/// by `pace`.
pub(super) fn write_all(
    pipe: &mut ChildStdin,
    bytes: &[u8],
    pace: Pace,
) -> Result<(), WriteFailure> {
    let mut taken = 0;
    while taken < bytes.len() {
        match pipe.write(&bytes[taken..]) {
            Ok(0) => {
                let error = io::ErrorKind::WriteZero.into();
                return Err(WriteFailure { taken, error });
            }
            Ok(n) => taken += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if !wait_for(pipe, libc::POLLOUT, pace.next_deadline()) {
                    let error = io::Error::new(io::ErrorKind::TimedOut, "no room to write");
                    return Err(WriteFailure { taken, error });
                }
            }
            Err(error) => return Err(WriteFailure { taken, error }),
        }
    }
    Ok(())
}

/// A worker's output, read under `poll`: a `read` that would wait longer
/// than its pace allows fails with `TimedOut`.
pub(super) struct PacedReader {
    out: ChildStdout,
    /// When the first bytes of the frame being read must have come
    /// (`None`: no limit, a task runs as long as it likes).
    first: Option<Instant>,
    /// Whether the first bytes of this frame are still awaited.
    awaiting_first: bool,
    /// The pace of every later wait.
    then: Pace,
    /// Whether the pipe is in blocking mode now: only while the first
    /// bytes of a frame are awaited without a time limit, so that the wait
    /// and the read are one system call (a `read`) rather than two (`poll`,
    /// then `read`). Every other wait is paced, in nonblocking mode.
    blocking: bool,
}

impl PacedReader {
    pub(super) fn new(out: ChildStdout) -> PacedReader {
        PacedReader {
            out,
            first: None,
            awaiting_first: true,
            then: Pace::Steady(Duration::MAX),
            blocking: false,
        }
    }

    /// Puts the pipe in the mode this read wants (see
    /// [`blocking`](Self::blocking)), if it is not in it. A pipe that can't
    /// be switched stays as it is: nonblocking works for every read.
    fn mode(&mut self) {
        let blocking = self.awaiting_first && self.first.is_none();
        if blocking != self.blocking && set_blocking(&self.out, blocking).is_ok() {
            self.blocking = blocking;
        }
    }

    /// Paces the next frame: its first bytes by `first`, then `then`.
    pub(super) fn expect(&mut self, first: Option<Instant>, then: Pace) {
        self.first = first;
        self.awaiting_first = true;
        self.then = then;
    }

    pub(super) fn get_ref(&self) -> &ChildStdout {
        &self.out
    }

    /// Whether no byte of the frame being read has come yet.
    pub(super) fn awaiting_first(&self) -> bool {
        self.awaiting_first
    }
}

impl Read for PacedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.mode();
            match self.out.read(buf) {
                Ok(n) => {
                    if n > 0 {
                        self.awaiting_first = false;
                    }
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    let deadline = if self.awaiting_first {
                        self.first
                    } else {
                        self.then.next_deadline()
                    };
                    if !wait_for(&self.out, libc::POLLIN, deadline) {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the worker stopped sending in the middle of a frame",
                        ));
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }
}
