//! Tasks on a clock on a process pool (issue 14): a named function run
//! periodically, or once later, each run in a worker process; the pool's
//! one timer drives them.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::process::{Started, notify};
use futurepool::{JoinTimeoutError, ProcessPool, TaskError, TaskHandle, remote};

const LONG: Duration = Duration::from_secs(30);
const HOUR: Duration = Duration::from_secs(3600);

fn ended<T: std::fmt::Debug>(h: TaskHandle<T>) -> TaskError {
    match h.join_timeout(LONG) {
        Err(JoinTimeoutError::Failed(err)) => err,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn tick(path: String) {
    notify(&path);
}

fn positive(x: i32) {
    assert!(x > 0, "not positive: {x}");
}

fn wall_ms(_: ()) -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[test]
fn a_named_function_runs_every_period_in_a_worker_process() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let started = Started::new();
    let series = pool
        .task()
        .every(Duration::from_millis(20))
        .submit_fn(remote!(tick), started.path())
        .unwrap();
    let pids: Vec<u32> = (0..3).map(|_| started.wait()).collect();
    assert!(
        pids.iter().all(|&pid| pid != std::process::id()),
        "in a worker"
    );
    assert!(series.cancel());
    assert!(ended(series).is_cancelled());
    pool.shutdown();
}

#[test]
fn a_panicking_run_ends_a_process_pool_series() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let series = pool
        .task()
        .name("check")
        .every(Duration::from_millis(5))
        .submit_fn(remote!(positive), -1)
        .unwrap();
    let err = ended(series);
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("not positive: -1"));
    assert_eq!(err.task_name(), Some("check"));
    pool.shutdown();
}

#[test]
fn a_delayed_named_function_starts_no_earlier_than_asked() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let submitted = wall_ms(());
    let h = pool
        .task()
        .start_after(Duration::from_millis(50))
        .submit_fn(remote!(wall_ms), ())
        .unwrap();
    assert!(!h.is_running());
    assert!(h.join_timeout(LONG).unwrap() >= submitted + 50);
    pool.shutdown();
}

#[test]
fn shutdown_ends_a_process_pools_pending_schedules_as_cancelled() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let later = pool
        .task()
        .start_after(HOUR)
        .submit_fn(remote!(wall_ms), ())
        .unwrap();
    let series = pool
        .task()
        .every(HOUR)
        .start_after(HOUR)
        .submit_fn(remote!(positive), 1)
        .unwrap();
    assert!(pool.shutdown());
    assert!(later.is_cancelled());
    assert!(series.is_cancelled());
    let err = pool
        .task()
        .every(HOUR)
        .submit_fn(remote!(positive), 4)
        .unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.into_inner(), 4);
}

/// A process pool dropped without waiting closes its timer on its last
/// driver, an internal thread: the series the close ends have their
/// callbacks run elsewhere (on the callback runner).
#[test]
fn a_series_ended_by_a_driver_closing_the_timer_runs_no_callback_there() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    // A driver is running (and will be the last to leave).
    assert!(pool.submit(remote!(wall_ms), ()).unwrap().join().unwrap() > 0);
    let series = pool
        .task()
        .every(HOUR)
        .start_after(HOUR)
        .submit_fn(remote!(positive), 1)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    series.add_done_callback(move |outcome| {
        let name = std::thread::current().name().map(str::to_owned);
        tx.send((outcome.unwrap_err().is_cancelled(), name))
            .unwrap();
    });
    drop(pool); // a shutdown without waiting: the last driver closes the timer
    let (cancelled, thread) = rx.recv_timeout(LONG).unwrap();
    assert!(cancelled);
    let thread = thread.unwrap_or_default();
    assert!(
        !thread.starts_with("futurepool-process-"),
        "ran on {thread}"
    );
}
