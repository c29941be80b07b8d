//! The cluster's durability against a real nats-server of each test's own
//! (tests/common/nats.rs, `Restartable`): replies that survive a dropped
//! connection, a client restarted by its id, queued tasks that survive a
//! server restart. Workers are this test binary re-executed in worker mode.

#![cfg(all(feature = "cluster", target_os = "linux"))]

mod common {
    pub mod nats;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::nats::{PASSWORD, Restartable, USER, WorkerProc};
use futurepool::{ClusterExecutor, Executor, remote};

/// The bound on what must happen (a lost task fails the test, never hangs
/// it).
const LONG: Duration = Duration::from_secs(60);

extern "C" fn worker_mode() {
    futurepool::process::init();
    let Ok(url) = std::env::var("FUTUREPOOL_TEST_DURABLE_WORKER") else {
        return;
    };
    futurepool::cluster::Worker::builder(&url)
        .user_password(USER, PASSWORD)
        .build_identity("durable-tests")
        .concurrency(1)
        .ack_wait(Duration::from_millis(1_000))
        .max_deliveries(20)
        .build()
        .expect("the worker can't start")
        .run();
    std::process::exit(0);
}

#[used]
#[unsafe(link_section = ".init_array")]
static WORKER_MODE: extern "C" fn() = worker_mode;

fn start_worker(url: &str) -> WorkerProc {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no-test-runs-in-a-worker"])
        .env("FUTUREPOOL_TEST_DURABLE_WORKER", url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    WorkerProc(child)
}

fn client(url: &str, id: Option<&str>) -> ClusterExecutor {
    let mut b = ClusterExecutor::builder(url)
        .user_password(USER, PASSWORD)
        .build_identity("durable-tests")
        .ack_wait(Duration::from_millis(1_000))
        .max_deliveries(20);
    if let Some(id) = id {
        b = b.client_id(id);
    }
    b.build().unwrap()
}

fn square(x: u64) -> u64 {
    x * x
}

/// Says it started (`<dir>/started`), then waits until the test says go
/// (`<dir>/go`): `n` then.
fn gated((dir, n): (String, u64)) -> u64 {
    let dir = Path::new(&dir);
    std::fs::write(dir.join("started"), b"").unwrap();
    wait_for(&dir.join("go"));
    n
}

/// Waits, boundedly, until `path` exists.
fn wait_for(path: &Path) {
    let until = Instant::now() + LONG;
    while !path.exists() {
        assert!(Instant::now() < until, "{} never came", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A directory of the test's own for `gated`, removed when dropped.
struct Gate(PathBuf);

impl Gate {
    fn new(name: &str) -> Gate {
        let dir =
            std::env::temp_dir().join(format!("futurepool-durable-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Gate(dir)
    }

    fn arg(&self, n: u64) -> (String, u64) {
        (self.0.to_str().unwrap().to_owned(), n)
    }

    fn wait_started(&self) {
        wait_for(&self.0.join("started"));
    }

    fn open(&self) {
        std::fs::write(self.0.join("go"), b"").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_reply_sent_while_the_client_is_cut_off_still_resolves_its_handle() {
    let mut server = Restartable::start();
    let _w = start_worker(&server.url);
    let pool = client(&server.url, None);
    let gate = Gate::new("cut");
    let handle = pool.submit_fn(remote!(gated), gate.arg(42)).unwrap();
    gate.wait_started();
    // Every connection drops (the client's and the worker's); the task
    // ends while they reconnect.
    server.restart();
    gate.open();
    assert_eq!(handle.join_timeout(LONG).unwrap(), 42);
    // And the client goes on working.
    let again = pool.submit_fn(remote!(square), 9).unwrap();
    assert_eq!(again.join_timeout(LONG).unwrap(), 81);
}

#[test]
fn a_restarted_client_collects_its_results_by_key() {
    let server = Restartable::start();
    let _w = start_worker(&server.url);
    let id = format!("restarted-{}", std::process::id());
    let (done, running) = (Gate::new("done"), Gate::new("running"));
    let (k1, k2) = {
        let first = client(&server.url, Some(&id));
        assert_eq!(first.client_id(), id);
        let h1 = first.submit_fn(remote!(gated), done.arg(1)).unwrap();
        let h2 = first.submit_fn(remote!(gated), running.arg(2)).unwrap();
        assert!(first.task_key(&h1).starts_with(&format!("{id}:")));
        assert_ne!(first.task_key(&h1), first.task_key(&h2));
        // Both are in the work queue before the client goes.
        assert!(first.flush_timeout(LONG));
        (first.task_key(&h1), first.task_key(&h2))
        // The client and its handles go before either task ends.
    };
    done.open();
    let again = client(&server.url, Some(&id));
    // The second task can't have ended: it waits for its gate.
    let h2 = again.collect::<u64>(&k2);
    let h1 = again.collect::<u64>(&k1);
    assert_eq!(h1.join_timeout(LONG).unwrap(), 1);
    running.open();
    assert_eq!(h2.join_timeout(LONG).unwrap(), 2);
    // Collected again later: from the stored reply.
    assert_eq!(again.collect::<u64>(&k1).join_timeout(LONG).unwrap(), 1);
    // Not a key, or another client's: a clear error at once.
    let err = again.collect::<u64>("nonsense").join().unwrap_err();
    assert!(err.is_cluster_error(), "{err}");
    let err = again
        .collect::<u64>(&k1.replace(&id, "someone-else"))
        .join()
        .unwrap_err();
    assert!(err.is_cluster_error(), "{err}");
    // Its own new tasks don't reuse the earlier client's keys.
    let h3 = again.submit_fn(remote!(square), 3).unwrap();
    assert!(![&k1, &k2].contains(&&again.task_key(&h3)));
    assert_eq!(h3.join_timeout(LONG).unwrap(), 9);
}

#[test]
fn queued_tasks_survive_a_server_restart_and_complete() {
    let mut server = Restartable::start();
    let pool = client(&server.url, None);
    // No worker yet: they wait in the queue (the file store).
    let handles: Vec<_> = (1..=6u64)
        .map(|x| pool.submit_fn(remote!(square), x).unwrap())
        .collect();
    // Stored (in the file store) before the server stops.
    assert!(pool.flush_timeout(LONG));
    server.restart();
    let _w = start_worker(&server.url);
    let got: Vec<u64> = handles
        .into_iter()
        .map(|h| h.join_timeout(LONG).unwrap())
        .collect();
    assert_eq!(got, [1, 4, 9, 16, 25, 36]);
}

#[test]
fn a_server_killed_mid_run_with_sigkill_loses_no_task() {
    let mut server = Restartable::start();
    let _w = start_worker(&server.url);
    let pool = client(&server.url, None);
    let gate = Gate::new("sigkill");
    // One runs (held by its gate), the rest wait in the queue behind it
    // (the worker runs one at a time).
    let running = pool.submit_fn(remote!(gated), gate.arg(7)).unwrap();
    let queued: Vec<_> = (1..=5u64)
        .map(|x| pool.submit_fn(remote!(square), x).unwrap())
        .collect();
    assert!(pool.flush_timeout(LONG));
    gate.wait_started();
    // No flush, no goodbye: what the server acked must be in its store.
    server.kill_and_restart();
    gate.open();
    assert_eq!(running.join_timeout(LONG).unwrap(), 7);
    let got: Vec<u64> = queued
        .into_iter()
        .map(|h| h.join_timeout(LONG).unwrap())
        .collect();
    assert_eq!(got, [1, 4, 9, 16, 25]);
    // And the client and the worker go on working.
    let again = pool.submit_fn(remote!(square), 9).unwrap();
    assert_eq!(again.join_timeout(LONG).unwrap(), 81);
}
