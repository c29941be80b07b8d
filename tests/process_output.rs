//! What worker processes print: nothing, by default. A task's panic comes
//! back in its error, message and (if `RUST_BACKTRACE` or
//! `RUST_LIB_BACKTRACE` asks for one) backtrace, and is not printed;
//! `worker_stderr(true)` lets the workers' output through.
//!
//! The pool runs in a child copy of this test binary, whose stderr (which
//! its workers share) is captured and checked, and whose environment sets
//! the backtrace variables: the test process can't change its own
//! environment soundly, and the one it runs in may set `RUST_BACKTRACE`.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

mod common {
    pub mod process;
}

use common::process::{child_test, passed};
use futurepool::{ProcessPool, remote};

const TASKS: u32 = 20;

fn fails_on_purpose(i: u32) -> u32 {
    panic!("task {i} failed on purpose")
}

/// Not a test: run by the tests below, in a child process, as the
/// environment says: `FUTUREPOOL_TEST_STDERR` (`on` for
/// `worker_stderr(true)`, anything else for the default),
/// `FUTUREPOOL_TEST_BACKTRACE` (`yes` or `no`, whether a backtrace is
/// expected).
#[test]
#[ignore = "run by the tests of this file, in a child process"]
fn pool_with_panicking_tasks() {
    let env = |name| std::env::var(name).unwrap_or_default();
    let backtrace = env("FUTUREPOOL_TEST_BACKTRACE") == "yes";
    let mut builder = ProcessPool::builder().max_workers(2);
    if env("FUTUREPOOL_TEST_STDERR") == "on" {
        builder = builder.worker_stderr(true);
    }
    let pool = builder.build().unwrap();
    let handles: Vec<_> = (0..TASKS)
        .map(|i| pool.submit(remote!(fails_on_purpose), i).unwrap())
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let err = handle.join().unwrap_err();
        assert!(err.is_panic(), "{err}");
        assert_eq!(
            err.panic_message(),
            Some(format!("task {i} failed on purpose").as_str())
        );
        match err.panic_backtrace() {
            Some(trace) => {
                assert!(backtrace, "a backtrace nobody asked for:\n{trace}");
                assert!(trace.contains("fails_on_purpose"), "{trace}");
            }
            None => assert!(!backtrace, "no backtrace for task {i}"),
        }
    }
    // No worker was replaced: panics cost no worker.
    assert!(pool.workers_started() <= 2, "{}", pool.workers_started());
    pool.shutdown();
    println!("checked {TASKS} panics");
}

/// Runs `pool_with_panicking_tasks` in a child with these variables set
/// (`Some`) or removed (`None`); returns the child's stderr.
fn run_pool(stderr: &str, expect_backtrace: bool, vars: &[(&str, Option<&str>)]) -> String {
    let mut child = child_test("pool_with_panicking_tasks");
    child
        .env("FUTUREPOOL_TEST_STDERR", stderr)
        .env(
            "FUTUREPOOL_TEST_BACKTRACE",
            if expect_backtrace { "yes" } else { "no" },
        )
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    for (name, value) in vars {
        match value {
            Some(value) => child.env(name, value),
            None => child.env_remove(name),
        };
    }
    let (stdout, stderr) = passed(child);
    assert!(
        stdout.contains(&format!("checked {TASKS} panics")),
        "{stdout}"
    );
    stderr
}

#[test]
fn panicking_tasks_print_nothing_by_default() {
    let stderr = run_pool("default", false, &[]);
    assert_eq!(stderr, "", "the workers printed");
}

#[test]
fn a_backtrace_is_captured_when_asked_for_and_not_printed() {
    let stderr = run_pool("default", true, &[("RUST_BACKTRACE", Some("1"))]);
    assert_eq!(stderr, "", "the workers printed");
    // As `Backtrace::capture` reads them: RUST_LIB_BACKTRACE first.
    run_pool("default", true, &[("RUST_LIB_BACKTRACE", Some("1"))]);
    run_pool(
        "default",
        false,
        &[
            ("RUST_BACKTRACE", Some("1")),
            ("RUST_LIB_BACKTRACE", Some("0")),
        ],
    );
    run_pool("default", false, &[("RUST_BACKTRACE", Some("0"))]);
}

#[test]
fn worker_stderr_lets_the_workers_output_through() {
    let stderr = run_pool("on", false, &[]);
    for i in 0..TASKS {
        let line = format!("task {i} failed on purpose");
        assert_eq!(stderr.matches(&line).count(), 1, "{line}:\n{stderr}");
    }
}
