//! Cancel of a running cluster task (a request that kills its process on
//! the worker), what a shutdown or a drop of the client ends, and build
//! matching without used-up deliveries, against a real nats-server
//! (tests/common/nats.rs). Workers are this test binary re-executed in
//! worker mode (see `worker_mode`), each test on a prefix (a work queue)
//! of its own.

#![cfg(all(feature = "cluster", target_os = "linux"))]

mod common {
    pub mod nats;
}

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::nats::{PASSWORD, USER, WorkerProc, server};
use futurepool::{ClusterExecutor, Executor, JoinTimeoutError, TaskError, TaskHandle, remote};

/// The bound on what must happen (a lost task fails the test, never hangs
/// it).
const LONG: Duration = Duration::from_secs(60);

// Worker mode: before `main`, a process started with this variable set is
// a cluster worker (and a worker's own pool processes, re-executed with
// the process pool's marker, serve in `process::init`).
extern "C" fn worker_mode() {
    futurepool::process::init();
    let Ok(spec) = std::env::var("FUTUREPOOL_TEST_CLUSTER_CANCEL_WORKER") else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, prefix, build, ack_ms] = parts[..] else {
        panic!("bad worker spec {spec}");
    };
    let mut builder = futurepool::cluster::Worker::builder(url)
        .user_password(USER, PASSWORD)
        .prefix(prefix)
        .concurrency(1)
        .ack_wait(Duration::from_millis(ack_ms.parse().unwrap()))
        .max_deliveries(5);
    if !build.is_empty() {
        builder = builder.build_identity(build);
    }
    let worker = builder.build().expect("the worker can't start");
    worker.run();
    std::process::exit(0);
}

#[used]
#[unsafe(link_section = ".init_array")]
static WORKER_MODE: extern "C" fn() = worker_mode;

fn start_worker(prefix: &str, build: &str, ack_ms: u64) -> WorkerProc {
    start_worker_at(&server().url, prefix, build, ack_ms)
}

fn start_worker_at(url: &str, prefix: &str, build: &str, ack_ms: u64) -> WorkerProc {
    let spec = format!("{url}|{prefix}|{build}|{ack_ms}");
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no-test-runs-in-a-worker"])
        .env("FUTUREPOOL_TEST_CLUSTER_CANCEL_WORKER", spec)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    WorkerProc(child)
}

/// A prefix (a work queue) of this test's own.
fn prefix(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "c{}-{test}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn builder(prefix: &str) -> futurepool::ClusterBuilder {
    ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(prefix)
}

fn square(x: u64) -> u64 {
    x * x
}

/// Tells the test (listening at `path`) this process's pid and its
/// worker's, then blocks until the test writes a byte (returns 7) or hangs
/// up (returns 0). A task that must be killed to end: the test never
/// writes.
fn meet(path: String) -> u64 {
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() };
    let mut s = UnixStream::connect(&path).unwrap();
    writeln!(s, "{} {ppid}", std::process::id()).unwrap();
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(1) => 7,
        _ => 0,
    }
}

/// The test's end of `meet`.
struct Meeting {
    listener: UnixListener,
    path: String,
}

/// A task that arrived at a meeting: its process, its worker, and the
/// stream that releases it.
struct Arrival {
    pid: u32,
    worker: u32,
    stream: UnixStream,
}

impl Meeting {
    fn new() -> Meeting {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir()
            .join(format!(
                "futurepool-ccancel-{}-{}.sock",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ))
            .to_str()
            .unwrap()
            .to_owned();
        let _ = std::fs::remove_file(&path);
        Meeting {
            listener: UnixListener::bind(&path).unwrap(),
            path,
        }
    }

    fn arrive(&self) -> Arrival {
        let (mut stream, _) = self.listener.accept().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while stream.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let line = String::from_utf8(line).unwrap();
        let (pid, worker) = line.split_once(' ').unwrap();
        Arrival {
            pid: pid.parse().unwrap(),
            worker: worker.parse().unwrap(),
            stream,
        }
    }

    /// Whether a task has come (and waits to be accepted).
    fn anyone_came(&self) -> bool {
        self.listener.set_nonblocking(true).unwrap();
        let came = match self.listener.accept() {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(e) => panic!("{e}"),
        };
        self.listener.set_nonblocking(false).unwrap();
        came
    }
}

impl Drop for Meeting {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Waits (at most [`LONG`]) until the client has heard that a worker
/// started the task: only then is `cancel` a request.
fn wait_running<T>(handle: &TaskHandle<T>) {
    let since = Instant::now();
    while !handle.is_running() {
        assert!(since.elapsed() < LONG, "the task never started");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The error a handle ended with, within [`LONG`].
fn failure<T: std::fmt::Debug>(handle: TaskHandle<T>) -> TaskError {
    match handle.join_timeout(LONG) {
        Err(JoinTimeoutError::Failed(err)) => err,
        other => panic!("{other:?}"),
    }
}

#[test]
fn cancel_of_a_running_task_kills_its_process_on_the_worker() {
    let p = prefix("kill");
    let w = start_worker(&p, "", 30_000);
    let pool = builder(&p).build().unwrap();
    let meeting = Meeting::new();
    let handle = pool.submit_fn(remote!(meet), meeting.path.clone()).unwrap();
    let mut arrival = meeting.arrive();
    assert_eq!(arrival.worker, w.0.id());
    wait_running(&handle);
    // A request: not cancelled yet (the task runs on until its worker has
    // killed it, a round trip later).
    let asked = Instant::now();
    assert!(!handle.cancel());
    assert!(handle.wait_timeout(LONG), "the cancel never took effect");
    eprintln!(
        "cancelled by the worker {:?} after the request",
        asked.elapsed()
    );
    assert!(handle.is_cancelled());
    assert!(handle.cancel(), "it ended by cancellation");
    // Its process is gone: its end of the meeting closed without a word.
    let mut byte = [0u8; 1];
    assert_eq!(arrival.stream.read(&mut byte).unwrap(), 0);
    // And it has exited (it may be between closing its files and being
    // reaped for a moment).
    let since = Instant::now();
    while let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", arrival.pid)) {
        if stat.contains(") Z ") || stat.contains(") X ") {
            break;
        }
        assert!(
            since.elapsed() < LONG,
            "the task's process still runs: {stat}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(failure(handle).is_cancelled());
    // The worker goes on, on a fresh process.
    assert_eq!(
        pool.submit_fn(remote!(square), 7)
            .unwrap()
            .join_timeout(LONG)
            .unwrap(),
        49
    );
}

#[test]
fn a_cancel_racing_the_tasks_end_ends_it_once_either_way() {
    let p = prefix("race");
    let _w = start_worker(&p, "", 30_000);
    let pool = builder(&p).build().unwrap();
    let meeting = Meeting::new();
    let (mut values, mut cancels) = (0, 0);
    for i in 0..8 {
        let handle = pool.submit_fn(remote!(meet), meeting.path.clone()).unwrap();
        let mut arrival = meeting.arrive();
        wait_running(&handle);
        // The task returns as the request leaves: whichever the worker
        // sees first is the outcome. (The pause only varies the
        // interleaving; every one must end the task once.)
        arrival.stream.write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_micros(700 * i));
        let asked = handle.cancel();
        assert!(!asked || handle.is_cancelled());
        assert!(handle.wait_timeout(LONG), "no outcome");
        if handle.is_cancelled() {
            cancels += 1;
            assert!(failure(handle).is_cancelled());
        } else {
            values += 1;
            assert!(!handle.cancel());
            assert_eq!(handle.join().unwrap(), 7);
        }
    }
    eprintln!("{values} values, {cancels} cancels");
    // The worker is free: nothing of the raced tasks holds it.
    assert_eq!(
        pool.submit_fn(remote!(square), 3)
            .unwrap()
            .join_timeout(LONG)
            .unwrap(),
        9
    );
}

#[test]
fn a_cancelled_task_delivered_again_after_its_worker_died_never_runs() {
    let p = prefix("redeliver");
    // The client makes the work queue: a 1 s ack wait.
    let pool = builder(&p)
        .ack_wait(Duration::from_millis(1_000))
        .build()
        .unwrap();
    let first = start_worker(&p, "", 1_000);
    let meeting = Meeting::new();
    let handle = pool.submit_fn(remote!(meet), meeting.path.clone()).unwrap();
    let arrival = meeting.arrive();
    assert_eq!(arrival.worker, first.0.id());
    wait_running(&handle);
    // Its worker dies (kill -9) before any request could reach it ...
    drop(first);
    // ... and the request is kept: a worker that comes later, and is
    // given the task again after the ack wait, finds it.
    assert!(!handle.cancel());
    let _second = start_worker(&p, "", 1_000);
    assert!(failure(handle).is_cancelled());
    drop(arrival);
    assert!(!meeting.anyone_came(), "the cancelled task ran again");
    // The second worker runs what comes next.
    assert_eq!(
        pool.submit_fn(remote!(square), 5)
            .unwrap()
            .join_timeout(LONG)
            .unwrap(),
        25
    );
}

#[test]
fn a_cancel_reaches_only_the_task_it_names() {
    let p = prefix("names");
    let _a = start_worker(&p, "", 30_000);
    let _b = start_worker(&p, "", 30_000);
    let pool = builder(&p).build().unwrap();
    let meeting = Meeting::new();
    // One worker each (one slot each); each arrival known to be its
    // handle's.
    let h1 = pool.submit_fn(remote!(meet), meeting.path.clone()).unwrap();
    let one = meeting.arrive();
    let h2 = pool.submit_fn(remote!(meet), meeting.path.clone()).unwrap();
    let mut two = meeting.arrive();
    assert_ne!(one.worker, two.worker);
    wait_running(&h1);
    wait_running(&h2);
    assert!(!h1.cancel());
    assert!(failure(h1).is_cancelled());
    // The other worker ignored the request: its task runs on, and ends
    // with its value.
    assert!(!h2.is_done());
    two.stream.write_all(b"x").unwrap();
    assert_eq!(h2.join_timeout(LONG).unwrap(), 7);
    drop(one);
}

#[test]
fn a_worker_of_another_build_uses_up_no_delivery_of_a_task() {
    let p = prefix("rolling");
    // A rolling deploy: only old workers are up, the new client's tasks
    // may be delivered once, and their wait for a new worker is long.
    let new = builder(&p)
        .build_identity("new")
        .max_deliveries(1)
        .match_timeout(LONG)
        .build()
        .unwrap();
    let old = builder(&p).build_identity("old").build().unwrap();
    let _old_worker = start_worker(&p, "old", 30_000);
    assert_eq!(
        old.submit_fn(remote!(square), 3)
            .unwrap()
            .join_timeout(LONG)
            .unwrap(),
        9
    );
    let handle = new.submit_fn(remote!(square), 4).unwrap();
    new.flush(); // in the queue
    // The old worker pulls again after that: had it been given the new
    // build's task, that would have been the task's only delivery.
    assert_eq!(
        old.submit_fn(remote!(square), 5)
            .unwrap()
            .join_timeout(LONG)
            .unwrap(),
        25
    );
    assert!(!handle.is_done(), "{:?}", failure(handle));
    // A new worker comes: it runs the task.
    let _new_worker = start_worker(&p, "new", 30_000);
    assert_eq!(handle.join_timeout(LONG).unwrap(), 16);
}

#[test]
fn a_task_with_no_worker_at_all_waits_past_the_match_timeout() {
    let p = prefix("none");
    let pool = builder(&p)
        .match_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let handle = pool.submit_fn(remote!(square), 6).unwrap();
    pool.flush();
    // Nobody consumes the queue: not a mismatch, it waits.
    assert!(!handle.wait_timeout(Duration::from_millis(1_000)));
    let _w = start_worker(&p, "", 30_000);
    assert_eq!(handle.join_timeout(LONG).unwrap(), 36);
}

#[test]
fn a_shutdown_that_cancels_running_work_kills_it_on_the_worker() {
    let p = prefix("shutdown");
    let _w = start_worker(&p, "", 30_000);
    let pool = builder(&p).build().unwrap();
    let meeting = Meeting::new();
    let handle = pool.submit_fn(remote!(meet), meeting.path.clone()).unwrap();
    let mut arrival = meeting.arrive();
    wait_running(&handle);
    // Waits until the worker has killed it.
    assert!(
        pool.shutdown_with(
            futurepool::ShutdownOptions::new()
                .cancel_running(true)
                .timeout(LONG)
        )
    );
    assert!(handle.is_cancelled());
    let mut byte = [0u8; 1];
    assert_eq!(arrival.stream.read(&mut byte).unwrap(), 0);
    assert_eq!(pool.metrics().cancelled, 1);
}

#[test]
fn a_cancel_asked_while_the_server_restarts_still_kills_the_task() {
    let mut server = common::nats::Restartable::start();
    let p = prefix("restart");
    let pool = ClusterExecutor::builder(&server.url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .build()
        .unwrap();
    let _w = start_worker_at(&server.url, &p, "", 30_000);
    let meeting = Meeting::new();
    let handle = pool.submit_fn(remote!(meet), meeting.path.clone()).unwrap();
    let mut arrival = meeting.arrive();
    wait_running(&handle);
    // Every connection drops; the request waits for the server (the
    // client retries it), and reaches the worker once both are back.
    server.restart();
    assert!(!handle.cancel());
    assert!(handle.wait_timeout(LONG), "the cancel never took effect");
    assert!(handle.is_cancelled());
    let mut byte = [0u8; 1];
    assert_eq!(arrival.stream.read(&mut byte).unwrap(), 0);
}

#[test]
fn a_shutdown_that_cancels_pending_tasks_takes_them_out_of_the_queue() {
    let p = prefix("shutdown-cancel-pending");
    let pool = builder(&p).build().unwrap();
    let meeting = Meeting::new();
    // No worker yet: it stays queued (stored: flushed).
    let handle = pool.submit_fn(remote!(meet), meeting.path.clone()).unwrap();
    pool.flush();
    // Not waiting, and dropped at once: still out of the queue.
    let options = futurepool::ShutdownOptions::new()
        .wait(false)
        .cancel_pending(true);
    pool.shutdown_with(options);
    drop(pool);
    assert!(failure(handle).is_cancelled());
    // A worker now, and another client: its task runs, and the cancelled
    // one never did (it would have held the worker at the meeting).
    let _w = start_worker(&p, "", 30_000);
    let other = builder(&p).build().unwrap();
    let next = other.submit_fn(remote!(square), 6).unwrap();
    assert_eq!(next.join_timeout(LONG).unwrap(), 36);
    assert!(!meeting.anyone_came(), "the cancelled task ran");
}

#[test]
fn a_shutdown_cancels_a_task_waiting_for_its_start() {
    let pool = builder(&prefix("delayed")).build().unwrap();
    let later = Duration::from_secs(3600);
    let cancelled = pool
        .task()
        .start_after(later)
        .submit_fn(remote!(square), 2)
        .unwrap();
    assert!(cancelled.cancel());
    // Never to be sent: a flush doesn't wait for its start.
    assert!(pool.flush_timeout(LONG));
    let waiting = pool
        .task()
        .start_after(later)
        .submit_fn(remote!(square), 3)
        .unwrap();
    let options = futurepool::ShutdownOptions::new().timeout(LONG);
    assert!(pool.shutdown_with(options));
    assert!(failure(waiting).is_cancelled());
}

#[test]
fn dropping_the_last_clone_fails_the_waiting_handles_as_abandoned() {
    let pool = builder(&prefix("drop")).build().unwrap();
    // No worker: it waits in the queue.
    let handle = pool.submit_fn(remote!(square), 3).unwrap();
    drop(pool.clone());
    assert!(!handle.is_done(), "a clone's drop ends nothing");
    drop(pool);
    assert!(failure(handle).is_abandoned());
}
