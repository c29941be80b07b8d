//! The thread pool itself: configuration, when workers start, are reused
//! and retire, their names and stacks, initializers and broken pools,
//! bounded queues, and failing to start a thread.

mod common;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::{Gate, LONG, block_worker, unique_prefix, wait_until};
use futurepool::{ThreadPool, ThreadPoolBuilder};

fn thread_name() -> String {
    thread::current().name().unwrap_or("").to_owned()
}

// CPython: executor.py ExecutorTest.test_max_workers_negative (no negative
// numbers in a usize: 0 is the invalid one).
#[test]
fn zero_workers_or_zero_capacity_is_refused() {
    let err = ThreadPool::builder().max_workers(0).build().unwrap_err();
    assert_eq!(err.to_string(), "max_workers must be at least 1");
    let err = ThreadPool::builder().bounded(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "a bounded queue needs a capacity of at least 1"
    );
    assert!(err.source().is_none());
    assert!(
        ThreadPool::builder()
            .max_workers(1)
            .bounded(1)
            .build()
            .is_ok()
    );
}

// CPython: test_thread_pool.ThreadPoolExecutorTest.test_default_workers
#[test]
fn default_max_workers_is_pythons() {
    let cores = thread::available_parallelism().unwrap().get();
    assert_eq!(ThreadPool::new().max_workers(), (cores + 4).min(32));
    assert_eq!(
        ThreadPoolBuilder::default().build().unwrap().max_workers(),
        (cores + 4).min(32)
    );
    assert_eq!(ThreadPool::default().max_workers(), (cores + 4).min(32));
}

#[test]
fn no_thread_starts_before_work_arrives() {
    let prefix = unique_prefix("lazy");
    let pool = ThreadPool::builder()
        .max_workers(4)
        .thread_name(&*prefix)
        .build()
        .unwrap();
    assert_eq!(pool.worker_count(), 0);
    #[cfg(target_os = "linux")]
    assert!(common::threads_named(&prefix).is_empty());
    pool.submit(|| ()).unwrap().join().unwrap();
    assert_eq!(pool.worker_count(), 1);
    let dbg = format!("{pool:?}");
    assert!(
        dbg.contains("max_workers: 4") && dbg.contains("workers: 1"),
        "{dbg}"
    );
}

// CPython: test_thread_pool.ThreadPoolExecutorTest.test_idle_thread_reuse.
// CPython's version is flaky (gh-117344): a worker that has just finished a
// task isn't idle yet. Here the test waits until the worker is asleep
// waiting for work (Linux: seen in /proc) before each submit.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_worker_is_reused_before_a_new_one_starts() {
    let prefix = unique_prefix("reuse");
    let pool = ThreadPool::builder()
        .max_workers(5)
        .thread_name(&*prefix)
        .build()
        .unwrap();
    let first = format!("{prefix}-0");
    for _ in 0..3 {
        let name = pool.submit(thread_name).unwrap().join().unwrap();
        assert_eq!(name, first);
        wait_until("the worker sleeps, waiting for work", || {
            common::thread_state(&first) == Some('S')
        });
    }
    assert_eq!(pool.worker_count(), 1);
}

#[test]
fn one_worker_starts_per_task_until_the_limit() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let blockers: Vec<_> = (0..3).map(|_| block_worker(&pool)).collect();
    assert_eq!(pool.worker_count(), 3);
    let queued: Vec<_> = (0..5).map(|i| pool.submit(move || i).unwrap()).collect();
    assert_eq!(pool.worker_count(), 3, "no worker beyond max_workers");
    assert_eq!(pool.queued(), 5);
    drop(blockers);
    let sum: i32 = queued.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 10);
}

// CPython: test_thread_pool.ThreadPoolExecutorTest.test_saturation
#[test]
fn a_saturated_pool_runs_exactly_max_workers_threads() {
    let prefix = unique_prefix("sat");
    let pool = ThreadPool::builder()
        .max_workers(4)
        .thread_name(&*prefix)
        .build()
        .unwrap();
    let gate = Gate::new();
    let (started_tx, started_rx) = mpsc::channel();
    let handles: Vec<_> = (0..60)
        .map(|_| {
            let (w, tx) = (gate.waiter(), started_tx.clone());
            pool.submit(move || {
                tx.send(()).unwrap();
                w.wait();
            })
            .unwrap()
        })
        .collect();
    for _ in 0..4 {
        started_rx.recv_timeout(LONG).unwrap();
    }
    assert_eq!(pool.worker_count(), 4);
    #[cfg(target_os = "linux")]
    assert_eq!(common::threads_named(&prefix).len(), 4);
    assert!(started_rx.try_recv().is_err(), "only 4 tasks started");
    gate.open();
    for h in handles {
        h.join().unwrap();
    }
    pool.shutdown();
}

#[test]
fn never_more_than_max_workers_tasks_run_at_once() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    // The first three meet at a barrier: the limit is actually reached.
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..300)
        .map(|i| {
            let (running, most, barrier) = (running.clone(), most.clone(), barrier.clone());
            pool.submit(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if i < 3 {
                    barrier.wait();
                }
                thread::yield_now();
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert!(pool.worker_count() <= 3);
}

#[test]
fn idle_workers_retire_after_keep_alive() {
    let prefix = unique_prefix("keep");
    let pool = ThreadPool::builder()
        .max_workers(2)
        .thread_name(&*prefix)
        .keep_alive(Duration::from_millis(10))
        .build()
        .unwrap();
    assert_eq!(
        pool.submit(thread_name).unwrap().join().unwrap(),
        format!("{prefix}-0")
    );
    wait_until("the idle worker retires", || pool.worker_count() == 0);
    // And a new one starts on demand, with the next number.
    assert_eq!(
        pool.submit(thread_name).unwrap().join().unwrap(),
        format!("{prefix}-1")
    );
    #[cfg(target_os = "linux")]
    wait_until("the first worker has exited", || {
        common::thread_state(&format!("{prefix}-0")).is_none()
    });
}

#[test]
fn a_busy_worker_does_not_retire() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .keep_alive(Duration::from_millis(1))
        .build()
        .unwrap();
    let blocker = block_worker(&pool);
    // Far longer than keep_alive: the subject of this test is that timeout.
    thread::sleep(Duration::from_millis(20));
    assert_eq!(pool.worker_count(), 1);
    blocker.release().join().unwrap();
}

// CPython: test_shutdown.ThreadPoolShutdownTest.test_thread_names_assigned
// (CPython: `prefix_N`; here `prefix-N`).
#[test]
fn threads_are_named_prefix_n() {
    let prefix = unique_prefix("name");
    let pool = ThreadPool::builder()
        .max_workers(5)
        .thread_name(&*prefix)
        .build()
        .unwrap();
    let gate = Gate::new();
    let barrier = Arc::new(Barrier::new(5));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let (w, b) = (gate.waiter(), barrier.clone());
            pool.submit(move || {
                b.wait(); // all five run at once: five distinct workers
                w.wait();
                thread_name()
            })
            .unwrap()
        })
        .collect();
    gate.open();
    let names: BTreeSet<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let expected: BTreeSet<String> = (0..5).map(|i| format!("{prefix}-{i}")).collect();
    assert_eq!(names, expected);
}

// CPython: test_shutdown.ThreadPoolShutdownTest.test_thread_names_default.
// Deliberate difference: the default is `futurepool-N`, with no per-pool
// number, so two default pools have workers of the same name.
#[test]
fn the_default_thread_name_is_futurepool_n() {
    let pool = ThreadPool::new();
    assert_eq!(
        pool.submit(thread_name).unwrap().join().unwrap(),
        "futurepool-0"
    );
}

#[test]
fn stack_size_is_applied() {
    // 8 MiB of stack frames: far more than a default 2 MiB thread stack,
    // which would overflow and abort the test binary.
    fn deep(n: usize) -> usize {
        let frame = std::hint::black_box([0u8; 64 * 1024]);
        if n == 0 {
            frame[0] as usize
        } else {
            std::hint::black_box(deep(n - 1)) + frame[n % frame.len()] as usize + 1
        }
    }
    let pool = ThreadPool::builder().stack_size(64 << 20).build().unwrap();
    assert_eq!(pool.submit(|| deep(128)).unwrap().join().unwrap(), 128);
}

// CPython: test_init.InitializerMixin.test_initializer: the initializer
// runs in each worker before its first task.
#[test]
fn the_initializer_runs_once_in_each_worker_first() {
    thread_local!(static STATUS: Cell<&'static str> = const { Cell::new("uninitialized") });
    let inits = Arc::new(AtomicUsize::new(0));
    let i = inits.clone();
    let pool = ThreadPool::builder()
        .max_workers(2)
        .initializer(move || {
            i.fetch_add(1, Ordering::SeqCst);
            STATUS.set("initialized");
            Ok::<(), std::io::Error>(())
        })
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..10)
        .map(|n| {
            let b = barrier.clone();
            pool.submit(move || {
                if n < 2 {
                    b.wait(); // both workers start
                }
                STATUS.get()
            })
            .unwrap()
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), "initialized");
    }
    assert_eq!(inits.load(Ordering::SeqCst), 2);
}

#[derive(Debug)]
struct InitError;

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error in initializer")
    }
}

impl Error for InitError {}

// CPython: test_init.FailingInitializerMixin.test_initializer: a failing
// initializer breaks the pool; queued tasks fail with it and later submits
// are refused (with the closure back, here).
#[test]
fn a_failing_initializer_breaks_the_pool() {
    let pool = ThreadPool::builder()
        .max_workers(2)
        .initializer(|| Err(InitError))
        .build()
        .unwrap();
    let handles: Vec<_> = (0..5).filter_map(|i| pool.submit(move || i).ok()).collect();
    assert!(
        !handles.is_empty(),
        "the first submit comes before any worker"
    );
    for h in handles {
        let err = h.join().unwrap_err();
        assert!(err.is_broken() && !err.is_panic());
        // The cause is the source, not repeated in the message.
        assert_eq!(err.to_string(), "pool is broken: worker initializer failed");
        let source = err.source().expect("the initializer's error");
        assert!(source.downcast_ref::<InitError>().is_some());
    }
    for _ in 0..3 {
        let err = pool.submit(|| "mine").unwrap_err();
        assert!(err.is_broken());
        assert!(err.source().unwrap().downcast_ref::<InitError>().is_some());
        assert_eq!(err.into_inner()(), "mine");
    }
    let err = pool.try_submit(|| 1).unwrap_err();
    assert!(err.is_broken());
}

#[test]
fn a_pool_broken_later_lets_running_tasks_finish() {
    // The first worker's initializer succeeds, the second's fails.
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let pool = ThreadPool::builder()
        .max_workers(2)
        .initializer(move || match c.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(()),
            _ => Err("second worker"),
        })
        .build()
        .unwrap();
    let running = common::block_worker_with(&pool, "ran");
    // This starts the second worker, which breaks the pool.
    let queued = pool.submit(|| "never").unwrap();
    let err = queued.join().unwrap_err();
    assert!(err.is_broken());
    assert!(pool.submit(|| "no").unwrap_err().is_broken());
    assert_eq!(running.release().join().unwrap(), "ran");
}

#[test]
fn a_panicking_initializer_breaks_the_pool() {
    let pool = ThreadPool::builder()
        .initializer(|| -> Result<(), InitError> { panic!("init blew up") })
        .build()
        .unwrap();
    let err = pool.submit(|| 1).unwrap().join().unwrap_err();
    assert!(err.is_broken());
    assert_eq!(
        err.source().unwrap().to_string(),
        "initializer panicked: init blew up"
    );
    drop(pool); // no hang
}

#[test]
fn try_submit_refuses_when_the_bounded_queue_is_full() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .bounded(2)
        .build()
        .unwrap();
    let blocker = block_worker(&pool);
    let a = pool.submit(|| 1).unwrap();
    let b = pool.try_submit(|| 2).unwrap();
    let err = pool.try_submit(|| 3).unwrap_err();
    assert!(err.is_full() && !err.is_shutdown());
    assert_eq!(err.to_string(), "pool queue is full");
    assert_eq!(err.into_inner()(), 3);
    assert_eq!(pool.queued(), 2);
    blocker.release().join().unwrap();
    assert_eq!(a.join().unwrap() + b.join().unwrap(), 3);
}

#[test]
fn submit_waits_for_room_in_a_bounded_queue() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .bounded(1)
        .build()
        .unwrap();
    let blocker = block_worker(&pool);
    let first = pool.submit(|| 1).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        // Owned in here, so a failing assertion opens its gate and lets the
        // submitter finish: the scope joins it before propagating the panic.
        let blocker = blocker;
        let submitter = thread::Builder::new()
            .name("fp-bounded-sub".into())
            .spawn_scoped(s, || {
                let h = pool.submit(|| 2).unwrap();
                tx.send(()).unwrap();
                h
            })
            .unwrap();
        // The submitter blocks, asleep (not spinning), while the queue is
        // full.
        #[cfg(target_os = "linux")]
        wait_until("the submitter sleeps, waiting for room", || {
            common::thread_state("fp-bounded-sub") == Some('S')
        });
        assert!(
            rx.try_recv().is_err(),
            "submit returned with the queue full"
        );
        assert_eq!(pool.queued(), 1);
        blocker.gate.open();
        let second = submitter.join().unwrap();
        assert_eq!(second.join().unwrap(), 2);
    });
    assert_eq!(first.join().unwrap(), 1);
}

#[test]
fn a_submit_waiting_for_room_is_refused_by_shutdown() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .bounded(1)
        .build()
        .unwrap();
    let blocker = block_worker(&pool);
    let queued = pool.submit(|| ()).unwrap();
    thread::scope(|s| {
        let _blocker = &blocker;
        // On failure, a shutdown refuses the waiting submit, so the scope
        // can join it before propagating the panic.
        struct ShutdownOnDrop<'a>(&'a ThreadPool);
        impl Drop for ShutdownOnDrop<'_> {
            fn drop(&mut self) {
                self.0
                    .shutdown_with(futurepool::ShutdownOptions::new().wait(false));
            }
        }
        let _guard = ShutdownOnDrop(&pool);
        let submitter = thread::Builder::new()
            .name("fp-bounded-sd".into())
            .spawn_scoped(s, || pool.submit(|| 5).map(|_| ()).unwrap_err())
            .unwrap();
        #[cfg(target_os = "linux")]
        wait_until("the submitter waits for room", || {
            common::thread_state("fp-bounded-sd") == Some('S')
        });
        pool.shutdown_with(futurepool::ShutdownOptions::new().wait(false));
        let err = submitter.join().unwrap();
        assert!(err.is_shutdown());
        assert_eq!(err.into_inner()(), 5);
    });
    drop(blocker);
    queued.join().unwrap();
}

#[test]
fn many_submitters_through_a_small_bounded_queue() {
    let pool = ThreadPool::builder()
        .max_workers(2)
        .bounded(3)
        .build()
        .unwrap();
    let total: usize = thread::scope(|s| {
        let ts: Vec<_> = (0..4)
            .map(|t| {
                let pool = &pool;
                s.spawn(move || {
                    let hs: Vec<_> = (0..100)
                        .map(|i| pool.submit(move || t * 100 + i).unwrap())
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
                })
            })
            .collect();
        ts.into_iter().map(|t| t.join().unwrap()).sum()
    });
    assert_eq!(total, (0..400).sum::<usize>());
}

// A thread that can't be started is a value: the submit is refused with the
// closure, never a panic or a task lost in the queue.
#[test]
fn failing_to_start_a_thread_refuses_the_submit() {
    // No system can map a stack this large.
    let pool = ThreadPool::builder().stack_size(1 << 60).build().unwrap();
    let err = pool.submit(|| "kept").unwrap_err();
    assert!(err.is_spawn_failure(), "{err}");
    assert_eq!(err.to_string(), "failed to start a worker thread");
    assert!(
        err.source()
            .unwrap()
            .downcast_ref::<std::io::Error>()
            .is_some()
    );
    assert_eq!(err.into_inner()(), "kept");
    assert_eq!(pool.worker_count(), 0);
    assert_eq!(pool.queued(), 0);
    // A map reports the same as its item.
    let item = pool.map(|x: u8| x, [1]).next().unwrap().unwrap_err();
    assert!(
        item.to_string()
            .starts_with("failed to start a worker thread")
    );
    assert!(item.source().is_some());
}
