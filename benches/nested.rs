//! Workload 8 (issue 12): recursive fan-out by nested waits. `fib(N)` where
//! each call above the leaves submits its two halves and waits for both:
//! futurepool's `submit` + `join` (the waiting worker runs what it waits
//! for, and lends its place only when that runs elsewhere) beside rayon's
//! `join` and `scope` on a pool of the same size. rayon's `join` is a far
//! cheaper primitive (no handle, no allocation when the other half is
//! taken back); the point is the ratio, and that futurepool's threads stay
//! bounded. The peak thread count of each side goes to
//! `target/bench-results/nested.json`.

mod peers;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use futurepool::ThreadPool;
use peers::cores;

/// `fib(20)`: 21,891 calls, 10,945 of them leaves.
const N: u64 = 20;

/// How many calls `fib(n)` makes (each above the leaves is a task).
fn calls(n: u64) -> u64 {
    if n < 2 {
        1
    } else {
        1 + calls(n - 1) + calls(n - 2)
    }
}

fn fib_futurepool(pool: &ThreadPool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (p1, p2) = (pool.clone(), pool.clone());
    let a = pool.submit(move || fib_futurepool(&p1, n - 1)).unwrap();
    let b = pool.submit(move || fib_futurepool(&p2, n - 2)).unwrap();
    a.join().unwrap() + b.join().unwrap()
}

fn fib_rayon_join(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib_rayon_join(n - 1), || fib_rayon_join(n - 2));
    a + b
}

fn fib_rayon_scope(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (mut a, mut b) = (0, 0);
    rayon::scope(|s| {
        s.spawn(|_| a = fib_rayon_scope(n - 1));
        s.spawn(|_| b = fib_rayon_scope(n - 2));
    });
    a + b
}

fn nested(c: &mut Criterion) {
    let workers = cores();
    let mut group = c.benchmark_group("nested");
    group
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(3))
        .throughput(Throughput::Elements(calls(N)));
    let expected = fib_rayon_join(N);

    let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
    group.bench_function(BenchmarkId::new("futurepool submit+join", workers), |b| {
        b.iter(|| {
            let p = pool.clone();
            let got = pool
                .submit(move || fib_futurepool(&p, black_box(N)))
                .unwrap();
            assert_eq!(got.join().unwrap(), expected);
        })
    });
    let futurepool_peak = pool.peak_worker_count();
    let futurepool_started = pool.workers_started();

    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .unwrap();
    group.bench_function(BenchmarkId::new("rayon join", workers), |b| {
        b.iter(|| assert_eq!(rayon.install(|| fib_rayon_join(black_box(N))), expected))
    });
    group.bench_function(BenchmarkId::new("rayon scope", workers), |b| {
        b.iter(|| assert_eq!(rayon.install(|| fib_rayon_scope(black_box(N))), expected))
    });
    group.finish();

    let json = format!(
        "{{\"n\": {N}, \"calls\": {}, \"workers\": {workers}, \"max_lent\": {workers}, \
         \"futurepool_peak_threads\": {futurepool_peak}, \
         \"futurepool_threads_started\": {futurepool_started}, \"rayon_threads\": {}}}\n",
        calls(N),
        rayon.current_num_threads()
    );
    std::fs::write(peers::results_dir().join("nested.json"), json).expect("write nested.json");
}

criterion_group!(benches, nested);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
