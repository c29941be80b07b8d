//! Shutdown and drop: queued work runs (or is cancelled when asked), new
//! work is refused and handed back, and no thread outlives the pool.

mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use common::{DropCounter, Gate, LONG, block_worker, block_worker_with, busy_pool, unique_prefix};
use futurepool::{ShutdownOptions, ThreadPool};

/// Counts live worker threads: the initializer puts a guard in a
/// thread-local, whose destructor runs when the thread exits.
struct LiveThreads(Arc<AtomicUsize>);

struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

thread_local! {
    static ALIVE: RefCell<Option<Alive>> = const { RefCell::new(None) };
}

impl LiveThreads {
    fn pool(max_workers: usize, prefix: &str) -> (ThreadPool, LiveThreads) {
        let live = Arc::new(AtomicUsize::new(0));
        let l = live.clone();
        let pool = ThreadPool::builder()
            .max_workers(max_workers)
            .thread_name(prefix)
            .initializer(move || {
                l.fetch_add(1, Ordering::SeqCst);
                ALIVE.with(|a| *a.borrow_mut() = Some(Alive(l.clone())));
                Ok::<(), std::io::Error>(())
            })
            .build()
            .unwrap();
        (pool, LiveThreads(live))
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// On Linux, also checks by name that no thread of the pool (workers or its
/// deadline timer) is left.
fn assert_no_threads_named(prefix: &str) {
    // A joined thread may linger in /proc for a moment after `join` returns
    // (the kernel wakes the joiner before it reaps the thread), so this waits
    // for it to vanish; a thread that never exits fails after `LONG`.
    #[cfg(target_os = "linux")]
    common::wait_until(&format!("no thread named {prefix}-* is left"), || {
        common::threads_named(prefix).is_empty()
    });
    let _ = prefix;
}

// CPython: test_shutdown.ExecutorShutdownTest.test_run_after_shutdown: the
// refused closure comes back.
#[test]
fn submit_after_shutdown_is_refused_with_the_closure() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    pool.shutdown();
    assert!(pool.is_shutdown());
    let err = pool.submit(|| 2_i32.pow(21)).unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.into_inner()(), 2_097_152);
}

// CPython: test_shutdown.ExecutorShutdownTest.test_interpreter_shutdown, the
// portable idea: a pool that goes out of scope still runs its pending work.
// Dropping the last handle doesn't wait (it never blocks): the work runs on
// after it, in order.
#[test]
fn dropping_the_pool_runs_pending_work() {
    let (tx, rx) = mpsc::channel();
    let gate = Gate::new();
    {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        for word in ["apple", "banana"] {
            let (tx, w) = (tx.clone(), gate.waiter());
            let _ = pool.submit(move || {
                w.wait(); // the work, held until the pool is gone
                tx.send(word).unwrap();
            });
        }
    }
    gate.open();
    let words: Vec<_> = (0..2).map(|_| rx.recv_timeout(LONG).unwrap()).collect();
    assert_eq!(words, ["apple", "banana"]);
}

// CPython: test_shutdown.ExecutorShutdownTest.test_hang_issue12364
#[test]
fn shutdown_waits_for_queued_tasks() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            pool.submit(move || {
                std::thread::sleep(Duration::from_millis(1)); // the work
                i
            })
            .unwrap()
        })
        .collect();
    pool.shutdown();
    assert_eq!(pool.worker_count(), 0);
    assert_eq!(pool.queued(), 0);
    for (i, h) in handles.into_iter().enumerate() {
        assert!(h.is_done());
        assert_eq!(h.join().unwrap(), i);
    }
}

// CPython: test_shutdown.ExecutorShutdownTest.test_cancel_futures. Made
// exact: every worker is held, so exactly the queued ones are cancelled.
#[test]
fn shutdown_can_cancel_the_queued_tasks() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let gate = Gate::new();
    let (started_tx, started_rx) = mpsc::channel();
    let drops = DropCounter::new();
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let (w, tx, guard) = (gate.waiter(), started_tx.clone(), drops.guard());
            pool.submit(move || {
                let _guard = guard;
                tx.send(()).unwrap();
                w.wait();
            })
            .unwrap()
        })
        .collect();
    for _ in 0..5 {
        started_rx.recv_timeout(LONG).unwrap();
    }
    pool.shutdown_with(ShutdownOptions::new().wait(false).cancel_pending(true));
    let cancelled = handles.iter().filter(|h| h.is_cancelled()).count();
    assert_eq!(cancelled, 45);
    assert_eq!(drops.count(), 45, "cancelled closures are dropped at once");
    gate.open();
    pool.shutdown();
    for h in handles {
        if !h.is_cancelled() {
            h.join().unwrap();
        }
    }
    assert!(started_rx.try_recv().is_err(), "no cancelled task started");
}

// CPython: test_shutdown.ExecutorShutdownTest.test_hang_gh83386 and
// ThreadPoolShutdownTest.test_shutdown_no_wait: without waiting, queued
// work still runs, and the workers then exit.
#[test]
fn shutdown_without_waiting_still_runs_queued_work() {
    let prefix = unique_prefix("nowt");
    let (pool, live) = LiveThreads::pool(3, &prefix);
    let gate = Gate::new();
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let w = gate.waiter();
            pool.submit(move || {
                w.wait();
                i * i
            })
            .unwrap()
        })
        .collect();
    // Returns at once although every task is held.
    pool.shutdown_with(ShutdownOptions::new().wait(false));
    assert!(pool.is_shutdown());
    assert!(handles.iter().all(|h| !h.is_done()));
    gate.open();
    let squares: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(squares, (0..10).map(|i| i * i).collect::<Vec<_>>());
    assert!(pool.shutdown(), "a later shutdown waits for them");
    assert_eq!(live.count(), 0);
    assert_no_threads_named(&prefix);
}

// CPython: test_shutdown.ExecutorShutdownTest.test_hang_gh94440: cancel the
// last queued task just before shutdown; shutdown must not hang.
#[test]
fn shutdown_after_cancelling_the_last_queued_task() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    pool.submit(|| ()).unwrap().join().unwrap(); // warm up
    let blocker = block_worker(&pool);
    let last = pool.submit(|| ()).unwrap();
    assert!(last.cancel());
    let gate = blocker.gate;
    let shutter = thread::spawn(move || {
        pool.shutdown();
        pool.worker_count()
    });
    gate.open();
    assert_eq!(shutter.join().unwrap(), 0);
    assert!(last.is_cancelled());
}

// CPython: test_shutdown.ThreadPoolShutdownTest.test_threads_terminate:
// workers start on demand, and all exit on shutdown.
#[test]
fn threads_start_on_demand_and_exit_on_shutdown() {
    let prefix = unique_prefix("term");
    let (pool, live) = LiveThreads::pool(5, &prefix);
    let blockers: Vec<_> = (0..3).map(|_| block_worker(&pool)).collect();
    assert_eq!(pool.worker_count(), 3);
    assert_eq!(live.count(), 3);
    #[cfg(target_os = "linux")]
    assert_eq!(common::threads_named(&prefix).len(), 3);
    for b in blockers {
        b.release().join().unwrap();
    }
    pool.shutdown();
    assert_eq!(pool.worker_count(), 0);
    assert_eq!(live.count(), 0, "every worker has exited");
    assert_no_threads_named(&prefix);
}

// CPython: test_shutdown.ThreadPoolShutdownTest.test_context_manager_shutdown:
// Python's `with` block is a pool and a `shutdown()` at its end.
#[test]
fn a_pool_in_a_scope_shuts_down_at_its_end() {
    let prefix = unique_prefix("scope");
    let live;
    {
        let (pool, l) = LiveThreads::pool(5, &prefix);
        live = l;
        let abs: Vec<i32> = pool
            .map(|x: i32| x.abs(), -5..5)
            .map(Result::unwrap)
            .collect();
        assert_eq!(abs, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
        assert!(pool.shutdown(), "every worker exited");
    }
    assert_eq!(live.count(), 0);
    assert_no_threads_named(&prefix);
}

// A pool dropped in a scope without `shutdown` stops by itself: its workers
// leave (without anyone waiting for them) once the queue is empty.
#[test]
fn a_pool_dropped_in_a_scope_stops_by_itself() {
    let prefix = unique_prefix("drop");
    let live;
    {
        let (pool, l) = LiveThreads::pool(5, &prefix);
        live = l;
        assert_eq!(pool.map(|x: i32| x.abs(), -5..5).count(), 10);
    }
    common::wait_until("every worker has exited", || live.count() == 0);
    assert_no_threads_named(&prefix);
}

// CPython: test_shutdown.ThreadPoolShutdownTest.test_del_shutdown: dropping
// the pool (no shutdown call) loses no submitted work and leaves no thread.
#[test]
fn dropping_the_pool_loses_no_work_and_leaves_no_thread() {
    let prefix = unique_prefix("del");
    let (pool, live) = LiveThreads::pool(5, &prefix);
    let handles: Vec<_> = (-5..5)
        .map(|x: i32| pool.submit(move || x.abs()).unwrap())
        .collect();
    drop(pool); // doesn't wait
    let abs: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(abs, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
    common::wait_until("every worker has exited", || live.count() == 0);
    assert_no_threads_named(&prefix);
}

// The map is lazy (see map.rs), so CPython's "map, then shut down without
// waiting: every result still arrives" holds only for what was submitted.
#[test]
fn a_map_started_before_shutdown_yields_what_it_submitted() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let mut it = pool.map(|x: i32| x.abs(), -5..5).max_in_flight(20);
    assert_eq!(it.next().unwrap().unwrap(), 5); // all ten submitted by now
    pool.shutdown_with(ShutdownOptions::new().wait(false));
    let rest: Vec<i32> = it.map(Result::unwrap).collect();
    assert_eq!(rest, [4, 3, 2, 1, 0, 1, 2, 3, 4]);
}

// CPython: test_shutdown.ThreadPoolShutdownTest.test_cancel_futures_wait_false:
// a task just submitted either ran or was cancelled; nothing goes wrong.
#[test]
fn cancel_pending_without_waiting_is_clean() {
    for _ in 0..20 {
        let pool = ThreadPool::new();
        let h = pool.submit(|| "apple").unwrap();
        pool.shutdown_with(ShutdownOptions::new().wait(false).cancel_pending(true));
        match h.join() {
            Ok(v) => assert_eq!(v, "apple"),
            Err(e) => assert!(e.is_cancelled()),
        }
    }
}

#[test]
fn shutting_down_twice_is_harmless() {
    let pool = ThreadPool::new();
    pool.submit(|| ()).unwrap().join().unwrap();
    pool.shutdown();
    pool.shutdown();
    pool.shutdown_with(ShutdownOptions::new().wait(false).cancel_pending(true));
    assert!(pool.is_shutdown());
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn shutdown_waits_for_running_tasks() {
    let pool = ThreadPool::new();
    let blocker = block_worker_with(&pool, "done");
    let gate = blocker.gate;
    let handle = blocker.handle;
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            pool.shutdown();
            tx.send(handle.is_done()).unwrap();
        });
        gate.open();
    });
    assert!(
        rx.recv().unwrap(),
        "the task ended before shutdown returned"
    );
    assert_eq!(handle.join().unwrap(), "done");
}

#[test]
fn a_task_of_the_pool_can_shut_it_down() {
    let pool = Arc::new(ThreadPool::builder().max_workers(2).build().unwrap());
    let p = pool.clone();
    let (pool2, blocker) = busy_pool();
    let later = pool2.submit(|| ()).unwrap();
    let handle = pool
        .submit(move || {
            // Does not wait for itself (that would never end).
            p.shutdown();
            // CPython: test_thread_pool.test_hang_global_shutdown_lock's side
            // behaviour: a task submitting to its shut-down pool is refused.
            p.submit(|| ()).unwrap_err().is_shutdown()
        })
        .unwrap();
    assert!(handle.join().unwrap());
    assert!(pool.is_shutdown());
    drop(blocker);
    later.join().unwrap();
}

#[test]
fn queued_tasks_with_deadlines_still_run_after_shutdown_without_cancel() {
    let (pool, blocker) = busy_pool();
    let h = pool
        .task()
        .timeout(Duration::from_secs(3600))
        .submit(|| 3)
        .unwrap();
    let gate = blocker.gate;
    let shutter = thread::scope(|s| {
        let t = s.spawn(|| pool.shutdown());
        gate.open();
        t.join()
    });
    shutter.unwrap();
    assert_eq!(h.join().unwrap(), 3);
}

#[test]
fn no_timer_thread_outlives_the_pool() {
    let prefix = unique_prefix("tmr");
    let pool = ThreadPool::builder().thread_name(&*prefix).build().unwrap();
    let h = pool
        .task()
        .timeout(Duration::from_secs(3600))
        .submit(|| 1)
        .unwrap();
    assert_eq!(h.join().unwrap(), 1);
    // The deadline started a timer thread (it names itself once running).
    #[cfg(target_os = "linux")]
    common::wait_until("the timer thread is seen", || {
        common::threads_named(&prefix)
            .iter()
            .any(|(name, _)| name.ends_with("-timer"))
    });
    drop(pool);
    assert_no_threads_named(&prefix);
}

#[test]
fn a_refused_timed_submit_starts_no_thread() {
    let prefix = unique_prefix("ref");
    let pool = ThreadPool::builder().thread_name(&*prefix).build().unwrap();
    pool.shutdown();
    let err = pool
        .task()
        .timeout(Duration::from_secs(3600))
        .submit(|| 1)
        .unwrap_err();
    assert!(err.is_shutdown());
    assert_no_threads_named(&prefix);
    // A thread started just now may not have named itself yet: it still has
    // this thread's name. Only this thread may have it.
    #[cfg(target_os = "linux")]
    {
        let me = thread::current().name().unwrap().to_owned();
        assert_eq!(
            common::threads_named_exactly(&me),
            1,
            "a new thread was started"
        );
    }
    assert_eq!(err.into_inner()(), 1);
}

/// A queued closure whose drop panics, cancelled by a shutdown (or by the
/// timer's close, for one that starts later): the drop's panic is caught,
/// as a handle's `cancel` catches it, and the shutdown cancels the rest of
/// the queue and returns. It used to unwind out of `shutdown_with`, leaving
/// the tasks queued behind it uncancelled.
#[test]
fn a_closure_whose_drop_panics_does_not_stop_a_shutdown_that_cancels_the_queue() {
    struct PanicsWhenDropped;
    impl Drop for PanicsWhenDropped {
        fn drop(&mut self) {
            panic!("a drop that panics");
        }
    }
    let (pool, blocker) = busy_pool();
    let bomb = PanicsWhenDropped;
    let first = pool.submit(move || drop(bomb)).unwrap();
    let second = pool.submit(|| 2).unwrap();
    let bomb = PanicsWhenDropped;
    let later = pool
        .task()
        .start_after(LONG)
        .submit(move || drop(bomb))
        .unwrap();
    let options = ShutdownOptions::new().cancel_pending(true).wait(false);
    pool.shutdown_with(options);
    assert!(first.is_cancelled());
    assert!(second.is_cancelled());
    blocker.release().join().unwrap();
    assert!(pool.shutdown()); // closes the timer: `later` is cancelled
    assert!(later.join().unwrap_err().is_cancelled());
}
