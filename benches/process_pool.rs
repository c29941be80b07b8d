//! Workload 6: a process pool's round trip and throughput, beside
//! `procspawn`'s pool. Python's `ProcessPoolExecutor` is measured by
//! `benches/python/process_pool.py`, which `benches/run.sh` runs.
//!
//! Needs the `process` feature (`benches/run.sh` passes it).

mod peers;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use peers::worker_counts;

/// Tasks per throughput iteration: a process round trip costs about 100 us,
/// so 1,000,000 would take minutes per sample.
const TASKS: usize = 5_000;

fn trivial(x: u64) -> u64 {
    black_box(x + 1)
}

fn procspawn_pool(workers: usize) -> procspawn::Pool {
    procspawn::Pool::new(workers).expect("procspawn pool")
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_round_trip");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for workers in worker_counts() {
        futurepool_process_pool(&mut group, workers, Workload::RoundTrip);

        let pool = procspawn_pool(workers);
        group.bench_function(BenchmarkId::new("procspawn Pool", workers), |b| {
            b.iter(|| pool.spawn(1u64, trivial).join().unwrap())
        });
        pool.shutdown();
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_throughput");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Elements(TASKS as u64));
    let workers = peers::cores();
    futurepool_process_pool(&mut group, workers, Workload::Throughput);

    let pool = procspawn_pool(workers);
    group.bench_function(BenchmarkId::new("procspawn Pool", workers), |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..TASKS as u64).map(|i| pool.spawn(i, trivial)).collect();
            for h in handles {
                h.join().unwrap();
            }
        })
    });
    pool.shutdown();
    group.finish();
}

enum Workload {
    RoundTrip,
    Throughput,
}

/// futurepool's process pool, as `futurepool` in the same group, before the
/// peers: the same trivial function, named with `remote!`.
fn futurepool_process_pool(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    workers: usize,
    workload: Workload,
) {
    let pool = futurepool::ProcessPool::builder()
        .max_workers(workers)
        .build()
        .expect("futurepool process pool");
    let f = futurepool::remote!(trivial);
    // Start every worker before measuring, as procspawn's pool does.
    pool.map(f, 0..workers as u64 * 4).for_each(|r| {
        r.unwrap();
    });
    let id = BenchmarkId::new("futurepool", workers);
    match workload {
        Workload::RoundTrip => {
            group.bench_function(id, |b| {
                b.iter(|| pool.submit(f, 1u64).unwrap().join().unwrap())
            });
        }
        Workload::Throughput => {
            group.bench_function(id, |b| {
                b.iter(|| {
                    let handles: Vec<_> = (0..TASKS as u64)
                        .map(|i| pool.submit(f, i).unwrap())
                        .collect();
                    for h in handles {
                        h.join().unwrap();
                    }
                })
            });
        }
    }
}

criterion_group!(benches, round_trip, throughput);

fn main() {
    // Worker processes of futurepool's pool, then procspawn's, start here
    // and never return.
    futurepool::process::init();
    procspawn::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
