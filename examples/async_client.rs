//! Submitting work to a [`ThreadPool`] from async code and awaiting it.
//!
//! A [`TaskHandle`] is a [`std::future::Future`], so async code can
//! `.await` a task running on a pool thread without blocking its executor.
//! futurepool has no runtime of its own and depends on none: the same async
//! function below runs first on `futures::executor::block_on` (no runtime at
//! all), then on a single-threaded tokio runtime.
//!
//! The async function:
//!
//! 1. submits `inc(10)` and awaits `11`;
//! 2. splits statistics over a generated time series of 4 million points
//!    into one partition per task, submits them all, awaits them together
//!    with `futures::future::try_join_all`, and combines the partial results.
//!
//! The program checks the results against the same statistics computed
//! sequentially, on one thread. On tokio, a heartbeat task ticks every
//! millisecond while the pool computes, to show that the event loop stays
//! free: nothing in the async code blocks.
//!
//! ```text
//! cargo run --release -p futurepool-examples --features web --example async_client
//! ```

use std::cell::Cell;
use std::error::Error;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futurepool::{TaskHandle, ThreadPool};
use futures::future::try_join_all;

/// How many points the time series has.
const LEN: usize = 4_000_000;

fn inc(x: u64) -> u64 {
    x + 1
}

/// A time series to work on: a random walk with a daily cycle, one point a
/// second, from a fixed seed (so every run sees the same numbers).
fn series(len: usize) -> Vec<f64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut level = 100.0;
    (0..len)
        .map(|t| {
            // xorshift64: good enough noise, and no dependency.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            level += noise * 0.1;
            let day = (t as f64 / 86_400.0) * std::f64::consts::TAU;
            level + 5.0 * day.sin()
        })
        .collect()
}

/// Statistics of a slice of the series, which partial results combine into.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stats {
    count: usize,
    sum: f64,
    sum_of_squares: f64,
    min: f64,
    max: f64,
}

impl Stats {
    const EMPTY: Stats = Stats {
        count: 0,
        sum: 0.0,
        sum_of_squares: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    fn of(points: &[f64]) -> Stats {
        points.iter().fold(Stats::EMPTY, |s, &x| Stats {
            count: s.count + 1,
            sum: s.sum + x,
            sum_of_squares: s.sum_of_squares + x * x,
            min: s.min.min(x),
            max: s.max.max(x),
        })
    }

    fn combine(self, other: Stats) -> Stats {
        Stats {
            count: self.count + other.count,
            sum: self.sum + other.sum,
            sum_of_squares: self.sum_of_squares + other.sum_of_squares,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    fn std_dev(&self) -> f64 {
        (self.sum_of_squares / self.count as f64 - self.mean().powi(2)).sqrt()
    }
}

/// The async program: everything it waits for, it awaits.
async fn analyse(pool: &ThreadPool, series: Arc<[f64]>) -> Result<Stats, Box<dyn Error>> {
    let eleven = pool.submit(|| inc(10))?.await?;
    assert_eq!(eleven, 11);
    println!("  inc(10) = {eleven}");

    let parts = pool.max_workers() * 4;
    let chunk = series.len().div_ceil(parts);
    let handles = (0..parts)
        .map(|i| {
            let series = series.clone();
            let range = (i * chunk).min(series.len())..((i + 1) * chunk).min(series.len());
            pool.submit(move || Stats::of(&series[range]))
        })
        .collect::<Result<Vec<TaskHandle<Stats>>, _>>()?;
    // One await for all of them; the first failure, if any, is returned.
    let partial = try_join_all(handles).await?;
    println!("  {} partitions of {chunk} points", partial.len());
    Ok(partial.into_iter().fold(Stats::EMPTY, Stats::combine))
}

/// Checks `got` against the sequential result. Partitioned sums add the same
/// numbers in another order, so they may differ in the last bits.
fn check(got: &Stats, expected: &Stats) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert_eq!(got.count, expected.count);
    assert_eq!((got.min, got.max), (expected.min, expected.max));
    assert!(close(got.sum, expected.sum), "{got:?} vs {expected:?}");
    assert!(close(got.sum_of_squares, expected.sum_of_squares));
    println!(
        "  n = {}, mean = {:.4}, std dev = {:.4}, min = {:.4}, max = {:.4}: matches the sequential result",
        got.count,
        got.mean(),
        got.std_dev(),
        got.min,
        got.max
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let pool = ThreadPool::builder()
        .max_workers(thread::available_parallelism()?.get())
        .build()?;
    let series: Arc<[f64]> = series(LEN).into();

    let start = Instant::now();
    let expected = Stats::of(&series);
    println!("sequential, on one thread: {:.1?}", start.elapsed());

    // No runtime: `block_on` drives the future on this thread and sleeps
    // until a pool thread wakes it.
    println!("on futures::executor::block_on:");
    let start = Instant::now();
    let got = futures::executor::block_on(analyse(&pool, series.clone()))?;
    let elapsed = start.elapsed();
    check(&got, &expected);
    println!("  took {elapsed:.1?}");

    // tokio, one thread for everything async. The heartbeat runs on the same
    // event loop as `analyse`; it only gets to tick if `analyse` never blocks.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    println!("on a tokio current-thread runtime:");
    let beats = Cell::new(0u32);
    let start = Instant::now();
    let got = runtime.block_on(async {
        let heartbeat = async {
            let mut ticks = tokio::time::interval(Duration::from_millis(1));
            loop {
                ticks.tick().await;
                beats.set(beats.get() + 1);
            }
        };
        tokio::select! {
            got = analyse(&pool, series.clone()) => got,
            _ = heartbeat => unreachable!("the heartbeat never ends"),
        }
    })?;
    let elapsed = start.elapsed();
    check(&got, &expected);
    println!(
        "  took {elapsed:.1?}, while a heartbeat on the same thread ticked {} times",
        beats.get()
    );
    Ok(())
}
