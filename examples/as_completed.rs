//! Tasks of random length, printed in the order they finish, each with a
//! limit on its running time.
//!
//! ```text
//! cargo run -p futurepool-examples --example as_completed
//! ```
//!
//! Twenty "downloads" of random length share four workers, so most of them
//! wait in the queue for a while. Each may *run* for at most 700 ms
//! ([`time_limit`](futurepool::TaskBuilder::time_limit), counted from when
//! it starts, like Celery's `time_limit`): the long ones are stopped, and
//! none is blamed for the time it spent queued. (A
//! [`timeout`](futurepool::TaskBuilder::timeout), counted from the submit,
//! would have timed out most of the queue.) [`as_completed`] yields each
//! `(name, handle)` pair as its task finishes, so the shortest come out
//! first whatever the order of submission.

use std::time::{Duration, Instant};

use futurepool::{ThreadPool, as_completed};

const LIMIT: Duration = Duration::from_millis(700);

/// A small xorshift generator, so the example needs no dependency. Short
/// downloads take 50-550 ms, long ones 900-1400 ms: clear of the limit
/// either way.
fn random_millis(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let ms = *seed % 1000;
    if ms < 500 { 50 + ms } else { 400 + ms }
}

fn main() {
    let pool = ThreadPool::builder()
        .max_workers(4)
        .build()
        .expect("a valid pool configuration");
    let mut seed = Instant::now().elapsed().as_nanos() as u64 | 1;
    let start = Instant::now();

    let mut long = 0;
    let tasks: Vec<_> = (1..=20)
        .map(|i| {
            let ms = random_millis(&mut seed);
            long += usize::from(Duration::from_millis(ms) > LIMIT);
            let name = format!("download-{i:02} ({ms:4} ms)");
            let handle = pool
                .task()
                .time_limit(LIMIT)
                .submit_cancellable(move |token| {
                    // A download in 10 ms pieces, checking the token between
                    // pieces: a time limit that passes signals it.
                    let began = Instant::now();
                    while began.elapsed() < Duration::from_millis(ms) {
                        if token.is_cancelled() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                })
                .expect("the pool is running");
            (name, handle)
        })
        .collect();

    let mut stopped = 0;
    for (name, handle) in as_completed(tasks) {
        let at = start.elapsed().as_millis();
        match handle.join() {
            Ok(()) => println!("{name} finished         (at {at:5} ms)"),
            Err(err) if err.is_timeout() => {
                stopped += 1;
                println!("{name} stopped: {err} (at {at:5} ms)");
            }
            Err(err) => panic!("{name}: {err}"),
        }
    }
    println!(
        "\n{stopped} of 20 ran over their {} ms limit ({long} were drawn longer than that); \
         none was stopped for waiting in the queue",
        LIMIT.as_millis()
    );
    assert_eq!(stopped, long);
}
