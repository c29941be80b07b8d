//! The process pool's faults of issue 13, each test named after its fault.
//! Each failed (or hung, bounded here) before its fix.
//!
//! Fake workers are small shell scripts started through
//! `ProcessPoolBuilder::worker_program`: they misbehave on the pipes the way
//! a broken or hostile worker could.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::process::is_dead;
use futurepool::{ProcessPool, remote};

/// How long a fake worker may take to fail, well over its `start_timeout`
/// (1 s here) even on a loaded machine, and far under how long it would
/// stall without the fix.
const BOUND: Duration = Duration::from_secs(15);

/// Runs `f` on a thread of its own; panics if it hasn't returned within
/// `bound` (the thread is left behind: the test has failed anyway).
fn within<R: Send + 'static>(
    what: &str,
    bound: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(bound)
        .unwrap_or_else(|_| panic!("{what}: still blocked after {bound:?}"))
}

/// Polls `cond` until it holds; panics after `bound`. For events outside
/// the test's control (a kernel delivering a signal, a driver noticing it).
fn wait_until(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A fake worker program: `script` run by `/bin/sh`, in a temporary file
/// removed on drop.
struct FakeWorker(PathBuf);

impl FakeWorker {
    fn new(tag: &str, script: &str) -> FakeWorker {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "futurepool-fake-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeWorker(path)
    }
}

impl Drop for FakeWorker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn keep(_: Vec<u8>) -> Result<(), String> {
    Ok(())
}

/// Starts a pool on `worker`, submits a task, and checks that the task
/// fails, the pool breaks, and dropping the pool returns, all within
/// [`BOUND`] of a 1 s `start_timeout`.
fn fails_within_the_start_timeout(what: &str, worker: FakeWorker, init: Option<Vec<u8>>) {
    let start = Instant::now();
    let err = within(what, BOUND, move || {
        let mut builder = ProcessPool::builder()
            .max_workers(1)
            .worker_program(&worker.0)
            .start_timeout(Duration::from_secs(1));
        if let Some(arg) = init {
            builder = builder.initializer(remote!(keep), arg);
        }
        let pool = builder.build().unwrap();
        let err = pool.submit(remote!(pid), ()).unwrap().join().unwrap_err();
        drop(pool);
        drop(worker);
        err
    });
    assert!(err.is_broken(), "{what}: {err}");
    eprintln!("{what}: failed after {:?}: {err}", start.elapsed());
}

/// Fault 1: the handshake is bounded by `start_timeout`, whatever a worker
/// does on the pipes: send part of a frame and stall, drip a frame a byte
/// at a time, or never read a large initializer argument.
#[test]
fn the_handshake_is_bounded_by_start_timeout() {
    // A length of 64, four bytes of magic, then nothing.
    let stalled = FakeWorker::new("stall", r"printf '\100\000\000\000futu'; exec sleep 60");
    fails_within_the_start_timeout("a stalled handshake frame", stalled, None);
    // A frame of 1000 bytes, one every 50 ms: progress, but 50 s in all.
    let dripping = FakeWorker::new(
        "drip",
        r"printf '\350\003\000\000'; i=0; while [ $i -lt 1000 ]; do printf x; sleep 0.05; i=$((i+1)); done",
    );
    fails_within_the_start_timeout("a dripping handshake frame", dripping, None);
    // Never reads: the parent's 1 MiB hello fills the pipe.
    let deaf = FakeWorker::new("deaf", "exec sleep 60");
    fails_within_the_start_timeout("a worker that doesn't read", deaf, Some(vec![7; 1 << 20]));
}

/// In a worker: the write end of the pipe the worker answers on (the one
/// pipe it writes to: fd 1 is its stderr, `/dev/null` here).
fn reply_pipe() -> i32 {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_pipe = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("pipe:"));
        // SAFETY: `fcntl(F_GETFL)` on a descriptor number reads its flags
        // (or fails for one closed meanwhile); it touches no memory.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if fd > 2 && is_pipe && flags >= 0 && flags & libc::O_ACCMODE == libc::O_WRONLY {
            return fd;
        }
    }
    panic!("no reply pipe")
}

/// In a worker: starts a reply frame of 1000 bytes on the protocol pipe,
/// sends 10 of them, and stalls forever.
fn stall_mid_reply(_: ()) -> u32 {
    let mut partial = 1000_u32.to_le_bytes().to_vec();
    partial.extend_from_slice(&[0; 10]);
    let fd = reply_pipe();
    // SAFETY: `partial` is valid for its length; `fd` is open.
    let n = unsafe { libc::write(fd, partial.as_ptr().cast(), partial.len()) };
    assert_eq!(n, partial.len() as isize);
    loop {
        std::thread::park();
    }
}

/// A task that runs a while (its own work, not a wait for the test).
fn run_for_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Fault 1, after the handshake: a frame that stops making progress is a
/// dead worker (bounded by `start_timeout`), while a task may run as long
/// as it likes before its reply starts.
#[test]
fn a_stalled_frame_is_a_dead_worker() {
    // Room for a real worker to start on a loaded machine.
    let pool = ProcessPool::builder()
        .max_workers(1)
        .start_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    // Longer than the stall limit (the start timeout), and fine.
    let long = pool.submit(remote!(run_for_ms), 2500).unwrap();
    assert_eq!(long.join().unwrap(), 2500);
    let stalled = pool.submit(remote!(stall_mid_reply), ()).unwrap();
    let err = within("a reply stalled mid-frame", BOUND, move || {
        stalled.join().unwrap_err()
    });
    assert!(err.is_worker_died(), "{err}");
    // The pool goes on, with a fresh worker.
    assert_ne!(
        pool.submit(remote!(pid), ()).unwrap().join().unwrap(),
        err.worker_pid().unwrap()
    );
}

/// In a worker's initializer: sends the worker's pid to the test at `path`
/// and waits for a byte (the test kills it instead, the first time).
fn init_at_gate(path: String) -> Result<(), String> {
    let mut stream = UnixStream::connect(path).map_err(|e| e.to_string())?;
    writeln!(stream, "{}", std::process::id()).map_err(|e| e.to_string())?;
    stream.read_exact(&mut [0]).map_err(|e| e.to_string())?;
    Ok(())
}

/// Fault 2: a worker killed during start-up broke the pool for good; a
/// start that failed for a reason that can pass is retried.
#[test]
fn a_worker_killed_during_start_up_is_replaced() {
    let gate = std::os::unix::net::UnixListener::bind({
        let path = std::env::temp_dir().join(format!(
            "futurepool-faults-init-{}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        path
    })
    .unwrap();
    let path = gate.local_addr().unwrap().as_pathname().unwrap().to_owned();
    let pool = ProcessPool::builder()
        .max_workers(1)
        .initializer(remote!(init_at_gate), path.to_str().unwrap().to_owned())
        .build()
        .unwrap();
    let handle = pool.submit(remote!(pid), ()).unwrap();
    let arrival = |gate: &std::os::unix::net::UnixListener| {
        let (stream, _) = gate.accept().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(&stream), &mut line).unwrap();
        (stream, line.trim().parse::<u32>().unwrap())
    };
    let (_first, starting) = arrival(&gate);
    // SAFETY: `kill` takes plain integers; `starting` is the pool's child,
    // not reaped while the pool waits for its handshake.
    assert_eq!(unsafe { libc::kill(starting as i32, libc::SIGKILL) }, 0);
    let (mut second, replacement) =
        within("the replacement's start", BOUND, move || arrival(&gate));
    assert_ne!(replacement, starting);
    second.write_all(&[1]).unwrap();
    let ran_on = within("the task", BOUND, move || handle.join());
    assert_eq!(ran_on.unwrap(), replacement);
    assert_eq!(
        pool.submit(remote!(pid), ()).unwrap().join().unwrap(),
        replacement
    );
    let _ = std::fs::remove_file(&path);
}

/// Fault 3: a worker killed while idle stayed a zombie until its driver's
/// next task, `worker_pids()` kept listing it, and the next task was
/// written into the dead pipe and failed as "worker died".
#[test]
fn a_worker_killed_while_idle_is_reaped_and_replaced() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .retries_on_worker_death(0)
        .build()
        .unwrap();
    let first = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_eq!(pool.worker_pids(), [first]);
    // SAFETY: `kill` takes plain integers; `first` is the pool's idle child.
    assert_eq!(unsafe { libc::kill(first as i32, libc::SIGKILL) }, 0);
    // Reaped (gone from /proc, not a zombie) and no longer listed.
    wait_until("the idle worker is reaped", BOUND, || {
        !pool.worker_pids().contains(&first)
            && !std::path::Path::new(&format!("/proc/{first}")).exists()
    });
    let second = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(second, first);
    // Dead, and not reaped yet (or already: either way the next task must
    // go to a fresh worker, not into the dead pipe).
    // SAFETY: as above; `second` is the pool's idle child.
    assert_eq!(unsafe { libc::kill(second as i32, libc::SIGKILL) }, 0);
    wait_until("the idle worker is dead", BOUND, || is_dead(second));
    let third = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(third, second);
    assert_eq!(pool.workers_started(), 3);
}

/// In a worker: records that it ran, by creating `path`.
fn mark(path: String) -> u8 {
    std::fs::write(path, b"ran").unwrap();
    1
}

/// Fault 4: on a warm pool, a task submitted with a deadline already passed
/// (or a zero timeout) could run, and its `join` return `Ok`.
#[test]
fn a_passed_deadline_never_runs() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let warm = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    let marker = std::env::temp_dir().join(format!("futurepool-faults-ran-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let path = marker.to_str().unwrap().to_owned();
    for round in 0..200 {
        let zero = pool
            .task()
            .timeout(Duration::ZERO)
            .submit(remote!(mark), path.clone())
            .unwrap();
        let passed = pool
            .task()
            .deadline(Instant::now())
            .submit(remote!(mark), path.clone())
            .unwrap();
        for handle in [zero, passed] {
            let err = handle.join().unwrap_err();
            assert!(err.is_timeout(), "round {round}: {err}");
        }
        // Queued behind them on the one worker: they were dealt with first.
        assert_eq!(pool.submit(remote!(pid), ()).unwrap().join().unwrap(), warm);
        assert!(
            !marker.exists(),
            "round {round}: a task past its deadline ran"
        );
    }
}

/// Fault 5: under load, a strictly sequential submit-join loop started a
/// second worker, because the driver that had just delivered a result was
/// not yet counted idle. Both cores are kept busy here by spinning threads.
#[test]
fn idle_workers_are_reused_under_load() {
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let pool = ProcessPool::builder().max_workers(5).build().unwrap();
    let mut started = Vec::new();
    for i in 0..200_u32 {
        let outcome = pool.submit(remote!(pid), ()).unwrap().join();
        assert!(outcome.is_ok(), "task {i}: {outcome:?}");
        started.push(pool.workers_started());
    }
    stop.store(true, Ordering::Relaxed);
    for hog in hogs {
        hog.join().unwrap();
    }
    assert_eq!(
        pool.workers_started(),
        1,
        "workers started after each task: {started:?}"
    );
}

/// A worker initializer that takes its time, as one opening a database
/// connection would.
fn slow_start(ms: u64) -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(ms));
    Ok(())
}

/// A task's time limit is on its running time: a worker started for it
/// (a cold pool here, its initializer taking 600 ms) doesn't eat into a
/// 300 ms limit. (It used to: the limit started before the worker did, so
/// under load a quick item of a process map could time out.)
#[test]
fn a_time_limit_does_not_count_a_workers_start_up() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .initializer(remote!(slow_start), 600)
        .build()
        .unwrap();
    let started = Instant::now();
    let quick = pool
        .task()
        .time_limit(Duration::from_millis(300))
        .submit(remote!(pid), ())
        .unwrap();
    assert!(
        quick.join().is_ok(),
        "ran within its limit once its worker was up"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the worker did start slowly"
    );
    // And the limit still stops a task that runs too long.
    let slow = pool
        .task()
        .time_limit(Duration::from_millis(300))
        .submit(remote!(run_for_ms), 60_000)
        .unwrap();
    assert!(slow.join().unwrap_err().is_timeout());
}
