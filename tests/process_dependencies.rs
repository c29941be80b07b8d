//! Tasks that take other tasks' results across backends (issue 14): a
//! thread pool's value feeding a process pool's named function, and back.
//! The rest is in `dependencies.rs`.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::time::Duration;

use common::process::{Started, notify, wait_dead};
use futurepool::{ProcessPool, Promise, ThreadPool, remote};

/// Tells the test it runs, then never returns.
fn park_forever(path: String) -> u32 {
    notify(&path);
    loop {
        std::thread::park();
    }
}

fn total(v: Vec<u64>) -> u64 {
    v.iter().sum()
}

fn pid_and_sum((a, b): (u64, u64)) -> (u32, u64) {
    (std::process::id(), a + b)
}

#[test]
fn a_thread_pool_value_feeds_a_process_pool_task() {
    let threads = ThreadPool::new();
    let processes = ProcessPool::builder().max_workers(1).build().unwrap();
    let load = threads.submit(|| vec![1u64, 2, 3]).unwrap().shared();
    let sum = processes
        .task()
        .after(&load)
        .submit_fn(remote!(total))
        .unwrap();
    let both = processes
        .task()
        .after((sum, threads.submit(|| 10u64).unwrap()))
        .submit_fn(remote!(pid_and_sum))
        .unwrap();
    let (pid, value) = both.join().unwrap();
    assert_eq!(value, 16);
    assert_ne!(pid, std::process::id(), "it ran in a worker process");
}

#[test]
fn a_process_pool_value_feeds_a_thread_pool_closure() {
    let threads = ThreadPool::new();
    let processes = ProcessPool::builder().max_workers(1).build().unwrap();
    let remote_pid = processes
        .submit(remote!(|_: ()| std::process::id()), ())
        .unwrap();
    let dep = threads
        .task()
        .after(remote_pid)
        .submit(|pid: u32| pid != std::process::id())
        .unwrap();
    assert!(dep.join().unwrap());
}

#[test]
fn a_failure_in_a_worker_process_reaches_the_dependent() {
    let processes = ProcessPool::builder().max_workers(1).build().unwrap();
    let bad = processes
        .task()
        .name("bad")
        .submit_fn(remote!(|_: ()| -> u8 { panic!("in the worker") }), ())
        .unwrap();
    let dep = processes
        .task()
        .after(bad)
        .submit_fn(remote!(|x: u8| x))
        .unwrap();
    let err = dep.join().unwrap_err();
    assert!(err.is_dependency_failed());
    assert_eq!(
        err.failed_dependency().unwrap().panic_message(),
        Some("in the worker")
    );
}

#[test]
fn cancelling_a_running_dependent_kills_its_worker_process() {
    let threads = ThreadPool::new();
    let processes = ProcessPool::builder().max_workers(1).build().unwrap();
    let started = Started::new();
    let path = started.path();
    let path = threads.submit(move || path).unwrap();
    let dep = processes
        .task()
        .after(path)
        .submit_fn(remote!(park_forever))
        .unwrap();
    let pid = started.wait();
    assert!(dep.cancel());
    assert!(dep.join().unwrap_err().is_cancelled());
    assert!(
        wait_dead(pid, 30),
        "the worker running the dependent lives on"
    );
}

#[test]
fn a_process_pool_dependent_ends_at_its_deadline_while_it_waits() {
    let processes = ProcessPool::builder().max_workers(1).build().unwrap();
    let (promise, handle) = Promise::<u64>::new();
    let dep = processes
        .task()
        .timeout(Duration::from_millis(20))
        .after(handle)
        .submit_fn(remote!(|x: u64| x))
        .unwrap();
    assert!(dep.join().unwrap_err().is_timeout());
    assert!(!promise.is_cancelled());
    promise.set(1).unwrap();
}
