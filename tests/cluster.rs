//! The cluster executor against a real nats-server (tests/common/nats.rs):
//! workers are this test binary re-executed in worker mode (see
//! `worker_mode`), each test on a prefix (a work queue) of its own.

#![cfg(all(feature = "cluster", target_os = "linux"))]

mod common {
    pub mod nats;
}

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::nats::{PASSWORD, USER, WorkerProc, server};

/// The bound on what must happen (a lost task fails the test, never hangs
/// it).
const LONG: Duration = Duration::from_secs(60);
use futurepool::{ClusterExecutor, Executor, RemoteFn, as_completed, remote};

// Worker mode: before `main`, a process started with this variable set is
// a cluster worker (and a worker's own pool processes, re-executed with
// the process pool's marker, serve in `process::init`).
extern "C" fn worker_mode() {
    futurepool::process::init();
    let Ok(spec) = std::env::var("FUTUREPOOL_TEST_CLUSTER_WORKER") else {
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

/// Kills (`kill -9`, by dropping its guard) the worker whose pid is `pid`,
/// which must be one of `workers`.
fn kill_the_one_with_pid<const N: usize>(pid: u32, workers: [&mut Option<WorkerProc>; N]) {
    let holder = workers
        .into_iter()
        .find(|w| w.as_ref().is_some_and(|w| w.pid() == pid))
        .expect("the task runs on one of the test's workers");
    holder.take();
}

fn start_worker(prefix: &str, build: &str, ack_ms: u64) -> WorkerProc {
    let spec = format!("{}|{prefix}|{build}|{ack_ms}", server().url);
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no-test-runs-in-a-worker"])
        .env("FUTUREPOOL_TEST_CLUSTER_WORKER", spec)
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
        "t{}-{test}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn client(prefix: &str) -> ClusterExecutor {
    ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(prefix)
        .build()
        .unwrap()
}

fn square(x: u64) -> u64 {
    x * x
}

/// The cluster worker running this task (its process pool's parent).
fn worker_pid(_: ()) -> u32 {
    // SAFETY: getppid has no preconditions.
    (unsafe { libc::getppid() }) as u32
}

/// Tells the test (listening at `path`) which worker runs it, then waits
/// until the test answers (or hangs up); returns that worker's pid.
fn rendezvous(path: String) -> u32 {
    let ppid = worker_pid(());
    let mut s = UnixStream::connect(&path).unwrap();
    writeln!(s, "{ppid}").unwrap();
    let mut byte = [0u8; 1];
    let _ = s.read(&mut byte);
    ppid
}

/// The test's end of `rendezvous`.
struct Meeting {
    listener: UnixListener,
    path: String,
}

impl Meeting {
    fn new() -> Meeting {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir()
            .join(format!(
                "futurepool-cluster-{}-{}.sock",
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

    /// Waits for a task to arrive: its worker's pid, and the stream that
    /// releases it.
    fn arrive(&self) -> (u32, UnixStream) {
        let (mut s, _) = self.listener.accept().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while s.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        (String::from_utf8(line).unwrap().parse().unwrap(), s)
    }
}

impl Drop for Meeting {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[test]
fn submit_returns_the_result() {
    let p = prefix("submit");
    let _w = start_worker(&p, "", 30_000);
    let pool = client(&p);
    let handle = pool.submit_fn(remote!(square), 7).unwrap();
    assert_eq!(handle.join().unwrap(), 49);
    // Awaitable from any runtime, or none of the user's.
    let handle = pool.submit_fn(remote!(square), 8).unwrap();
    assert_eq!(futures::executor::block_on(handle).unwrap(), 64);
    assert!(pool.shutdown()); // counted by then
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.completed, m.queued, m.running),
        (2, 2, 0, 0)
    );
    // Refused once shut down, the argument handed back.
    let refused = pool.submit_fn(remote!(square), 9).unwrap_err();
    assert!(refused.is_shutdown());
    assert_eq!(refused.into_inner(), 9);
}

#[test]
fn map_keeps_input_order_with_chunks() {
    let p = prefix("map");
    let _w = start_worker(&p, "", 30_000);
    let pool = client(&p);
    let out: Vec<u64> = pool
        .map_fn(remote!(square), 0..25u64)
        .chunksize(4)
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..25u64).map(|x| x * x).collect::<Vec<_>>());
    let mut unordered: Vec<u64> = pool
        .map_unordered_fn(remote!(square), 0..10u64)
        .map(Result::unwrap)
        .collect();
    unordered.sort();
    assert_eq!(unordered, (0..10u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn a_map_over_endless_input_yields() {
    let p = prefix("endless");
    let _w = start_worker(&p, "", 30_000);
    let pool = client(&p);
    // In a thread: a map that queues all of its input first never yields.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let map = pool.map_fn(remote!(square), 1u64..).chunksize(2);
        let _ = tx.send(map.take(3).map(Result::unwrap).collect::<Vec<_>>());
    });
    assert_eq!(
        rx.recv_timeout(LONG).expect("the map never yields"),
        [1, 4, 9]
    );
}

#[test]
fn as_completed_yields_every_task() {
    let p = prefix("as-completed");
    let _w = start_worker(&p, "", 30_000);
    let pool = client(&p);
    let handles: Vec<_> = (1..=5u64)
        .map(|x| pool.submit_fn(remote!(square), x).unwrap())
        .collect();
    let mut got: Vec<u64> = as_completed(handles).map(|h| h.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, [1, 4, 9, 16, 25]);
    // And `wait`.
    let handles: Vec<_> = (1..=3u64)
        .map(|x| pool.submit_fn(remote!(square), x).unwrap())
        .collect();
    let waited = futurepool::wait(handles, futurepool::ReturnWhen::AllCompleted);
    assert_eq!((waited.done.len(), waited.not_done.len()), (3, 0));
}

#[test]
fn a_deadline_that_passes_in_the_queue_times_the_task_out_and_it_leaves_the_queue() {
    let p = prefix("deadline");
    let pool = client(&p);
    let meeting = Meeting::new();
    // No worker: it waits in the queue until its deadline.
    let handle = pool
        .task()
        .timeout(Duration::from_millis(200))
        .submit_fn(remote!(rendezvous), meeting.path.clone())
        .unwrap();
    assert!(handle.join().unwrap_err().is_timeout());
    let since = std::time::Instant::now();
    while pool.queued() != 0 {
        assert!(since.elapsed() < LONG, "the timed-out task is still queued");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A worker now: the timed-out task never runs.
    let _w = start_worker(&p, "", 30_000);
    assert_eq!(
        pool.submit_fn(remote!(square), 4)
            .unwrap()
            .join_timeout(LONG)
            .unwrap(),
        16
    );
    meeting.listener.set_nonblocking(true).unwrap();
    assert!(meeting.listener.accept().is_err(), "the timed-out task ran");
}

/// Encodes as its number; refuses to decode 0, panics decoding 1.
#[derive(serde::Serialize, Debug)]
struct Picky(u8);

impl<'de> serde::Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Picky, D::Error> {
        match u8::deserialize(d)? {
            0 => Err(serde::de::Error::custom("zero")),
            1 => panic!("one"),
            n => Ok(Picky(n)),
        }
    }
}

fn less(p: Picky) -> Picky {
    Picky(p.0 - 1)
}

#[test]
fn a_panic_or_a_value_that_fails_to_decode_comes_back_as_the_handles_error() {
    let p = prefix("panic");
    let _w = start_worker(&p, "", 30_000);
    let pool = client(&p);
    let boom = remote!(|x: u32| -> u32 { panic!("boom {x}") });
    let err = pool.submit_fn(boom, 3).unwrap().join().unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(err.panic_message(), Some("boom 3"));
    // An argument the worker can't decode; a result whose decoding panics
    // in the thread that takes it (not on the client's runtime thread).
    let err = pool
        .submit_fn(remote!(less), Picky(0))
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_serialization(), "{err:?}");
    let err = pool
        .submit_fn(remote!(less), Picky(2))
        .unwrap()
        .join()
        .unwrap_err();
    assert!(
        err.is_serialization() && err.to_string().contains("panicked"),
        "{err:?}"
    );
    // The worker and the client survive them.
    assert_eq!(
        pool.submit_fn(remote!(square), 3).unwrap().join().unwrap(),
        9
    );
}

#[test]
fn an_unknown_function_is_a_clear_error() {
    let p = prefix("unknown");
    let _w = start_worker(&p, "", 30_000);
    let pool = client(&p);
    // A name no binary registers (RemoteFn's hidden constructor).
    let nowhere: RemoteFn<u8, u8> = RemoteFn::__new("no::such::function", |x| x);
    let err = pool.submit_fn(nowhere, 1).unwrap().join().unwrap_err();
    assert!(err.is_cluster_error(), "{err:?}");
    assert!(
        err.to_string()
            .contains("no function is registered as `no::such::function`"),
        "{err}"
    );
}

#[test]
fn wrong_credentials_are_refused_at_build() {
    let err = ClusterExecutor::builder(&server().url)
        .user_password(USER, "wrong")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("refused the credentials"), "{err}");
    let err = futurepool::cluster::Worker::builder(&server().url)
        .token("wrong")
        .concurrency(1)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("refused the credentials"), "{err}");
}

#[test]
fn two_workers_share_the_queue() {
    let p = prefix("two");
    let a = start_worker(&p, "", 30_000);
    let b = start_worker(&p, "", 30_000);
    let pool = client(&p);
    let meeting = Meeting::new();
    // Each worker runs one task at a time: both tasks meet here only if
    // both workers took one.
    let h1 = pool
        .submit_fn(remote!(rendezvous), meeting.path.clone())
        .unwrap();
    let h2 = pool
        .submit_fn(remote!(rendezvous), meeting.path.clone())
        .unwrap();
    let (pid1, s1) = meeting.arrive();
    let (pid2, s2) = meeting.arrive();
    drop((s1, s2));
    let mut pids = [h1.join().unwrap(), h2.join().unwrap()];
    pids.sort();
    let mut expected = [a.pid(), b.pid()];
    expected.sort();
    assert_eq!(pids, expected);
    let mut met = [pid1, pid2];
    met.sort();
    assert_eq!(met, expected);
}

#[test]
fn a_task_of_a_killed_worker_is_redelivered_to_another() {
    let p = prefix("killed");
    // The client makes the work queue (before the workers could): a 1 s
    // ack wait.
    let pool = ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .ack_wait(Duration::from_millis(1_000))
        .build()
        .unwrap();
    let mut a = Some(start_worker(&p, "", 1_000));
    let mut b = Some(start_worker(&p, "", 1_000));
    let meeting = Meeting::new();
    let handle = pool
        .submit_fn(remote!(rendezvous), meeting.path.clone())
        .unwrap();
    let (first, s) = meeting.arrive();
    kill_the_one_with_pid(first, [&mut a, &mut b]);
    drop(s);
    // The server redelivers it after the ack wait, to the other worker.
    let (second, s) = meeting.arrive();
    assert_ne!(second, first);
    drop(s);
    assert_eq!(handle.join_timeout(LONG).unwrap(), second);
}

#[test]
fn a_task_no_worker_of_its_build_takes_fails_after_the_match_timeout() {
    let p = prefix("mismatch");
    let _w = start_worker(&p, "another-build", 30_000);
    let pool = ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .build_identity("this-build")
        .match_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = pool
        .submit_fn(remote!(square), 2)
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_cluster_error(), "{err:?}");
    let msg = err.to_string();
    // It names the builds that are there.
    assert!(
        msg.starts_with("no worker of build this-build took the task within 500ms"),
        "{msg}"
    );
    assert!(
        msg.contains("workers of build another-build consume the queue"),
        "{msg}"
    );
}

#[test]
fn a_time_limit_kills_the_task_on_the_worker() {
    let p = prefix("limit");
    let _w = start_worker(&p, "", 30_000);
    let pool = client(&p);
    let stuck = remote!(|_: ()| -> u8 {
        loop {
            std::thread::park()
        }
    });
    let handle = pool
        .task()
        .time_limit(Duration::from_millis(300))
        .submit_fn(stuck, ())
        .unwrap();
    assert!(handle.join().unwrap_err().is_timeout());
    // The worker goes on.
    assert_eq!(
        pool.submit_fn(remote!(square), 5).unwrap().join().unwrap(),
        25
    );
}

#[test]
fn sigterm_lets_a_worker_finish_its_task_and_exit() {
    let p = prefix("sigterm");
    let mut w = start_worker(&p, "", 30_000);
    let pool = client(&p);
    let meeting = Meeting::new();
    let handle = pool
        .submit_fn(remote!(rendezvous), meeting.path.clone())
        .unwrap();
    let (pid, s) = meeting.arrive();
    assert_eq!(pid, w.pid());
    // SAFETY: kill has no memory preconditions; `pid` is our child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    drop(s); // the task ends after the signal
    assert_eq!(handle.join_timeout(LONG).unwrap(), pid);
    let status = w.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_argument_above_the_largest_object_fails_its_handle() {
    let p = prefix("oversized");
    // Above the server's limit (1 MiB) an argument goes through the object
    // store (tests/cluster_objects.rs), up to `max_object_size`.
    let pool = ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .max_object_size(1 << 20)
        .build()
        .unwrap();
    let big = vec![7u8; 2 << 20];
    let len = remote!(|b: Vec<u8>| b.len());
    let err = pool
        .submit_fn(len, big)
        .unwrap()
        .join_timeout(LONG)
        .unwrap_err();
    let err = match err {
        futurepool::JoinTimeoutError::Failed(err) => err,
        other => panic!("{other:?}"),
    };
    assert!(err.is_too_large(), "{err:?}");
    assert!(err.to_string().contains("max_object_size"), "{err}");
}

/// Not a test: the submit-and-join round trip on the cluster beside the
/// process pool's, in the same run (`cargo test --release --all-features
/// --test cluster -- --ignored round_trip --nocapture`). Prints medians.
#[test]
#[ignore]
fn round_trip_beside_the_process_pool() {
    use std::time::Instant;
    let p = prefix("round-trip");
    let _w = start_worker(&p, "", 30_000);
    let cluster = client(&p);
    let procs = futurepool::ProcessPool::builder()
        .max_workers(1)
        .build()
        .unwrap();
    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }
    fn time(e: &impl Executor, n: usize) -> Vec<Duration> {
        (0..n)
            .map(|i| {
                let t = Instant::now();
                assert_eq!(
                    e.submit_fn(remote!(square), i as u64)
                        .unwrap()
                        .join()
                        .unwrap(),
                    (i * i) as u64
                );
                t.elapsed()
            })
            .collect()
    }
    // Warm both, then interleave rounds.
    time(&cluster, 50);
    time(&procs, 50);
    let (mut c, mut q) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        c.extend(time(&cluster, 100));
        q.extend(time(&procs, 100));
    }
    let (c, q) = (median(c), median(q));
    println!(
        "round trip (median of 1000): cluster {c:?}, process pool {q:?}, ratio {:.1}",
        c.as_secs_f64() / q.as_secs_f64()
    );
}

#[test]
fn a_task_whose_worker_dies_at_its_last_delivery_fails_as_worker_lost() {
    let p = prefix("lost");
    // The client makes the work queue: one delivery, a 1 s ack wait.
    let pool = ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .ack_wait(Duration::from_millis(1_000))
        .max_deliveries(1)
        .build()
        .unwrap();
    let w = start_worker(&p, "", 1_000);
    let meeting = Meeting::new();
    let handle = pool
        .submit_fn(remote!(rendezvous), meeting.path.clone())
        .unwrap();
    let (pid, s) = meeting.arrive();
    assert_eq!(pid, w.pid());
    drop(w); // kill -9
    drop(s);
    let err = match handle.join_timeout(LONG) {
        Err(futurepool::JoinTimeoutError::Failed(err)) => err,
        other => panic!("{other:?}"),
    };
    assert!(err.is_cluster_error(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("worker lost: the task was delivered 1 times"),
        "{err}"
    );
}

#[test]
fn a_task_cancelled_before_it_starts_leaves_the_queue() {
    let p = prefix("cancel");
    let pool = client(&p);
    let meeting = Meeting::new();
    // No worker yet: it stays queued.
    let handle = pool
        .submit_fn(remote!(rendezvous), meeting.path.clone())
        .unwrap();
    assert!(handle.cancel());
    assert!(handle.join().unwrap_err().is_cancelled());
    // The client forgets it once its message has left the queue.
    let since = std::time::Instant::now();
    while pool.queued() != 0 {
        assert!(since.elapsed() < LONG, "the cancelled task is still queued");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A worker now: the next task runs, and the cancelled one never did
    // (it would have held the worker, waiting at the meeting, forever).
    let _w = start_worker(&p, "", 30_000);
    let next = pool.submit_fn(remote!(square), 6).unwrap();
    assert_eq!(next.join_timeout(LONG).unwrap(), 36);
    meeting.listener.set_nonblocking(true).unwrap();
    assert!(meeting.listener.accept().is_err(), "the cancelled task ran");
}

/// Kills its own process the first time it runs (it makes `marker`), then
/// returns 7.
fn abort_once(marker: String) -> u32 {
    let first = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .is_ok();
    if first {
        std::process::abort();
    }
    7
}

#[test]
fn retries_rerun_a_task_whose_process_dies_on_its_worker() {
    let p = prefix("retries");
    let pool = client(&p);
    let _w = start_worker(&p, "", 5_000);
    let dir = std::env::temp_dir();
    let marker = |n: u32| {
        let m = dir.join(format!("futurepool-abort-once-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&m);
        m.to_str().unwrap().to_owned()
    };
    // retries(1): the worker's pool runs it again after its process died.
    let (m1, m2) = (marker(1), marker(2));
    let h = pool
        .task()
        .retries(1)
        .submit_fn(remote!(abort_once), m1.clone())
        .unwrap();
    assert_eq!(h.join_timeout(LONG).unwrap(), 7);
    // retries(0): its process's death is its end.
    let h = pool
        .task()
        .retries(0)
        .submit_fn(remote!(abort_once), m2.clone())
        .unwrap();
    let err = match h.join_timeout(LONG) {
        Err(futurepool::JoinTimeoutError::Failed(err)) => err,
        other => panic!("{other:?}"),
    };
    assert!(err.is_cluster_error(), "{err:?}");
    let _ = std::fs::remove_file(m1);
    let _ = std::fs::remove_file(m2);
}

#[test]
fn retries_zero_fail_a_lost_workers_task_instead_of_running_it_again() {
    let p = prefix("noretry");
    // The queue allows five deliveries; the task allows one run.
    let pool = ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .ack_wait(Duration::from_millis(1_000))
        .build()
        .unwrap();
    let mut a = Some(start_worker(&p, "", 1_000));
    let mut b = Some(start_worker(&p, "", 1_000));
    let meeting = Meeting::new();
    let handle = pool
        .task()
        .retries(0)
        .submit_fn(remote!(rendezvous), meeting.path.clone())
        .unwrap();
    let (first, s) = meeting.arrive();
    kill_the_one_with_pid(first, [&mut a, &mut b]);
    drop(s);
    // Redelivered after the ack wait to the other worker, which doesn't
    // run it.
    let err = match handle.join_timeout(LONG) {
        Err(futurepool::JoinTimeoutError::Failed(err)) => err,
        other => panic!("{other:?}"),
    };
    assert!(err.is_cluster_error(), "{err:?}");
    assert!(
        err.to_string()
            .contains("worker lost: the task was delivered 2 times, and may run 1 at most"),
        "{err}"
    );
    meeting.listener.set_nonblocking(true).unwrap();
    assert!(
        meeting.listener.accept().is_err(),
        "the task ran a second time"
    );
}
