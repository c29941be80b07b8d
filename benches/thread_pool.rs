//! Workloads 1 to 5 of issue 5: futurepool's thread pool side by side with
//! its peers, in one process and one run. `benches/run.sh` runs this and
//! turns criterion's samples into `BENCHMARKS.md`.
//!
//! Every group keeps criterion's budget short (the whole script must finish
//! in well under 20 minutes on 2 cores); the 1,000,000-task and the sleeping
//! workloads take 10 flat samples.

mod peers;

use std::hint::black_box;
use std::thread;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use futurepool::{ThreadPool, as_completed};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use peers::{FloorPool, cores, rayon_submit, threadpool_submit, worker_counts};

fn futurepool(workers: usize) -> ThreadPool {
    ThreadPool::builder()
        .max_workers(workers)
        .build()
        .expect("futurepool")
}

fn rayon_pool(workers: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon")
}

fn short<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_millis(400))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30);
    group
}

/// Workload 1: submit a trivial task and block on its result, one at a time.
fn round_trip(c: &mut Criterion) {
    let mut group = short(c, "round_trip");
    for workers in worker_counts() {
        let id = |peer: &str| BenchmarkId::new(peer, workers);

        let pool = futurepool(workers);
        group.bench_function(id("futurepool"), |b| {
            b.iter(|| pool.submit(|| black_box(1u64)).unwrap().join().unwrap())
        });
        drop(pool);

        let pool = FloorPool::new(workers);
        group.bench_function(id("crossbeam floor"), |b| {
            b.iter(|| pool.submit(|| black_box(1u64)).recv().unwrap())
        });
        drop(pool);

        let pool = rayon_pool(workers);
        group.bench_function(id("rayon spawn+oneshot"), |b| {
            b.iter(|| rayon_submit(&pool, || black_box(1u64)).recv().unwrap())
        });
        drop(pool);

        let pool = threadpool::ThreadPool::new(workers);
        group.bench_function(id("threadpool+oneshot"), |b| {
            b.iter(|| threadpool_submit(&pool, || black_box(1u64)).recv().unwrap())
        });
        drop(pool);

        let rt = peers::tokio_runtime(workers);
        group.bench_function(id("tokio spawn_blocking"), |b| {
            b.iter(|| futures::executor::block_on(rt.spawn_blocking(|| black_box(1u64))).unwrap())
        });
        drop(rt);

        // A global pool: its size is BLOCKING_MAX_THREADS, set by run.sh.
        group.bench_function(id("blocking::unblock"), |b| {
            b.iter(|| futures::executor::block_on(blocking::unblock(|| black_box(1u64))))
        });

        group.bench_function(id("std::thread::spawn"), |b| {
            b.iter(|| thread::spawn(|| black_box(1u64)).join().unwrap())
        });
    }
    group.finish();
}

/// Runs `tasks` submits split over `submitters` threads; each thread then
/// waits for the handles it got.
fn submit_and_wait<H>(
    tasks: usize,
    submitters: usize,
    submit: impl Fn() -> H + Sync,
    wait: impl Fn(Vec<H>) + Sync,
) {
    let one = || {
        let handles: Vec<H> = (0..tasks / submitters).map(|_| submit()).collect();
        wait(handles);
    };
    if submitters == 1 {
        one();
    } else {
        thread::scope(|s| {
            for _ in 0..submitters {
                s.spawn(one);
            }
        });
    }
}

const MILLION: usize = 1_000_000;

/// Workload 2: submit 1,000,000 trivial tasks, keeping a handle for each,
/// then wait for all; from one submitting thread and from several.
fn throughput(c: &mut Criterion) {
    let workers = cores();
    let mut group = c.benchmark_group("throughput");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(4))
        .sample_size(10);
    let mut submitter_counts = vec![1, 2];
    if cores() > 2 {
        submitter_counts.push(cores());
    }
    for submitters in submitter_counts {
        let param = format!("{workers} workers, {submitters} submitters");
        let id = |peer: &str| BenchmarkId::new(peer, &param);
        group.throughput(Throughput::Elements(MILLION as u64));

        let pool = futurepool(workers);
        group.bench_function(id("futurepool"), |b| {
            b.iter(|| {
                submit_and_wait(
                    MILLION,
                    submitters,
                    || pool.submit(|| black_box(1u64)).unwrap(),
                    |hs| {
                        hs.into_iter().for_each(|h| {
                            h.join().unwrap();
                        })
                    },
                )
            })
        });
        drop(pool);

        let pool = FloorPool::new(workers);
        group.bench_function(id("crossbeam floor"), |b| {
            b.iter(|| {
                submit_and_wait(
                    MILLION,
                    submitters,
                    || pool.submit(|| black_box(1u64)),
                    |hs| {
                        hs.into_iter().for_each(|h| {
                            h.recv().unwrap();
                        })
                    },
                )
            })
        });
        drop(pool);

        let pool = rayon_pool(workers);
        group.bench_function(id("rayon spawn+oneshot"), |b| {
            b.iter(|| {
                submit_and_wait(
                    MILLION,
                    submitters,
                    || rayon_submit(&pool, || black_box(1u64)),
                    |hs| {
                        hs.into_iter().for_each(|h| {
                            h.recv().unwrap();
                        })
                    },
                )
            })
        });
        drop(pool);

        let pool = threadpool::ThreadPool::new(workers);
        group.bench_function(id("threadpool+oneshot"), |b| {
            b.iter(|| {
                submit_and_wait(
                    MILLION,
                    submitters,
                    || threadpool_submit(&pool, || black_box(1u64)),
                    |hs| {
                        hs.into_iter().for_each(|h| {
                            h.recv().unwrap();
                        })
                    },
                )
            })
        });
        drop(pool);

        let rt = peers::tokio_runtime(workers);
        group.bench_function(id("tokio spawn_blocking"), |b| {
            b.iter(|| {
                submit_and_wait(
                    MILLION,
                    submitters,
                    || rt.spawn_blocking(|| black_box(1u64)),
                    |hs| {
                        futures::executor::block_on(async {
                            for h in hs {
                                h.await.unwrap();
                            }
                        })
                    },
                )
            })
        });
        drop(rt);

        group.bench_function(id("blocking::unblock"), |b| {
            b.iter(|| {
                submit_and_wait(
                    MILLION,
                    submitters,
                    || blocking::unblock(|| black_box(1u64)),
                    |hs| {
                        futures::executor::block_on(async {
                            for h in hs {
                                h.await;
                            }
                        })
                    },
                )
            })
        });

        // A thread per task: 1,000,000 would take minutes, so fewer.
        const THREADS: usize = 5_000;
        group.throughput(Throughput::Elements(THREADS as u64));
        group.bench_function(id("std::thread::spawn"), |b| {
            b.iter(|| {
                submit_and_wait(
                    THREADS,
                    submitters,
                    || thread::spawn(|| black_box(1u64)),
                    |hs| {
                        hs.into_iter().for_each(|h| {
                            h.join().unwrap();
                        })
                    },
                )
            })
        });
    }
    group.finish();
}

/// The map workload's input: large primes, so that each naive `is_prime`
/// runs its full trial division (about a millisecond).
const MAP_TASKS: usize = 64;
const MAP_FROM: u64 = 100_000_000_000;

/// Workload 3: map a CPU-bound function; speed-up over sequential.
fn map(c: &mut Criterion) {
    let primes = peers::large_primes(MAP_FROM, MAP_TASKS);
    let mut group = c.benchmark_group("map");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    group.bench_function(BenchmarkId::new("sequential", 1), |b| {
        b.iter(|| {
            primes
                .iter()
                .map(|&p| peers::is_prime(p))
                .filter(|&x| x)
                .count()
        })
    });
    for workers in worker_counts() {
        let id = |peer: &str| BenchmarkId::new(peer, workers);

        let pool = futurepool(workers);
        group.bench_function(id("futurepool"), |b| {
            b.iter(|| {
                pool.map(peers::is_prime, primes.iter().copied())
                    .filter(|r| *r.as_ref().unwrap())
                    .count()
            })
        });
        group.bench_function(id("futurepool submit all"), |b| {
            b.iter(|| {
                let hs: Vec<_> = primes
                    .iter()
                    .map(|&p| pool.submit(move || peers::is_prime(p)).unwrap())
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap())
                    .filter(|&x| x)
                    .count()
            })
        });
        drop(pool);

        let pool = rayon_pool(workers);
        group.bench_function(id("rayon par_iter"), |b| {
            use rayon::prelude::*;
            b.iter(|| pool.install(|| primes.par_iter().filter(|&&p| peers::is_prime(p)).count()))
        });
        drop(pool);

        let pool = FloorPool::new(workers);
        group.bench_function(id("crossbeam floor"), |b| {
            b.iter(|| {
                let hs: Vec<_> = primes
                    .iter()
                    .map(|&p| pool.submit(move || peers::is_prime(p)))
                    .collect();
                hs.into_iter()
                    .map(|h| h.recv().unwrap())
                    .filter(|&x| x)
                    .count()
            })
        });
        drop(pool);

        let pool = threadpool::ThreadPool::new(workers);
        group.bench_function(id("threadpool+oneshot"), |b| {
            b.iter(|| {
                let hs: Vec<_> = primes
                    .iter()
                    .map(|&p| threadpool_submit(&pool, move || peers::is_prime(p)))
                    .collect();
                hs.into_iter()
                    .map(|h| h.recv().unwrap())
                    .filter(|&x| x)
                    .count()
            })
        });
        drop(pool);
    }
    group.finish();
}

const AS_COMPLETED_TASKS: usize = 10_000;
const AS_COMPLETED_THREADS: usize = 64;

/// Workload 4: 10,000 tasks of random short sleeps on 64 threads, taken as
/// they complete; compared with the ideal makespan of the same sleeps.
fn as_completed_sleeps(c: &mut Criterion) {
    let mut rng = peers::Rng::new(5);
    let sleeps: Vec<Duration> = (0..AS_COMPLETED_TASKS)
        .map(|_| rng.duration(Duration::from_millis(1), Duration::from_millis(5)))
        .collect();
    let ideal = peers::ideal_makespan(&sleeps, AS_COMPLETED_THREADS);
    std::fs::write(
        peers::results_dir().join("as_completed.json"),
        format!(
            "{{\"ideal_ns\": {}, \"tasks\": {AS_COMPLETED_TASKS}, \"threads\": {AS_COMPLETED_THREADS}}}\n",
            ideal.as_nanos()
        ),
    )
    .expect("write as_completed.json");

    let mut group = c.benchmark_group("as_completed");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    let id = |peer: &str| BenchmarkId::new(peer, AS_COMPLETED_THREADS);

    let pool = futurepool(AS_COMPLETED_THREADS);
    group.bench_function(id("futurepool"), |b| {
        b.iter(|| {
            let hs: Vec<_> = sleeps
                .iter()
                .map(|&d| pool.submit(move || thread::sleep(d)).unwrap())
                .collect();
            for h in as_completed(hs) {
                h.join().unwrap();
            }
        })
    });
    drop(pool);

    // Handle-less pools report completion on one shared channel, which is
    // as_completed at its cheapest.
    let pool = FloorPool::new(AS_COMPLETED_THREADS);
    group.bench_function(id("crossbeam floor"), |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for (i, &d) in sleeps.iter().enumerate() {
                let tx = tx.clone();
                pool.execute(move || {
                    thread::sleep(d);
                    let _ = tx.send(i);
                });
            }
            drop(tx);
            rx.iter().count()
        })
    });
    drop(pool);

    let pool = rayon_pool(AS_COMPLETED_THREADS);
    group.bench_function(id("rayon spawn+channel"), |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for (i, &d) in sleeps.iter().enumerate() {
                let tx = tx.clone();
                pool.spawn(move || {
                    thread::sleep(d);
                    let _ = tx.send(i);
                });
            }
            drop(tx);
            rx.iter().count()
        })
    });
    drop(pool);

    let pool = threadpool::ThreadPool::new(AS_COMPLETED_THREADS);
    group.bench_function(id("threadpool+channel"), |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for (i, &d) in sleeps.iter().enumerate() {
                let tx = tx.clone();
                pool.execute(move || {
                    thread::sleep(d);
                    let _ = tx.send(i);
                });
            }
            drop(tx);
            rx.iter().count()
        })
    });
    drop(pool);

    let rt = peers::tokio_runtime(AS_COMPLETED_THREADS);
    group.bench_function(id("tokio spawn_blocking+FuturesUnordered"), |b| {
        b.iter(|| {
            let mut pending: FuturesUnordered<_> = sleeps
                .iter()
                .map(|&d| rt.spawn_blocking(move || thread::sleep(d)))
                .collect();
            futures::executor::block_on(async {
                while let Some(r) = pending.next().await {
                    r.unwrap();
                }
            })
        })
    });
    drop(rt);
    group.finish();
}

/// Workload 5: the round trip awaited, beside blocking on it.
fn awaited(c: &mut Criterion) {
    let workers = cores();
    let mut group = short(c, "await");
    let id = |peer: &str| BenchmarkId::new(peer, workers);

    let pool = futurepool(workers);
    let rt = peers::tokio_current_thread(workers);
    group.bench_function(id("futurepool join (blocking)"), |b| {
        b.iter(|| pool.submit(|| black_box(1u64)).unwrap().join().unwrap())
    });
    group.bench_function(id("futurepool .await in tokio"), |b| {
        b.iter(|| rt.block_on(async { pool.submit(|| black_box(1u64)).unwrap().await.unwrap() }))
    });
    group.bench_function(id("futurepool .await in futures block_on"), |b| {
        b.iter(|| {
            futures::executor::block_on(async {
                pool.submit(|| black_box(1u64)).unwrap().await.unwrap()
            })
        })
    });
    group.bench_function(id("tokio spawn_blocking .await"), |b| {
        b.iter(|| rt.block_on(async { rt.spawn_blocking(|| black_box(1u64)).await.unwrap() }))
    });
    group.bench_function(id("blocking::unblock .await"), |b| {
        b.iter(|| futures::executor::block_on(blocking::unblock(|| black_box(1u64))))
    });
    group.finish();
}

criterion_group!(
    benches,
    round_trip,
    throughput,
    map,
    as_completed_sleeps,
    awaited
);
criterion_main!(benches);
