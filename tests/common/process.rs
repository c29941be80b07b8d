//! Helpers shared by the process-pool tests: a cross-process "started"
//! signal (a Unix socket the task connects to), /proc inspection, and
//! running one test of this binary in a child process.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The test's end of a cross-process channel: a task calls [`notify`] with
/// [`Started::path`] when it is running, and the test blocks in
/// [`Started::wait`] until then. A channel, not a sleep.
pub struct Started {
    listener: UnixListener,
    path: PathBuf,
}

impl Started {
    pub fn new() -> Started {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "futurepool-test-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        Started { listener, path }
    }

    pub fn path(&self) -> String {
        self.path.to_str().unwrap().to_owned()
    }

    /// Blocks until a task has called `notify`; returns the pid it sent.
    pub fn wait(&self) -> u32 {
        let (mut stream, _) = self.listener.accept().unwrap();
        let mut s = String::new();
        stream.read_to_string(&mut s).unwrap();
        s.trim().parse().unwrap()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Called in a worker: tells the test (blocked in `Started::wait`) that the
/// task runs, and in which process.
pub fn notify(path: &str) {
    let mut stream = UnixStream::connect(path).unwrap();
    write!(stream, "{}", std::process::id()).unwrap();
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: dead).
pub fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => state(&stat) == Some('Z'),
    }
}

fn state(stat: &str) -> Option<char> {
    // The command name is in parentheses and may contain spaces.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn ppid(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// This process's children: `(pid, state)`.
pub fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if ppid(&stat) == Some(me) {
            out.push((pid, state(&stat).unwrap_or('?')));
        }
    }
    out
}

/// How many file descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (polling /proc, up to `secs`) for `pid` to be dead: for events
/// outside this process's control (a kernel signal delivery).
pub fn wait_dead(pid: u32, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if is_dead(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    is_dead(pid)
}

/// A command that runs the one test `name` of this test binary in a child
/// process (`--exact`, `--include-ignored`, one thread, not captured by the
/// child's harness), with its output piped to this process, so that the
/// child harness's summary ("1 passed; 15 filtered out") never mixes into
/// this test's output. Run it with [`passed`].
pub fn child_test(name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        name,
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Runs a [`child_test`] to its end and checks that it ran exactly one test,
/// which passed. Returns its stdout and stderr.
pub fn passed(mut cmd: Command) -> (String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert!(
        status.success() && stdout.contains("test result: ok. 1 passed;"),
        "child test: {status}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}"
    );
    (stdout, stderr)
}
