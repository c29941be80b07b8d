//! Call a function and stop it if it takes too long.
//!
//! A task that would run for 10 seconds is stopped after 1 second: its
//! worker process is killed, the caller gets a timeout error, and the next
//! task runs on a fresh worker. Then a running task is cancelled.
//!
//! `cargo run -p futurepool-examples --example timeout`

use std::time::{Duration, Instant};

use futurepool::{ProcessPool, remote};

/// Stands for a computation that can't be interrupted from inside.
fn slow(seconds: u64) -> String {
    std::thread::sleep(Duration::from_secs(seconds));
    format!("slept {seconds}s")
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn main() {
    futurepool::process::init();

    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let first_worker = pool.submit(remote!(pid), ()).unwrap().join().unwrap();

    // A timeout stops the running task.
    let start = Instant::now();
    let handle = pool
        .task()
        .timeout(Duration::from_secs(1))
        .submit(remote!(slow), 10)
        .unwrap();
    let err = handle.join().unwrap_err();
    assert!(err.is_timeout());
    println!("after {:.1?}: {err}", start.elapsed());

    // The next task runs on a fresh worker.
    let next_worker = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(next_worker, first_worker);
    println!("worker {first_worker} was killed; the next task ran on worker {next_worker}");

    // Cancelling a running task stops it too.
    let handle = pool.submit(remote!(slow), 10).unwrap();
    while !handle.is_running() {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(200)); // let it get going
    let start = Instant::now();
    assert!(handle.cancel());
    assert!(handle.join().unwrap_err().is_cancelled());
    println!("cancelled a running task in {:.1?}", start.elapsed());

    assert_eq!(
        pool.submit(remote!(slow), 0).unwrap().join().unwrap(),
        "slept 0s"
    );
    println!("and the pool carries on");
}
