//! Workload 10 (issue 14): what the workflow features cost, side by side in
//! one run.
//!
//! - `workflows_chain`: a chain of dependent tasks, each adding one to the
//!   value of the one before. futurepool's `task().after(prev).submit(f)`
//!   (the whole chain is submitted at once and no thread waits: each link
//!   starts when the one before ends) beside the same chain driven by hand
//!   (futurepool `submit` + `join`, one link at a time, the submitting thread
//!   waiting for each) and beside rayon's `spawn` with a oneshot channel per
//!   link (the same, on rayon). Time per link.
//! - `workflows_progress`: an ordered map of trivial tasks without a
//!   progress observer, with a closure observer and with a hidden
//!   `indicatif` bar: what watching costs. Time per item.

mod peers;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use futurepool::{Progress, TaskError, TaskHandle, ThreadPool};
use peers::cores;

const LINKS: u64 = 1_000;
const ITEMS: u64 = 10_000;

fn chain_after(pool: &ThreadPool) -> u64 {
    let mut last: TaskHandle<u64> = pool.submit(|| 0).unwrap();
    for _ in 0..LINKS {
        last = pool
            .task()
            .after(last)
            .submit(|x: u64| black_box(x) + 1)
            .unwrap();
    }
    last.join().unwrap()
}

fn chain_by_hand(pool: &ThreadPool) -> u64 {
    let mut value = pool.submit(|| 0).unwrap().join().unwrap();
    for _ in 0..LINKS {
        value = pool
            .submit(move || black_box(value) + 1)
            .unwrap()
            .join()
            .unwrap();
    }
    value
}

fn chain_rayon(pool: &rayon::ThreadPool) -> u64 {
    let mut value = 0;
    for _ in 0..LINKS {
        let (tx, rx) = oneshot::channel();
        pool.spawn(move || {
            let _ = tx.send(black_box(value) + 1);
        });
        value = rx.recv().unwrap();
    }
    value
}

fn chain(c: &mut Criterion) {
    let workers = cores();
    let mut group = c.benchmark_group("workflows_chain");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(LINKS));
    let param = format!("{LINKS} links");
    let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
    group.bench_function(BenchmarkId::new("futurepool after", &param), |b| {
        b.iter(|| assert_eq!(chain_after(&pool), LINKS))
    });
    group.bench_function(BenchmarkId::new("futurepool submit+join", &param), |b| {
        b.iter(|| assert_eq!(chain_by_hand(&pool), LINKS))
    });
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .unwrap();
    group.bench_function(BenchmarkId::new("rayon spawn+oneshot", &param), |b| {
        b.iter(|| assert_eq!(chain_rayon(&rayon), LINKS))
    });
    group.finish();
}

fn sum(results: impl Iterator<Item = Result<u64, TaskError>>) -> u64 {
    results.map(Result::unwrap).sum()
}

fn progress(c: &mut Criterion) {
    let workers = cores();
    let mut group = c.benchmark_group("workflows_progress");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(ITEMS));
    let param = format!("{ITEMS} items");
    let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
    let expected = ITEMS * (ITEMS + 1) / 2;
    group.bench_function(BenchmarkId::new("futurepool map", &param), |b| {
        b.iter(|| assert_eq!(sum(pool.map(|x: u64| black_box(x) + 1, 0..ITEMS)), expected))
    });
    group.bench_function(BenchmarkId::new("with a closure observer", &param), |b| {
        b.iter(|| {
            let map = pool
                .map(|x: u64| black_box(x) + 1, 0..ITEMS)
                .progress(|p: &Progress| {
                    black_box(p.done());
                });
            assert_eq!(sum(map), expected)
        })
    });
    group.bench_function(BenchmarkId::new("with an indicatif bar", &param), |b| {
        b.iter(|| {
            let map = pool
                .map(|x: u64| black_box(x) + 1, 0..ITEMS)
                .progress(indicatif::ProgressBar::hidden());
            assert_eq!(sum(map), expected)
        })
    });
    group.finish();
}

criterion_group!(benches, chain, progress);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
