//! The executor seam (issue 10): one trait for every pool, one task builder
//! (deadline, time limit, retries), one set of shutdown options, pools as
//! cheap handles with a weak form and a drop that never blocks, and the
//! default pool. The process pool's side is in `tests/process_executor.rs`.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{Gate, LONG, block_worker};
use futurepool::{CancelToken, Executor, ShutdownOptions, ThreadPool, default_pool};

/// A function generic over where it runs: what the seam is for.
#[cfg(feature = "remote")]
fn run_three<E: Executor>(executor: &E) -> Vec<u32> {
    let handles: Vec<_> = (1..=3)
        .map(|i| {
            executor
                .task()
                .time_limit(LONG)
                .submit_fn(futurepool::remote!(|x: u32| x * 10), i)
                .unwrap()
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[cfg(feature = "remote")]
#[test]
fn a_generic_function_runs_on_a_thread_pool() {
    let pool = ThreadPool::new();
    assert_eq!(run_three(&pool), [10, 20, 30]);
    assert!(Executor::shutdown(&pool));
    assert!(Executor::is_shutdown(&pool));
    let refused = pool
        .submit_fn(futurepool::remote!(|x: u8| x), 7)
        .unwrap_err();
    assert!(refused.is_shutdown());
    assert_eq!(refused.into_inner(), 7);
}

/// Without `remote`, the seam still covers what every executor has.
fn drain<E: Executor>(executor: &E) -> (usize, bool) {
    let workers = executor.max_workers();
    (
        workers,
        executor.shutdown_with(ShutdownOptions::new().timeout(LONG)),
    )
}

#[test]
fn a_generic_shutdown_runs_on_a_thread_pool() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let handle = pool.submit(|| 4).unwrap();
    assert_eq!(drain(&pool), (3, true));
    assert!(Executor::is_shutdown(&pool));
    assert_eq!(handle.join().unwrap(), 4);
}

#[cfg(feature = "remote")]
#[test]
fn a_named_function_panics_as_a_value_on_a_thread_pool() {
    let pool = ThreadPool::new();
    let err = pool
        .submit_fn(futurepool::remote!(|_: ()| -> u8 { panic!("named") }), ())
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(err.panic_message(), Some("named"));
}

/// The case: a limit counted from submit times out tasks that never
/// got to run; one counted from the start doesn't. `late` has a deadline and
/// `limited` a time limit of the same length, both queued behind a held
/// task until `late`'s deadline has passed (seen, not slept for).
#[test]
fn a_time_limit_counts_from_the_start_a_timeout_from_the_submit() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let limit = Duration::from_millis(200);
    let limited = pool.task().time_limit(limit).submit(|| "ran").unwrap();
    let late = pool.task().timeout(limit).submit(|| "ran").unwrap();
    assert!(
        late.join().unwrap_err().is_timeout(),
        "timed out in the queue"
    );
    assert!(!limited.is_done(), "queued time doesn't count");
    blocker.release().join().unwrap();
    assert_eq!(limited.join().unwrap(), "ran");
}

#[test]
fn a_time_limit_stops_a_running_task_that_checks_its_token() {
    let pool = ThreadPool::new();
    let (started_tx, started_rx) = mpsc::channel();
    let (token_tx, token_rx) = mpsc::channel::<CancelToken>();
    let handle = pool
        .task()
        .time_limit(Duration::from_millis(20))
        .submit_cancellable(move |token: CancelToken| {
            started_tx.send(()).unwrap();
            token_tx.send(token.clone()).unwrap();
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    let err = handle.join().unwrap_err();
    assert!(err.is_timeout());
    assert!(
        token_rx.recv().unwrap().is_cancelled(),
        "its token was signalled"
    );
}

#[test]
fn a_time_limit_on_a_plain_closure_ends_its_handle_and_the_closure_runs_on() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let w = gate.waiter();
    let (done_tx, done_rx) = mpsc::channel();
    let handle = pool
        .task()
        .time_limit(Duration::from_millis(10))
        .submit(move || {
            w.wait();
            done_tx.send(()).unwrap();
            1
        })
        .unwrap();
    assert!(handle.join().unwrap_err().is_timeout());
    gate.open();
    done_rx
        .recv_timeout(LONG)
        .expect("the closure ran to its end");
}

#[test]
fn pools_are_cheap_handles() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let other = pool.clone();
    // A clone moves into a task: nested submit needs no Arc by hand.
    let nested = pool
        .submit(move || other.submit(|| 21).unwrap().join().unwrap() * 2)
        .unwrap();
    assert_eq!(nested.join().unwrap(), 42);
    let clone = pool.clone();
    clone.shutdown();
    assert!(pool.is_shutdown(), "the same pool");
}

#[test]
fn a_weak_handle_does_not_keep_the_pool_alive() {
    let pool = ThreadPool::new();
    let weak = pool.downgrade();
    let task_view = weak.clone();
    let seen = pool
        .submit(move || task_view.upgrade().is_some())
        .unwrap()
        .join()
        .unwrap();
    assert!(seen);
    drop(pool);
    assert!(weak.upgrade().is_none());
}

/// Dropping the last handle never blocks: here a task is held while the
/// pool is dropped, and the drop returns; the task finishes afterwards.
#[test]
fn dropping_the_last_handle_does_not_wait() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let queued = pool.submit(|| "queued").unwrap();
    drop(pool); // returns although `blocker` holds the only worker
    assert!(!blocker.handle.is_done());
    blocker.release().join().unwrap();
    assert_eq!(queued.join().unwrap(), "queued", "queued work still runs");
}

/// The last handle dropped inside one of the pool's own tasks: no
/// deadlock, and the queued tasks still run.
#[test]
fn dropping_the_last_handle_inside_a_task() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let (tx, rx) = mpsc::channel::<ThreadPool>();
    let dropper = pool
        .submit(move || {
            let last = rx.recv().unwrap();
            drop(last); // the last handle, on a worker of its own pool
            "dropped"
        })
        .unwrap();
    let after = pool.submit(|| "still ran").unwrap();
    tx.send(pool).unwrap(); // the caller keeps no handle
    assert_eq!(dropper.join().unwrap(), "dropped");
    assert_eq!(after.join().unwrap(), "still ran");
}

/// The last handle dropped inside async code, on a current-thread runtime,
/// while a task still runs: the drop returns at once, so the runtime's
/// other task (which releases the held one) gets to run.
#[test]
fn dropping_the_last_handle_inside_async_code_does_not_block_the_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Arc::new(Gate::new());
    let w = gate.waiter();
    let held = pool.submit(move || w.wait()).unwrap();
    rt.block_on(async move {
        let opener = tokio::spawn({
            let gate = gate.clone();
            async move { gate.open() }
        });
        drop(pool); // would block this (only) runtime thread if it waited
        opener.await.unwrap();
        held.await.unwrap();
    });
}

#[test]
fn shutdown_can_cancel_running_cancellable_tasks() {
    let pool = ThreadPool::new();
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            pool.submit_cancellable(move |token| {
                barrier.wait();
                while !token.is_cancelled() {
                    std::thread::yield_now();
                }
            })
            .unwrap()
        })
        .collect();
    barrier.wait(); // both run
    let stopped = pool.shutdown_with(ShutdownOptions::new().cancel_running(true).timeout(LONG));
    assert!(stopped);
    for handle in handles {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
}

#[test]
fn a_shutdown_timeout_gives_up_on_a_stuck_task_and_a_later_shutdown_waits() {
    let pool = ThreadPool::new();
    let blocker = block_worker(&pool);
    let stopped = pool.shutdown_with(ShutdownOptions::new().timeout(Duration::from_millis(20)));
    assert!(!stopped);
    assert_eq!(pool.worker_count(), 1);
    blocker.release().join().unwrap();
    assert!(pool.shutdown());
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn the_default_pool_is_one_pool() {
    let a = default_pool().submit(|| std::thread::current().name().map(str::to_owned));
    let name = a.unwrap().join().unwrap().unwrap();
    assert!(name.starts_with("futurepool-"), "{name}");
    let max = default_pool().max_workers();
    assert_eq!(
        max,
        ThreadPool::new().max_workers(),
        "the default configuration"
    );
    assert_eq!(futurepool::submit(|| 5).unwrap().join().unwrap(), 5);
    let weak = default_pool().downgrade();
    assert!(weak.upgrade().is_some(), "kept alive by the process");
}
