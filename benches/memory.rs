//! Workload 7: bytes per pending task. Each peer runs in a fresh child
//! process (this binary again, told which peer by `FUTUREPOOL_MEM_PEER`),
//! so no peer inherits another's heap: one worker is held busy, 1,000,000
//! trivial tasks are queued with a handle each, and the rise in peak RSS
//! (`VmHWM`) is divided by the task count.
//!
//! Results go to stdout and `target/bench-results/memory.json`.

mod peers;

use std::hint::black_box;
use std::process::Command;
use std::sync::mpsc;

const TASKS: usize = 1_000_000;
const PEERS: [&str; 6] = [
    "futurepool",
    "crossbeam floor",
    "rayon spawn+oneshot",
    "threadpool+oneshot",
    "tokio spawn_blocking",
    "blocking::unblock",
];
const ENV: &str = "FUTUREPOOL_MEM_PEER";

fn main() {
    match std::env::var(ENV) {
        Ok(peer) => child(&peer),
        Err(_) => parent(),
    }
}

fn parent() {
    let exe = std::env::current_exe().expect("current exe");
    let mut rows = Vec::new();
    for peer in PEERS {
        let out = Command::new(&exe)
            .env(ENV, peer)
            // blocking's global pool: one thread, as for the others.
            .env("BLOCKING_MAX_THREADS", "1")
            .output()
            .expect("run the memory child");
        let text = String::from_utf8_lossy(&out.stdout);
        let bytes: f64 = match text.trim().parse() {
            Ok(b) if out.status.success() => b,
            _ => {
                eprintln!(
                    "memory: {peer} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                continue;
            }
        };
        println!("memory/{peer}: {bytes:.0} bytes per pending task");
        rows.push(format!(
            "{{\"peer\": \"{peer}\", \"bytes_per_task\": {bytes:.1}}}"
        ));
    }
    let json = format!(
        "{{\"tasks\": {TASKS}, \"results\": [{}]}}\n",
        rows.join(", ")
    );
    std::fs::write(peers::results_dir().join("memory.json"), json).expect("write memory.json");
}

/// Peak resident set size in bytes (`VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status")
        * 1024
}

/// A task that holds the pool's only worker until the measurement is taken.
type Blocker = Box<dyn FnOnce() + Send + 'static>;

/// Has `block` submit a blocker and waits until it runs; then queues `TASKS`
/// tasks with `submit` and prints the peak RSS rise per task.
fn measure<H>(block: impl FnOnce(Blocker), mut submit: impl FnMut() -> H) {
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    block(Box::new(move || {
        let _ = started_tx.send(());
        let _ = gate_rx.recv();
    }));
    started_rx.recv().expect("the blocker runs");
    let before = peak_rss();
    let handles: Vec<H> = (0..TASKS).map(|_| submit()).collect();
    let after = peak_rss();
    println!("{}", (after - before) as f64 / TASKS as f64);
    black_box(&handles);
    // Exit without draining: the figure is taken.
    drop(gate_tx);
    std::process::exit(0);
}

fn child(peer: &str) {
    let task = || black_box(1u64);
    match peer {
        "futurepool" => {
            let pool = futurepool::ThreadPool::builder()
                .max_workers(1)
                .build()
                .unwrap();
            measure(
                |blocker| drop(pool.submit(blocker).unwrap()),
                || pool.submit(task).unwrap(),
            );
        }
        "crossbeam floor" => {
            let pool = peers::FloorPool::new(1);
            measure(|blocker| pool.execute(blocker), || pool.submit(task));
        }
        "rayon spawn+oneshot" => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            measure(
                |blocker| pool.spawn(blocker),
                || peers::rayon_submit(&pool, task),
            );
        }
        "threadpool+oneshot" => {
            let pool = threadpool::ThreadPool::new(1);
            measure(
                |blocker| pool.execute(blocker),
                || peers::threadpool_submit(&pool, task),
            );
        }
        "tokio spawn_blocking" => {
            let rt = peers::tokio_runtime(1);
            measure(
                |blocker| drop(rt.spawn_blocking(blocker)),
                || rt.spawn_blocking(task),
            );
        }
        "blocking::unblock" => {
            measure(
                |blocker| blocking::unblock(blocker).detach(),
                || blocking::unblock(task),
            );
        }
        other => panic!("unknown peer {other}"),
    }
}
