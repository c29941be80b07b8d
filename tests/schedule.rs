//! Tasks on a clock (issue 14): a task that starts later, and periodic
//! series at a fixed rate or with a fixed delay, all driven by the pool's
//! one timer thread.
//!
//! Times are asserted as lower bounds only (never "within so many ms": the
//! machine is busy); "never runs" is checked against a sentinel task due
//! later on the same timer, which the timer fires in order.

#![allow(missing_docs)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{Gate, LONG};
use futurepool::{JoinTimeoutError, ShutdownOptions, TaskError, TaskHandle, ThreadPool};

const P: Duration = Duration::from_millis(30);

/// Sends on drop: tells the test where and when a closure was dropped.
struct DropFlag(mpsc::Sender<()>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// How a series (or task) ended, waiting at most [`LONG`].
fn ended<T: std::fmt::Debug>(h: TaskHandle<T>) -> TaskError {
    match h.join_timeout(LONG) {
        Err(JoinTimeoutError::Failed(err)) => err,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Waits until the pool's timer has passed `after`: a task due then has
/// run, so every task due before it was handed to the pool first.
fn timer_passes(pool: &ThreadPool, after: Duration) {
    let sentinel = pool.task().start_after(after).submit(|| ()).unwrap();
    sentinel.join_timeout(LONG).unwrap();
}

#[test]
fn a_delayed_task_does_not_run_before_its_time_nor_hold_a_worker() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .bounded(1)
        .build()
        .unwrap();
    let submitted = Instant::now();
    let (tx, rx) = mpsc::channel();
    let h = pool
        .task()
        .start_after(P * 3)
        .submit(move || tx.send(Instant::now()).unwrap())
        .unwrap();
    // Pending meanwhile: not running, no queue slot, no worker.
    assert!(!h.is_running() && !h.is_done());
    assert_eq!(pool.queued(), 0);
    assert_eq!(pool.worker_count(), 0);
    // The queue's one slot is free for others meanwhile.
    assert_eq!(pool.try_submit(|| 5).unwrap().join().unwrap(), 5);
    let ran = rx.recv_timeout(LONG).unwrap();
    assert!(ran >= submitted + P * 3);
    h.join_timeout(LONG).unwrap();
}

#[test]
fn start_at_queues_the_task_at_that_instant() {
    let pool = ThreadPool::new();
    let at = Instant::now() + P * 2;
    let h = pool.task().start_at(at).submit(Instant::now).unwrap();
    assert!(h.join_timeout(LONG).unwrap() >= at);
    // A time already passed: at once.
    let past = pool.task().start_at(Instant::now()).submit(|| 1).unwrap();
    assert_eq!(past.join_timeout(LONG).unwrap(), 1);
}

#[test]
fn a_delayed_task_cancelled_before_its_time_never_runs() {
    let pool = ThreadPool::new();
    let (ran_tx, ran_rx) = mpsc::channel::<()>();
    let (drop_tx, drop_rx) = mpsc::channel();
    let flag = DropFlag(drop_tx);
    let h = pool
        .task()
        .start_after(P * 2)
        .submit(move || {
            let _flag = &flag;
            ran_tx.send(()).unwrap();
        })
        .unwrap();
    assert!(h.cancel());
    // Dropped by the cancel, on this thread.
    drop_rx
        .try_recv()
        .expect("the closure is dropped at the cancel");
    assert!(h.join().unwrap_err().is_cancelled());
    timer_passes(&pool, P * 4);
    assert!(ran_rx.try_recv().is_err(), "it never ran");
}

#[test]
fn a_delayed_task_keeps_its_deadline_from_the_submit_and_its_time_limit_from_its_start() {
    let pool = ThreadPool::new();
    // The deadline passes before the start: it ends, unrun.
    let (tx, rx) = mpsc::channel::<()>();
    let late = pool
        .task()
        .start_after(P * 3)
        .timeout(P)
        .submit(move || tx.send(()).unwrap())
        .unwrap();
    let err = ended(late);
    assert!(err.is_timeout(), "{err}");
    timer_passes(&pool, P * 4);
    assert!(rx.try_recv().is_err());
    // A time limit shorter than the delay: it counts from the start.
    let ok = pool
        .task()
        .start_after(P * 2)
        .time_limit(P)
        .submit(|| 7)
        .unwrap();
    assert_eq!(ok.join_timeout(LONG).unwrap(), 7);
}

#[test]
fn a_waiting_worker_does_not_run_a_delayed_task_early() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let inner = pool.clone();
    let outer = pool
        .submit(move || {
            let submitted = Instant::now();
            let later = inner
                .task()
                .start_after(P * 2)
                .submit(Instant::now)
                .unwrap();
            later.join().unwrap() >= submitted + P * 2
        })
        .unwrap();
    assert!(outer.join_timeout(LONG).unwrap());
}

/// A series whose runs record when they start and end.
fn recording(
    pool: &ThreadPool,
    period: Duration,
    fixed_delay: bool,
    first_run_takes: Duration,
) -> (TaskHandle<()>, mpsc::Receiver<(Instant, Instant)>) {
    let (tx, rx) = mpsc::channel();
    let mut n = 0;
    let every = pool.task().every(period);
    let every = if fixed_delay {
        every.fixed_delay()
    } else {
        every
    };
    let h = every
        .submit(move || {
            let start = Instant::now();
            if n == 0 {
                std::thread::sleep(first_run_takes);
            }
            n += 1;
            let _ = tx.send((start, Instant::now()));
        })
        .unwrap();
    (h, rx)
}

#[test]
fn fixed_rate_runs_once_per_period_from_the_first() {
    let pool = ThreadPool::new();
    let submitted = Instant::now();
    let (h, rx) = recording(&pool, P, false, Duration::ZERO);
    let runs: Vec<_> = rx.iter().take(5).collect();
    assert!(h.cancel());
    for (k, (start, _)) in runs.iter().enumerate() {
        assert!(*start >= submitted + P * k as u32, "run {k} early");
    }
    for pair in runs.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "runs overlap");
    }
    assert!(h.join().unwrap_err().is_cancelled());
}

#[test]
fn an_overrun_skips_the_missed_ticks_instead_of_piling_them_up() {
    let pool = ThreadPool::new();
    let submitted = Instant::now();
    // The first run takes 3 1/3 periods: ticks 1, 2, 3 are missed.
    let (h, rx) = recording(&pool, P, false, P * 10 / 3);
    let runs: Vec<_> = rx.iter().take(4).collect();
    h.cancel();
    for pair in runs.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "runs overlap");
    }
    // Run i (i >= 1) is due at tick 3 + i: no burst of catch-up runs.
    for (i, (start, _)) in runs.iter().enumerate().skip(1) {
        assert!(
            *start >= submitted + P * (3 + i as u32),
            "run {i} came early: a missed tick was run"
        );
    }
}

#[test]
fn fixed_delay_waits_the_period_after_each_run_ends() {
    let pool = ThreadPool::new();
    let (h, rx) = recording(&pool, P, true, P);
    let runs: Vec<_> = rx.iter().take(4).collect();
    h.cancel();
    for pair in runs.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1 + P,
            "less than the delay between runs"
        );
    }
}

#[test]
fn a_run_that_panics_ends_the_series_and_its_handle_reports_it() {
    let pool = ThreadPool::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let h = pool
        .task()
        .name("flaky")
        .every(Duration::from_millis(5))
        .submit(move || {
            if c.fetch_add(1, Ordering::SeqCst) == 2 {
                panic!("third time");
            }
        })
        .unwrap();
    let err = ended(h);
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("third time"));
    assert_eq!(err.to_string(), "task `flaky` panicked: third time");
    timer_passes(&pool, Duration::from_millis(50));
    assert_eq!(count.load(Ordering::SeqCst), 3, "no run after the panic");
}

#[test]
fn a_run_over_its_time_limit_ends_the_series_as_timed_out() {
    let pool = ThreadPool::new();
    let h = pool
        .task()
        .time_limit(P)
        .every(P)
        .submit_cancellable(|token| {
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
        })
        .unwrap();
    assert!(ended(h).is_timeout());
}

#[test]
fn a_deadline_ends_the_series_as_timed_out() {
    let pool = ThreadPool::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let h = pool
        .task()
        .timeout(P * 3)
        .every(Duration::from_millis(5))
        .submit(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert!(ended(h).is_timeout());
    assert!(count.load(Ordering::SeqCst) >= 1);
}

/// A series whose deadline has already passed at the submit ends timed
/// out without a run, as a task would; its first run, due at once, raced
/// the timer's expiry of the series and sometimes won.
#[test]
fn a_series_past_its_deadline_at_the_submit_never_runs() {
    for _ in 0..50 {
        let pool = ThreadPool::new(); // a new timer each time, as it starts
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let h = pool
            .task()
            .timeout(Duration::ZERO)
            .every(Duration::from_millis(1))
            .submit(move || {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        assert!(ended(h).is_timeout());
        timer_passes(&pool, Duration::from_millis(5));
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn cancel_mid_series_lets_the_run_in_progress_finish_and_starts_no_other() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (started_tx, started_rx) = mpsc::channel();
    let mut n = 0;
    let h = pool
        .task()
        .every(Duration::from_millis(2))
        .submit(move || {
            n += 1;
            started_tx.send(n).unwrap();
            if n == 2 {
                waiter.wait(); // the test cancels while this run is in progress
            }
        })
        .unwrap();
    assert_eq!(started_rx.recv_timeout(LONG).unwrap(), 1);
    assert_eq!(started_rx.recv_timeout(LONG).unwrap(), 2);
    assert!(h.cancel());
    assert!(h.is_done());
    gate.open();
    timer_passes(&pool, Duration::from_millis(30));
    pool.shutdown();
    assert!(
        started_rx.try_recv().is_err(),
        "a run started after the cancel"
    );
    assert!(h.join().unwrap_err().is_cancelled());
}

#[test]
fn a_run_queued_when_cancel_returns_never_starts() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = common::block_worker(&pool);
    let (tx, rx) = mpsc::channel::<()>();
    let h = pool
        .task()
        .every(P)
        .submit(move || tx.send(()).unwrap())
        .unwrap();
    // The first run is queued behind the blocked worker.
    common::wait_until("the run is queued", || pool.queued() == 1);
    assert!(h.cancel());
    blocker.release().join_timeout(LONG).unwrap();
    timer_passes(&pool, P * 3);
    pool.shutdown();
    assert!(
        rx.try_recv().is_err(),
        "the queued run ran after the cancel"
    );
}

#[test]
fn cancel_signals_the_token_of_the_run_in_progress() {
    let pool = ThreadPool::new();
    let (tx, rx) = mpsc::channel();
    let h = pool
        .task()
        .every(P)
        .submit_cancellable(move |token| {
            tx.send(()).unwrap();
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
        })
        .unwrap();
    rx.recv_timeout(LONG).unwrap();
    assert!(h.cancel());
    assert!(pool.shutdown_with(ShutdownOptions::new().timeout(LONG)));
    assert!(rx.try_recv().is_err());
}

#[test]
fn shutdown_ends_pending_schedules_as_cancelled_and_does_not_wait_for_them() {
    let pool = ThreadPool::new();
    let hour = Duration::from_secs(3600);
    let (ran_tx, ran_rx) = mpsc::channel::<()>();
    let (drop_tx, drop_rx) = mpsc::channel();
    let flag = DropFlag(drop_tx.clone());
    let tx = ran_tx.clone();
    let delayed = pool
        .task()
        .start_after(hour)
        .submit(move || {
            let _flag = &flag;
            tx.send(()).unwrap();
        })
        .unwrap();
    let flag = DropFlag(drop_tx);
    let slow = pool
        .task()
        .every(hour)
        .start_after(hour)
        .submit(move || {
            let _flag = &flag;
            ran_tx.send(()).unwrap();
        })
        .unwrap();
    let (called_tx, called_rx) = mpsc::channel();
    slow.add_done_callback(move |outcome| {
        called_tx.send(outcome.unwrap_err().is_cancelled()).unwrap();
    });
    let (tick_tx, tick_rx) = mpsc::channel();
    let fast = pool
        .task()
        .every(Duration::from_millis(2))
        .submit(move || {
            let _ = tick_tx.send(());
        })
        .unwrap();
    tick_rx.recv_timeout(LONG).unwrap();
    let began = Instant::now();
    assert!(pool.shutdown());
    assert!(began.elapsed() < hour); // it didn't wait for the next tick
    // Held by the timer: ended when it closed, before shutdown returned.
    for h in [&delayed, &slow] {
        assert!(h.is_done(), "done when shutdown returns");
        assert!(h.is_cancelled());
    }
    assert_eq!(
        called_rx.try_recv(),
        Ok(true),
        "its callback ran before shutdown returned"
    );
    // Maybe being queued at that moment: ended as the pool refused it.
    assert!(ended(fast).is_cancelled());
    assert!(ran_rx.try_recv().is_err());
    // Both closures were dropped (by the shutdown, or the callback runner).
    drop_rx.recv_timeout(LONG).unwrap();
    drop_rx.recv_timeout(LONG).unwrap();
    // Later schedules are refused, the closure handed back.
    let err = pool.task().every(hour).submit(|| ()).unwrap_err();
    assert!(err.is_shutdown());
    assert!(
        pool.task()
            .start_after(hour)
            .submit(|| ())
            .unwrap_err()
            .is_shutdown()
    );
}

#[test]
fn a_full_bounded_queue_delays_a_run_and_does_not_end_the_series() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .bounded(1)
        .build()
        .unwrap();
    let blocker = common::block_worker(&pool);
    let filler = pool.submit(|| ()).unwrap(); // the one slot
    let (tx, rx) = mpsc::channel();
    let series = pool
        .task()
        .every(Duration::from_millis(2))
        .submit(move || {
            let _ = tx.send(());
        })
        .unwrap();
    // Give the first run time to meet the full queue. This sleep can't make
    // the test fail when the pool is right; it only makes it likelier that
    // a pool that ended the series on a full queue is caught.
    std::thread::sleep(Duration::from_millis(30));
    assert!(!series.is_done(), "a full queue doesn't end the series");
    assert!(rx.try_recv().is_err());
    blocker.release().join_timeout(LONG).unwrap();
    filler.join_timeout(LONG).unwrap();
    rx.recv_timeout(LONG).unwrap(); // the run waited for room
    rx.recv_timeout(LONG).unwrap(); // and the series goes on
    assert!(series.cancel());
}

#[test]
fn dropping_the_pool_ends_its_series() {
    let pool = ThreadPool::new();
    let (tx, rx) = mpsc::channel();
    let h = pool
        .task()
        .every(Duration::from_millis(2))
        .submit(move || {
            let _ = tx.send(());
        })
        .unwrap();
    rx.recv_timeout(LONG).unwrap();
    drop(pool); // the last handle: a shutdown without waiting
    assert!(ended(h).is_cancelled());
}

#[test]
fn a_series_whose_handle_is_dropped_keeps_running_until_shutdown() {
    let pool = ThreadPool::new();
    let (tx, rx) = mpsc::channel();
    let (drop_tx, drop_rx) = mpsc::channel();
    let flag = DropFlag(drop_tx);
    let h = pool
        .task()
        .every(Duration::from_millis(2))
        .submit(move || {
            let _flag = &flag;
            let _ = tx.send(());
        })
        .unwrap();
    drop(h);
    for _ in 0..3 {
        rx.recv_timeout(LONG).unwrap();
    }
    assert!(drop_rx.try_recv().is_err(), "still alive");
    pool.shutdown();
    drop_rx.recv_timeout(LONG).unwrap();
}

#[test]
fn a_cancelled_series_leaves_the_timer_and_drops_its_closure_at_once() {
    let pool = ThreadPool::new();
    let (drop_tx, drop_rx) = mpsc::channel();
    let flag = DropFlag(drop_tx);
    let h = pool
        .task()
        .every(Duration::from_secs(3600))
        .start_after(Duration::from_secs(3600))
        .submit(move || {
            let _flag = &flag;
        })
        .unwrap();
    assert!(h.cancel());
    // Not an hour from now: on the callback runner, just after.
    drop_rx.recv_timeout(LONG).expect("the closure is dropped");
    // The same for a series whose deadline passes.
    let (drop_tx, drop_rx) = mpsc::channel();
    let flag = DropFlag(drop_tx);
    let h = pool
        .task()
        .timeout(P)
        .every(Duration::from_secs(3600))
        .start_after(Duration::from_secs(3600))
        .submit(move || {
            let _flag = &flag;
        })
        .unwrap();
    assert!(ended(h).is_timeout());
    drop_rx.recv_timeout(LONG).expect("the closure is dropped");
}

#[test]
fn a_zero_period_is_refused_and_the_closure_handed_back() {
    let pool = ThreadPool::new();
    let (tx, rx) = mpsc::channel();
    let err = pool
        .task()
        .every(Duration::ZERO)
        .submit(move || tx.send(9).unwrap())
        .unwrap_err();
    assert!(err.is_zero_period());
    (err.into_inner())();
    assert_eq!(rx.try_recv(), Ok(9));
}

#[test]
fn the_series_closure_keeps_its_state_between_runs() {
    let pool = ThreadPool::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let (tx, rx) = mpsc::channel();
    let mut n = 0u32;
    let h = pool
        .task()
        .every(Duration::from_millis(2))
        .submit(move || {
            n += 1;
            s.lock().unwrap().push(n);
            if n == 4 {
                tx.send(()).unwrap();
            }
        })
        .unwrap();
    rx.recv_timeout(LONG).unwrap();
    h.cancel();
    pool.shutdown();
    assert_eq!(seen.lock().unwrap()[..4], [1, 2, 3, 4]);
}

/// Many schedules, one timer thread: the pool's, named `<prefix>-timer`.
#[cfg(target_os = "linux")]
#[test]
fn many_schedules_share_the_pools_one_timer_thread() {
    let prefix = common::unique_prefix("sched");
    let pool = ThreadPool::builder()
        .thread_name(prefix.clone())
        .max_workers(2)
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let series: Vec<_> = (0..50)
        .map(|i| {
            let tx = tx.clone();
            pool.task()
                .every(Duration::from_millis(10 + i))
                .submit(move || {
                    let _ = tx.send(i);
                })
                .unwrap()
        })
        .collect();
    let delayed: Vec<_> = (0..50)
        .map(|_| {
            pool.task()
                .start_after(Duration::from_secs(3600))
                .submit(|| ())
                .unwrap()
        })
        .collect();
    for _ in 0..200 {
        rx.recv_timeout(LONG).unwrap();
    }
    assert_eq!(common::threads_named_exactly(&format!("{prefix}-timer")), 1);
    assert!(pool.worker_count() <= 2);
    pool.shutdown();
    assert!(delayed.iter().all(TaskHandle::is_cancelled));
    for h in series {
        assert!(ended(h).is_cancelled());
    }
}

#[cfg(feature = "remote")]
mod named {
    use super::*;
    use futurepool::{Executor, remote};

    fn fails(limit: u32) {
        assert!(limit > 0, "no limit");
    }

    fn generic_series<E: Executor>(executor: &E) -> futurepool::TaskError {
        executor
            .task()
            .every(Duration::from_millis(5))
            .submit_fn(remote!(fails), 0)
            .unwrap()
            .join()
            .unwrap_err()
    }

    #[test]
    fn a_named_function_series_on_a_thread_pool() {
        let err = generic_series(&ThreadPool::new());
        assert_eq!(err.panic_message(), Some("no limit"));
    }

    #[test]
    fn a_delayed_named_function_on_a_thread_pool() {
        let pool = ThreadPool::new();
        let submitted = Instant::now();
        let h = pool
            .task()
            .start_after(P)
            .submit_fn(remote!(|x: u32| x + 1), 1)
            .unwrap();
        assert_eq!(h.join_timeout(LONG).unwrap(), 2);
        assert!(submitted.elapsed() >= P);
    }
}

/// Shutdowns racing series and delayed tasks at every stage (due, being
/// queued, running, going back to the timer): every handle ends, and every
/// shutdown returns.
#[test]
fn shutdown_racing_many_schedules_ends_every_handle() {
    for round in 0..40u32 {
        let pool = ThreadPool::builder().max_workers(2).build().unwrap();
        let (tx, rx) = mpsc::channel();
        let mut handles: Vec<TaskHandle<()>> = (0..8)
            .map(|i| {
                let tx = tx.clone();
                let every = pool.task().every(Duration::from_micros(200 + 100 * i));
                let every = if i % 2 == 0 {
                    every.fixed_delay()
                } else {
                    every
                };
                every
                    .submit(move || {
                        let _ = tx.send(());
                    })
                    .unwrap()
            })
            .collect();
        handles.extend((0..8).map(|i| {
            pool.task()
                .start_after(Duration::from_micros(300 * i))
                .submit(|| ())
                .unwrap()
        }));
        for _ in 0..(round % 5) * 4 {
            rx.recv_timeout(LONG).unwrap();
        }
        if round % 3 == 0 {
            drop(pool); // without waiting
        } else {
            assert!(pool.shutdown());
        }
        for h in handles {
            // A delayed task may have run before the shutdown; a series
            // can only have been cancelled.
            match h.join_timeout(LONG) {
                Ok(()) => {}
                Err(JoinTimeoutError::Failed(err)) => assert!(err.is_cancelled(), "{err}"),
                Err(JoinTimeoutError::Timeout(h)) => panic!("{h:?} never ended"),
            }
        }
    }
}
