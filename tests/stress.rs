//! Stress: a thread pool fed by several submitter threads with a random mix
//! of instant, slow and panicking tasks, tasks cancelled while queued and
//! while running, tasks timed out (by a deadline from the submit, a passed
//! one, or a limit on their running time), handles joined, awaited and
//! dropped. Every task has a done-callback that records its outcome in a
//! slot of its own: each outcome is seen exactly once, the one the handle
//! returns is the one the callback saw, the totals add up, and after the
//! shutdown the process has the threads and fds it had before.
//!
//! The run is bounded (CI: 50,000 tasks; `FUTUREPOOL_STRESS_SCALE=10` from
//! `scripts/stress.sh`: 500,000), and a watchdog fails it rather than let
//! it hang. It runs alone, in a child copy of this test binary, so that the
//! thread and fd counts are this run's.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

mod common {
    pub mod process;
    pub mod stress;
}

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::stress::{
    Rng, Seen, Tally, Watchdog, fd_count, limit, quiet_deliberate_panics, run_alone, scaled, seed,
    spin, thread_count, wait_counts_back,
};
use futurepool::{CancelToken, TaskHandle, ThreadPool};

const LONG: Duration = Duration::from_secs(30);

/// The kinds of task in the mix, with their weights.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Instant,
    Slow,
    Panic,
    CancelQueued,
    CancelRunning,
    Timeout,
    PassedDeadline,
    TimeLimit,
    Awaited,
    Dropped,
}

const KINDS: [(Kind, u32); 10] = [
    (Kind::Instant, 20),
    (Kind::Slow, 10),
    (Kind::Panic, 10),
    (Kind::CancelQueued, 10),
    (Kind::CancelRunning, 3),
    (Kind::Timeout, 7),
    (Kind::PassedDeadline, 3),
    (Kind::TimeLimit, 3),
    (Kind::Awaited, 14),
    (Kind::Dropped, 20),
];

/// Waits for the token, bounded: a task that only a cancel or a time limit
/// ends.
fn until_cancelled(token: &CancelToken) {
    let deadline = Instant::now() + LONG;
    while !token.is_cancelled() {
        assert!(Instant::now() < deadline, "never cancelled");
        std::thread::yield_now();
    }
}

/// What one submitter did: per outcome, how many it expects; and counts of
/// interest for the report.
#[derive(Default)]
struct Expect {
    outcomes: [usize; 7],
    cancelled_queued: usize,
    cancelled_running: usize,
    awaited: usize,
    joined: usize,
    dropped: usize,
}

/// A handle still to be observed: its task's index, what it must end as.
struct Pending {
    i: usize,
    handle: TaskHandle<usize>,
    expect: Seen,
    awaited: bool,
}

fn submitter(pool: &ThreadPool, tally: &Arc<Tally>, tasks: Vec<usize>, rng_seed: u64) -> Expect {
    let mut rng = Rng::new(rng_seed);
    let weights: Vec<u32> = KINDS.iter().map(|&(_, w)| w).collect();
    let mut ex = Expect::default();
    let mut pending: Vec<Pending> = Vec::new();
    for (n, i) in tasks.into_iter().enumerate() {
        let kind = KINDS[rng.pick(&weights)].0;
        let slow = Duration::from_micros(20 + rng.below(200));
        let handle: TaskHandle<usize> = match kind {
            Kind::Instant | Kind::Awaited | Kind::Dropped | Kind::CancelQueued => {
                pool.submit(move || i).unwrap()
            }
            Kind::Slow => pool
                .submit(move || {
                    spin(slow);
                    i
                })
                .unwrap(),
            Kind::Panic => pool
                .submit(move || -> usize { panic!("stress: task {i}") })
                .unwrap(),
            Kind::CancelRunning => {
                let (tx, rx) = mpsc::channel();
                let h = pool
                    .submit_cancellable(move |token| {
                        tx.send(()).unwrap();
                        until_cancelled(&token);
                        i
                    })
                    .unwrap();
                rx.recv_timeout(LONG).expect("the task never started");
                h
            }
            Kind::Timeout => pool
                .task()
                .timeout(Duration::from_micros(rng.below(2000)))
                .submit_cancellable(move |token| {
                    until_cancelled(&token);
                    i
                })
                .unwrap(),
            Kind::PassedDeadline => pool
                .task()
                .deadline(Instant::now())
                .submit(move || i)
                .unwrap(),
            Kind::TimeLimit => pool
                .task()
                .time_limit(Duration::from_micros(rng.below(1000)))
                .submit_cancellable(move |token| {
                    until_cancelled(&token);
                    i
                })
                .unwrap(),
        };
        let t = tally.clone();
        handle.add_done_callback(move |outcome| t.record(i, Seen::of(outcome)));
        let expect = match kind {
            Kind::Panic => Seen::Panic,
            Kind::Timeout | Kind::PassedDeadline | Kind::TimeLimit => Seen::Timeout,
            Kind::CancelRunning => {
                assert!(handle.cancel(), "a running task with a token cancels");
                ex.cancelled_running += 1;
                Seen::Cancelled
            }
            Kind::CancelQueued => {
                // Queued (cancelled) or already started (runs to its end).
                if handle.cancel() {
                    ex.cancelled_queued += 1;
                    Seen::Cancelled
                } else {
                    Seen::Ok
                }
            }
            _ => Seen::Ok,
        };
        ex.outcomes[expect as usize] += 1;
        if let Kind::Dropped = kind {
            ex.dropped += 1;
            drop(handle);
        } else {
            pending.push(Pending {
                i,
                handle,
                expect,
                awaited: matches!(kind, Kind::Awaited),
            });
        }
        // Observe in batches, in a random order, so that the queue is
        // sometimes long and sometimes empty.
        if n % 64 == 63 {
            observe(tally, &mut pending, &mut rng, &mut ex);
        }
    }
    observe(tally, &mut pending, &mut rng, &mut ex);
    ex
}

fn observe(tally: &Tally, pending: &mut Vec<Pending>, rng: &mut Rng, ex: &mut Expect) {
    while !pending.is_empty() {
        let p = pending.swap_remove(rng.below(pending.len() as u64) as usize);
        let (i, expect) = (p.i, p.expect);
        let outcome = if p.awaited {
            ex.awaited += 1;
            futures::executor::block_on(p.handle)
        } else {
            ex.joined += 1;
            match p.handle.join_timeout(LONG) {
                Ok(v) => Ok(v),
                Err(e) => Err(e
                    .into_task_error()
                    .unwrap_or_else(|| panic!("task {i} hung"))),
            }
        };
        let seen = Seen::of(outcome.as_ref());
        assert_eq!(seen, expect, "task {i}: {outcome:?}");
        if let Ok(v) = outcome {
            assert_eq!(v, i);
        }
        // Callbacks have run once the handle returned its outcome.
        assert_eq!(
            tally.get(i),
            Some(seen),
            "task {i}: callback and handle differ"
        );
    }
}

#[test]
fn thread_pool_mixed_load() {
    if run_alone("thread_pool_mixed_load") {
        return;
    }
    quiet_deliberate_panics();
    let seed = seed();
    let tasks = scaled(50_000);
    let submitters = 4;
    let dog = Watchdog::new("thread_pool_mixed_load", limit(120));
    let (threads_before, fds_before) = (thread_count(), fd_count());
    let start = Instant::now();

    let pool = ThreadPool::builder()
        .max_workers(4)
        .thread_name("stress")
        .build()
        .unwrap();
    let tally = Tally::new(tasks);
    let shares: Vec<Vec<usize>> = (0..submitters)
        .map(|s| (s..tasks).step_by(submitters).collect())
        .collect();
    let expects: Vec<Expect> = std::thread::scope(|scope| {
        let threads: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(s, share)| {
                let (pool, tally) = (&pool, &tally);
                scope.spawn(move || submitter(pool, tally, share, seed + s as u64))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(pool.shutdown());
    tally.wait_calls(tasks, LONG);
    let counts = tally.check();
    let mut expected = [0; 7];
    let mut total = Expect::default();
    for ex in &expects {
        for (e, n) in expected.iter_mut().zip(ex.outcomes) {
            *e += n;
        }
        total.cancelled_queued += ex.cancelled_queued;
        total.cancelled_running += ex.cancelled_running;
        total.awaited += ex.awaited;
        total.joined += ex.joined;
        total.dropped += ex.dropped;
    }
    assert_eq!(counts, expected, "outcomes by callback vs by submitter");
    assert_eq!(counts.iter().sum::<usize>(), tasks);
    assert_eq!(total.awaited + total.joined + total.dropped, tasks);
    let ran = start.elapsed();
    drop(pool);
    let settle = wait_counts_back(threads_before, fds_before, LONG);
    drop(dog);
    println!(
        "stress: thread pool: {tasks} tasks from {submitters} submitters on 4 workers in {ran:.2?} \
         (seed {seed}): ok {}, panicked {}, cancelled {} ({} queued, {} running), timed out {}; \
         joined {}, awaited {}, dropped {}; every callback once; threads ({threads_before}) and \
         fds ({fds_before}) back {settle:.2?} after the shutdown",
        counts[Seen::Ok as usize],
        counts[Seen::Panic as usize],
        counts[Seen::Cancelled as usize],
        total.cancelled_queued,
        total.cancelled_running,
        counts[Seen::Timeout as usize],
        total.joined,
        total.awaited,
        total.dropped,
    );
}
