//! Progress: exact counts at the end (done, failed, total) for maps (ordered,
//! unordered, chunked), named-function maps, `as_completed` and `wait`;
//! counts that advance as tasks finish, not as an ordered map yields them;
//! `finish` once; an observer's panic; rate and time left; the `indicatif`
//! bar.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use common::{Gate, LONG};
use futurepool::{
    Progress, ProgressObserver, ReturnWhen, ThreadPool, as_completed, wait_with_progress,
};

/// Records every update, and every finish apart.
#[derive(Default)]
struct Log {
    updates: Mutex<Vec<Progress>>,
    finishes: Mutex<Vec<Progress>>,
}

impl ProgressObserver for Log {
    fn update(&self, progress: &Progress) {
        self.updates.lock().unwrap().push(progress.clone());
    }

    fn finish(&self, progress: &Progress) {
        self.finishes.lock().unwrap().push(progress.clone());
    }
}

impl Log {
    /// The one finish report.
    fn finished(&self) -> Progress {
        let finishes = self.finishes.lock().unwrap();
        assert_eq!(finishes.len(), 1, "finish is reported once");
        finishes[0].clone()
    }

    fn counts(p: &Progress) -> (u64, u64, Option<u64>) {
        (p.done(), p.failed(), p.total())
    }

    /// Every update's counts only grow, and never pass the total.
    fn assert_monotonic(&self) {
        let updates = self.updates.lock().unwrap();
        for pair in updates.windows(2) {
            assert!(pair[0].done() <= pair[1].done(), "{:?}", pair);
            assert!(pair[0].failed() <= pair[1].failed(), "{:?}", pair);
        }
        for p in updates.iter() {
            assert!(p.failed() <= p.done());
            if let Some(total) = p.total() {
                assert!(p.done() <= total, "{p:?}");
            }
        }
    }
}

/// Fails inputs divisible by 7.
fn square_unless_seven(x: u64) -> u64 {
    assert!(x % 7 != 0, "a multiple of seven");
    x * x
}

fn quiet_panics() {
    panic::set_hook(Box::new(|_| {}));
}

#[test]
fn ordered_and_unordered_maps_count_exactly() {
    quiet_panics();
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    for unordered in [false, true] {
        for chunk in [1, 4] {
            let log = Arc::new(Log::default());
            let mut map = pool
                .map(square_unless_seven, 1..=100)
                .chunksize(chunk)
                .progress(log.clone());
            if unordered {
                map = map.unordered();
            }
            let failed = map.filter(Result::is_err).count();
            assert_eq!(failed, 14);
            assert_eq!(
                Log::counts(&log.finished()),
                (100, 14, Some(100)),
                "unordered {unordered}, chunk {chunk}"
            );
            let first = log.updates.lock().unwrap()[0].clone();
            assert_eq!(
                Log::counts(&first),
                (0, 0, Some(100)),
                "the start is reported"
            );
            log.assert_monotonic();
        }
    }
}

#[test]
fn a_map_over_an_input_of_unknown_length_has_no_total() {
    let pool = ThreadPool::new();
    let log = Arc::new(Log::default());
    let n = pool
        .map(|x: u32| x, (0..10).filter(|x| x % 2 == 0))
        .progress(log.clone())
        .count();
    assert_eq!(n, 5);
    let last = log.finished();
    assert_eq!(Log::counts(&last), (5, 0, None));
    assert_eq!(last.eta(), None);
}

/// The front input is held; the others finish. The consuming thread, blocked
/// for the front item, reports them as they finish.
#[test]
fn an_ordered_map_counts_tasks_as_they_finish_behind_a_slow_front() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (tx, rx) = mpsc::channel();
    let consumer = thread::spawn(move || {
        pool.map(
            move |i: u32| {
                if i == 0 {
                    waiter.wait();
                }
                i
            },
            0..4,
        )
        .max_in_flight(4)
        .progress(move |p: &Progress| tx.send(p.done()).unwrap())
        .map(Result::unwrap)
        .collect::<Vec<_>>()
    });
    // Three done while nothing has been yielded (input 0 holds them back).
    loop {
        let done = rx
            .recv_timeout(LONG)
            .expect("progress while the front is stuck");
        if done == 3 {
            break;
        }
    }
    gate.open();
    assert_eq!(consumer.join().unwrap(), [0, 1, 2, 3]);
    assert_eq!(rx.iter().last(), Some(4));
}

#[test]
fn a_map_stream_reports_too() {
    use futures::StreamExt;
    let pool = ThreadPool::new();
    for unordered in [false, true] {
        let log = Arc::new(Log::default());
        let mut map = pool.map(|x: u32| x, 0..20).progress(log.clone());
        if unordered {
            map = map.unordered();
        }
        let n = futures::executor::block_on(map.into_stream().count());
        assert_eq!(n, 20);
        assert_eq!(Log::counts(&log.finished()), (20, 0, Some(20)));
    }
}

#[test]
fn a_map_dropped_early_finishes_where_it_stands() {
    let pool = ThreadPool::new();
    let log = Arc::new(Log::default());
    let first: Vec<_> = pool
        .map(|x: u64| x, 0..)
        .max_in_flight(2)
        .progress(log.clone())
        .take(3)
        .collect();
    assert_eq!(first.len(), 3);
    let last = log.finished();
    assert!(last.done() >= 3 && last.total().is_none(), "{last:?}");
}

#[cfg(feature = "remote")]
#[test]
fn a_named_function_map_counts_exactly() {
    use futurepool::{Executor, remote};
    quiet_panics();
    let pool = ThreadPool::new();
    for chunk in [1, 3] {
        let log = Arc::new(Log::default());
        let failed = pool
            .map_fn(remote!(square_unless_seven), 1..=30)
            .chunksize(chunk)
            .progress(log.clone())
            .filter(Result::is_err)
            .count();
        assert_eq!(failed, 4);
        assert_eq!(Log::counts(&log.finished()), (30, 4, Some(30)));
        log.assert_monotonic();
    }
}

#[test]
fn as_completed_counts_values_errors_and_cancellations() {
    quiet_panics();
    let pool = ThreadPool::new();
    let (tx, rx) = mpsc::channel::<()>();
    let held = pool.submit(move || rx.recv().unwrap()).unwrap();
    let ok = pool.submit(|| ()).unwrap();
    let bad = pool.submit(|| panic!("bad")).unwrap();
    let (promise, cancelled) = futurepool::Promise::<()>::new();
    assert!(cancelled.cancel());
    drop(promise);
    let log = Arc::new(Log::default());
    let mut it = as_completed([ok, bad, cancelled]).progress(log.clone());
    let yielded = it.by_ref().take(3).count();
    assert_eq!(yielded, 3);
    assert!(log.finishes.lock().unwrap().is_empty()); // not ended: one more is coming
    it.add(held);
    tx.send(()).unwrap();
    assert_eq!(it.count(), 1);
    assert_eq!(Log::counts(&log.finished()), (4, 2, Some(4)));
    log.assert_monotonic();
}

#[test]
fn as_completed_counts_finished_tasks_before_they_are_yielded() {
    let pool = ThreadPool::new();
    let handles: Vec<_> = (0..5).map(|i| pool.submit(move || i).unwrap()).collect();
    handles.iter().for_each(|h| h.wait());
    let log = Arc::new(Log::default());
    let mut it = as_completed(handles).progress(log.clone());
    it.next().unwrap().join().unwrap();
    // All five are done, one is yielded.
    assert_eq!(log.updates.lock().unwrap().last().unwrap().done(), 5);
}

#[test]
fn wait_with_progress_counts_and_finishes() {
    quiet_panics();
    let pool = ThreadPool::new();
    let handles: Vec<_> = (0..10u32)
        .map(|i| pool.submit(move || assert!(i % 5 != 0)).unwrap())
        .collect();
    let log = Arc::new(Log::default());
    let waited = wait_with_progress(&handles, ReturnWhen::AllCompleted, log.clone());
    assert_eq!(waited.done.len(), 10);
    assert_eq!(Log::counts(&log.finished()), (10, 2, Some(10)));
    log.assert_monotonic();

    // Returning at the first: the finish says how far it got.
    let (tx, rx) = mpsc::channel::<()>();
    let stuck = pool.submit(move || rx.recv().unwrap()).unwrap();
    let quick = pool.submit(|| ()).unwrap();
    let log = Arc::new(Log::default());
    let waited = wait_with_progress([stuck, quick], ReturnWhen::FirstCompleted, log.clone());
    assert_eq!(waited.done.len(), 1);
    assert_eq!(Log::counts(&log.finished()), (1, 0, Some(2)));
    tx.send(()).unwrap();
}

/// An observer's panic comes out of `next` on the consuming thread; nothing
/// is lost, and the iteration goes on if the caller catches it.
#[test]
fn an_observers_panic_reaches_the_consumer_and_loses_nothing() {
    quiet_panics();
    let pool = ThreadPool::new();
    let armed = Arc::new(AtomicBool::new(true));
    let finishes = Arc::new(AtomicUsize::new(0));
    struct Flaky {
        armed: Arc<AtomicBool>,
        finishes: Arc<AtomicUsize>,
    }
    impl ProgressObserver for Flaky {
        fn update(&self, p: &Progress) {
            if p.done() > 0 && self.armed.swap(false, Ordering::SeqCst) {
                panic!("observer");
            }
        }
        fn finish(&self, p: &Progress) {
            assert_eq!(p.done(), 10);
            self.finishes.fetch_add(1, Ordering::SeqCst);
        }
    }
    let flaky = || Flaky {
        armed: armed.clone(),
        finishes: finishes.clone(),
    };

    let mut map = pool.map(|x: u32| x, 0..10).progress(flaky());
    let mut got = Vec::new();
    let mut panics = 0;
    loop {
        match panic::catch_unwind(AssertUnwindSafe(|| map.next())) {
            Ok(Some(item)) => got.push(item.unwrap()),
            Ok(None) => break,
            Err(_) => panics += 1,
        }
    }
    assert_eq!((panics, got), (1, (0..10).collect::<Vec<_>>()));
    assert_eq!(finishes.load(Ordering::SeqCst), 1);

    armed.store(true, Ordering::SeqCst);
    let handles: Vec<_> = (0..10).map(|i| pool.submit(move || i).unwrap()).collect();
    let mut it = as_completed(handles).progress(flaky());
    let mut got = Vec::new();
    let mut panics = 0;
    loop {
        match panic::catch_unwind(AssertUnwindSafe(|| it.next())) {
            Ok(Some(h)) => got.push(h.join().unwrap()),
            Ok(None) => break,
            Err(_) => panics += 1,
        }
    }
    got.sort();
    assert_eq!((panics, got), (1, (0..10).collect::<Vec<_>>()));
    assert_eq!(finishes.load(Ordering::SeqCst), 2);
}

/// A map dropped while its observer's panic unwinds doesn't call it again.
#[test]
fn a_panicking_observer_is_not_called_again_while_unwinding() {
    quiet_panics();
    let pool = ThreadPool::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.map(|x: u32| x, 0..10)
            .progress(move |p: &Progress| {
                c.fetch_add(1, Ordering::SeqCst);
                if p.done() > 0 {
                    panic!("observer");
                }
            })
            .count()
    }));
    assert!(result.is_err());
    // Once with nothing done, once panicking; not again to finish.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// The observer runs on the thread that consumes (iterates, waits), never
/// on a worker, whatever the map's shape.
#[test]
fn the_observer_runs_on_the_consuming_thread() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let consumer = thread::spawn(move || {
        let me = thread::current().id();
        let elsewhere = Arc::new(AtomicUsize::new(0));
        let observer = {
            let elsewhere = elsewhere.clone();
            Arc::new(move |_: &Progress| {
                if thread::current().id() != me {
                    elsewhere.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        for (unordered, chunk) in [(false, 1), (false, 8), (true, 1), (true, 8)] {
            let map = pool
                .map(|x: u64| x, 0..200)
                .chunksize(chunk)
                .progress(observer.clone());
            let map = if unordered { map.unordered() } else { map };
            assert_eq!(map.count(), 200);
        }
        let handles: Vec<_> = (0..50).map(|i| pool.submit(move || i).unwrap()).collect();
        assert_eq!(as_completed(handles).progress(observer.clone()).count(), 50);
        let handles: Vec<_> = (0..50).map(|i| pool.submit(move || i).unwrap()).collect();
        wait_with_progress(&handles, ReturnWhen::AllCompleted, observer);
        elsewhere.load(Ordering::SeqCst)
    });
    assert_eq!(
        consumer.join().unwrap(),
        0,
        "observer calls on another thread"
    );
}

#[test]
fn rate_and_time_left_are_sane() {
    let pool = ThreadPool::new();
    let log = Arc::new(Log::default());
    let _ = pool.map(|x: u32| x, 0..50).progress(log.clone()).count();
    let updates = log.updates.lock().unwrap();
    let first = &updates[0];
    assert_eq!((first.done(), first.rate(), first.eta()), (0, 0.0, None));
    for p in updates.iter().filter(|p| p.done() > 0) {
        assert!(p.rate() > 0.0 && p.rate().is_finite(), "{p:?}");
        assert!(p.eta().is_some(), "{p:?}");
    }
    let last = log.finished();
    assert_eq!(last.eta(), Some(Duration::ZERO));
    assert!(last.rate() > 0.0);
}

#[cfg(feature = "indicatif")]
#[test]
fn an_indicatif_bar_follows_the_counts() {
    use indicatif::ProgressBar;
    quiet_panics();
    let pool = ThreadPool::new();
    let bar = ProgressBar::hidden();
    let n = pool
        .map(square_unless_seven, 1..=20)
        .progress(bar.clone())
        .count();
    assert_eq!(n, 20);
    assert_eq!((bar.position(), bar.length()), (20, Some(20)));
    assert_eq!(bar.message(), "2 failed");
    assert!(bar.is_finished());

    // Ended early: the bar stays where it stood.
    let bar = ProgressBar::hidden();
    let _ = pool
        .map(|x: u32| x, 0..1000)
        .max_in_flight(2)
        .progress(bar.clone())
        .take(3)
        .count();
    assert!(bar.position() < 1000 && bar.is_finished());
}

/// A real bar (drawn on stderr) in a child process whose stderr is a pipe,
/// not a terminal: indicatif draws nothing, so a long map prints nothing
/// extra.
#[cfg(feature = "indicatif")]
#[test]
fn a_bar_on_a_stderr_that_is_not_a_terminal_prints_nothing() {
    use std::process::{Command, Stdio};
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "draws_a_bar_on_stderr",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed;"),
        "{stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "nothing on stderr"
    );
}

/// Run by the test above, in a child process.
#[cfg(feature = "indicatif")]
#[test]
#[ignore = "run by a_bar_on_a_stderr_that_is_not_a_terminal_prints_nothing"]
fn draws_a_bar_on_stderr() {
    let pool = ThreadPool::new();
    let bar = indicatif::ProgressBar::new(0); // draws on stderr, if a terminal
    let n = pool
        .map(|x: u64| x * x, 0..20_000)
        .progress(bar.clone())
        .count();
    assert_eq!((n, bar.position()), (20_000, 20_000));
}
