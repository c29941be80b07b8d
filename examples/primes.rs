//! The classic `concurrent.futures` demo: which of these big numbers are
//! prime? Trial division is slow on purpose, so the pool has real work.
//!
//! ```text
//! scripts/example.sh                                            # runs this
//! cargo run --release -p futurepool-examples --example primes        # the same
//! cargo run --release -p futurepool-examples --example primes -- 96  # time over 96 numbers
//! ```
//!
//! First it checks the six numbers of Python's documentation example with
//! [`ThreadPool::map`], printing `N is prime: true/false` in input order.
//! Then it times the same check over a longer list: sequentially, on a thread
//! pool with one worker per core, and on a process pool with `map` and a
//! chunk size, each pool with a progress bar while it runs (futurepool's
//! `indicatif` feature: drawn on stderr, and only when stderr is a
//! terminal, so redirected output has nothing extra). It prints each
//! pool's speed-up over sequential (at most the number of cores), and warns
//! if other programs were busy on the machine meanwhile: they take cores
//! from the pools, and the speed-up with them.

mod load;

use std::time::{Duration, Instant};

use futurepool::{ProcessPool, ThreadPool, as_completed, remote};
use indicatif::{ProgressBar, ProgressStyle};

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
    // This program is also its own process-pool worker: a worker process
    // never gets past this line.
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
    println!("\nchecking {count} numbers, using {cores} core(s)");

    let start = Instant::now();
    let sequential: Vec<bool> = numbers.iter().map(|&n| is_prime(n)).collect();
    let seq_time = start.elapsed();
    println!("sequential: {}", secs(seq_time));

    // The thread pool: one task per number, a bar counting them as they
    // finish.
    let bar = progress_bar("threads:", count);
    let meter = load::Meter::start(Vec::new());
    let start = Instant::now();
    let handles: Vec<_> = numbers
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let handle = pool
                .submit(move || is_prime(n))
                .expect("the pool is running");
            (i, handle)
        })
        .collect();
    let mut threads = vec![false; numbers.len()];
    for (i, handle) in as_completed(handles).progress(bar.clone()) {
        threads[i] = handle.join().expect("is_prime doesn't panic");
    }
    let thread_time = start.elapsed();
    bar.finish_and_clear();
    let thread_load = meter.finish(thread_time);
    assert_eq!(
        threads, sequential,
        "the thread pool must agree with the sequential run"
    );
    report("threads:", thread_time, seq_time, cores, "thread(s)");

    // The process pool: `map` in chunks of two, yielding in input order.
    // (Off Linux, building one fails with an error saying so.)
    let proc_load = match ProcessPool::builder().max_workers(cores).build() {
        Ok(processes) => Some(time_processes(
            &processes,
            &numbers,
            &sequential,
            seq_time,
            cores,
        )),
        // Worker processes run on Linux only.
        Err(err) if err.is_unsupported() => {
            println!("processes:  skipped ({err})");
            None
        }
        Err(err) => panic!("a valid pool configuration: {err}"),
    };

    let busiest = [thread_load, proc_load.flatten()]
        .into_iter()
        .flatten()
        .max_by(|a, b| a.others.total_cmp(&b.others));
    if let Some(warning) = busiest.and_then(|load| load.warning(cores)) {
        println!("\n{warning}");
    }
}

/// Times the check on a process pool, with a progress bar; returns how busy
/// the machine was meanwhile.
fn time_processes(
    processes: &ProcessPool,
    numbers: &[u64],
    sequential: &[bool],
    seq_time: Duration,
    cores: usize,
) -> Option<load::Load> {
    let check = remote!(is_prime);
    // Start the workers before timing, as the thread pool's are by now.
    let _ = processes.map(check, vec![3; cores]).count();
    let bar = progress_bar("processes:", numbers.len());
    let meter = load::Meter::start(processes.worker_pids());
    let start = Instant::now();
    let mut results = Vec::with_capacity(numbers.len());
    for prime in processes
        .map(check, numbers.iter().copied())
        .chunksize(2)
        .progress(bar.clone())
    {
        results.push(prime.expect("is_prime doesn't panic"));
    }
    let time = start.elapsed();
    bar.finish_and_clear();
    let load = meter.finish(time);
    assert_eq!(
        results, sequential,
        "the process pool must agree with the sequential run"
    );
    report("processes:", time, seq_time, cores, "process(es)");
    load
}

/// A bar for `count` numbers, on stderr: drawn only if stderr is a
/// terminal (futurepool sets its length and position as the tasks finish).
fn progress_bar(label: &'static str, count: usize) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix:<11} [{bar:30}] {pos}/{len} checked, {eta} left {msg}",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    ProgressBar::new(count as u64)
        .with_style(style)
        .with_prefix(label)
}

/// The time and the speed-up (the bar is gone by then).
fn report(label: &str, time: Duration, sequential: Duration, cores: usize, units: &str) {
    println!("{label:<11} {}", secs(time));
    println!(
        "speed-up:   {:.2}x with {cores} {units} (at most {cores}x)",
        sequential.as_secs_f64() / time.as_secs_f64()
    );
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
