//! Shutdown races, round after round: `shutdown`, `shutdown_with` (cancel
//! the queued tasks, cancel the running ones too, don't wait, wait at most
//! a millisecond) and the drop of the last handle, racing submits, joins
//! and each other, from outside the pool (threads released together by a
//! barrier), from inside tasks and from inside done-callbacks. Each round
//! checks that every call returns, every accepted task ends (a value or a
//! cancellation) and has its callback run exactly once, and that the pool's
//! threads (and, for a process pool, its worker processes) are gone; the
//! test checks the process's thread and fd counts are back at the end.
//!
//! CI: 1,000 thread-pool rounds and 300 process-pool rounds;
//! `FUTUREPOOL_STRESS_SCALE` multiplies both. Each test runs alone in a
//! child copy of this binary, under a watchdog.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

#[cfg(feature = "process")]
futurepool::process_init_before_main!();

mod common {
    pub mod process;
    pub mod stress;
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::stress::{
    Rng, Seen, Tally, Watchdog, fd_count, limit, run_alone, scaled, seed, spin, thread_count,
    wait_counts_back,
};
use futurepool::{ShutdownOptions, TaskHandle, ThreadPool};

const LONG: Duration = Duration::from_secs(30);

/// One way to stop a pool.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// `shutdown()`: let the queue drain, wait for the workers.
    Wait,
    /// Cancel the queued tasks, wait.
    CancelPending,
    /// Cancel the queued and the running tasks, wait.
    CancelAll,
    /// Refuse new tasks, don't wait.
    NoWait,
    /// Cancel everything, don't wait.
    CancelAllNoWait,
    /// Wait at most 1 ms.
    ShortWait,
    /// Drop this handle (the pool shuts down, without waiting, when the
    /// last one goes).
    Drop,
}

const STOPS: [Stop; 7] = [
    Stop::Wait,
    Stop::CancelPending,
    Stop::CancelAll,
    Stop::NoWait,
    Stop::CancelAllNoWait,
    Stop::ShortWait,
    Stop::Drop,
];

/// The ways that never wait for the workers: what a done-callback may do
/// (a callback that waits for the workers while one of them waits for the
/// callback's task, as a task joining a task does, would wait for itself).
const STOPS_THAT_DONT_WAIT: [Stop; 4] = [
    Stop::NoWait,
    Stop::CancelAllNoWait,
    Stop::ShortWait,
    Stop::Drop,
];

impl Stop {
    fn options(self) -> Option<ShutdownOptions> {
        let o = ShutdownOptions::new();
        Some(match self {
            Stop::Wait => o,
            Stop::CancelPending => o.cancel_pending(true),
            Stop::CancelAll => o.cancel_pending(true).cancel_running(true),
            Stop::NoWait => o.wait(false),
            Stop::CancelAllNoWait => o.wait(false).cancel_pending(true).cancel_running(true),
            Stop::ShortWait => o.timeout(Duration::from_millis(1)),
            Stop::Drop => return None,
        })
    }

    fn pick(rng: &mut Rng, from: &[Stop]) -> Stop {
        from[rng.below(from.len() as u64) as usize]
    }
}

fn stop_thread_pool(pool: ThreadPool, stop: Stop) {
    match stop.options() {
        Some(options) => {
            pool.shutdown_with(options);
        }
        None => drop(pool),
    }
}

/// A stopper's start: after the submitters have made `k` submits (bounded
/// wait), so that stops land anywhere from before the first submit to
/// after the last.
fn after_submits(submits: &AtomicUsize, k: usize) {
    let deadline = Instant::now() + LONG;
    while submits.load(Ordering::SeqCst) < k {
        assert!(Instant::now() < deadline, "the submitters stalled");
        std::thread::yield_now();
    }
}

/// How many of this process's threads have a name starting with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

/// Waits (bounded: a pool dropped without waiting lets its threads exit on
/// their own) until no thread's name starts with `prefix`.
fn wait_no_threads(prefix: &str, round: usize) {
    let deadline = Instant::now() + LONG;
    while threads_named(prefix) > 0 {
        assert!(
            Instant::now() < deadline,
            "round {round}: threads {prefix}* still alive"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Totals over the rounds, for the report (a static: tasks and callbacks,
/// which must be `'static`, count into it too).
struct Totals {
    accepted: AtomicUsize,
    refused: AtomicUsize,
    ok: AtomicUsize,
    cancelled: AtomicUsize,
    stops: AtomicUsize,
    stops_in_tasks: AtomicUsize,
    stops_in_callbacks: AtomicUsize,
}

static TOTALS: Totals = Totals {
    accepted: AtomicUsize::new(0),
    refused: AtomicUsize::new(0),
    ok: AtomicUsize::new(0),
    cancelled: AtomicUsize::new(0),
    stops: AtomicUsize::new(0),
    stops_in_tasks: AtomicUsize::new(0),
    stops_in_callbacks: AtomicUsize::new(0),
};

impl Totals {
    fn add(&self, field: fn(&Totals) -> &AtomicUsize, n: usize) {
        field(self).fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, field: fn(&Totals) -> &AtomicUsize) -> usize {
        field(self).load(Ordering::Relaxed)
    }
}

/// Checks a joined outcome: a value or a cancellation, never anything else,
/// and the callback saw the same.
fn check_outcome<T: std::fmt::Debug>(
    round: usize,
    i: usize,
    outcome: Result<T, futurepool::TaskError>,
    tally: &Tally,
) {
    let seen = Seen::of(outcome.as_ref());
    match seen {
        Seen::Ok => TOTALS.add(|t| &t.ok, 1),
        Seen::Cancelled => TOTALS.add(|t| &t.cancelled, 1),
        _ => panic!("round {round}, task {i}: {outcome:?}"),
    }
    assert_eq!(tally.get(i), Some(seen), "round {round}, task {i}");
}

/// One thread-pool round: `submitters` threads submit and join, `stoppers`
/// threads stop the pool, all released by one barrier; some tasks and some
/// callbacks stop it too. No one but these holds a strong handle.
fn thread_pool_round(round: usize, rng: &mut Rng) {
    const PER_SUBMITTER: usize = 12;
    let prefix = format!("sr{round}");
    let pool = ThreadPool::builder()
        .max_workers(1 + rng.below(3) as usize)
        .thread_name(prefix.clone())
        .build()
        .unwrap();
    let submitters = 1 + rng.below(3) as usize;
    let stoppers = 1 + rng.below(2) as usize;
    let next_max = submitters * PER_SUBMITTER;
    let tally = Tally::new(next_max);
    let (next, accepted) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let barrier = Barrier::new(submitters + stoppers);
    let seeds: Vec<u64> = (0..submitters + stoppers).map(|_| rng.next()).collect();
    let events: Log = Arc::new(Mutex::new(vec![format!(
        "{} workers, {submitters} submitters, {stoppers} stoppers",
        pool.max_workers()
    )]));
    std::thread::scope(|scope| {
        for (s, &seed) in seeds.iter().enumerate() {
            let pool = pool.clone();
            let (barrier, tally, next, accepted) = (&barrier, &tally, &next, &accepted);
            let events = &events;
            scope.spawn(move || {
                let mut rng = Rng::new(seed);
                barrier.wait();
                if s >= submitters {
                    TOTALS.add(|t| &t.stops, 1);
                    let k = rng.below(next_max as u64 + 1) as usize;
                    after_submits(next, k);
                    let stop = Stop::pick(&mut rng, &STOPS);
                    log(events, format!("outside, after {k} submits: {stop:?}"));
                    stop_thread_pool(pool, stop);
                    log(events, format!("outside: {stop:?} returned"));
                    return;
                }
                let weak = pool.downgrade();
                let mut handles: Vec<(usize, TaskHandle<usize>)> = Vec::new();
                for _ in 0..PER_SUBMITTER {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let submitted = match rng.below(10) {
                        // A task that stops the pool from inside.
                        0 => {
                            let (weak, stop) = (weak.clone(), Stop::pick(&mut rng, &STOPS));
                            let events = events.clone();
                            pool.submit(move || {
                                if let Some(pool) = weak.upgrade() {
                                    TOTALS.add(|t| &t.stops_in_tasks, 1);
                                    log(&events, format!("task {i}: {stop:?}"));
                                    stop_thread_pool(pool, stop);
                                    log(&events, format!("task {i}: {stop:?} returned"));
                                }
                                i
                            })
                            .ok()
                        }
                        // A task that submits to its pool and joins that.
                        1 => {
                            let weak = weak.clone();
                            let events = events.clone();
                            pool.submit(move || {
                                if let Some(pool) = weak.upgrade() {
                                    if let Ok(h) = pool.submit(|| ()) {
                                        drop(pool);
                                        log(&events, format!("task {i}: joins {h:?}"));
                                        // Without a time limit: a worker
                                        // runs it itself if it hasn't
                                        // started. (A timed join inside a
                                        // task of a one-worker pool whose
                                        // lent place is taken waits out
                                        // its time limit, as documented.)
                                        let r = h.join();
                                        log(&events, format!("task {i}: joined {r:?}"));
                                    }
                                }
                                i
                            })
                            .ok()
                        }
                        // A task a cancel of running tasks can stop.
                        2 | 3 => pool
                            .submit_cancellable(move |token| {
                                let until = Instant::now() + Duration::from_micros(300);
                                while !token.is_cancelled() && Instant::now() < until {
                                    std::hint::spin_loop();
                                }
                                i
                            })
                            .ok(),
                        _ => pool
                            .submit(move || {
                                spin(Duration::from_micros(20));
                                i
                            })
                            .ok(),
                    };
                    let Some(handle) = submitted else {
                        TOTALS.add(|t| &t.refused, 1);
                        continue;
                    };
                    TOTALS.add(|t| &t.accepted, 1);
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let t = tally.clone();
                    handle.add_done_callback(move |outcome| t.record(i, Seen::of(outcome)));
                    if rng.below(8) == 0 {
                        // A callback that stops the pool.
                        let (weak, stop) =
                            (weak.clone(), Stop::pick(&mut rng, &STOPS_THAT_DONT_WAIT));
                        let events = events.clone();
                        handle.add_done_callback(move |_| {
                            if let Some(pool) = weak.upgrade() {
                                TOTALS.add(|t| &t.stops_in_callbacks, 1);
                                log(&events, format!("callback of {i}: {stop:?}"));
                                stop_thread_pool(pool, stop);
                            }
                        });
                    }
                    handles.push((i, handle));
                    if rng.below(4) == 0 {
                        let (i, h) = handles.swap_remove(rng.below(handles.len() as u64) as usize);
                        check_outcome(round, i, join(h, round, events), tally);
                    }
                }
                drop(pool);
                for (i, h) in handles {
                    check_outcome(round, i, join(h, round, events), tally);
                }
            });
        }
    });
    drop(pool);
    tally.check_calls(accepted.load(Ordering::Relaxed), LONG);
    wait_no_threads(&prefix, round);
}

/// What happened in a round, for the message of a failure.
type Log = Arc<Mutex<Vec<String>>>;

fn log(log: &Log, event: String) {
    log.lock().unwrap_or_else(|e| e.into_inner()).push(event);
}

/// Joins (bounded); a task that never ends fails the round with its log.
fn join<T>(h: TaskHandle<T>, round: usize, events: &Log) -> Result<T, futurepool::TaskError> {
    h.join_timeout(LONG).map_err(|e| match e {
        futurepool::JoinTimeoutError::Failed(e) => e,
        futurepool::JoinTimeoutError::Timeout(h) => panic!(
            "round {round}: {h:?} never ended (running: {}); the round: {:?}",
            h.is_running(),
            events.lock().unwrap_or_else(|e| e.into_inner())
        ),
    })
}

#[test]
fn thread_pool_shutdown_races() {
    if run_alone("thread_pool_shutdown_races") {
        return;
    }
    let rounds = scaled(1000);
    let seed = seed();
    let dog = Watchdog::new("thread_pool_shutdown_races", limit(120));
    let (threads_before, fds_before) = (thread_count(), fd_count());
    let start = Instant::now();
    let mut rng = Rng::new(seed);
    for round in 0..rounds {
        thread_pool_round(round, &mut rng);
    }
    let ran = start.elapsed();
    let settle = wait_counts_back(threads_before, fds_before, LONG);
    drop(dog);
    println!(
        "stress: thread-pool shutdown races: {rounds} rounds in {ran:.2?} (seed {seed}): \
         {} stops from outside, {} from inside tasks, {} from callbacks; {} tasks accepted \
         ({} ok, {} cancelled), {} submits refused; every callback once; threads and fds back \
         {settle:.2?} after",
        TOTALS.get(|t| &t.stops),
        TOTALS.get(|t| &t.stops_in_tasks),
        TOTALS.get(|t| &t.stops_in_callbacks),
        TOTALS.get(|t| &t.accepted),
        TOTALS.get(|t| &t.ok),
        TOTALS.get(|t| &t.cancelled),
        TOTALS.get(|t| &t.refused),
    );
}

#[cfg(feature = "process")]
mod process {
    use super::*;
    use common::process::children;
    use futurepool::{ProcessPool, remote};

    fn work((i, micros): (u64, u64)) -> u64 {
        spin(Duration::from_micros(micros));
        i
    }

    fn stop_process_pool(pool: ProcessPool, stop: Stop) {
        match stop.options() {
            Some(options) => {
                pool.shutdown_with(options);
            }
            None => drop(pool),
        }
    }

    /// Waits (bounded) until this process has no child: the workers of a
    /// pool stopped without waiting exit on their own.
    fn wait_no_children(round: usize) {
        let deadline = Instant::now() + LONG;
        while !children().is_empty() {
            assert!(
                Instant::now() < deadline,
                "round {round}: children left: {:?}",
                children()
            );
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    fn process_pool_round(round: usize, rng: &mut Rng) {
        const PER_SUBMITTER: usize = 8;
        let pool = ProcessPool::builder()
            .max_workers(1 + rng.below(2) as usize)
            .start_timeout(LONG)
            .build()
            .unwrap();
        let submitters = 1 + rng.below(2) as usize;
        let stoppers = 1 + rng.below(2) as usize;
        let next_max = submitters * PER_SUBMITTER;
        let tally = Tally::new(next_max);
        let (next, accepted) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let barrier = Barrier::new(submitters + stoppers);
        let seeds: Vec<u64> = (0..submitters + stoppers).map(|_| rng.next()).collect();
        let events: Log = Arc::new(Mutex::new(vec![format!(
            "{} workers, {submitters} submitters, {stoppers} stoppers",
            pool.max_workers()
        )]));
        std::thread::scope(|scope| {
            for (s, &seed) in seeds.iter().enumerate() {
                let pool = pool.clone();
                let (barrier, tally, next, accepted) = (&barrier, &tally, &next, &accepted);
                let events = &events;
                scope.spawn(move || {
                    let mut rng = Rng::new(seed);
                    barrier.wait();
                    if s >= submitters {
                        TOTALS.add(|t| &t.stops, 1);
                        let k = rng.below(next_max as u64 + 1) as usize;
                        after_submits(next, k);
                        let stop = Stop::pick(&mut rng, &STOPS);
                        log(events, format!("outside, after {k} submits: {stop:?}"));
                        stop_process_pool(pool, stop);
                        log(events, format!("outside: {stop:?} returned"));
                        return;
                    }
                    let weak = pool.downgrade();
                    let mut handles = Vec::new();
                    for _ in 0..PER_SUBMITTER {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let micros = [0, 0, 200, 2000][rng.below(4) as usize];
                        let Ok(handle) = pool.submit(remote!(work), (i as u64, micros)) else {
                            TOTALS.add(|t| &t.refused, 1);
                            continue;
                        };
                        TOTALS.add(|t| &t.accepted, 1);
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let t = tally.clone();
                        handle.add_done_callback(move |outcome| t.record(i, Seen::of(outcome)));
                        if rng.below(6) == 0 {
                            let stop = Stop::pick(&mut rng, &STOPS_THAT_DONT_WAIT);
                            let weak = weak.clone();
                            let events = events.clone();
                            handle.add_done_callback(move |_| {
                                if let Some(pool) = weak.upgrade() {
                                    TOTALS.add(|t| &t.stops_in_callbacks, 1);
                                    log(&events, format!("callback of {i}: {stop:?}"));
                                    stop_process_pool(pool, stop);
                                }
                            });
                        }
                        handles.push((i, handle));
                    }
                    drop(pool);
                    for (i, h) in handles {
                        check_outcome(round, i, join(h, round, events), tally);
                    }
                });
            }
        });
        drop(pool);
        tally.check_calls(accepted.load(Ordering::Relaxed), LONG);
        wait_no_children(round);
    }

    #[test]
    fn process_pool_shutdown_races() {
        if run_alone("process::process_pool_shutdown_races") {
            return;
        }
        let rounds = scaled(300);
        let seed = seed();
        let dog = Watchdog::new("process_pool_shutdown_races", limit(120));
        let (threads_before, fds_before) = (thread_count(), fd_count());
        let start = Instant::now();
        let mut rng = Rng::new(seed);
        for round in 0..rounds {
            process_pool_round(round, &mut rng);
        }
        let ran = start.elapsed();
        let settle = wait_counts_back(threads_before, fds_before, LONG);
        drop(dog);
        println!(
            "stress: process-pool shutdown races: {rounds} rounds in {ran:.2?} (seed {seed}): \
             {} stops from outside, {} from callbacks; {} tasks accepted ({} ok, {} \
             cancelled), {} submits refused; every callback once; no child left after any \
             round; threads and fds back {settle:.2?} after",
            TOTALS.get(|t| &t.stops),
            TOTALS.get(|t| &t.stops_in_callbacks),
            TOTALS.get(|t| &t.accepted),
            TOTALS.get(|t| &t.ok),
            TOTALS.get(|t| &t.cancelled),
            TOTALS.get(|t| &t.refused),
        );
    }
}
