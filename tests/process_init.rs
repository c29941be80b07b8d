//! How a process becomes a worker, and how it doesn't: the worker marker is
//! an argument, so a worker's environment is exactly its parent's (nothing
//! added, nothing removed, nothing changed), a program that a task starts
//! (even this same binary) runs as a plain program, and a task may start a
//! pool of its own.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use common::process::{child_test, passed};
use futurepool::{ProcessPool, remote};

type Env = BTreeMap<Vec<u8>, Vec<u8>>;

/// The environment as the process sees it now (`std::env`).
fn current_env() -> Env {
    std::env::vars_os()
        .map(|(k, v)| (k.into_vec(), v.into_vec()))
        .collect()
}

/// The environment the process was started with, as the kernel keeps it:
/// a later `set_var` or `remove_var` doesn't show here.
fn initial_env() -> Env {
    std::fs::read("/proc/self/environ")
        .unwrap()
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let eq = entry.iter().position(|&b| b == b'=').unwrap_or(entry.len());
            let value = entry.get(eq + 1..).unwrap_or_default();
            (entry[..eq].to_vec(), value.to_vec())
        })
        .collect()
}

fn worker_env(_: ()) -> (Env, Env, Vec<OsString>) {
    (initial_env(), current_env(), std::env::args_os().collect())
}

#[test]
fn a_worker_leaves_its_environment_alone() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let (initial, current, args) = pool
        .submit(remote!(worker_env), ())
        .unwrap()
        .join()
        .unwrap();
    // The pool added nothing: the worker started with this process's
    // environment ...
    assert_eq!(initial, current_env());
    // ... and it removed or changed nothing since.
    assert_eq!(current, initial);
    // The marker is its only argument.
    let marker = format!("--futurepool-worker={}", std::process::id());
    assert_eq!(args.len(), 2, "{args:?}");
    assert_eq!(args[1].as_bytes(), marker.as_bytes());
}

/// Runs this test binary again, as a plain program, and hands back what
/// it printed.
fn run_this_binary(_: ()) -> String {
    let (stdout, _) = passed(child_test("plain_run_of_the_test_binary"));
    stdout
}

#[test]
fn a_program_a_task_starts_is_not_a_worker() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let worker = pool
        .submit(remote!(|_: ()| std::process::id()), ())
        .unwrap();
    let worker = worker.join().unwrap();
    let stdout = pool
        .submit(remote!(run_this_binary), ())
        .unwrap()
        .join()
        .unwrap();
    // It ran its test, in a process whose parent was the worker.
    assert!(
        stdout.contains(&format!("a plain program, started by {worker}")),
        "{stdout}"
    );
}

/// Not a test: run by `a_program_a_task_starts_is_not_a_worker`, from a
/// task in a worker.
#[test]
#[ignore = "run by a_program_a_task_starts_is_not_a_worker"]
fn plain_run_of_the_test_binary() {
    println!(
        "a plain program, started by {}",
        std::os::unix::process::parent_id()
    );
}

/// In a worker: starts a pool, and returns its own pid and its worker's.
fn nested(_: ()) -> (u32, u32) {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let inner = pool
        .submit(remote!(|_: ()| std::process::id()), ())
        .unwrap();
    (std::process::id(), inner.join().unwrap())
}

#[test]
fn a_task_may_start_a_pool_of_its_own() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let (worker, inner) = pool.submit(remote!(nested), ()).unwrap().join().unwrap();
    assert_ne!(worker, std::process::id());
    assert_ne!(inner, worker);
    assert_ne!(inner, std::process::id());
}

/// Writes to a pipe whose reading end is closed; returns what the write
/// said.
fn write_to_a_closed_pipe(_: ()) -> String {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `pipe` writes two descriptors into `fds`, which then belong
    // to the two `File`s alone.
    let (reader, mut writer) = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    drop(reader);
    format!(
        "{:?}",
        std::io::Write::write(&mut writer, b"x").map_err(|e| e.kind())
    )
}

/// A worker started before `main` (by `process_init_before_main!`) ran
/// with `SIGPIPE`'s default action, which Rust's runtime sets to "ignore"
/// only when it starts `main`: a task that wrote to a closed pipe killed
/// its worker instead of getting an error, as it does on a thread and in a
/// worker that calls `init` from `main`.
#[test]
fn a_broken_pipe_in_a_task_is_an_error_as_on_a_thread() {
    let here = write_to_a_closed_pipe(());
    assert_eq!(here, "Err(BrokenPipe)");
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let there = pool
        .submit(remote!(write_to_a_closed_pipe), ())
        .unwrap()
        .join();
    assert_eq!(there.map_err(|e| e.to_string()), Ok(here));
}
