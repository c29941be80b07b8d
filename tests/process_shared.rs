//! Shared handles and task names over the process pool: a value decoded
//! once, by the first reader (never a driver), read by many threads and
//! awaited by many clones; a result that can't be decoded; names in a
//! process task's handle and errors.

#![cfg(all(feature = "process", target_os = "linux"))]
#![allow(missing_docs)]

futurepool::process_init_before_main!();

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use futurepool::{ProcessPool, remote};
use serde::{Deserialize, Deserializer, Serialize};

/// Longer than anything here takes, even on a loaded machine.
const LONG: Duration = Duration::from_secs(30);

/// The test's end of a gate a task waits at: the task connects (so the
/// test knows it runs) and waits for a byte. A channel, not a sleep.
struct Gate {
    listener: UnixListener,
    path: PathBuf,
}

impl Gate {
    fn new() -> Gate {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "futurepool-shared-{}-{}.sock",
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

/// How many times a `Counted` was decoded in this process, and on which
/// threads.
static DECODES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A result that records where it is decoded.
#[derive(Serialize, Debug, Clone, PartialEq)]
struct Counted(u64);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Counted, D::Error> {
        let n = u64::deserialize(d)?;
        let thread = thread::current().name().unwrap_or("(unnamed)").to_owned();
        DECODES.lock().unwrap().push(thread);
        Ok(Counted(n))
    }
}

/// In a worker: waits at the gate, then returns `Counted(7)`.
fn counted_at_gate(path: String) -> Counted {
    let mut stream = UnixStream::connect(path).unwrap();
    stream.read_exact(&mut [0]).unwrap();
    Counted(7)
}

fn double(x: u32) -> u32 {
    2 * x
}

/// A result whose `Deserialize` panics, here.
#[derive(Serialize, Debug, Clone)]
struct Bomb;

impl<'de> Deserialize<'de> for Bomb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bomb, D::Error> {
        <()>::deserialize(d)?;
        panic!("Bomb's Deserialize panicked")
    }
}

fn bomb(_: ()) -> Bomb {
    Bomb
}

fn fails(_: ()) -> u8 {
    panic!("too big")
}

fn aborts(_: ()) -> u8 {
    std::process::abort()
}

/// Many named reader threads read one process task's value at once: it is
/// decoded exactly once, on one of them, never on the pool's driver.
#[test]
fn a_shared_process_value_is_decoded_once_by_the_first_reader() {
    const READERS: usize = 4;
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let shared = pool
        .submit(remote!(counted_at_gate), gate.path())
        .unwrap()
        .shared();
    let mut running = gate.arrival();
    let start = Arc::new(Barrier::new(READERS + 1));
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let shared = shared.clone();
            let start = start.clone();
            thread::Builder::new()
                .name(format!("reader-{i}"))
                .spawn(move || {
                    start.wait();
                    shared.get().unwrap().clone()
                })
                .unwrap()
        })
        .collect();
    start.wait();
    running.write_all(&[1]).unwrap();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), Counted(7));
    }
    assert_eq!(shared.join().unwrap(), Counted(7), "read again, no decode");
    let decodes = DECODES.lock().unwrap().clone();
    assert_eq!(decodes.len(), 1, "decoded once: {decodes:?}");
    assert!(
        decodes[0].starts_with("reader-"),
        "decoded on {}",
        decodes[0]
    );
}

#[test]
fn a_shared_process_value_is_awaited_by_many_clones() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let shared = pool.submit(remote!(double), 21).unwrap().shared();
    let all =
        futures::executor::block_on(futures::future::join_all((0..3).map(|_| shared.clone())));
    for outcome in all {
        assert_eq!(outcome.unwrap(), 42);
    }
    assert_eq!(shared.get().unwrap(), &42);
}

#[test]
fn a_result_that_cannot_be_decoded_is_the_same_error_for_every_reader() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let handle = pool
        .task()
        .name("detonate")
        .submit(remote!(bomb), ())
        .unwrap();
    let id = handle.id();
    let shared = handle.shared();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let shared = shared.clone();
            thread::spawn(move || {
                let err = shared.get_timeout(LONG).expect("in time").unwrap_err();
                assert!(err.is_serialization(), "{err}");
                (err.to_string(), err.task_id())
            })
        })
        .collect();
    for reader in readers {
        let (message, task) = reader.join().unwrap();
        assert!(message.starts_with("task `detonate`: "), "{message}");
        assert!(message.contains("Bomb's Deserialize panicked"), "{message}");
        assert_eq!(task, Some(id));
    }
    // The pool is fine.
    assert_eq!(pool.submit(remote!(double), 2).unwrap().join().unwrap(), 4);
}

#[test]
fn a_process_task_has_its_name_in_its_handle_and_errors() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let handle = pool
        .task()
        .name("resize")
        .submit(remote!(fails), ())
        .unwrap();
    assert_eq!(handle.name(), Some("resize"));
    let id = handle.id();
    assert!(format!("{handle:?}").contains("name: \"resize\""));
    let err = handle.join().unwrap_err();
    assert_eq!(err.to_string(), "task `resize` panicked: too big");
    assert_eq!(err.task_id(), Some(id));

    let died = pool
        .task()
        .name("crash")
        .retries(0)
        .submit(remote!(aborts), ())
        .unwrap()
        .join()
        .unwrap_err();
    assert!(died.is_worker_died());
    let message = died.to_string();
    assert!(
        message.starts_with("task `crash`: worker process "),
        "{message}"
    );
    assert!(
        message.ends_with("killed by signal 6 (SIGABRT)"),
        "{message}"
    );

    let unnamed = pool.submit(remote!(fails), ()).unwrap().join().unwrap_err();
    assert_eq!(unnamed.to_string(), "task panicked: too big");
    assert_eq!(unnamed.task_name(), None);
}
