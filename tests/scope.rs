//! `ThreadPool::scope` (issue 10): tasks and maps that borrow from the
//! caller's stack, and the promise that makes it sound: the scope returns
//! (or unwinds) only once every closure submitted in it is gone, whether it
//! ran, panicked, was cancelled, timed out, or was refused.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::{DropCounter, Gate, LONG, block_worker};
use futurepool::ThreadPool;

#[test]
fn a_scoped_map_borrows_its_inputs_and_its_function() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let paths: Vec<PathBuf> = (0..50).map(|i| format!("dir/file{i}.txt").into()).collect();
    let prefix = String::from("dir/");
    let stems: Vec<String> = pool.scope(|s| {
        s.map(
            |p: &PathBuf| {
                let rest = p.to_str().unwrap().strip_prefix(prefix.as_str()).unwrap();
                rest.trim_end_matches(".txt").to_owned()
            },
            &paths,
        )
        .map(Result::unwrap)
        .collect()
    });
    let expected: Vec<String> = (0..50).map(|i| format!("file{i}")).collect();
    assert_eq!(stems, expected);
}

#[test]
fn scoped_tasks_may_write_to_disjoint_borrows() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let mut data = vec![0u64; 1000];
    pool.scope(|s| {
        for (i, chunk) in data.chunks_mut(100).enumerate() {
            let _handle = s
                .submit(move || {
                    for (j, x) in chunk.iter_mut().enumerate() {
                        *x = (i * 100 + j) as u64;
                    }
                })
                .unwrap();
        }
        // No join: the scope's end waits.
    });
    assert!(data.iter().enumerate().all(|(i, x)| *x == i as u64));
}

#[test]
fn the_scope_waits_for_a_task_nobody_joined() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let finished = AtomicBool::new(false);
    let (closure_returned_tx, closure_returned_rx) = mpsc::channel::<()>();
    pool.scope(|s| {
        let finished = &finished;
        let _handle = s
            .submit(move || {
                // Runs on after the scope's closure returned...
                closure_returned_rx.recv_timeout(LONG).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                finished.store(true, Ordering::SeqCst);
            })
            .unwrap();
        closure_returned_tx.send(()).unwrap();
    });
    // ...and the scope didn't return before it ended.
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn a_cancelled_queued_task_is_dropped_before_the_scope_returns() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let drops = DropCounter::new();
    let ran = AtomicBool::new(false);
    pool.scope(|s| {
        let guard = drops.guard();
        let handle = s
            .submit(|| {
                let _guard = guard;
                ran.store(true, Ordering::SeqCst);
            })
            .unwrap();
        assert!(handle.cancel());
        // The cancel dropped the closure on this thread, now.
        assert_eq!(drops.count(), 1);
    });
    assert!(!ran.load(Ordering::SeqCst));
    blocker.release().join().unwrap();
}

#[test]
fn a_unit_timed_out_in_the_queue_is_dropped_by_the_map_not_left_to_a_worker() {
    // One worker, held until after the scope: the scoped unit's deadline
    // passes while it waits. The map gives up on it and drops its input
    // (and closure) on this thread, so the scope can end although no
    // worker will reach the queue before it does.
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let drops = DropCounter::new();
    let label = String::from("borrowed");
    pool.scope(|s| {
        let mut map = s
            .map(|_guard: common::DropGuard| label.len(), [drops.guard()])
            .timeout(Duration::from_millis(20));
        assert!(map.next().unwrap().unwrap_err().is_timeout());
        assert_eq!(drops.count(), 1);
    });
    blocker.release().join().unwrap();
}

#[test]
fn cancelling_a_task_that_timed_out_in_the_queue_drops_its_closure_now() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let drops = DropCounter::new();
    let guard = drops.guard();
    let handle = pool
        .task()
        .timeout(Duration::from_millis(10))
        .submit(move || drop(guard))
        .unwrap();
    assert!(handle.wait_timeout(LONG));
    assert_eq!(drops.count(), 0, "the timer doesn't drop closures");
    assert!(!handle.cancel()); // it ended by timing out, not by this cancel
    assert_eq!(drops.count(), 1, "but this thread may");
    assert!(handle.join().unwrap_err().is_timeout());
    blocker.release().join().unwrap();
}

#[test]
fn a_scoped_task_with_a_token_is_cancelled_while_running() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let mut checks = 0u64; // borrowed mutably by the task
    let (started_tx, started_rx) = mpsc::channel();
    pool.scope(|s| {
        let handle = s
            .submit_cancellable(|token| {
                started_tx.send(()).unwrap();
                while !token.is_cancelled() {
                    checks += 1;
                    std::thread::yield_now();
                }
            })
            .unwrap();
        started_rx.recv_timeout(LONG).unwrap();
        assert!(handle.cancel());
        assert!(handle.join().unwrap_err().is_cancelled());
    });
    let _ = checks;
}

#[test]
fn the_scope_waits_for_a_task_that_ran_over_its_time_limit() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let finished = AtomicBool::new(false);
    let waits = [0u64, 200];
    let results: Vec<_> = pool.scope(|s| {
        s.map(
            |ms: &u64| {
                std::thread::sleep(Duration::from_millis(*ms));
                if *ms > 0 {
                    finished.store(true, Ordering::SeqCst);
                }
            },
            &waits,
        )
        .time_limit(Duration::from_millis(20))
        .collect()
    });
    assert!(results[0].is_ok());
    assert!(results[1].as_ref().unwrap_err().is_timeout());
    // The result was given up on; the closure wasn't: it borrowed `waits`.
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn a_panic_in_the_scope_is_resumed_after_its_tasks_are_over() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let finished = AtomicBool::new(false);
    let (started_tx, started_rx) = mpsc::channel();
    let opener = std::thread::spawn(move || {
        started_rx.recv_timeout(LONG).unwrap();
        gate.open();
    });
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            let _handle = s
                .submit(|| {
                    started_tx.send(()).unwrap();
                    waiter.wait();
                    std::thread::sleep(Duration::from_millis(20));
                    finished.store(true, Ordering::SeqCst);
                })
                .unwrap();
            panic!("the scope's own panic");
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the scope's own panic")
    );
    assert!(
        finished.load(Ordering::SeqCst),
        "unwound before its task ended"
    );
    opener.join().unwrap();
}

#[test]
fn a_panic_in_a_scoped_task_is_its_handles_error() {
    let pool = ThreadPool::new();
    let local = String::from("borrowed");
    let err = pool.scope(|s| {
        s.submit(|| -> usize { panic!("{} and panicked", local) })
            .unwrap()
            .join()
            .unwrap_err()
    });
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("borrowed and panicked"));
}

#[test]
fn a_refused_scoped_submit_hands_the_closure_back() {
    let pool = ThreadPool::new();
    pool.shutdown();
    let mut hits = 0;
    pool.scope(|s| {
        let err = s.submit(|| hits += 1).unwrap_err();
        assert!(err.is_shutdown());
        (err.into_inner())();
    });
    assert_eq!(hits, 1);
}

#[test]
fn a_scope_on_a_worker_lends_its_place() {
    // One worker, which opens a scope and waits for it: the scope's tasks
    // need another worker, which the waiting one lends its place to.
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let inner = pool.clone();
    let total = pool
        .submit(move || {
            let data: Vec<u32> = (1..=10).collect();
            inner.scope(|s| {
                s.map(|x: &u32| x * 2, &data)
                    .map(Result::unwrap)
                    .sum::<u32>()
            })
        })
        .unwrap()
        .join_timeout(LONG)
        .unwrap();
    assert_eq!(total, 110);
}

#[test]
fn scoped_tasks_may_submit_scoped_tasks() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let count = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..4 {
            let _handle = s
                .submit(|| {
                    for _ in 0..4 {
                        let _handle = s
                            .submit(|| {
                                count.fetch_add(1, Ordering::SeqCst);
                            })
                            .unwrap();
                    }
                })
                .unwrap();
        }
    });
    assert_eq!(count.load(Ordering::SeqCst), 16);
}

#[test]
fn dropping_a_scoped_map_cancels_what_is_queued_and_the_scope_still_ends() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let ran = AtomicUsize::new(0);
    let inputs: Vec<u32> = (0..8).collect();
    pool.scope(|s| {
        let mut map = s
            .map(
                |_: &u32| {
                    ran.fetch_add(1, Ordering::SeqCst);
                },
                &inputs,
            )
            .max_in_flight(4)
            .timeout(Duration::from_millis(20));
        // Submits 4 (all queued behind the blocker), then gives up.
        assert!(map.next().unwrap().unwrap_err().is_timeout());
        drop(map);
    });
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    blocker.release().join().unwrap();
}

#[test]
fn an_unordered_chunked_scoped_map_yields_every_input_once() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let inputs: Vec<u64> = (0..1000).collect();
    let mut out: Vec<u64> = pool.scope(|s| {
        s.map(|x: &u64| x * 3, &inputs)
            .unordered()
            .chunksize(7)
            .map(Result::unwrap)
            .collect()
    });
    out.sort_unstable();
    assert_eq!(out, inputs.iter().map(|x| x * 3).collect::<Vec<_>>());
}

#[test]
fn a_scope_with_nothing_submitted_returns_its_value() {
    let pool = ThreadPool::new();
    assert_eq!(pool.scope(|_| 7), 7);
}

/// A scope's end is a wait that can't deadlock: on a worker of its pool it
/// runs the scope's tasks that haven't started, as a `join` does. Two
/// scopes deep inside a task of a one-worker pool, every place that could
/// be lent is taken (the outer scope's end lent the only one), and the
/// inner scope's tasks used to wait in the queue forever.
#[test]
fn nested_scopes_inside_a_task_of_a_one_worker_pool_finish() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let inner = pool.clone();
    let total = pool
        .submit(move || {
            let mut sums = [0u64; 4];
            inner.scope(|s| {
                let pool = &inner;
                for (i, sum) in sums.iter_mut().enumerate() {
                    let _handle = s
                        .submit(move || {
                            let mut parts = [0u64; 2];
                            pool.scope(|s| {
                                for part in parts.iter_mut() {
                                    let _handle = s.submit(move || *part = i as u64).unwrap();
                                }
                            });
                            *sum = parts.iter().sum();
                        })
                        .unwrap();
                }
            });
            sums.iter().sum::<u64>()
        })
        .unwrap()
        .join_timeout(LONG)
        .unwrap();
    assert_eq!(total, 12);
}

/// The same with lending turned off (`max_lent(0)`): the scope's end runs
/// its tasks itself, so it needs no place lent.
#[test]
fn a_scope_ends_inside_a_task_of_a_pool_that_lends_no_place() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .max_lent(0)
        .build()
        .unwrap();
    let inner = pool.clone();
    let total = pool
        .submit(move || {
            let mut values = [0u64; 4];
            inner.scope(|s| {
                for (i, value) in values.iter_mut().enumerate() {
                    let _handle = s.submit(move || *value = i as u64).unwrap();
                }
            });
            values.iter().sum::<u64>()
        })
        .unwrap()
        .join_timeout(LONG)
        .unwrap();
    assert_eq!(total, 6);
    assert_eq!(pool.workers_started(), 1);
}
