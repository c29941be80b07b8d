//! Call a function and stop it if it runs too long.
//!
//! 1. A task that would run for 10 seconds is given a 1 second
//!    [`time_limit`](futurepool::TaskBuilder::time_limit): its worker process
//!    is killed after 1 second of *running*, the caller gets a timeout error,
//!    and the next task runs on a fresh worker.
//! 2. The two kinds of limit side by side, on a queue: three 400 ms tasks on
//!    one worker, each given 1 second. Counted from when each starts
//!    (`time_limit`), all three finish; counted from the submit (`timeout`),
//!    the third times out before it gets to run.
//! 3. A running task is cancelled.
//!
//! `cargo run -p futurepool-examples --example timeout`

use std::time::{Duration, Instant};

use futurepool::{ProcessPool, remote};

/// Stands for a computation that can't be interrupted from inside.
fn slow(millis: u64) -> String {
    std::thread::sleep(Duration::from_millis(millis));
    format!("slept {millis} ms")
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn main() {
    futurepool::process::init();

    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let first_worker = pool.submit(remote!(pid), ()).unwrap().join().unwrap();

    // 1. A time limit stops the running task.
    let start = Instant::now();
    let handle = pool
        .task()
        .time_limit(Duration::from_secs(1))
        .submit(remote!(slow), 10_000)
        .unwrap();
    let err = handle.join().unwrap_err();
    assert!(err.is_timeout());
    println!("after {:.1?}: {err}", start.elapsed());

    // The next task runs on a fresh worker.
    let next_worker = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(next_worker, first_worker);
    println!("worker {first_worker} was killed; the next task ran on worker {next_worker}");

    // 2. Three 400 ms tasks queued on one worker, each given 1 s.
    let limit = Duration::from_secs(1);
    let running: Vec<_> = (0..3)
        .map(|_| {
            let task = pool.task().time_limit(limit);
            task.submit(remote!(slow), 400).unwrap()
        })
        .collect();
    let ok = running
        .into_iter()
        .map(|h| h.join())
        .filter(Result::is_ok)
        .count();
    println!("time_limit(1 s): {ok} of 3 finished (queue time doesn't count)");
    assert_eq!(ok, 3);
    let from_submit: Vec<_> = (0..3)
        .map(|_| {
            pool.task()
                .timeout(limit)
                .submit(remote!(slow), 400)
                .unwrap()
        })
        .collect();
    let outcomes: Vec<_> = from_submit.into_iter().map(|h| h.join()).collect();
    let timed_out = outcomes
        .iter()
        .filter(|r| r.as_ref().is_err_and(|e| e.is_timeout()))
        .count();
    println!("timeout(1 s):    {timed_out} of 3 timed out (it counts from the submit)");
    assert!(timed_out >= 1);

    // 3. Cancelling a running task stops it too.
    let handle = pool.submit(remote!(slow), 10_000).unwrap();
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
        "slept 0 ms"
    );
    println!("and the pool carries on");
}
