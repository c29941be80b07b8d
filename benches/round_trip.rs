//! Issue 13, item 7: futurepool's process round trip beside a raw pipe
//! ping-pong, **interleaved**: short rounds of each in turn, so that both
//! see the same moments of a busy machine; then the same pinned to one
//! CPU; then how much CPU an idle pool burns.
//!
//! ```text
//! cargo bench -p futurepool-benches --bench round_trip            # 2 CPUs, pinned, idle
//! cargo bench -p futurepool-benches --bench round_trip -- 40 2000 # rounds, trips per round
//! ```
//!
//! With `FUTUREPOOL_ROUND_TRIP_JSON=<file>` (as `benches/run.sh` sets it) it
//! also writes its figures there, for `benches/report` (BENCHMARKS.md,
//! workload 9).
//!
//! Each round times `trips` round trips of a `u64` to one worker
//! (`submit` + `join`) and as many 8-byte ping-pongs between two processes
//! over a pair of pipes (the floor of any pipe design), in alternating
//! order. It prints the median time per trip of each, the median of the
//! rounds' ratios, and the CPU time each side used per trip (the calling
//! thread from `getrusage`, the worker or pipe peer from `/proc/<pid>/stat`,
//! in 10 ms ticks: coarse). The idle figure is the CPU time the benchmark
//! process (its drivers and timer) and the worker use over 3 s with the
//! pool idle, right after a burst of round trips, from `/proc/<pid>/stat`.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use futurepool::{ProcessPool, remote};

mod peers;

/// The environment variable that makes this binary the pipe peer.
const PEER: &str = "FUTUREPOOL_BENCH_PONG";

fn plus_one(x: u64) -> u64 {
    black_box(x + 1)
}

struct PipePeer {
    child: Child,
    to: Option<ChildStdin>,
    from: ChildStdout,
}

impl PipePeer {
    fn start() -> PipePeer {
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .env(PEER, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a pipe peer");
        let to = child.stdin.take();
        let from = child.stdout.take().expect("piped");
        PipePeer { child, to, from }
    }

    fn ping(&mut self, x: u64) -> u64 {
        let to = self.to.as_mut().expect("open until dropped");
        to.write_all(&x.to_le_bytes()).unwrap();
        let mut back = [0; 8];
        self.from.read_exact(&mut back).unwrap();
        u64::from_le_bytes(back)
    }
}

impl Drop for PipePeer {
    fn drop(&mut self) {
        drop(self.to.take());
        let _ = self.child.wait();
    }
}

fn serve_peer() {
    use std::os::fd::AsFd;
    let mut input = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned().unwrap());
    let mut output = std::fs::File::from(io::stdout().as_fd().try_clone_to_owned().unwrap());
    loop {
        let mut x = [0; 8];
        if input.read_exact(&mut x).is_err() {
            return;
        }
        let x = plus_one(u64::from_le_bytes(x));
        output.write_all(&x.to_le_bytes()).unwrap();
    }
}

/// This thread's CPU time (user + system), in µs.
fn thread_cpu() -> f64 {
    // SAFETY: `rusage` is plain data, written by the call.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, writable `rusage`.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Interleaved rounds; prints their medians, in µs, and returns them as
/// JSON.
fn compare(label: &str, rounds: usize, trips: usize) -> serde_json::Value {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let f = remote!(plus_one);
    let mut peer = PipePeer::start();
    // Warm up both.
    for _ in 0..trips {
        pool.submit(f, 1).unwrap().join().unwrap();
        peer.ping(1);
    }
    let (mut ours, mut floor, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_ours, mut cpu_floor) = (0.0, 0.0);
    let worker = pool.worker_pids()[0];
    let (mut w_ours, mut p_floor) = (0, 0);
    for round in 0..rounds {
        let mut time_ours = || {
            let c = thread_cpu();
            let w = cpu_ticks(worker);
            let t = Instant::now();
            for i in 0..trips as u64 {
                assert_eq!(pool.submit(f, black_box(i)).unwrap().join().unwrap(), i + 1);
            }
            let e = t.elapsed().as_secs_f64() * 1e6 / trips as f64;
            cpu_ours += thread_cpu() - c;
            w_ours += cpu_ticks(worker) - w;
            e
        };
        let mut time_floor = || {
            let c = thread_cpu();
            let w = cpu_ticks(peer.child.id());
            let t = Instant::now();
            for i in 0..trips as u64 {
                assert_eq!(peer.ping(black_box(i)), i + 1);
            }
            let e = t.elapsed().as_secs_f64() * 1e6 / trips as f64;
            cpu_floor += thread_cpu() - c;
            p_floor += cpu_ticks(peer.child.id()) - w;
            e
        };
        let (a, b) = if round % 2 == 0 {
            let a = time_ours();
            (a, time_floor())
        } else {
            let b = time_floor();
            (time_ours(), b)
        };
        ours.push(a);
        floor.push(b);
        ratios.push(a / b);
    }
    let (o, fl, r) = (median(&mut ours), median(&mut floor), median(&mut ratios));
    let n = (rounds * trips) as f64;
    let (caller, caller_floor) = (cpu_ours / n, cpu_floor / n);
    println!(
        "  CPU per trip: caller {caller:.2} µs vs {caller_floor:.2} µs; worker {:.2} µs vs peer {:.2} µs",
        w_ours as f64 * 1e4 / n,
        p_floor as f64 * 1e4 / n
    );
    println!(
        "{label}: futurepool {o:.2} µs (min {:.2}), pipe ping-pong floor {fl:.2} µs (min {:.2}), \
         ratio of medians {:.2}x, median ratio {r:.2}x ({rounds} rounds of {trips})",
        ours[0],
        floor[0],
        o / fl
    );
    serde_json::json!({
        "ours": o, "floor": fl, "median_ratio": r,
        "ours_min": ours[0], "floor_min": floor[0],
        "caller_cpu": caller, "caller_cpu_floor": caller_floor,
        "rounds": rounds, "trips": trips,
    })
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12) // utime, stime (fields 14 and 15)
}

/// Returns the percentage of a core used.
fn idle_burn() -> f64 {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let f = remote!(plus_one);
    for i in 0..20_000 {
        pool.submit(f, i).unwrap().join().unwrap();
    }
    let me = std::process::id();
    let workers = pool.worker_pids();
    // SAFETY: sysconf takes an integer and touches no memory.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let before: u64 = cpu_ticks(me) + workers.iter().map(|&p| cpu_ticks(p)).sum::<u64>();
    let span = Duration::from_secs(3);
    std::thread::sleep(span);
    let after: u64 = cpu_ticks(me) + workers.iter().map(|&p| cpu_ticks(p)).sum::<u64>();
    let used = (after - before) as f64 / hz;
    println!(
        "idle: a 2-worker pool right after 20,000 round trips used {:.2}% of a core over {span:?} \
         (this process and {} workers, /proc/<pid>/stat)",
        100.0 * used / span.as_secs_f64(),
        workers.len()
    );
    100.0 * used / span.as_secs_f64()
}

fn main() {
    futurepool::process::init();
    if std::env::var_os(PEER).is_some() {
        serve_peer();
        return;
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rounds = args.first().copied().unwrap_or(30);
    let trips = args.get(1).copied().unwrap_or(2000);
    let cores = peers::cores();
    let mut out = serde_json::json!({ "cpus": cores });
    out["all"] = compare(&format!("{cores} CPUs"), rounds, trips);
    out["idle_percent"] = idle_burn().into();
    if cores > 1 && peers::pin_to_one_cpu() {
        out["pinned"] = compare("1 CPU, pinned", rounds, trips);
    }
    if let Some(path) = std::env::var_os("FUTUREPOOL_ROUND_TRIP_JSON") {
        std::fs::write(path, out.to_string()).expect("write the JSON");
    }
}
