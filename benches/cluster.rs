//! Workload 11: the cluster (a `ClusterExecutor` and two workers over a real
//! nats-server on this machine) beside the process pool, and beside Dask's
//! `LocalCluster` of two processes, which `benches/python/cluster.py`
//! measures in the same run (`benches/run.sh` runs both).
//!
//! - round trip: submit one trivial task and wait for its result;
//! - throughput: 10,000 trivial tasks in flight at once (each submitted,
//!   then all joined);
//! - map speed-up: 64 CPU-bound tasks of about 20 ms each (a spin loop,
//!   calibrated on this machine), sequentially in this thread and on the
//!   two workers.
//!
//! Needs the `cluster` feature and a nats-server: `FUTUREPOOL_NATS_SERVER`,
//! else the one `scripts/nats-server.sh install` puts in `target/nats/`
//! (`benches/run.sh` installs it). The workers are this binary started
//! again in worker mode, one task at a time each, as Dask's workers have
//! one thread each.

mod peers;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futurepool::cluster::Worker;
use futurepool::{ClusterExecutor, Executor, ProcessPool, remote};

/// Workers of the cluster, of the process pool, and of Dask's LocalCluster.
const WORKERS: usize = 2;
/// Tasks in flight in the throughput workload.
const TASKS: usize = 10_000;
/// Tasks of the map workload, and about how long each runs.
const MAP_TASKS: usize = 64;
const SPIN: Duration = Duration::from_millis(20);

const WORKER_ENV: &str = "FUTUREPOOL_BENCH_CLUSTER_WORKER";
const USER: &str = "futurepool";
const PASSWORD: &str = "futurepool-bench";

fn trivial(x: u64) -> u64 {
    black_box(x + 1)
}

/// CPU-bound: `iters` steps of a 64-bit LCG with a xorshift, each depending
/// on the one before (benches/python/cluster.py runs the same loop).
fn spin(iters: u64) -> u64 {
    let mut x = iters;
    for _ in 0..iters {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x ^= x >> 29;
    }
    black_box(x)
}

/// How many steps of `spin` take about [`SPIN`] here.
fn calibrate() -> u64 {
    let probe = 1_000_000;
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            spin(probe);
            t.elapsed()
        })
        .min()
        .expect("five runs");
    (probe as f64 * SPIN.as_secs_f64() / best.as_secs_f64()) as u64
}

fn main() {
    // The process pool's workers, and the cluster's workers' own pools,
    // start here and never return.
    futurepool::process::init();
    if let Ok(spec) = std::env::var(WORKER_ENV) {
        // Killed if the bench dies (the server dies with it).
        #[cfg(target_os = "linux")]
        // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        let (url, prefix) = spec.split_once('|').expect("url|prefix");
        let worker = Worker::builder(url)
            .user_password(USER, PASSWORD)
            .prefix(prefix)
            .concurrency(1)
            .build()
            .expect("the bench's worker can't start");
        println!("ready");
        let _ = std::io::stdout().flush();
        worker.run();
        return;
    }
    let server = Server::start();
    let prefix = format!("bench-{}", std::process::id());
    let workers: Vec<WorkerProc> = (0..WORKERS)
        .map(|_| WorkerProc::start(&server.url, &prefix))
        .collect();
    let cluster = ClusterExecutor::builder(&server.url)
        .user_password(USER, PASSWORD)
        .prefix(&prefix)
        .build()
        .expect("the bench's client can't start");
    let procs = ProcessPool::builder()
        .max_workers(WORKERS)
        .build()
        .expect("futurepool process pool");
    let iters = calibrate();
    println!("spin: {iters} steps for about {SPIN:?}");
    // Every worker (and its pool's process) started before measuring.
    warm(&cluster);
    warm(&procs);

    let mut c = Criterion::default().configure_from_args();
    round_trip(&mut c, &cluster, &procs);
    throughput(&mut c, &cluster, &procs);
    map(&mut c, &cluster, &procs, iters);
    c.final_summary();

    drop(cluster);
    procs.shutdown();
    for w in workers {
        w.stop();
    }
    server.stop();
}

fn warm(e: &impl Executor) {
    for r in e.map_fn(remote!(trivial), 0..WORKERS as u64 * 8) {
        r.expect("a warm-up task");
    }
}

fn round_trip(c: &mut Criterion, cluster: &ClusterExecutor, procs: &ProcessPool) {
    let mut group = c.benchmark_group("cluster_round_trip");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let f = remote!(trivial);
    group.bench_function(BenchmarkId::new("futurepool cluster", WORKERS), |b| {
        b.iter(|| cluster.submit_fn(f, 1).unwrap().join().unwrap())
    });
    group.bench_function(BenchmarkId::new("futurepool ProcessPool", WORKERS), |b| {
        b.iter(|| procs.submit_fn(f, 1).unwrap().join().unwrap())
    });
    group.finish();
}

fn throughput(c: &mut Criterion, cluster: &ClusterExecutor, procs: &ProcessPool) {
    let mut group = c.benchmark_group("cluster_throughput");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10)
        .throughput(Throughput::Elements(TASKS as u64));
    let f = remote!(trivial);
    let all = |e: &dyn Fn(u64) -> futurepool::TaskHandle<u64>| {
        let handles: Vec<_> = (0..TASKS as u64).map(e).collect();
        for h in handles {
            h.join().unwrap();
        }
    };
    group.bench_function(BenchmarkId::new("futurepool cluster", WORKERS), |b| {
        b.iter(|| all(&|i| cluster.submit_fn(f, i).unwrap()))
    });
    group.bench_function(
        BenchmarkId::new("futurepool cluster map_fn, chunksize 100", WORKERS),
        |b| {
            b.iter(|| {
                for r in cluster.map_fn(f, 0..TASKS as u64).chunksize(100) {
                    r.unwrap();
                }
            })
        },
    );
    group.bench_function(BenchmarkId::new("futurepool ProcessPool", WORKERS), |b| {
        b.iter(|| all(&|i| procs.submit_fn(f, i).unwrap()))
    });
    group.finish();
}

fn map(c: &mut Criterion, cluster: &ClusterExecutor, procs: &ProcessPool, iters: u64) {
    let mut group = c.benchmark_group("cluster_map");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(10))
        .sample_size(10)
        .throughput(Throughput::Elements(MAP_TASKS as u64));
    let f = remote!(spin);
    group.bench_function(BenchmarkId::new("sequential", WORKERS), |b| {
        b.iter(|| {
            for _ in 0..MAP_TASKS {
                spin(iters);
            }
        })
    });
    group.bench_function(BenchmarkId::new("futurepool cluster", WORKERS), |b| {
        b.iter(|| {
            for r in cluster.map_fn(f, vec![iters; MAP_TASKS]) {
                r.unwrap();
            }
        })
    });
    group.bench_function(BenchmarkId::new("futurepool ProcessPool", WORKERS), |b| {
        b.iter(|| {
            for r in procs.map_fn(f, vec![iters; MAP_TASKS]) {
                r.unwrap();
            }
        })
    });
    group.finish();
}

/// A worker: this binary in worker mode, stopped by SIGTERM.
struct WorkerProc(Child);

impl WorkerProc {
    fn start(url: &str, prefix: &str) -> WorkerProc {
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .env(WORKER_ENV, format!("{url}|{prefix}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a worker");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line);
        assert_eq!(line.trim(), "ready", "a worker didn't start");
        WorkerProc(child)
    }

    fn stop(mut self) {
        // SAFETY: kill has no preconditions; the pid is our child's.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// A nats-server on 127.0.0.1 (a free port, a temporary store), held by a
/// shell that stops it and removes its store when our end of its stdin
/// closes: when we say so, or when this binary exits, however.
struct Server {
    url: String,
    keeper: Child,
    stdin: Option<ChildStdin>,
}

impl Server {
    fn start() -> Server {
        let bin = std::env::var_os("FUTUREPOOL_NATS_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| peers::target_dir().join("nats/py/bin/nats-server"));
        assert!(
            bin.exists(),
            "no nats-server: run `scripts/nats-server.sh install` or set FUTUREPOOL_NATS_SERVER"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let store =
            std::env::temp_dir().join(format!("futurepool-bench-nats-{}", std::process::id()));
        let script = format!(
            "\"$0\" -a 127.0.0.1 -p {port} -js -sd '{store}' --user {USER} --pass {PASSWORD} 2>&1 & \
             pid=$!; read _; kill $pid; wait $pid; rm -rf '{store}'",
            store = store.display()
        );
        let mut keeper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let stdin = keeper.stdin.take();
        let out = keeper.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Server is ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("nats-server didn't start");
        Server {
            url: format!("nats://127.0.0.1:{port}"),
            keeper,
            stdin,
        }
    }

    fn stop(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.keeper.wait();
    }
}
