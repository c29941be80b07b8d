//! The classic `concurrent.futures` demo: which of these big numbers are
//! prime? Trial division is slow on purpose, so the pool has real work.
//!
//! ```text
//! cargo run --release --features process --example primes        # as scripts/example.sh does
//! cargo run --release --features process --example primes -- 96  # time over 96 numbers
//! cargo run --release --example primes                            # threads only
//! ```
//!
//! First it checks the six numbers of Python's documentation example with
//! [`ThreadPool::map`], printing `N is prime: true/false` in input order.
//! Then it times the same check over a longer list: sequentially, on a thread
//! pool with one worker per core (with a live count while it runs), and, with
//! the `process` feature, on a process pool with `map` and a chunk size. It
//! prints each pool's speed-up over sequential (at most the number of cores).

use std::io::Write;
use std::time::{Duration, Instant};

#[cfg(feature = "process")]
use futurepool::{ProcessPool, remote};
use futurepool::{ThreadPool, as_completed};

const PRIMES: [u64; 6] = [
    112_272_535_095_293,
    112_582_705_942_171,
    112_272_535_095_293,
    115_280_095_190_773,
    115_797_848_077_099,
    1_099_726_899_285_419,
];

/// Trial division by every odd number up to the square root.
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let limit = n.isqrt();
    let mut d = 3;
    while d <= limit {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

fn main() {
    // With the process pool, this program is also its own worker: a worker
    // process never gets past this line.
    #[cfg(feature = "process")]
    futurepool::process::init();

    let count: usize = match std::env::args().nth(1) {
        None => 48,
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: primes [COUNT]   (COUNT: how many numbers to time, at least 1)");
                std::process::exit(2);
            }
        },
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = ThreadPool::builder()
        .max_workers(cores)
        .thread_name("primes")
        .build()
        .expect("a valid pool configuration");

    // The documentation example: results in input order.
    for (n, prime) in PRIMES.iter().zip(pool.map(is_prime, PRIMES)) {
        let prime = prime.expect("is_prime doesn't panic");
        println!("{n} is prime: {prime}");
    }

    // The timing: the list repeated (and the composite among them) up to
    // `count` numbers.
    let numbers: Vec<u64> = PRIMES.iter().copied().cycle().take(count).collect();
    println!("\nchecking {count} numbers on {cores} core(s)");

    let start = Instant::now();
    let sequential: Vec<bool> = numbers.iter().map(|&n| is_prime(n)).collect();
    let seq_time = start.elapsed();
    println!("sequential: {}", secs(seq_time));

    let start = Instant::now();
    let handles: Vec<_> = numbers
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (
                i,
                pool.submit(move || is_prime(n))
                    .expect("the pool is running"),
            )
        })
        .collect();
    let mut pooled = vec![false; numbers.len()];
    for (done, (i, handle)) in as_completed(handles).enumerate() {
        pooled[i] = handle.join().expect("is_prime doesn't panic");
        print!("\rpool:       {}/{count} checked", done + 1);
        std::io::stdout().flush().ok();
    }
    let pool_time = start.elapsed();
    println!("\rpool:       {}              ", secs(pool_time));

    assert_eq!(
        pooled, sequential,
        "the pool must agree with the sequential run"
    );
    println!(
        "speed-up:   {:.2}x with {cores} thread(s) (at most {cores}x)",
        seq_time.as_secs_f64() / pool_time.as_secs_f64()
    );

    #[cfg(feature = "process")]
    'processes: {
        let pool = match ProcessPool::builder().max_workers(cores).build() {
            Ok(pool) => pool,
            // Worker processes run on Linux only.
            Err(err) if err.is_unsupported() => {
                println!("processes:  skipped ({err})");
                break 'processes;
            }
            Err(err) => panic!("a valid pool configuration: {err}"),
        };
        let check = remote!(is_prime);
        // Start the workers before timing, as the thread pool's are by now.
        let _ = pool.map(check, vec![3; cores]).count();
        let start = Instant::now();
        let processes: Vec<bool> = pool
            .map(check, numbers.iter().copied())
            .chunksize(2)
            .collect::<Result<_, _>>()
            .expect("is_prime doesn't panic");
        let proc_time = start.elapsed();
        assert_eq!(processes, sequential, "the process pool must agree too");
        println!("processes:  {} (map, chunk size 2)", secs(proc_time));
        println!(
            "speed-up:   {:.2}x with {cores} process(es) (at most {cores}x)",
            seq_time.as_secs_f64() / proc_time.as_secs_f64()
        );
    }
    #[cfg(not(feature = "process"))]
    println!("(run with --features process to time a process pool too)");
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
