//! Tasks of random length, printed in the order they finish.
//!
//! ```text
//! cargo run -p futurepool-examples --example as_completed
//! ```
//!
//! Each task sleeps a random time (standing in for a download of a random
//! size) and returns it. [`as_completed`] yields each `(name, handle)` pair
//! as its task finishes, so the shortest come out first whatever the order
//! of submission; the keys say which task it was.

use std::time::{Duration, Instant};

use futurepool::{ThreadPool, as_completed};

/// A small xorshift generator, so the example needs no dependency.
fn random_millis(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    50 + *seed % 950
}

fn main() {
    let pool = ThreadPool::builder()
        .max_workers(10)
        .build()
        .expect("a valid pool configuration");
    let mut seed = Instant::now().elapsed().as_nanos() as u64 | 1;
    let start = Instant::now();

    let tasks: Vec<_> = (1..=10)
        .map(|i| {
            let ms = random_millis(&mut seed);
            let name = format!("task-{i:02}");
            println!("submitted {name}: will take {ms} ms");
            let handle = pool
                .submit(move || {
                    std::thread::sleep(Duration::from_millis(ms));
                    ms
                })
                .expect("the pool is running");
            (name, handle)
        })
        .collect();

    println!();
    for (name, handle) in as_completed(tasks) {
        let ms = handle.join().expect("sleeping doesn't panic");
        println!(
            "{name} finished after {ms:4} ms (at {:4} ms)",
            start.elapsed().as_millis()
        );
    }
}
