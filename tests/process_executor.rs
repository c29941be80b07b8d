//! The executor seam on the process pool (issue 10): the generic function of
//! `tests/executor.rs` on processes, time limits that kill, a shutdown that
//! kills running work, and handles.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::time::Duration;

use common::process::{Started, is_dead, notify, wait_dead};
use futurepool::{Executor, ProcessPool, ShutdownOptions, remote};

const LONG: Duration = Duration::from_secs(30);

fn tenfold(x: u32) -> u32 {
    x * 10
}

/// Tells the test it runs (and where), then never returns.
fn park_forever(started: String) -> u32 {
    notify(&started);
    loop {
        std::thread::park();
    }
}

fn run_three<E: Executor>(executor: &E) -> Vec<u32> {
    let handles: Vec<_> = (1..=3)
        .map(|i| {
            executor
                .task()
                .time_limit(LONG)
                .submit_fn(remote!(tenfold), i)
                .unwrap()
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn a_generic_function_runs_on_a_process_pool() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    assert_eq!(run_three(&pool), [10, 20, 30]);
    assert!(Executor::shutdown(&pool));
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn a_time_limit_kills_a_running_task_and_counts_from_its_start() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let started = Started::new();
    // Queued behind nothing: it starts at once and runs past its limit.
    let handle = pool
        .task()
        .time_limit(Duration::from_millis(100))
        .submit(remote!(park_forever), started.path())
        .unwrap();
    let pid = started.wait();
    assert!(handle.join().unwrap_err().is_timeout());
    assert!(wait_dead(pid, 30), "its worker was killed");
    // The next task runs on a fresh worker.
    assert_eq!(
        pool.submit(remote!(tenfold), 4).unwrap().join().unwrap(),
        40
    );
}

#[test]
fn a_time_limit_does_not_count_queued_time() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let started = Started::new();
    let blocker = pool.submit(remote!(park_forever), started.path()).unwrap();
    let pid = started.wait();
    let limit = Duration::from_millis(200);
    let limited = pool
        .task()
        .time_limit(limit)
        .submit(remote!(tenfold), 1)
        .unwrap();
    let late = pool
        .task()
        .timeout(limit)
        .submit(remote!(tenfold), 2)
        .unwrap();
    assert!(
        late.join().unwrap_err().is_timeout(),
        "timed out in the queue"
    );
    assert!(!limited.is_done());
    assert!(blocker.cancel(), "kills the blocker's worker");
    assert!(wait_dead(pid, 30));
    assert_eq!(limited.join().unwrap(), 10);
}

#[test]
fn shutdown_can_kill_the_workers_running_tasks() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let started = Started::new();
    let handles: Vec<_> = (0..2)
        .map(|_| pool.submit(remote!(park_forever), started.path()).unwrap())
        .collect();
    let pids = [started.wait(), started.wait()];
    let stopped = pool.shutdown_with(ShutdownOptions::new().cancel_running(true).timeout(LONG));
    assert!(stopped, "every driver exited");
    for handle in handles {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
    for pid in pids {
        assert!(is_dead(pid), "worker {pid} was killed and reaped");
    }
}

#[test]
fn a_shutdown_timeout_gives_up_on_a_running_task() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let started = Started::new();
    let stuck = pool.submit(remote!(park_forever), started.path()).unwrap();
    started.wait();
    let stopped = pool.shutdown_with(ShutdownOptions::new().timeout(Duration::from_millis(50)));
    assert!(!stopped);
    assert!(stuck.cancel());
    assert!(
        pool.shutdown(),
        "a later shutdown waits, and the killed worker lets it end"
    );
}

#[test]
fn dropping_the_last_handle_does_not_wait() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let started = Started::new();
    let stuck = pool.submit(remote!(park_forever), started.path()).unwrap();
    let pid = started.wait();
    let weak = pool.downgrade();
    drop(pool); // returns although a task runs
    assert!(weak.upgrade().is_none());
    assert!(!stuck.is_done());
    // Its handle still works: cancelling kills the worker, which the
    // driver reaps on its way out.
    assert!(stuck.cancel());
    assert!(wait_dead(pid, 30));
}

#[test]
fn pools_are_cheap_handles() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let clone = pool.clone();
    assert_eq!(
        clone.submit(remote!(tenfold), 5).unwrap().join().unwrap(),
        50
    );
    clone.shutdown();
    assert!(pool.is_shutdown(), "the same pool");
}
