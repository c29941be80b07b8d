//! "8 hours of sleeping in 8 seconds": 3,600 tasks that each sleep 8 seconds,
//! on a pool of 3,600 threads, finish in about 8 seconds.
//!
//! ```text
//! cargo run --release -p futurepool-examples --example sleeps              # 3600 tasks x 8 s
//! cargo run --release -p futurepool-examples --example sleeps -- 100 0.5   # 100 tasks x 0.5 s
//! ```
//!
//! Sleeping stands in for blocking I/O: a thread waiting on the network costs
//! no CPU, so a pool can run far more of them than there are cores. Each
//! task's sleep is measured inside the task, so the total printed is real
//! sleeping that happened, not a product of the arguments.

use std::time::{Duration, Instant};

use futurepool::ThreadPool;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = parse(args.next(), 3_600, "COUNT");
    let secs: f64 = parse(args.next(), 8.0, "SECONDS");
    if count == 0 || !(secs.is_finite() && secs >= 0.0) {
        usage();
    }
    let nap = Duration::from_secs_f64(secs);

    // Small stacks: 3,600 threads x 64 KiB is 230 MiB of address space,
    // and these tasks need almost no stack.
    let pool = ThreadPool::builder()
        .max_workers(count)
        .stack_size(64 * 1024)
        .thread_name("sleeper")
        .build()
        .expect("a valid pool configuration");

    println!("{count} tasks sleeping {secs} s each, on up to {count} threads");
    let start = Instant::now();
    let handles: Vec<_> = (0..count)
        .map(|_| {
            pool.submit(move || {
                let t = Instant::now();
                std::thread::sleep(nap);
                t.elapsed()
            })
            .expect("the pool is running")
        })
        .collect();
    let slept: Duration = handles
        .into_iter()
        .map(|h| h.join().expect("sleeping doesn't panic"))
        .sum();
    let wall = start.elapsed();

    println!(
        "slept {:.2} hours in total, in {:.2} s of wall time ({} threads started)",
        slept.as_secs_f64() / 3600.0,
        wall.as_secs_f64(),
        pool.worker_count()
    );
    println!(
        "that is {:.0} sleeps at once on average",
        slept.as_secs_f64() / wall.as_secs_f64()
    );
}

fn parse<T: std::str::FromStr>(arg: Option<String>, default: T, name: &str) -> T {
    match arg {
        None => default,
        Some(a) => a.parse().unwrap_or_else(|_| {
            eprintln!("{name}: not a number: {a}");
            usage()
        }),
    }
}

fn usage() -> ! {
    eprintln!("usage: sleeps [COUNT [SECONDS]]   (COUNT >= 1, SECONDS >= 0)");
    std::process::exit(2);
}
