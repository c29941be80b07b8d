//! The process pool's half of issue 9's faults (see `tests/regressions.rs`
//! for the thread pool's), each named after the fault. Each failed (or hung,
//! bounded here by a watchdog) before its fix.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use futurepool::{ProcessPool, remote};
use serde::{Deserialize, Deserializer, Serialize};

/// Longer than anything here takes, even on a loaded machine.
const LONG: Duration = Duration::from_secs(30);

fn within_watchdog<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(LONG)
        .unwrap_or_else(|_| panic!("{what}: still blocked after {LONG:?}"))
}

fn forever(_: ()) -> u8 {
    loop {
        std::thread::park();
    }
}

fn double(x: u32) -> u32 {
    2 * x
}

/// The test's end of a gate a task waits at: the task connects (so the test
/// knows it runs) and waits for a byte. A channel, not a sleep.
struct Gate {
    listener: UnixListener,
    path: PathBuf,
}

impl Gate {
    fn new() -> Gate {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "futurepool-regression-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        Gate { listener, path }
    }

    fn path(&self) -> String {
        self.path.to_str().unwrap().to_owned()
    }

    /// Waits until a task is at the gate; writing a byte lets it go.
    fn arrival(&self) -> UnixStream {
        self.listener.accept().unwrap().0
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// In a worker: waits at the gate, then returns 7.
fn wait_at_gate(path: String) -> u32 {
    let mut stream = UnixStream::connect(path).unwrap();
    stream.read_exact(&mut [0]).unwrap();
    7
}

/// The name of the thread a callback runs on.
fn this_thread() -> String {
    std::thread::current()
        .name()
        .unwrap_or("(unnamed)")
        .to_owned()
}

/// Fault 2, the process pool's: shutdown racing a submit with a timeout.
#[test]
fn shutdown_racing_a_submit_with_a_timeout() {
    for _ in 0..20 {
        within_watchdog("shutdown racing a submit with a timeout", || {
            let pool = Arc::new(ProcessPool::builder().max_workers(1).build().unwrap());
            let submitter = {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    while let Ok(h) = pool
                        .task()
                        .timeout(Duration::from_secs(60))
                        .submit(remote!(double), 1)
                    {
                        drop(h);
                    }
                })
            };
            pool.shutdown();
            submitter.join().unwrap();
            assert!(pool.submit(remote!(double), 1).unwrap_err().is_shutdown());
        });
    }
}

/// Fault 3, the process pool's: two done-callbacks that both called
/// `shutdown()` ran on the pool's driver threads, and each waited for the
/// other's driver. Callbacks run on the callback runner now, never on a
/// driver.
#[test]
fn two_self_shutdowns() {
    within_watchdog("two callbacks shutting their pool down", || {
        let pool = Arc::new(ProcessPool::builder().max_workers(2).build().unwrap());
        let barrier = Arc::new(Barrier::new(2));
        let (tx, rx) = mpsc::channel();
        let gate = Gate::new();
        let mut waiting = Vec::new();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let handle = pool.submit(remote!(wait_at_gate), gate.path()).unwrap();
                waiting.push(gate.arrival()); // it runs: the callback is added before it ends
                let (pool, barrier, tx) = (pool.clone(), barrier.clone(), tx.clone());
                handle.add_done_callback(move |_| {
                    barrier.wait(); // both callbacks are running
                    pool.shutdown();
                    tx.send(this_thread()).unwrap();
                });
                handle
            })
            .collect();
        for mut stream in waiting {
            stream.write_all(&[1]).unwrap();
        }
        for handle in handles {
            handle.join().unwrap();
        }
        for _ in 0..2 {
            let thread = rx.recv().unwrap();
            assert!(!thread.starts_with("futurepool-process"), "ran on {thread}");
        }
        assert_eq!(pool.worker_count(), 0);
    });
}

/// Fault 4, the process pool's: a callback that waits for another task
/// whose deadline the same timer must fire.
#[test]
fn a_callback_cannot_freeze_timeouts() {
    within_watchdog("a callback waiting on another timeout", || {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let later = Arc::new(
            pool.task()
                .timeout(Duration::from_millis(300))
                .submit(remote!(forever), ())
                .unwrap(),
        );
        let first = pool
            .task()
            .timeout(Duration::from_millis(50))
            .submit(remote!(forever), ())
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let waited_for = later.clone();
        first.add_done_callback(move |_| {
            tx.send((waited_for.wait_timeout(LONG), this_thread()))
                .unwrap();
        });
        assert!(first.join().unwrap_err().is_timeout());
        let (later_done, thread) = rx.recv().unwrap();
        assert!(later_done, "`later` timed out meanwhile");
        assert!(!thread.contains("timer"), "ran on {thread}");
    });
}

/// A result type whose `Deserialize` panics.
#[derive(Serialize, Debug)]
struct Bomb;

impl<'de> Deserialize<'de> for Bomb {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Bomb, D::Error> {
        panic!("Bomb's Deserialize panicked")
    }
}

fn bomb(_: ()) -> Bomb {
    Bomb
}

/// Fault 5, the process pool's: a result type whose `Deserialize` panicked
/// killed the driver thread that decoded it. Drivers decode nothing now: the
/// value is decoded (under `catch_unwind`) by the thread that takes it.
#[test]
fn a_result_whose_deserialize_panics() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let handle = pool.submit(remote!(bomb), ()).unwrap();
    let err = within_watchdog("join of a result that can't decode", move || {
        handle.join().unwrap_err()
    });
    assert!(err.is_serialization(), "{err}");
    assert!(
        err.to_string().contains("Bomb's Deserialize panicked"),
        "{err}"
    );
    // The driver is alive and serves the next task on the same worker.
    assert_eq!(
        pool.submit(remote!(double), 21).unwrap().join().unwrap(),
        42
    );
    assert_eq!(pool.workers_started(), 1);
}

/// Done-callbacks of process tasks never run on a driver: a callback added
/// before the task ends runs on the callback runner.
#[test]
fn callbacks_never_run_on_a_driver() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let (tx, rx) = mpsc::channel();
    let gate = Gate::new();
    let handle = pool.submit(remote!(wait_at_gate), gate.path()).unwrap();
    let mut running = gate.arrival();
    handle.add_done_callback(move |outcome| {
        tx.send((*outcome.unwrap(), this_thread())).unwrap();
    });
    running.write_all(&[1]).unwrap();
    assert_eq!(handle.join().unwrap(), 7);
    let (value, thread) = rx.try_recv().expect("ran before join returned");
    assert_eq!(value, 7);
    assert_eq!(thread, "futurepool-callbacks");
}

/// A zero `start_timeout` was accepted, and every task then failed with
/// the pool "broken": "did not complete the handshake within 0ns (does the
/// program call `futurepool::process::init()` first in `main`?)", a hint
/// that sends the user the wrong way. It is a setting no worker can meet:
/// `build` refuses it, as it does `max_workers(0)`.
#[test]
fn a_zero_start_timeout_is_refused_by_build() {
    let err = ProcessPool::builder()
        .start_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "start_timeout must be more than zero");
    assert!(!err.is_unsupported());
}
