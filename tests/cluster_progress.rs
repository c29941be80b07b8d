//! What a cluster client sees of its workers, against a real nats-server
//! (tests/common/nats.rs): a map's progress (queued, running, per worker)
//! and `worker_count` from the workers' heartbeats. Workers are this test
//! binary re-executed in worker mode, each test on a prefix of its own.

#![cfg(all(feature = "cluster", target_os = "linux"))]

mod common {
    pub mod nats;
}

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::nats::{PASSWORD, USER, WorkerProc, server};
use futurepool::{ClusterExecutor, Executor, Progress, ReturnWhen, remote, wait_with_progress};

/// The bound on what must happen (a lost task fails the test, never hangs
/// it).
const LONG: Duration = Duration::from_secs(60);

/// The staleness `worker_count` documents for a worker that dies without a
/// word, and a margin for a busy machine.
const STALE: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_secs(3);

extern "C" fn worker_mode() {
    futurepool::process::init();
    let Ok(spec) = std::env::var("FUTUREPOOL_TEST_PROGRESS_WORKER") else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, prefix, build] = parts[..] else {
        panic!("bad worker spec {spec}");
    };
    let mut builder = futurepool::cluster::Worker::builder(url)
        .user_password(USER, PASSWORD)
        .prefix(prefix)
        .concurrency(1)
        .ack_wait(Duration::from_secs(30));
    if !build.is_empty() {
        builder = builder.build_identity(build);
    }
    builder.build().expect("the worker can't start").run();
    std::process::exit(0);
}

#[used]
#[unsafe(link_section = ".init_array")]
static WORKER_MODE: extern "C" fn() = worker_mode;

fn start_worker(prefix: &str) -> WorkerProc {
    start_worker_of(prefix, "")
}

/// A worker of build `build` (the test binary's own if empty).
fn start_worker_of(prefix: &str, build: &str) -> WorkerProc {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no-test-runs-in-a-worker"])
        .env(
            "FUTUREPOOL_TEST_PROGRESS_WORKER",
            format!("{}|{prefix}|{build}", server().url),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    WorkerProc(child)
}

fn prefix(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "p{}-{test}-{}",
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

/// Waits (at most `within`) until `f` holds; whether it did.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Tells the test (listening at `path`) which worker runs it (its name,
/// `host:pid`), then waits until the test answers or hangs up.
fn rendezvous(path: String) -> u32 {
    // SAFETY: getppid has no preconditions.
    let ppid = (unsafe { libc::getppid() }) as u32;
    let mut s = UnixStream::connect(&path).unwrap();
    writeln!(s, "{ppid}").unwrap();
    let _ = s.read(&mut [0u8; 1]);
    ppid
}

struct Meeting {
    listener: UnixListener,
    path: String,
}

impl Meeting {
    fn new() -> Meeting {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir()
            .join(format!(
                "futurepool-cprog-{}-{}.sock",
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

    /// A task arrives: its worker's pid, and the stream that releases it.
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

/// The reports an observer received, and a way to wait for one.
#[derive(Default)]
struct Reports {
    all: Mutex<Vec<Progress>>,
    changed: Condvar,
}

impl Reports {
    fn observer(self: &Arc<Self>) -> impl Fn(&Progress) + Send + Sync + 'static {
        let me = self.clone();
        move |p: &Progress| {
            me.all.lock().unwrap().push(p.clone());
            me.changed.notify_all();
        }
    }

    /// Waits for a report that satisfies `f`.
    fn wait_for(&self, what: &str, f: impl Fn(&Progress) -> bool) -> Progress {
        let all = self.all.lock().unwrap();
        let (all, timeout) = self
            .changed
            .wait_timeout_while(all, LONG, |all| !all.iter().any(&f))
            .unwrap();
        assert!(!timeout.timed_out(), "no report {what}: {:?}", all.last());
        all.iter().find(|p| f(p)).unwrap().clone()
    }

    fn last(&self) -> Progress {
        self.all.lock().unwrap().last().unwrap().clone()
    }
}

fn name_of(pid: u32) -> impl Fn(&str) -> bool {
    move |name: &str| name.ends_with(&format!(":{pid}"))
}

#[test]
fn a_cluster_map_reports_queued_running_and_each_worker() {
    let p = prefix("map");
    let _a = start_worker(&p);
    let _b = start_worker(&p);
    let pool = client(&p);
    let meeting = Meeting::new();
    let reports = Arc::new(Reports::default());
    let observer = reports.observer();
    let path = meeting.path.clone();
    let map = pool.clone();
    let consumer = std::thread::spawn(move || {
        map.map_fn(remote!(rendezvous), vec![path; 4])
            .progress(observer)
            .collect::<Vec<_>>()
    });
    // Each worker runs one task at a time: two run, two wait.
    let (pid1, s1) = meeting.arrive();
    let (pid2, s2) = meeting.arrive();
    assert_ne!(pid1, pid2);
    // Reported as the workers' notes come in, while nothing has finished.
    let seen = reports.wait_for("with two running", |p| {
        p.running() == Some(2) && p.queued() == Some(2)
    });
    assert_eq!((seen.done(), seen.total()), (0, Some(4)));
    assert_eq!(seen.workers().len(), 2);
    for pid in [pid1, pid2] {
        let w = seen.workers().iter().find(|w| name_of(pid)(w.name()));
        let w = w.unwrap_or_else(|| panic!("worker {pid} not in {seen:?}"));
        assert_eq!((w.running(), w.done(), w.failed()), (1, 0, 0));
    }
    drop((s1, s2));
    let (pid3, s3) = meeting.arrive();
    let (pid4, s4) = meeting.arrive();
    drop((s3, s4));
    let ran = consumer.join().unwrap();
    let ran: Vec<u32> = ran.into_iter().map(Result::unwrap).collect();
    assert_eq!(ran.len(), 4);
    let last = reports.last();
    assert_eq!((last.done(), last.failed()), (4, 0));
    assert_eq!((last.running(), last.queued()), (Some(0), Some(0)));
    let mut per_worker: Vec<(u64, u64)> = last
        .workers()
        .iter()
        .map(|w| (w.running(), w.done()))
        .collect();
    per_worker.sort();
    let on = |pid| {
        [pid1, pid2, pid3, pid4]
            .iter()
            .filter(|&&x| x == pid)
            .count() as u64
    };
    let mut expected = vec![(0, on(pid1)), (0, on(pid2))];
    expected.sort();
    assert_eq!(per_worker, expected);
}

#[test]
fn wait_and_as_completed_report_a_clusters_running_tasks() {
    let p = prefix("wait");
    let _a = start_worker(&p);
    let pool = client(&p);
    let meeting = Meeting::new();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            pool.submit_fn(remote!(rendezvous), meeting.path.clone())
                .unwrap()
        })
        .collect();
    let reports = Arc::new(Reports::default());
    let observer = reports.observer();
    let waiter =
        std::thread::spawn(move || wait_with_progress(handles, ReturnWhen::AllCompleted, observer));
    let (pid, s) = meeting.arrive();
    let seen = reports.wait_for("with one running, one queued", |p| {
        p.running() == Some(1) && p.queued() == Some(1)
    });
    assert!(name_of(pid)(seen.workers()[0].name()), "{seen:?}");
    drop(s);
    let (_, s) = meeting.arrive();
    drop(s);
    let waited = waiter.join().unwrap();
    assert_eq!(waited.done.len(), 2);
    let last = reports.last();
    assert_eq!(
        (last.done(), last.running(), last.queued()),
        (2, Some(0), Some(0))
    );
    assert_eq!(last.workers()[0].done(), 2);

    // as_completed: the same counts.
    let handles: Vec<_> = (0..2)
        .map(|_| {
            pool.submit_fn(remote!(rendezvous), meeting.path.clone())
                .unwrap()
        })
        .collect();
    let reports = Arc::new(Reports::default());
    let observer = reports.observer();
    let consumer = std::thread::spawn(move || {
        futurepool::as_completed(handles)
            .progress(observer)
            .map(|h| h.join().unwrap())
            .collect::<Vec<u32>>()
            .len()
    });
    let (_, s) = meeting.arrive();
    reports.wait_for("with one running", |p| p.running() == Some(1));
    drop(s);
    let (_, s) = meeting.arrive();
    drop(s);
    assert_eq!(consumer.join().unwrap(), 2);
    assert_eq!(reports.last().running(), Some(0));
}

#[test]
fn worker_count_follows_the_workers_heartbeats() {
    let p = prefix("count");
    let pool = client(&p);
    assert_eq!(pool.worker_count(), 0);
    let started = Instant::now();
    // A worker of another build, on the same queue: never counted.
    let other = start_worker_of(&p, "another-build");
    let a = start_worker(&p);
    let b = start_worker(&p);
    assert!(
        eventually(LONG, || pool.worker_count() == 2),
        "{}",
        pool.worker_count()
    );
    eprintln!(
        "2 workers counted {:?} after their start",
        started.elapsed()
    );
    assert_eq!(pool.metrics().workers, 2);
    // The other build's announces itself too (a client of its build
    // counts it) ...
    let theirs = ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .build_identity("another-build")
        .build()
        .unwrap();
    assert!(eventually(LONG, || theirs.worker_count() == 1));
    // ... and still isn't counted here.
    assert_eq!(pool.worker_count(), 2);
    // A client built now asks, and knows them within a round trip.
    let late = client(&p);
    assert!(eventually(LONG, || late.worker_count() == 2));
    // One stops (SIGTERM): it says so, and is uncounted at once (well
    // within the staleness).
    a.signal(libc::SIGTERM);
    let stopped = Instant::now();
    assert!(
        eventually(STALE + MARGIN, || pool.worker_count() == 1),
        "{}",
        pool.worker_count()
    );
    eprintln!("a stopped worker uncounted after {:?}", stopped.elapsed());
    // One dies without a word: uncounted within the staleness.
    b.signal(libc::SIGKILL);
    let killed = Instant::now();
    assert!(
        eventually(STALE + MARGIN, || pool.worker_count() == 0),
        "{}",
        pool.worker_count()
    );
    // ... and not before its last heartbeat is a second old at least
    // (heartbeats every second; counted for 3 s after the last).
    assert!(
        killed.elapsed() >= Duration::from_millis(900),
        "{:?}",
        killed.elapsed()
    );
    eprintln!("a killed worker uncounted after {:?}", killed.elapsed());
    drop((a, b, other));
}
