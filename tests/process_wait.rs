//! Process-pool handles in a `TaskGroup`, in `first_ok` and among mixed
//! handles: a group or a race holds them like any other, and cancelling a
//! running one (dropping the group, losing the race) kills its worker.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::sync::mpsc;

use common::process::{Started, is_dead, notify};
use futurepool::{
    AnyHandle, ProcessPool, TaskGroup, TaskHandle, ThreadPool, as_completed, first_ok, remote,
};

fn square(x: u64) -> u64 {
    x * x
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Tells the test it runs, then never returns.
fn block_forever(path: String) -> u32 {
    notify(&path);
    loop {
        std::thread::park();
    }
}

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder().max_workers(workers).build().unwrap()
}

/// A receiver told, by a done-callback, whether the task was cancelled.
fn cancelled_rx<T: Send + 'static>(handle: &TaskHandle<T>) -> mpsc::Receiver<bool> {
    let (tx, rx) = mpsc::channel();
    handle.add_done_callback(move |outcome| {
        let _ = tx.send(outcome.is_err_and(|e| e.is_cancelled()));
    });
    rx
}

#[test]
fn a_group_joins_process_and_thread_tasks_together() {
    let processes = pool(2);
    let threads = ThreadPool::new();
    let mut group = TaskGroup::new();
    for x in 1..=3 {
        group.insert(processes.submit(remote!(square), x).unwrap());
    }
    group.insert(threads.submit(|| 100).unwrap());
    let mut values: Vec<u64> = group.join_all().into_iter().map(Result::unwrap).collect();
    values.sort_unstable();
    assert_eq!(values, [1, 4, 9, 100]);
}

#[test]
fn dropping_a_group_kills_its_running_process_task() {
    let pool = pool(1);
    let started = Started::new();
    let running = pool.submit(remote!(block_forever), started.path()).unwrap();
    let worker = started.wait();
    let cancelled = cancelled_rx(&running);
    let mut group = TaskGroup::new();
    group.insert(running);
    drop(group);
    assert_eq!(cancelled.try_recv(), Ok(true), "cancelled in the drop");
    // The one worker was killed: the next task runs on a fresh one.
    let next = pool.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(next, worker);
    assert!(is_dead(worker));
}

#[test]
fn a_process_task_that_loses_a_race_is_killed() {
    let processes = pool(1);
    let started = Started::new();
    let loser = processes
        .submit(remote!(block_forever), started.path())
        .unwrap();
    let worker = started.wait();
    let cancelled = cancelled_rx(&loser);
    let threads = ThreadPool::new();
    let winner = threads.submit(|| 7_u32).unwrap();
    assert_eq!(first_ok([loser, winner]).unwrap(), 7);
    assert_eq!(cancelled.try_recv(), Ok(true));
    let next = processes.submit(remote!(pid), ()).unwrap().join().unwrap();
    assert_ne!(next, worker);
    assert!(is_dead(worker));
}

#[test]
fn a_process_value_decodes_when_it_wins_a_race() {
    let processes = pool(1);
    let threads = ThreadPool::new();
    let failing = threads.submit(|| -> u64 { panic!("no") }).unwrap();
    let squared = processes.submit(remote!(square), 12).unwrap();
    assert_eq!(first_ok([failing, squared]).unwrap(), 144);
}

#[test]
fn erased_process_and_thread_handles_in_one_as_completed() {
    let processes = pool(1);
    let threads = ThreadPool::new();
    let jobs = [
        (
            "square",
            AnyHandle::new(processes.submit(remote!(square), 5).unwrap()),
        ),
        ("name", AnyHandle::new(threads.submit(|| "five").unwrap())),
    ];
    let mut seen = Vec::new();
    for (key, handle) in as_completed(jobs) {
        match key {
            "square" => seen.push(
                handle
                    .downcast::<u64>()
                    .unwrap()
                    .join()
                    .unwrap()
                    .to_string(),
            ),
            _ => seen.push(
                handle
                    .downcast::<&str>()
                    .unwrap()
                    .join()
                    .unwrap()
                    .to_owned(),
            ),
        }
    }
    seen.sort();
    assert_eq!(seen, ["25", "five"]);
}
