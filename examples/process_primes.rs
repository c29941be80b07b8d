//! Checks a list of large numbers for primality sequentially and on a
//! process pool (`map` with a chunk size), and prints the speed-up.
//!
//! `cargo run --release --features process --example process_primes`

use std::time::Instant;

use futurepool::{ProcessPool, remote};

/// Trial division: slow on purpose, so the work is CPU-bound.
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

fn main() {
    futurepool::process::init(); // a worker process never gets past this line

    // Large numbers near 10^14 and 2^50: each check takes milliseconds.
    let numbers: Vec<u64> = (0..48)
        .map(|i| 100_000_000_000_031 + 2 * i)
        .chain((0..48).map(|i| (1 << 50) - 1 - 2 * i))
        .collect();

    let start = Instant::now();
    let sequential: Vec<bool> = numbers.iter().map(|&n| is_prime(n)).collect();
    let seq_time = start.elapsed();

    let pool = ProcessPool::new();
    let check = remote!(is_prime);
    // Warm up: start the workers before timing.
    let _ = pool.map(check, vec![3; pool.max_workers()]).count();
    let start = Instant::now();
    let parallel: Vec<bool> = pool
        .map(check, numbers.iter().copied())
        .chunksize(2)
        .collect::<Result<_, _>>()
        .expect("no task fails");
    let pool_time = start.elapsed();

    assert_eq!(parallel, sequential);
    let primes: Vec<u64> = numbers
        .iter()
        .zip(&parallel)
        .filter(|(_, p)| **p)
        .map(|(n, _)| *n)
        .collect();
    println!(
        "{} of {} numbers are prime: {:?}",
        primes.len(),
        numbers.len(),
        primes
    );
    println!("sequential:                     {seq_time:?}");
    println!(
        "process pool ({} workers):       {pool_time:?}  speed-up {:.2}x",
        pool.max_workers(),
        seq_time.as_secs_f64() / pool_time.as_secs_f64()
    );
}
