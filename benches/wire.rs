//! Workload 9 (issue 13): the process pool against the floor of a pipe
//! design, in the same run.
//!
//! - **Bulk**: a 64 MiB argument sent to a worker and returned, as a
//!   `serde_bytes::ByteBuf` (the type the docs recommend for bulk data) and
//!   as a plain `Vec<u8>`, beside a plain pipe copy of the same bytes
//!   between two processes: 64 MiB written to a child that reads them all,
//!   then writes them all back (store and forward, as a task must: its
//!   function needs the whole argument), into buffers allocated once.
//! - **Ping-pong**: futurepool's round trip of a `u64` to one worker beside
//!   a raw ping-pong of 8 bytes between two processes over a pair of pipes;
//!   on every CPU, then with this process (and so the children and threads it
//!   starts from then on) pinned to one CPU.
//!
//! The pipe peers are this binary started again with `FUTUREPOOL_BENCH_PIPE`
//! set, as futurepool's workers are started with a marker of their own.

mod peers;

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, criterion_group};
use futurepool::{ProcessPool, remote};
use serde_bytes::ByteBuf;

/// The bulk payload: 64 MiB.
const BULK: usize = 64 << 20;
/// The environment variable that makes this binary a pipe peer.
const PEER: &str = "FUTUREPOOL_BENCH_PIPE";

fn echo_bytes(b: ByteBuf) -> ByteBuf {
    b
}

fn echo_vec(v: Vec<u8>) -> Vec<u8> {
    v
}

fn plus_one(x: u64) -> u64 {
    black_box(x + 1)
}

/// The bulk payload: not all zeroes, so that nothing can skip it.
fn payload() -> Vec<u8> {
    (0..BULK).map(|i| (i * 31 % 251) as u8).collect()
}

/// A child process running this binary as a pipe peer (`"bulk"` or `"pong"`).
struct PipePeer {
    child: Child,
    to: Option<ChildStdin>,
    from: ChildStdout,
}

impl PipePeer {
    fn start(mode: &str) -> PipePeer {
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .env(PEER, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a pipe peer");
        let to = child.stdin.take();
        let from = child.stdout.take().expect("piped");
        PipePeer { child, to, from }
    }

    /// Sends `out` (its length first) and reads as many bytes back into `back`.
    fn bulk(&mut self, out: &[u8], back: &mut [u8]) {
        let to = self.to.as_mut().expect("open until dropped");
        to.write_all(&(out.len() as u64).to_le_bytes()).unwrap();
        to.write_all(out).unwrap();
        self.from.read_exact(back).unwrap();
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
        // Closing its stdin ends the peer's loop.
        drop(self.to.take());
        let _ = self.child.wait();
    }
}

/// The peer's side: raw stdin and stdout (no buffering), until end of file.
fn serve_pipe_peer(mode: &str) {
    use std::os::fd::AsFd;
    let mut input = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned().unwrap());
    let mut output = std::fs::File::from(io::stdout().as_fd().try_clone_to_owned().unwrap());
    match mode {
        "bulk" => {
            let mut buf = Vec::new();
            loop {
                let mut len = [0; 8];
                if input.read_exact(&mut len).is_err() {
                    return;
                }
                buf.resize(u64::from_le_bytes(len) as usize, 0);
                input.read_exact(&mut buf).unwrap();
                output.write_all(&buf).unwrap();
            }
        }
        "pong" => loop {
            let mut x = [0; 8];
            if input.read_exact(&mut x).is_err() {
                return;
            }
            let x = plus_one(u64::from_le_bytes(x));
            output.write_all(&x.to_le_bytes()).unwrap();
        },
        other => panic!("unknown pipe peer {other:?}"),
    }
}

fn one_worker() -> ProcessPool {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .build()
        .expect("futurepool process pool");
    // Start the worker before measuring.
    pool.submit(remote!(plus_one), 0).unwrap().join().unwrap();
    pool
}

fn bulk(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire_bulk");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .sample_size(10);
    let param = "64 MiB";
    let data = payload();
    let pool = one_worker();

    let f = remote!(echo_bytes);
    group.bench_function(BenchmarkId::new("futurepool ByteBuf", param), |b| {
        b.iter_batched(
            || ByteBuf::from(data.clone()),
            |arg| {
                let back = pool.submit(f, arg).unwrap().join().unwrap();
                assert_eq!(back.len(), BULK);
                back
            },
            BatchSize::PerIteration,
        )
    });

    let mut peer = PipePeer::start("bulk");
    let mut back = vec![0; BULK];
    group.bench_function(BenchmarkId::new("pipe copy floor", param), |b| {
        b.iter(|| {
            peer.bulk(&data, &mut back);
            assert_eq!(back[BULK - 1], data[BULK - 1]);
        })
    });
    drop(peer);

    let f = remote!(echo_vec);
    group.bench_function(BenchmarkId::new("futurepool Vec<u8>", param), |b| {
        b.iter_batched(
            || data.clone(),
            |arg| {
                let back = pool.submit(f, arg).unwrap().join().unwrap();
                assert_eq!(back.len(), BULK);
                back
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn ping_pong_group(c: &mut Criterion, param: &str) {
    let mut group = c.benchmark_group("wire_ping_pong");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    let pool = one_worker();
    let f = remote!(plus_one);
    group.bench_function(BenchmarkId::new("futurepool", param), |b| {
        b.iter(|| pool.submit(f, black_box(1)).unwrap().join().unwrap())
    });
    drop(pool);
    let mut peer = PipePeer::start("pong");
    group.bench_function(BenchmarkId::new("pipe ping-pong floor", param), |b| {
        b.iter(|| peer.ping(black_box(1)))
    });
    group.finish();
}

fn ping_pong(c: &mut Criterion) {
    let cores = peers::cores();
    ping_pong_group(
        c,
        &format!("{cores} CPU{}", if cores == 1 { "" } else { "s" }),
    );
    if cores > 1 && peers::pin_to_one_cpu() {
        ping_pong_group(c, "1 CPU, pinned");
    }
}

// Bulk first: the ping-pong pins this process to one CPU at its end.
criterion_group!(benches, bulk, ping_pong);

fn main() {
    // futurepool's workers start here and never return; the pipe peers too.
    futurepool::process::init();
    if let Ok(mode) = std::env::var(PEER) {
        serve_pipe_peer(&mode);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
