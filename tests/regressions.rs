//! One test per fault found by the attacks of issue 9, named after the
//! fault. Each failed (or hung, bounded here by a watchdog) before its fix.
//! The lost start is forced deterministically at a test-only point, so its
//! test is a unit test (`src/thread_pool/tests.rs`, `lost_start`); the state
//! table's is in `src/core/state.rs`; the process pool's are in
//! `tests/process_regressions.rs`.

mod common;

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::{LONG, block_worker};
use futurepool::{JoinTimeoutError, ShutdownOptions, ThreadPool};

/// Runs `f` on a thread and fails the test if it doesn't return within
/// [`LONG`]: a hang becomes a failure instead of a stuck CI run.
fn within_watchdog<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(LONG)
        .unwrap_or_else(|_| panic!("{what}: still blocked after {LONG:?}"))
}

/// A value whose drop panics: a closure capturing it panics when dropped
/// unrun.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("PanicOnDrop dropped");
        }
    }
}

/// Fault 2: shutdown hung forever when another thread submitted a task with
/// a timeout at the same moment: stopping the deadline timer raced with the
/// timer being started again, and the restarted thread kept the stopped one
/// running. Now a shut-down pool's timer is closed for good and a later
/// deadline is refused. (The timer's own unit test, `close_is_final`, pins
/// the mechanism; this runs the race many times, each under a watchdog.)
#[test]
fn shutdown_racing_a_submit_with_a_timeout() {
    for _ in 0..200 {
        within_watchdog("shutdown racing a submit with a timeout", || {
            let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
            // Start the timer, so that the shutdown has one to stop.
            pool.task()
                .timeout(Duration::from_secs(60))
                .submit(|| ())
                .unwrap()
                .join()
                .unwrap();
            let submitter = {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    while let Ok(h) = pool.task().timeout(Duration::from_secs(60)).submit(|| ()) {
                        drop(h);
                    }
                })
            };
            pool.shutdown();
            submitter.join().unwrap();
            let err = pool
                .task()
                .timeout(Duration::from_secs(60))
                .submit(|| ())
                .unwrap_err();
            assert!(err.is_shutdown());
        });
    }
}

/// Fault 3: two tasks of one pool that both called `shutdown()` waited for
/// each other, every time. A shutdown called on a worker now waits for the
/// other workers except those themselves inside a shutdown.
#[test]
fn two_self_shutdowns() {
    within_watchdog("two tasks shutting their own pool down", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(2).build().unwrap());
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (pool2, barrier) = (pool.clone(), barrier.clone());
                pool.submit(move || {
                    barrier.wait(); // both are running
                    pool2.shutdown();
                    pool2.is_shutdown()
                })
                .unwrap()
            })
            .collect();
        for handle in handles {
            assert!(handle.join().unwrap());
        }
        drop(pool); // joins the two workers, which have left their tasks
    });
}

/// Fault 3, with work still queued: a task that shuts its pool down waits
/// for the queue to be run by the others (its own place is lent meanwhile,
/// so a pool of one still drains), and a queued task still runs.
#[test]
fn a_self_shutdown_lets_queued_work_run() {
    within_watchdog("a task shutting its pool down with work queued", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let pool2 = pool.clone();
        let shutter = pool
            .submit(move || {
                go_rx.recv().unwrap();
                pool2.shutdown();
            })
            .unwrap();
        let queued = pool.submit(|| 5).unwrap();
        go_tx.send(()).unwrap();
        shutter.join().unwrap();
        assert_eq!(queued.join().unwrap(), 5);
    });
}

/// Fault 4: done-callbacks ran on the shared deadline timer, so a callback
/// that waited for another task whose deadline that same timer had to fire
/// never returned, and no timeout of the pool fired again. Now the timer
/// hands callbacks to the callback runner.
#[test]
fn a_callback_cannot_freeze_timeouts() {
    within_watchdog("a callback waiting on another timeout", || {
        let pool = ThreadPool::new();
        let spin = |token: futurepool::CancelToken| {
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
        };
        let later = Arc::new(
            pool.task()
                .timeout(Duration::from_millis(200))
                .submit_cancellable(spin)
                .unwrap(),
        );
        let first = pool
            .task()
            .timeout(Duration::from_millis(20))
            .submit_cancellable(spin)
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let waited_for = later.clone();
        first.add_done_callback(move |outcome| {
            assert!(outcome.unwrap_err().is_timeout());
            // The timer must still fire `later`'s deadline.
            tx.send(waited_for.wait_timeout(LONG)).unwrap();
        });
        assert!(first.join().unwrap_err().is_timeout());
        assert!(rx.recv().unwrap(), "`later` timed out meanwhile");
        assert!(later.is_done());
    });
}

/// Fault 5: a cancelled queued closure that panicked when dropped made
/// `cancel()` panic and left the task stuck (`join()` never returned).
#[test]
fn a_cancelled_closure_whose_drop_panics() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let bomb = PanicOnDrop;
    let handle = pool
        .submit(move || {
            let _bomb = &bomb;
        })
        .unwrap();
    assert!(handle.cancel(), "cancel returns, the drop's panic caught");
    let err = within_watchdog("join of the cancelled task", move || handle.join());
    assert!(err.unwrap_err().is_cancelled());
    blocker.release().join().unwrap();
    assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
}

/// Fault 5, on the timer: the same drop on the timer thread (the task timed
/// out while queued) killed the timer, and no later timeout of the pool
/// fired. The timer drops no user value now; the worker that reaches the
/// task drops it, and survives its panic.
#[test]
fn a_timed_out_closure_whose_drop_panics_spares_the_timer() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let bomb = PanicOnDrop;
    let first = pool
        .task()
        .timeout(Duration::from_millis(10))
        .submit(move || {
            let _bomb = &bomb;
        })
        .unwrap();
    match first.join_timeout(LONG) {
        Err(JoinTimeoutError::Failed(err)) => assert!(err.is_timeout()),
        other => panic!("the first deadline never fired: {other:?}"),
    }
    let second = pool
        .task()
        .timeout(Duration::from_millis(10))
        .submit(|| ())
        .unwrap();
    match second.join_timeout(LONG) {
        Err(JoinTimeoutError::Failed(err)) => assert!(err.is_timeout()),
        other => panic!("the timer died: a later deadline never fired: {other:?}"),
    }
    blocker.release().join().unwrap();
    // The worker dropped the bomb (and survived it).
    assert_eq!(pool.submit(|| 2).unwrap().join().unwrap(), 2);
}

/// Fault 6: a thread name with a NUL byte made `submit` panic in the caller
/// (the first worker's thread couldn't be named), and then dropping the pool
/// hung. The builder refuses the name now.
#[test]
fn a_thread_name_with_a_nul_byte() {
    let err = ThreadPool::builder()
        .thread_name("bad\0name")
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "a thread name can't contain a NUL byte");
}

/// Fault 8: `TaskHandle`'s `Debug` showed no state (`TaskHandle { .. }`).
/// Now it shows the task's id and its state, as Python's repr does.
#[test]
fn handle_debug_shows_the_state() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let queued = pool.submit(|| ()).unwrap();
    let cancelled = pool.submit(|| ()).unwrap();
    cancelled.cancel();
    assert!(format!("{:?}", blocker.handle).ends_with("state: running }"));
    assert!(format!("{queued:?}").ends_with("state: pending }"));
    assert!(format!("{cancelled:?}").ends_with("state: cancelled }"));
    let (a, b) = (format!("{queued:?}"), format!("{cancelled:?}"));
    assert_ne!(a.split(',').next(), b.split(',').next(), "distinct ids");
    let done = blocker.release();
    done.wait();
    assert!(format!("{done:?}").ends_with("state: finished }"));
    let failed = pool.submit(|| panic!("no")).unwrap();
    failed.wait();
    assert!(format!("{failed:?}").ends_with("state: failed }"));
}

/// Fault 9: an error's `Display` repeated the cause its `source()` also
/// returned, so reporters printed it twice:
/// `pool is broken: worker initializer failed: db unreachable: db unreachable`.
#[test]
fn display_does_not_repeat_the_source() {
    fn report(err: &dyn Error) -> String {
        let mut out = err.to_string();
        let mut cause = err.source();
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
    let pool = ThreadPool::builder()
        .initializer(|| Err("db unreachable"))
        .build()
        .unwrap();
    let err = pool.submit(|| ()).unwrap().join().unwrap_err();
    assert_eq!(
        report(&err),
        "pool is broken: worker initializer failed: db unreachable"
    );
    let refused = pool.submit(|| ()).unwrap_err();
    assert_eq!(
        report(&refused),
        "pool is broken: worker initializer failed: db unreachable"
    );
}

/// Shutdown options still behave with the new shutdown wait: `wait(false)`
/// from inside a task returns at once, and a later drop waits.
#[test]
fn a_self_shutdown_without_waiting() {
    within_watchdog("shutdown(wait=false) from a task", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(2).build().unwrap());
        let returned = Arc::new(AtomicBool::new(false));
        let (pool2, r) = (pool.clone(), returned.clone());
        pool.submit(move || {
            pool2.shutdown_with(ShutdownOptions::new().wait(false));
            r.store(true, Ordering::SeqCst);
        })
        .unwrap()
        .join()
        .unwrap();
        assert!(returned.load(Ordering::SeqCst));
        drop(pool);
    });
}

/// A task that never ran because no worker thread could start (a map's
/// item, a delayed task) ended with an error no predicate recognised:
/// `is_broken`, `is_shutdown` and the rest all said `false`.
#[test]
fn a_task_whose_worker_thread_could_not_start_says_so() {
    // A stack no machine can give: every worker thread fails to start.
    let pool = ThreadPool::builder()
        .stack_size(usize::MAX / 2)
        .build()
        .unwrap();
    let refused = pool.submit(|| ()).unwrap_err();
    assert!(refused.is_spawn_failure());

    let item = pool.map(|x: u8| x, [1]).next().unwrap().unwrap_err();
    let delayed = pool
        .task()
        .name("later")
        .start_after(Duration::from_millis(1))
        .submit(|| ())
        .unwrap()
        .join()
        .unwrap_err();
    for err in [&item, &delayed] {
        assert!(err.is_spawn_failure(), "{err:?}");
        assert!(!err.is_broken() && !err.is_shutdown() && !err.is_cancelled());
        assert!(err.source().is_some());
    }
    assert_eq!(
        delayed.to_string(),
        "task `later`: failed to start a worker thread"
    );
}
