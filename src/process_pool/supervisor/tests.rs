//! The drivers' tests: a worker parked before its task is done is found
//! by the submit that follows the join.

use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Wake, Waker};

use crate::process_pool::ProcessPool;

/// Connects to the test at `path`, then returns once it sends a byte.
fn run_when_told(path: String) -> u32 {
    let mut stream = UnixStream::connect(path).unwrap();
    stream.read_exact(&mut [0]).unwrap();
    std::process::id()
}

/// A waker that, woken by the driver just after it published the
/// task's outcome, says so and holds the driver until told to go on.
struct Gate {
    woken: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    go_on: std::sync::Mutex<Option<mpsc::Receiver<()>>>,
}

impl Wake for Gate {
    fn wake(self: std::sync::Arc<Self>) {
        if let Some(woken) = self.woken.lock().unwrap().take() {
            woken.send(()).unwrap();
            let go_on = self.go_on.lock().unwrap().take().unwrap();
            go_on.recv().unwrap();
        }
    }
}

/// CPython's `test_idle_process_reuse_one` failed under load: a task
/// submitted the moment the previous one's outcome was visible, before
/// its driver had come back for more, started a second driver and
/// worker. The window is held open here (the driver is held in the
/// handle's waker), and the submit must leave the task to the driver.
#[test]
fn a_submit_right_after_a_completion_waits_for_the_same_driver() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let path =
        std::env::temp_dir().join(format!("futurepool-unit-gate-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let mut first = pool
        .submit(
            crate::remote!(run_when_told),
            path.to_str().unwrap().to_owned(),
        )
        .unwrap();
    let (mut running, _) = listener.accept().unwrap(); // it runs, and waits
    let (woken_tx, woken_rx) = mpsc::channel();
    let (go_on_tx, go_on_rx) = mpsc::channel();
    let waker = Waker::from(std::sync::Arc::new(Gate {
        woken: std::sync::Mutex::new(Some(woken_tx)),
        go_on: std::sync::Mutex::new(Some(go_on_rx)),
    }));
    let polled = Pin::new(&mut first).poll(&mut Context::from_waker(&waker));
    assert!(polled.is_pending());
    running.write_all(&[1]).unwrap();
    woken_rx.recv().unwrap(); // published; the driver is held in `wake`
    let second = pool
        .submit(crate::remote!(|_: ()| std::process::id()), ())
        .unwrap();
    let drivers = pool.shared().state.lock().drivers;
    go_on_tx.send(()).unwrap();
    assert_eq!(drivers, 1, "the submit started a second driver");
    let worker = first.join().unwrap();
    assert_eq!(second.join().unwrap(), worker);
    assert_eq!(pool.workers_started(), 1);
    let _ = std::fs::remove_file(&path);
}
