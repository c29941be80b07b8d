//! The executor seam on the process pool (issue 10): the generic function of
//! `tests/executor.rs` on processes, time limits that kill, a shutdown that
//! kills running work, and handles; and one generic workload run on a
//! thread pool and a process pool, which must behave alike.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::time::Duration;

use common::process::{Started, is_dead, notify, wait_dead};
use std::time::{Instant, SystemTime};

use futurepool::{Executor, ProcessPool, ShutdownOptions, ThreadPool, remote};

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

fn fails(x: u32) -> u32 {
    assert!(x % 2 == 0, "odd {x}");
    x
}

fn now(_: ()) -> SystemTime {
    SystemTime::now()
}

/// One generic workload over every option of the seam: what each call
/// returns, and how each error reads, on whichever executor it is given.
fn seam_workload<E: Executor>(executor: &E) -> Vec<String> {
    let mut said = Vec::new();
    let err = executor
        .task()
        .name("odd")
        .submit_fn(remote!(fails), 3)
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(err.panic_message(), Some("odd 3"));
    said.push(err.to_string());
    // A chunk of three: the panic fails its own input only.
    let items: Vec<_> = executor
        .map_fn(remote!(fails), [2, 3, 4])
        .chunksize(3)
        .collect();
    assert!(items[0].is_ok() && items[2].is_ok());
    let err = items[1].as_ref().unwrap_err();
    assert!(err.is_panic() && err.task_id().is_some());
    let err = executor
        .task()
        .deadline(Instant::now())
        .submit_fn(remote!(tenfold), 1)
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_timeout());
    said.push(err.to_string());
    let submitted = SystemTime::now();
    let delay = Duration::from_millis(20);
    let later = executor
        .task()
        .start_after(delay)
        .submit_fn(remote!(now), ())
        .unwrap();
    assert!(later.join().unwrap() >= submitted + delay);
    let parked = executor
        .task()
        .start_after(LONG)
        .submit_fn(remote!(tenfold), 1)
        .unwrap();
    assert!(parked.cancel());
    said.push(parked.join().unwrap_err().to_string());
    let series = executor
        .task()
        .every(Duration::from_millis(5))
        .submit_fn(remote!(fails), 5)
        .unwrap();
    said.push(series.join().unwrap_err().to_string());
    let refused = executor
        .task()
        .every(Duration::ZERO)
        .submit_fn(remote!(tenfold), 6)
        .unwrap_err();
    assert!(refused.is_zero_period());
    assert_eq!(refused.into_inner(), 6);
    let first = executor.submit_fn(remote!(fails), 7).unwrap();
    let err = executor
        .task()
        .after(first)
        .submit_fn(remote!(tenfold))
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_dependency_failed());
    said.push(std::error::Error::source(&err).unwrap().to_string());
    // Shut down: every way in hands its argument back.
    assert!(executor.shutdown());
    let refused = executor.submit_fn(remote!(tenfold), 8).unwrap_err();
    assert!(refused.is_shutdown());
    said.push(refused.to_string());
    assert_eq!(refused.into_inner(), 8);
    assert_eq!(
        executor
            .try_submit_fn(remote!(tenfold), 9)
            .unwrap_err()
            .into_inner(),
        9
    );
    let delayed = executor
        .task()
        .start_after(delay)
        .submit_fn(remote!(tenfold), 10);
    assert_eq!(delayed.unwrap_err().into_inner(), 10);
    let periodic = executor.task().every(delay).submit_fn(remote!(tenfold), 11);
    assert_eq!(periodic.unwrap_err().into_inner(), 11);
    let items: Vec<_> = executor.map_fn(remote!(tenfold), [12, 13]).collect();
    assert_eq!(items.len(), 1);
    said.push(items[0].as_ref().unwrap_err().to_string());
    said
}

#[test]
fn one_generic_workload_behaves_alike_on_threads_and_processes() {
    let threads = seam_workload(&ThreadPool::builder().max_workers(2).build().unwrap());
    let processes = seam_workload(&ProcessPool::builder().max_workers(2).build().unwrap());
    assert_eq!(threads, processes);
    assert_eq!(
        threads,
        [
            "task `odd` panicked: odd 3",
            "task timed out",
            "task was cancelled",
            "task panicked: odd 5",
            "task panicked: odd 7",
            "pool is shut down",
            "pool is shut down",
        ]
    );
}

/// Tells the test it runs, then returns once the file `release` exists.
fn hold((started, release): (String, String)) -> u32 {
    notify(&started);
    while !std::path::Path::new(&release).exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    0
}

/// `try_submit_fn` refuses at once when a bounded queue is full, and hands
/// the argument back, on either pool.
fn refuses_when_full<E: Executor>(executor: &E, release: &std::path::Path) {
    let started = Started::new();
    let arg = (started.path(), release.to_str().unwrap().to_owned());
    let running = executor.submit_fn(remote!(hold), arg).unwrap();
    started.wait();
    let queued = executor.submit_fn(remote!(tenfold), 1).unwrap();
    let full = executor.try_submit_fn(remote!(tenfold), 2).unwrap_err();
    assert!(full.is_full());
    assert_eq!(full.to_string(), "pool queue is full");
    assert_eq!(full.into_inner(), 2);
    // A task with a start waits for room when its time comes instead.
    let later = executor
        .task()
        .start_after(Duration::from_millis(1))
        .try_submit_fn(remote!(tenfold), 3)
        .unwrap();
    executor.shutdown_with(ShutdownOptions::new().cancel_pending(true).wait(false));
    for handle in [queued, later] {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
    std::fs::write(release, b"").unwrap();
    assert_eq!(running.join().unwrap(), 0);
}

#[test]
fn try_submit_fn_on_a_full_queue_hands_the_argument_back() {
    let release = std::env::temp_dir().join(format!("futurepool-full-{}", std::process::id()));
    let _ = std::fs::remove_file(&release);
    refuses_when_full(
        &ThreadPool::builder()
            .max_workers(1)
            .bounded(1)
            .build()
            .unwrap(),
        &release,
    );
    std::fs::remove_file(&release).unwrap();
    refuses_when_full(
        &ProcessPool::builder()
            .max_workers(1)
            .bounded(1)
            .build()
            .unwrap(),
        &release,
    );
    std::fs::remove_file(&release).unwrap();
}
