//! Linux: a copy of a worker that one of its tasks forks (`fork()` without
//! `exec`) is not a worker.
//!
//! Such a copy inherits everything the worker holds: the ends of its pipes
//! to the pool, the shared file and the mailbox. Left alone, a copy that
//! outlives the worker (a child that sleeps, a daemon) holds the pipes
//! open, so the pool never sees the end of file that tells it the worker
//! died or was killed: a crash hung its task, a cancel or timeout hung the
//! driver (and with it the next task and the shutdown). And a copy whose
//! task returns goes on serving: its reply, or its result in the shared
//! file, reached the pool as another task's.
//!
//! So the worker registers a `pthread_atfork` child handler, which runs in
//! the copy before `fork()` returns there: it puts `/dev/null` in place of
//! the pipes (the same descriptor numbers, close-on-exec, so nothing of
//! the copy's later opens takes them) and marks the process a copy. A copy
//! writes nothing to the shared file, and once its task returns it exits
//! (code 0) instead of answering. Programs a task starts with `exec` were
//! never concerned: the pipes are close-on-exec. (A raw `clone` system
//! call skips the handler: nothing can be done for that.)

use std::os::fd::RawFd;

use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set in a forked copy of a worker, by [`in_the_copy`].
static COPY: AtomicBool = AtomicBool::new(false);

/// The worker's ends of its pipes: input, output (`usize::MAX`: none).
static PIPES: [AtomicUsize; 2] = [AtomicUsize::new(usize::MAX), AtomicUsize::new(usize::MAX)];

/// Called once by the worker, with its ends of the pipes, before it runs
/// any user code (the initializer included).
pub(crate) fn guard(input: RawFd, output: RawFd) {
    for (slot, fd) in PIPES.iter().zip([input, output]) {
        // ORDERING: Relaxed: the handler that reads these runs in a
        // process forked later by this one, whose memory is a copy of
        // this process's at the fork.
        slot.store(usize::try_from(fd).unwrap_or(usize::MAX), Ordering::Relaxed);
    }
    // SAFETY: registers a handler that `fork` runs in the child; the
    // handler only makes async-signal-safe calls (`open`, `dup3`, `close`)
    // and atomic stores. Registering can only fail for lack of memory:
    // then forked copies keep the pipes, as before.
    unsafe {
        libc::pthread_atfork(None, None, Some(in_the_copy));
    }
}

/// Whether this process is a forked copy of a worker (see the module
/// docs): it must not answer the pool, nor write to the shared file.
pub(crate) fn is_copy() -> bool {
    // ORDERING: Relaxed: set by the thread that forked, in the copy, before
    // `fork` returns there; only that thread runs in the copy.
    COPY.load(Ordering::Relaxed)
}

/// The `pthread_atfork` child handler: see the module docs.
unsafe extern "C" fn in_the_copy() {
    // ORDERING: see `is_copy`.
    COPY.store(true, Ordering::Relaxed);
    // SAFETY: `open`, `dup3` and `close` are async-signal-safe system
    // calls on integers and a static C string. The descriptors in `PIPES`
    // are the worker's pipes, which the copy inherited and nothing else in
    // it uses from now on: replacing them (or, if `/dev/null` won't open,
    // closing them) only takes the pipes from the copy.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        for slot in &PIPES {
            // ORDERING: see `guard`.
            let fd = slot.load(Ordering::Relaxed);
            let Ok(fd) = RawFd::try_from(fd) else {
                continue;
            };
            if null < 0 || libc::dup3(null, fd, libc::O_CLOEXEC) < 0 {
                libc::close(fd);
            }
        }
        if null >= 0 {
            libc::close(null);
        }
    }
}
