//! The cluster across a real network: workers in network namespaces of
//! their own (`ip netns`), each joined by a veth pair to a bridge in the
//! test's namespace, where the nats-server listens on the bridge's address
//! (each namespace has its own 127.0.0.1). So every task and reply crosses
//! a network interface, and a test can take a worker's link down.
//!
//! It needs the privileges of `ip netns add` (root, or CAP_SYS_ADMIN and
//! CAP_NET_ADMIN): without them each test prints why it skips and passes.
//! Names (namespaces, links) and the subnet are unique per run, and a
//! guard removes them when the test ends, by a panic too.

#![cfg(all(feature = "cluster", target_os = "linux"))]

mod common {
    pub mod nats;
}

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::nats::{PASSWORD, Restartable, USER, WorkerProc};
use futurepool::{ClusterExecutor, Executor, remote};

/// The bound on what must happen (a lost task fails the test, never hangs
/// it).
const LONG: Duration = Duration::from_secs(60);

/// The work queue's ack wait here: a task whose worker is cut off goes to
/// another after it.
const ACK_WAIT: Duration = Duration::from_secs(2);

extern "C" fn worker_mode() {
    futurepool::process::init();
    let Ok(url) = std::env::var("FUTUREPOOL_TEST_NETNS_WORKER") else {
        return;
    };
    futurepool::cluster::Worker::builder(&url)
        .user_password(USER, PASSWORD)
        .concurrency(1)
        .ack_wait(ACK_WAIT)
        .max_deliveries(50)
        .build()
        .expect("the worker can't start")
        .run();
    std::process::exit(0);
}

#[used]
#[unsafe(link_section = ".init_array")]
static WORKER_MODE: extern "C" fn() = worker_mode;

/// Runs `ip` with `args`; its error output if it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The network of one test: a bridge in the test's namespace, and per
/// worker a namespace joined to it by a veth pair. Everything it made goes
/// when it is dropped.
struct Net {
    bridge: String,
    /// `10.a.b.0/24`: the bridge is `.1`, worker `k`'s end `.(10 + k)`.
    subnet: (u8, u8),
    /// Per worker: its namespace, and the veth end on the bridge.
    workers: Vec<(String, String)>,
}

impl Net {
    /// A network with `n` worker namespaces, or `None` (having said why)
    /// if this process may not make one.
    fn new(test: &str, n: usize) -> Option<Net> {
        static RUN: AtomicUsize = AtomicUsize::new(0);
        let run = RUN.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names have at most 15 bytes.
        let id = format!("{:x}{run}", pid & 0xff_ffff);
        let probe = format!("fpnsprobe-{id}");
        if let Err(err) = ip(&["netns", "add", &probe]) {
            eprintln!(
                "skipping {test}: this process can't make network namespaces \
                 (it needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN): {err}"
            );
            return None;
        }
        let _ = ip(&["netns", "del", &probe]);
        let mut net = Net {
            bridge: format!("fpb{id}"),
            subnet: Net::free_subnet(pid, run),
            workers: Vec::new(),
        };
        if let Err(err) = net.build(&id, n) {
            panic!("cannot set up the test's network: {err}");
        }
        Some(net)
    }

    /// A /24 in 10.0.0.0/8 that no interface here uses.
    fn free_subnet(pid: u32, run: usize) -> (u8, u8) {
        let addrs = Command::new("ip")
            .args(["-4", "-o", "addr"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut a = 100 + (pid % 100) as u8;
        let mut b = ((pid / 100) % 200) as u8 + run as u8;
        while addrs.contains(&format!("10.{a}.{b}.")) {
            b = b.wrapping_add(1);
            if b == 0 {
                a = a.wrapping_add(1);
            }
        }
        (a, b)
    }

    fn build(&mut self, id: &str, n: usize) -> Result<(), String> {
        let (a, b) = self.subnet;
        let bridge = self.bridge.clone();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("10.{a}.{b}.1/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for k in 0..n {
            let ns = format!("fpns-{id}-{k}");
            let (outer, inner) = (format!("fph{id}{k}"), format!("fpn{id}{k}"));
            ip(&["netns", "add", &ns])?;
            self.workers.push((ns.clone(), outer.clone()));
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ])?;
            ip(&["link", "set", &outer, "master", &bridge])?;
            ip(&["link", "set", &outer, "up"])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            let addr = format!("10.{a}.{b}.{}/24", 10 + k);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &inner])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// The address the server listens on: the bridge's.
    fn server_host(&self) -> String {
        let (a, b) = self.subnet;
        format!("10.{a}.{b}.1")
    }

    /// Starts a worker in namespace `k`, pointed at `url`.
    fn start_worker(&self, k: usize, url: &str) -> WorkerProc {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.workers[k].0])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "no-test-runs-in-a-worker"])
            .env("FUTUREPOOL_TEST_NETNS_WORKER", url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        WorkerProc(child)
    }

    /// The identity of namespace `k`'s network stack: what
    /// `/proc/self/ns/net` reads in a process there.
    fn netns_id(&self, k: usize) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.workers[k].0])
            .args(["readlink", "/proc/self/ns/net"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Takes worker `k`'s link down, or brings it up.
    fn set_link(&self, k: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["link", "set", &self.workers[k].1, state]).unwrap();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // A namespace takes its veth end, and so the pair, with it.
        for (ns, outer) in &self.workers {
            let _ = ip(&["netns", "del", ns]);
            let _ = ip(&["link", "del", outer]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

fn client(url: &str) -> ClusterExecutor {
    ClusterExecutor::builder(url)
        .user_password(USER, PASSWORD)
        .ack_wait(ACK_WAIT)
        .max_deliveries(50)
        .build()
        .unwrap()
}

fn square(x: u64) -> u64 {
    x * x
}

/// Tells the test (listening at `path`: a path socket, which crosses
/// network namespaces) which network namespace runs it, waits until the
/// test answers or hangs up, and returns that namespace and `n`.
fn where_it_runs((path, n): (String, u64)) -> (String, u64) {
    let here = std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut s = UnixStream::connect(&path).unwrap();
    writeln!(s, "{here}").unwrap();
    let _ = s.read(&mut [0u8; 1]);
    (here, n)
}

/// The test's end of `where_it_runs`.
struct Meeting {
    listener: UnixListener,
    path: String,
}

impl Meeting {
    fn new() -> Meeting {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir()
            .join(format!(
                "futurepool-netns-{}-{}.sock",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ))
            .to_str()
            .unwrap()
            .to_owned();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        Meeting { listener, path }
    }

    fn arg(&self, n: u64) -> (String, u64) {
        (self.path.clone(), n)
    }

    /// A task arrives (within [`LONG`]): its namespace, and the stream
    /// that releases it.
    fn arrive(&self) -> (String, UnixStream) {
        let until = Instant::now() + LONG;
        let mut s = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < until, "no task arrived");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while s.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        (String::from_utf8(line).unwrap(), s)
    }
}

impl Drop for Meeting {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
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

fn this_netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_map_runs_on_workers_in_network_namespaces_of_their_own() {
    let Some(net) = Net::new(
        "a_map_runs_on_workers_in_network_namespaces_of_their_own",
        2,
    ) else {
        return;
    };
    let server = Restartable::start_on(&net.server_host());
    let _workers = [
        net.start_worker(0, &server.url),
        net.start_worker(1, &server.url),
    ];
    let spaces = [net.netns_id(0), net.netns_id(1)];
    assert_ne!(spaces[0], spaces[1]);
    assert!(!spaces.contains(&this_netns()));
    let pool = client(&server.url);
    assert!(eventually(LONG, || pool.worker_count() == 2));
    let meeting = Meeting::new();
    let args: Vec<_> = (0..4).map(|n| meeting.arg(n)).collect();
    let map = pool.clone();
    let consumer = std::thread::spawn(move || {
        map.map_fn(remote!(where_it_runs), args)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    // Each worker runs one at a time: the first two meet here only if
    // both namespaces took one.
    let (first, s1) = meeting.arrive();
    let (second, s2) = meeting.arrive();
    let mut met = [first, second];
    met.sort();
    let mut expected = spaces.clone();
    expected.sort();
    assert_eq!(met, expected);
    drop((s1, s2));
    for _ in 0..2 {
        drop(meeting.arrive());
    }
    let ran = consumer.join().unwrap();
    assert_eq!(
        ran.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert!(ran.iter().all(|(space, _)| spaces.contains(space)));
    // And plain tasks, in order.
    let squares: Vec<u64> = pool
        .map_fn(remote!(square), 1..=8)
        .map(Result::unwrap)
        .collect();
    assert_eq!(squares, [1, 4, 9, 16, 25, 36, 49, 64]);
}

#[test]
fn a_link_taken_down_mid_task_and_brought_back_loses_nothing() {
    let Some(net) = Net::new(
        "a_link_taken_down_mid_task_and_brought_back_loses_nothing",
        2,
    ) else {
        return;
    };
    let server = Restartable::start_on(&net.server_host());
    let _workers = [
        net.start_worker(0, &server.url),
        net.start_worker(1, &server.url),
    ];
    let spaces = [net.netns_id(0), net.netns_id(1)];
    let pool = client(&server.url);
    assert!(eventually(LONG, || pool.worker_count() == 2));
    let meeting = Meeting::new();
    // One task on each worker.
    let held: Vec<_> = (0..2)
        .map(|n| {
            pool.submit_fn(remote!(where_it_runs), meeting.arg(n))
                .unwrap()
        })
        .collect();
    let (first, s1) = meeting.arrive();
    let (second, s2) = meeting.arrive();
    assert_ne!(first, second);
    let (cut_s, other_s) = if first == spaces[0] {
        (s1, s2)
    } else {
        (s2, s1)
    };
    // Worker 0's link goes down mid-task; then both tasks end. Worker 0's
    // reply can't leave its namespace: after the ack wait, its task goes
    // to worker 1, which runs it again.
    net.set_link(0, false);
    drop((cut_s, other_s));
    // More tasks meanwhile, queued behind the cut.
    let more: Vec<_> = (1..=6u64)
        .map(|x| pool.submit_fn(remote!(square), x).unwrap())
        .collect();
    // Its heartbeats stop: counted no longer (3 s after the last).
    assert!(
        eventually(LONG, || pool.worker_count() == 1),
        "{}",
        pool.worker_count()
    );
    let (again, s) = meeting.arrive();
    assert_eq!(again, spaces[1], "the cut-off task ran again on worker 1");
    drop(s);
    // The link comes back: worker 0 is counted again, and its late reply
    // (a duplicate) resolves nothing twice.
    net.set_link(0, true);
    let mut got: Vec<u64> = held
        .into_iter()
        .map(|h| h.join_timeout(LONG).unwrap().1)
        .collect();
    got.sort();
    assert_eq!(got, [0, 1]);
    let squares: Vec<u64> = more
        .into_iter()
        .map(|h| h.join_timeout(LONG).unwrap())
        .collect();
    assert_eq!(squares, [1, 4, 9, 16, 25, 36]);
    assert!(
        eventually(LONG, || pool.worker_count() == 2),
        "{}",
        pool.worker_count()
    );
    // Both go on working: each takes one of two held tasks.
    let held: Vec<_> = (10..12)
        .map(|n| {
            pool.submit_fn(remote!(where_it_runs), meeting.arg(n))
                .unwrap()
        })
        .collect();
    let (a, s1) = meeting.arrive();
    let (b, s2) = meeting.arrive();
    let mut met = [a, b];
    met.sort();
    let mut expected = spaces.clone();
    expected.sort();
    assert_eq!(met, expected);
    drop((s1, s2));
    for h in held {
        h.join_timeout(LONG).unwrap();
    }
}
