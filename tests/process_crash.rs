//! The process pool under crashes and abuse: workers that segfault, abort,
//! exit or are killed fail only their own task; serialization failures on
//! either side fail only their task; garbage on the pipes is an error, not a
//! hang; no zombies or leaked fds after many replacements; workers die with
//! their parent. Ports CPython's `test_deadlock.py` (with the corrected
//! behaviour: the pool is never broken by one task) and
//! `test_killed_child` / `test_traceback_when_child_process_terminates_abruptly`.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::process::{
    Started, child_test, children, is_dead, notify, open_fds, passed, wait_dead,
};
use futurepool::{ProcessPool, ShutdownOptions, TaskError, remote};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn segfault(_: ()) -> u32 {
    // SAFETY: not safe at all: a write to an unmapped address, to crash
    // this worker with a real SIGSEGV, which is the point of the test.
    unsafe { std::ptr::without_provenance_mut::<u32>(8).write_volatile(1) };
    0
}

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder().max_workers(workers).build().unwrap()
}

/// Asserts that `err` reports the death of a worker, and that the pool goes
/// on with a fresh one.
fn assert_died_and_pool_lives(pool: &ProcessPool, err: TaskError) -> u32 {
    assert!(err.is_worker_died(), "{err}");
    let dead = err.worker_pid().unwrap();
    assert!(
        err.to_string()
            .starts_with(&format!("worker process {dead} died: ")),
        "{err}"
    );
    let next = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(next, dead);
    assert!(is_dead(dead));
    dead
}

/// CPython `test_crash_during_func_exec_on_worker`.
#[test]
fn segfault_fails_only_its_task() {
    let pool = pool(1);
    let err = pool
        .submit(remote!(segfault), ())
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(err.exit_signal(), Some(libc::SIGSEGV));
    assert!(
        err.to_string().ends_with("killed by signal 11 (SIGSEGV)"),
        "{err}"
    );
    assert_died_and_pool_lives(&pool, err);
}

#[test]
fn abort_fails_only_its_task() {
    let pool = pool(1);
    let abort = remote!(|_: ()| -> u8 { std::process::abort() });
    let err = pool.submit(abort, ()).unwrap().join().unwrap_err();
    assert_eq!(err.exit_signal(), Some(libc::SIGABRT));
    assert_died_and_pool_lives(&pool, err);
}

/// CPython `test_traceback_when_child_process_terminates_abruptly` and
/// `test_exit_during_func_exec_on_worker`.
#[test]
fn exit_reports_the_exit_code() {
    let pool = pool(1);
    let exit = remote!(|code: i32| -> u8 { std::process::exit(code) });
    let err = pool.submit(exit, 99).unwrap().join().unwrap_err();
    assert_eq!((err.exit_code(), err.exit_signal()), (Some(99), None));
    assert!(err.to_string().ends_with("exited with code 99"), "{err}");
    assert_died_and_pool_lives(&pool, err);
}

/// CPython `test_killed_child`: the known fault is that one killed worker
/// breaks the whole pool. Here only its task fails.
#[test]
fn killed_child_fails_only_its_task() {
    let pool = pool(2);
    let started = Started::new();
    let victim = pool
        .submit(
            remote!(|path: String| -> u8 {
                notify(&path);
                loop {
                    std::thread::park();
                }
            }),
            started.path(),
        )
        .unwrap();
    let worker = started.wait();
    let other = pool.submit(remote!(|x: u8| x + 1), 1).unwrap();
    // SAFETY: kill takes plain integers; the pid is our live child.
    unsafe {
        libc::kill(worker as i32, libc::SIGKILL);
    }
    let err = victim.join().unwrap_err();
    assert_eq!(
        (err.worker_pid(), err.exit_signal()),
        (Some(worker), Some(9))
    );
    assert_eq!(other.join().unwrap(), 2);
    assert_died_and_pool_lives(&pool, err);
}

/// CPython `test_broken_process_pool_traceback`: each task gets its own
/// error value.
#[test]
fn each_task_gets_its_own_error() {
    let pool = pool(2);
    let handles: Vec<_> = (0..3)
        .map(|_| pool.submit(remote!(segfault), ()).unwrap())
        .collect();
    let errs: Vec<TaskError> = handles.into_iter().map(|h| h.join().unwrap_err()).collect();
    assert!(errs.iter().all(TaskError::is_worker_died));
    let pids: std::collections::HashSet<_> = errs.iter().map(|e| e.worker_pid()).collect();
    assert_eq!(pids.len(), 3, "each crash was its own worker");
}

/// An argument or result whose serde impls misbehave on demand.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Evil {
    Fine,
    FailSerialize,
    FailDeserialize,
    AbortDeserialize,
    ExitDeserialize,
    AbortSerialize,
}

impl Serialize for Evil {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Evil::FailSerialize => Err(serde::ser::Error::custom("refuses to serialize")),
            Evil::AbortSerialize if is_worker() => std::process::abort(),
            other => s.serialize_u8(*other as u8),
        }
    }
}

impl<'de> Deserialize<'de> for Evil {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Evil, D::Error> {
        Ok(match u8::deserialize(d)? {
            0 => Evil::Fine,
            1 => Evil::FailSerialize,
            2 => return Err(serde::de::Error::custom("refuses to deserialize")),
            3 => std::process::abort(),
            4 => std::process::exit(1),
            5 => Evil::AbortSerialize,
            _ => return Err(serde::de::Error::custom("unknown")),
        })
    }
}

/// Whether this process is a pool worker (its parent is this test binary).
fn is_worker() -> bool {
    std::env::current_exe().ok().and_then(|exe| {
        let parent = std::os::unix::process::parent_id();
        std::fs::read_link(format!("/proc/{parent}/exe"))
            .ok()
            .map(|p| p == exe)
    }) == Some(true)
}

fn echo(e: Evil) -> Evil {
    e
}

fn make(e: u8) -> Evil {
    [
        Evil::Fine,
        Evil::FailSerialize,
        Evil::FailDeserialize,
        Evil::AbortDeserialize,
        Evil::ExitDeserialize,
        Evil::AbortSerialize,
    ][e as usize]
}

#[test]
fn deadlock_cases_fail_only_their_task() {
    let pool = pool(2);
    let one = |e: Evil| pool.submit(remote!(echo), e).unwrap().join();
    let from = |e: u8| pool.submit(remote!(make), e).unwrap().join();

    // test_error_at_task_pickle: never leaves the caller.
    // (The wire format, postcard, keeps no message that a serde impl gives
    // `Error::custom`: the error says whose impl failed instead.)
    let err = one(Evil::FailSerialize).unwrap_err();
    assert!(err.is_serialization(), "{err}");
    assert!(
        err.to_string()
            .contains("serialize the task's argument: the value's `Serialize` impl failed"),
        "{err}"
    );
    // test_error_at_task_unpickle: the worker can't decode the argument.
    let err = one(Evil::FailDeserialize).unwrap_err();
    assert!(
        err.is_serialization()
            && err.to_string().contains(
                "deserialize the task's argument: the value's `Deserialize` impl refused"
            ),
        "{err}"
    );
    // test_crash_at_task_unpickle / test_exit_at_task_unpickle.
    assert_eq!(
        one(Evil::AbortDeserialize).unwrap_err().exit_signal(),
        Some(libc::SIGABRT)
    );
    assert_eq!(one(Evil::ExitDeserialize).unwrap_err().exit_code(), Some(1));
    // test_error_during_result_pickle_on_worker.
    let err = from(1).unwrap_err();
    assert!(
        err.is_serialization() && err.to_string().contains("serialize the task's result"),
        "{err}"
    );
    // test_crash_during_result_pickle_on_worker.
    assert_eq!(from(5).unwrap_err().exit_signal(), Some(libc::SIGABRT));
    // test_error_during_result_unpickle_in_result_handler: Python breaks
    // the pool; here the task fails and the worker lives.
    let err = from(2).unwrap_err();
    assert!(
        err.is_serialization() && err.to_string().contains("deserialize the task's result"),
        "{err}"
    );
    // And the pool is fine.
    assert_eq!(one(Evil::Fine).unwrap(), Evil::Fine);
    assert_eq!(from(0).unwrap(), Evil::Fine);
}

/// CPython `test_shutdown_deadlock`: a worker dying during shutdown.
#[test]
fn shutdown_while_a_worker_crashes() {
    let pool = pool(2);
    let crash = remote!(|_: ()| -> u8 {
        std::thread::sleep(Duration::from_millis(100));
        std::process::abort()
    });
    let h = pool.submit(crash, ()).unwrap();
    pool.shutdown();
    assert!(h.join().unwrap_err().is_worker_died());
}

/// CPython `test_shutdown_deadlock_pickle`.
#[test]
fn shutdown_after_an_unserializable_argument() {
    let pool = pool(2);
    pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    let h = pool.submit(remote!(echo), Evil::FailSerialize).unwrap();
    pool.shutdown_with(ShutdownOptions::new().wait(false));
    assert!(h.join().unwrap_err().is_serialization());
}

/// CPython `test_crash_big_data`: crashes with large payloads half-written
/// to the pipe don't deadlock.
#[test]
fn crash_with_big_data() {
    let pool = pool(2);
    let crash = remote!(|data: String| -> usize {
        if data.len() > 1 {
            std::process::abort();
        }
        data.len()
    });
    let big = "x".repeat(1 << 20);
    let results: Vec<_> = pool.map(crash, (0..10).map(|_| big.clone())).collect();
    assert_eq!(results.len(), 10);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap_err().is_worker_died())
    );
}

/// kill -9 a worker in the middle of a map of thousands: every task either
/// completes or reports that worker's death.
#[test]
fn kill_a_worker_mid_map() {
    let pool = pool(2);
    let work = remote!(|i: u32| {
        let until = Instant::now() + Duration::from_micros(200);
        while Instant::now() < until {}
        (i, std::process::id())
    });
    let (mut ok, mut died, mut victim) = (0, 0, None);
    for (i, r) in pool.map(work, 0..3000).enumerate() {
        match r {
            Ok((x, pid)) => {
                assert_eq!(x as usize, i);
                ok += 1;
                if i == 1000 {
                    // SAFETY: kill takes plain integers; `pid` is our child.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    victim = Some(pid);
                }
            }
            Err(err) => {
                assert!(err.is_worker_died(), "{err}");
                assert_eq!(err.worker_pid(), victim);
                assert_eq!(err.exit_signal(), Some(libc::SIGKILL));
                died += 1;
            }
        }
    }
    assert_eq!(ok + died, 3000);
    assert!(
        died <= 1,
        "only the task the victim was running fails ({died})"
    );
    assert!(wait_dead(victim.unwrap(), 5));
}

/// 1,000 worker replacements: no zombie, no leaked file descriptor. Other
/// tests of this binary open and close pipes concurrently, so the counting
/// runs alone, in a child copy of this test binary.
#[test]
fn no_zombies_or_fd_leaks_after_1000_replacements() {
    if std::env::var_os("FUTUREPOOL_TEST_ALONE").is_none() {
        let mut child = child_test("no_zombies_or_fd_leaks_after_1000_replacements");
        child.env("FUTUREPOOL_TEST_ALONE", "1");
        let (stdout, _) = passed(child);
        let timing = stdout.lines().find(|l| l.contains("replacements took"));
        eprintln!("{}", timing.expect("the child reports its timing"));
        return;
    }
    let fds_before = open_fds();
    let start = Instant::now();
    let pool = ProcessPool::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let n = pool
        .map(remote!(pid), (0..1000).map(|_| ()))
        .filter(Result::is_ok)
        .count();
    assert_eq!(n, 1000);
    assert!(pool.workers_started() >= 1000);
    pool.shutdown();
    let elapsed = start.elapsed();
    assert_eq!(open_fds(), fds_before, "leaked fds");
    let left: Vec<_> = children();
    assert!(left.is_empty(), "children left (zombie or not): {left:?}");
    println!("1000 worker replacements took {elapsed:?}");
}

/// A worker built from another binary is refused at start-up: a copy of this
/// test binary with one byte appended.
#[test]
fn a_different_binary_is_refused() {
    let exe = std::env::current_exe().unwrap();
    let copy = std::env::temp_dir().join(format!("futurepool-other-{}", std::process::id()));
    let mut bytes = std::fs::read(&exe).unwrap();
    bytes.push(0);
    std::fs::write(&copy, bytes).unwrap();
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pool = ProcessPool::builder()
        .worker_program(&copy)
        .build()
        .unwrap();
    let err = pool.submit(remote!(pid), ()).unwrap().join().unwrap_err();
    let _ = std::fs::remove_file(&copy);
    assert!(err.is_broken(), "{err}");
    // The reason is the error's source (the Display doesn't repeat it).
    let cause = std::error::Error::source(&err).expect("why it could not start");
    assert!(
        cause
            .to_string()
            .contains("executable differs from the parent's"),
        "{err}: {cause}"
    );
    assert!(pool.submit(remote!(pid), ()).unwrap_err().is_broken());
}

/// A program that is not a futurepool worker answers the handshake with
/// garbage (or nothing): an error, never a hang.
#[test]
fn garbage_from_a_worker_is_an_error() {
    for program in ["/bin/cat", "/usr/bin/yes", "/bin/true"] {
        if !std::path::Path::new(program).exists() {
            continue;
        }
        let pool = ProcessPool::builder()
            .worker_program(program)
            .start_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let err = pool.submit(remote!(pid), ()).unwrap().join().unwrap_err();
        assert!(err.is_broken(), "{program}: {err}");
        eprintln!("{program}: {err}");
    }
}

/// Garbage into a worker's pipe: it answers with the reason (its stderr
/// goes nowhere) and exits with an error, never hangs.
#[test]
fn garbage_to_a_worker_is_refused() {
    for (garbage, reason) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], "over the limit"),
        (&[12, 0, 0, 0, 1, 2, 3][..], "unexpected end of file"),
        (b"\x10\0\0\0futurepl\x07\0\0\0abcd", "protocol version 7"),
    ] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg(format!("--futurepool-worker={}", std::process::id()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(garbage).unwrap();
        let out = child.wait_with_output().unwrap();
        // 2: garbage, 3: refused. Anything else (101: the test harness
        // refusing an unknown option) means it never acted as a worker.
        assert!(matches!(out.status.code(), Some(2 | 3)), "{}", out.status);
        // The refusal is a handshake reply, with the reason in it.
        let reply = String::from_utf8_lossy(&out.stdout);
        assert!(reply.contains("futurepl"), "{reply:?}");
        assert!(reply.contains(reason), "{reply:?}");
        assert!(out.stderr.is_empty(), "it printed");
    }
}

/// The parent is killed with SIGKILL: its workers exit promptly.
#[test]
fn workers_die_with_their_parent() {
    let started = Started::new();
    let mut parent = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "parent_for_the_death_test",
            "--ignored",
            "--nocapture",
        ])
        .env("FUTUREPOOL_TEST_PARENT", started.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let worker = started.wait(); // the grandchild runs a task
    parent.kill().unwrap();
    parent.wait().unwrap();
    assert!(wait_dead(worker, 10), "worker {worker} outlived its parent");
}

/// Not a test: the parent process of `workers_die_with_their_parent`.
#[test]
#[ignore = "run by workers_die_with_their_parent"]
fn parent_for_the_death_test() {
    let Ok(path) = std::env::var("FUTUREPOOL_TEST_PARENT") else {
        return;
    };
    let pool = pool(1);
    let block = remote!(|path: String| -> u8 {
        notify(&path);
        loop {
            std::thread::park();
        }
    });
    let _h = pool.submit(block, path).unwrap();
    loop {
        std::thread::park(); // until killed
    }
}

/// Runs `f` on a thread of its own; panics if it hasn't returned within
/// 30 s (a hang: the thread is left behind, the test has failed anyway).
fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still blocked after 30 s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: failed"),
    }
}

/// In a worker: forks a copy of itself (no `exec`) that lingers until the
/// test lets it go (its end of the socket at `path` closes), then returns
/// in the worker, the copy's pid sent to the test first.
fn fork_a_lingering_copy(path: &str) {
    use std::io::Read;
    let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
    // SAFETY: the copy makes only async-signal-safe calls (`read`,
    // `_exit`): this worker may have other threads.
    let copy = unsafe { libc::fork() };
    if copy == 0 {
        let _ = stream.read(&mut [0]);
        // SAFETY: ends the copy without running anything of the worker's.
        unsafe { libc::_exit(0) };
    }
    writeln!(stream, "{copy}").unwrap();
}

/// The test's end of [`fork_a_lingering_copy`]: a listener whose
/// [`copy`](Self::copy) waits for a task to fork, and holds the copy.
struct Copies {
    listener: std::os::unix::net::UnixListener,
    path: std::path::PathBuf,
    held: Vec<std::os::unix::net::UnixStream>,
}

impl Copies {
    fn new() -> Copies {
        let path =
            std::env::temp_dir().join(format!("futurepool-copies-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        Copies {
            listener,
            path,
            held: Vec::new(),
        }
    }

    fn path(&self) -> String {
        self.path.to_str().unwrap().to_owned()
    }

    /// Waits until a task has forked its copy; returns the copy's pid.
    fn copy(&mut self) -> u32 {
        use std::io::BufRead;
        let (stream, _) = self.listener.accept().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(&stream)
            .read_line(&mut line)
            .unwrap();
        self.held.push(stream);
        line.trim().parse().unwrap()
    }
}

impl Drop for Copies {
    /// Lets the copies go.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A copy that a task forks kept the worker's pipes: when the worker died
/// or was killed, the pool never saw the end of its output, and the task
/// (after a crash) or the driver (after a cancel, so the next task and the
/// shutdown) hung for as long as the copy lived.
#[test]
fn a_copy_that_a_task_forks_does_not_hold_its_worker() {
    within("a task that forks", || {
        let pool = pool(1);
        let mut copies = Copies::new();
        let fork_then_abort = remote!(|path: String| -> u8 {
            fork_a_lingering_copy(&path);
            std::process::abort()
        });
        let crashed = pool.submit(fork_then_abort, copies.path()).unwrap();
        let copy = copies.copy();
        let err = crashed.join().unwrap_err();
        assert_eq!(err.exit_signal(), Some(libc::SIGABRT), "{err}");
        assert_died_and_pool_lives(&pool, err);
        assert!(!is_dead(copy), "the copy lives on: it is the task's own");

        let fork_then_wait = remote!(|path: String| -> u8 {
            fork_a_lingering_copy(&path);
            loop {
                std::thread::park();
            }
        });
        let running = pool.submit(fork_then_wait, copies.path()).unwrap();
        let copy = copies.copy();
        assert!(running.cancel());
        assert!(running.join().unwrap_err().is_cancelled());
        // Its worker was killed and is reaped: the next task runs.
        assert!(pool.submit(remote!(pid), ()).unwrap().join().is_ok());
        assert!(!is_dead(copy));
        pool.shutdown();
        assert!(pool.worker_pids().is_empty());
    });
}

/// A copy that a task forked and whose task returned went on serving: its
/// reply (or its value in the shared file) came back as another task's.
#[test]
fn a_copy_that_a_task_forks_never_answers() {
    use serde_bytes::ByteBuf;
    let fork_and_return = remote!(|(x, len): (u8, usize)| -> ByteBuf {
        // SAFETY: both copies only allocate and return: a test.
        let in_copy = unsafe { libc::fork() } == 0;
        ByteBuf::from(vec![if in_copy { !x } else { x }; len])
    });
    within("a task that forks and returns", move || {
        let pool = pool(1);
        // Small values (the pipe, the mailbox) and large (the shared file).
        for (i, len) in (0..40_u8).zip([1, 200_000].into_iter().cycle()) {
            let value = pool.submit(fork_and_return, (i, len)).unwrap().join();
            assert_eq!(value.unwrap().into_vec(), vec![i; len]);
            assert_eq!(
                pool.submit(remote!(pid), ()).unwrap().join().ok(),
                pool.worker_pids().first().copied()
            );
        }
    });
}
