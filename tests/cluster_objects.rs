//! The cluster's object store against a real nats-server
//! (tests/common/nats.rs): arguments and results above the server's message
//! limit (1 MiB), their clean-up, payloads above `max_object_size`, and
//! `scatter`. Workers are this test binary re-executed in worker mode, each
//! test on a prefix (a work queue, an object store) of its own.

#![cfg(all(feature = "cluster", target_os = "linux"))]

mod common {
    pub mod nats;
}

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::nats::{PASSWORD, USER, server};
use futurepool::{ClusterExecutor, Executor, Scattered, remote};

/// The bound on what must happen (a lost task fails the test, never hangs
/// it).
const LONG: Duration = Duration::from_secs(60);
const MIB: usize = 1 << 20;
/// The results' and objects' age limit (clients and workers agree on it:
/// whichever comes first makes the streams).
const TTL: Duration = Duration::from_secs(3600);

// Worker mode: before `main`, a process started with this variable set is
// a cluster worker (its own pool's processes serve in `process::init`).
extern "C" fn worker_mode() {
    futurepool::process::init();
    let Ok(spec) = std::env::var("FUTUREPOOL_TEST_OBJECTS_WORKER") else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, prefix, max_object] = parts[..] else {
        panic!("bad worker spec {spec}");
    };
    futurepool::cluster::Worker::builder(url)
        .user_password(USER, PASSWORD)
        .prefix(prefix)
        .concurrency(1)
        .result_ttl(TTL)
        .max_object_size(max_object.parse().unwrap())
        .build()
        .expect("the worker can't start")
        .run();
    std::process::exit(0);
}

#[used]
#[unsafe(link_section = ".init_array")]
static WORKER_MODE: extern "C" fn() = worker_mode;

/// A worker process, stopped when dropped: by SIGTERM (so it removes its
/// directory of scattered copies), killed if it hasn't gone within 10 s.
struct WorkerProc(Child);

impl Drop for WorkerProc {
    fn drop(&mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_worker(prefix: &str, max_object: u64) -> WorkerProc {
    let spec = format!("{}|{prefix}|{max_object}", server().url);
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no-test-runs-in-a-worker"])
        .env("FUTUREPOOL_TEST_OBJECTS_WORKER", spec)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    WorkerProc(child)
}

/// A prefix (a work queue, an object store) of this test's own.
fn prefix(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "o{}-{test}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn client(prefix: &str) -> ClusterExecutor {
    ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(prefix)
        .result_ttl(TTL)
        .build()
        .unwrap()
}

/// The name of the object store of `prefix` (`<STREAM>_OBJECTS`).
fn bucket(prefix: &str) -> String {
    let stream: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{stream}_OBJECTS")
}

/// A runtime and a connection of the test's own, to look at the server.
fn look() -> (tokio::runtime::Runtime, async_nats::Client) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let nats = rt.block_on(async {
        async_nats::ConnectOptions::with_user_and_password(USER.into(), PASSWORD.into())
            .connect(server().url.as_str())
            .await
            .unwrap()
    });
    (rt, nats)
}

/// The object store's stream's (max_age, bytes stored).
fn store_state(prefix: &str) -> (Duration, u64) {
    let (rt, nats) = look();
    rt.block_on(async {
        let js = async_nats::jetstream::new(nats);
        let mut stream = js
            .get_stream(format!("OBJ_{}", bucket(prefix)))
            .await
            .unwrap();
        let info = stream.info().await.unwrap();
        (info.config.max_age, info.state.bytes)
    })
}

/// `n` bytes of a pattern that `seed` shifts.
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Each byte plus one: a result as large as the argument.
fn bump(v: Vec<u8>) -> Vec<u8> {
    v.into_iter().map(|b| b.wrapping_add(1)).collect()
}

#[test]
fn a_4_mib_argument_and_a_4_mib_result_round_trip_and_are_deleted() {
    let p = prefix("round-trip");
    let _w = start_worker(&p, 1 << 30);
    let pool = client(&p);
    let arg = pattern(4 * MIB, 7);
    let want = bump(arg.clone());
    let got = pool
        .submit_fn(remote!(bump), arg)
        .unwrap()
        .join_timeout(LONG)
        .unwrap();
    assert!(got == want, "the 4 MiB result came back changed");
    // Both objects are deleted (by the client, once it is done with
    // them), and the store keeps what is left for result_ttl at most.
    let deadline = Instant::now() + LONG;
    loop {
        let (max_age, bytes) = store_state(&p);
        assert_eq!(max_age, TTL);
        if bytes < 64 * 1024 {
            break;
        }
        assert!(Instant::now() < deadline, "{bytes} bytes still stored");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_map_with_large_items_keeps_order_through_the_object_store() {
    let p = prefix("map");
    let _w = start_worker(&p, 1 << 30);
    let pool = client(&p);
    let items: Vec<Vec<u8>> = (0..5).map(|i| pattern(MIB + MIB / 2, i)).collect();
    let want: Vec<Vec<u8>> = items.iter().cloned().map(bump).collect();
    // Chunks of two: 3 MiB a message, each way.
    let got: Vec<Vec<u8>> = pool
        .map_fn(remote!(bump), items)
        .chunksize(2)
        .timeout(LONG)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), 5);
    assert!(
        got == want,
        "a large item came back changed or out of order"
    );
}

#[test]
fn a_payload_above_max_object_size_is_refused_clearly() {
    let p = prefix("too-large");
    // The worker carries results of 1 MiB at most.
    let _w = start_worker(&p, MIB as u64);
    let pool = ClusterExecutor::builder(&server().url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .max_object_size(2 * MIB as u64)
        .result_ttl(TTL)
        .build()
        .unwrap();
    // An argument: refused before it leaves.
    let err = pool
        .submit_fn(remote!(bump), pattern(4 * MIB, 1))
        .unwrap()
        .join_timeout(LONG)
        .unwrap_err();
    let futurepool::JoinTimeoutError::Failed(err) = err else {
        panic!("{err:?}")
    };
    assert!(err.is_too_large(), "{err:?}");
    assert!(!err.is_cluster_error());
    assert!(
        err.to_string().contains("max_object_size (2097152 bytes)"),
        "{err}"
    );
    // A scattered value: refused, and handed back.
    let err = pool.scatter(pattern(4 * MIB, 2)).unwrap_err();
    assert!(err.error().is_too_large(), "{err}");
    assert_eq!(err.into_value().len(), 4 * MIB);
    // An argument under the client's limit, above the worker's: refused
    // there, unrun.
    let err = pool
        .submit_fn(remote!(bump), pattern(MIB + MIB / 2, 3))
        .unwrap()
        .join_timeout(LONG)
        .unwrap_err();
    let futurepool::JoinTimeoutError::Failed(err) = err else {
        panic!("{err:?}")
    };
    assert!(err.is_too_large(), "{err:?}");
    assert!(err.to_string().contains("the task's arguments"), "{err}");
    // A result above the worker's limit: the task ran, its result is too
    // large to come back; the worker goes on.
    let big = remote!(|n: usize| vec![1u8; n]);
    let err = pool
        .submit_fn(big, 2 * MIB)
        .unwrap()
        .join_timeout(LONG)
        .unwrap_err();
    let futurepool::JoinTimeoutError::Failed(err) = err else {
        panic!("{err:?}")
    };
    assert!(err.is_too_large(), "{err:?}");
    assert!(err.to_string().contains("the task's results"), "{err}");
    let small = pool.submit_fn(big, 10).unwrap().join_timeout(LONG).unwrap();
    assert_eq!(small, [1; 10]);
}

/// The scattered table's checksum plus `i`, and the worker that ran it.
fn checksum((table, i): (Scattered<Vec<u8>>, u64)) -> (u64, u32) {
    let sum = table.iter().map(|&b| u64::from(b)).sum::<u64>();
    // SAFETY: getppid has no preconditions.
    let worker = unsafe { libc::getppid() } as u32;
    (sum + i, worker)
}

#[test]
fn a_scattered_value_is_fetched_once_per_worker() {
    let p = prefix("scatter");
    let workers = [start_worker(&p, 1 << 30), start_worker(&p, 1 << 30)];
    let pool = client(&p);
    let table = pattern(2 * MIB, 3);
    let sum = table.iter().map(|&b| u64::from(b)).sum::<u64>();
    let table = pool.scatter(table).unwrap();
    assert_eq!(table.len(), 2 * MIB); // the client's copy
    // Every fetch of an object's content makes a consumer on the store's
    // stream: the server's API requests say how many fetches there were.
    let (rt, nats) = look();
    let mut creates = rt.block_on(async {
        let sub = nats.subscribe("$JS.API.CONSUMER.CREATE.>").await.unwrap();
        nats.flush().await.unwrap();
        sub
    });
    let results: Vec<(u64, u32)> = pool
        .map_fn(remote!(checksum), (0..20).map(|i| (table.clone(), i)))
        .timeout(LONG)
        .map(Result::unwrap)
        .collect();
    let sums: Vec<u64> = results.iter().map(|r| r.0).collect();
    assert_eq!(sums, (0..20).map(|i| sum + i).collect::<Vec<_>>());
    let ran: HashSet<u32> = results.iter().map(|r| r.1).collect();
    let ours: HashSet<u32> = workers.iter().map(|w| w.0.id()).collect();
    assert!(ran.is_subset(&ours), "{ran:?} {ours:?}");
    // Each message is 20 bytes of name, not 2 MiB: counted by the fetches.
    let store = format!("$JS.API.CONSUMER.CREATE.OBJ_{}", bucket(&p));
    let fetches = rt.block_on(async {
        use futures::StreamExt;
        nats.flush().await.unwrap();
        // What came before the flush's answer is here by now.
        let mut n = 0;
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(200), creates.next()).await
        {
            n += usize::from(m.subject.starts_with(store.as_str()));
        }
        n
    });
    eprintln!("{fetches} fetches by {} workers", ran.len());
    assert!(
        (1..=ran.len()).contains(&fetches),
        "{fetches} fetches by {} workers",
        ran.len()
    );
    pool.unscatter(&table).unwrap();
}

#[test]
fn a_scattered_value_whose_object_was_deleted_fails_clearly() {
    let p = prefix("unscattered");
    let _w = start_worker(&p, 1 << 30);
    let pool = client(&p);
    let table = pool.scatter(pattern(2 * MIB, 4)).unwrap();
    pool.unscatter(&table).unwrap();
    pool.unscatter(&table).unwrap(); // gone already: fine
    let err = pool
        .submit_fn(remote!(checksum), (table.clone(), 1))
        .unwrap()
        .join_timeout(LONG)
        .unwrap_err();
    let futurepool::JoinTimeoutError::Failed(err) = err else {
        panic!("{err:?}")
    };
    assert!(err.is_cluster_error(), "{err:?}");
    assert!(
        err.to_string().contains("is not in the object store"),
        "{err}"
    );
    // The worker goes on; a value scattered again works.
    let again = pool.scatter(table.to_vec()).unwrap();
    let (sum, _) = pool
        .submit_fn(remote!(checksum), (again.clone(), 1))
        .unwrap()
        .join_timeout(LONG)
        .unwrap();
    assert_eq!(sum, table.iter().map(|&b| u64::from(b)).sum::<u64>() + 1);
    // Unscattered once the worker has a copy: the next task fails all the
    // same.
    pool.unscatter(&again).unwrap();
    let err = pool
        .submit_fn(remote!(checksum), (again, 2))
        .unwrap()
        .join_timeout(LONG)
        .unwrap_err();
    let futurepool::JoinTimeoutError::Failed(err) = err else {
        panic!("{err:?}")
    };
    assert!(
        err.to_string().contains("is not in the object store"),
        "{err}"
    );
}

#[test]
fn the_same_function_takes_a_scattered_value_on_the_pools() {
    // No server: `Scattered::new` holds the value; a thread pool shares
    // it, a process pool sends it with each task.
    let table = Scattered::new(pattern(MIB, 5));
    let sum = table.iter().map(|&b| u64::from(b)).sum::<u64>();
    let threads = futurepool::ThreadPool::new();
    let procs = futurepool::ProcessPool::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let on_threads = threads
        .submit_fn(remote!(checksum), (table.clone(), 2))
        .unwrap();
    let on_procs = procs
        .submit_fn(remote!(checksum), (table.clone(), 3))
        .unwrap();
    assert_eq!(on_threads.join().unwrap().0, sum + 2);
    let (got, ran_in) = on_procs.join().unwrap();
    assert_eq!(got, sum + 3);
    assert_eq!(ran_in, std::process::id()); // a child of this process
}
