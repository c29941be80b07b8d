//! The direct path's tests: who reads a reply, and how a flight ends when
//! nobody joins it, a join is timed, a worker is killed, or the pool shuts
//! down.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Reader;
use crate::JoinTimeoutError;
use crate::process_pool::ProcessPool;

/// Connects to the test at `path`, then returns its pid once the test
/// sends a byte (or the connection ends).
fn run_when_told(path: String) -> u32 {
    let mut stream = UnixStream::connect(path).unwrap();
    let _ = stream.read(&mut [0]);
    std::process::id()
}

/// A socket a task connects to, to be released by the test.
struct Gate {
    path: PathBuf,
    listener: UnixListener,
}

impl Gate {
    fn new(name: &str) -> Gate {
        let path = std::env::temp_dir().join(format!(
            "futurepool-direct-{name}-{}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        Gate { path, listener }
    }

    fn arg(&self) -> String {
        self.path.to_str().unwrap().to_owned()
    }

    /// Waits until the task is running, and returns its end of the gate.
    fn running(&self) -> UnixStream {
        self.listener.accept().unwrap().0
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A warm pool of one worker, and that worker's pid. Its driver leaves a
/// reply for the joiner however late the joiner comes (unless it is asked
/// for it), so that which thread reads is up to the test, not to the
/// machine's load.
fn warm_pool() -> (ProcessPool, u32) {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    pool.shared().set_fallback(Duration::from_secs(3600));
    let pid = pool
        .submit(crate::remote!(|_: ()| std::process::id()), ())
        .unwrap()
        .join()
        .unwrap();
    (pool, pid)
}

/// The reader of the one flight of `pool`, if it has one.
fn flight(pool: &ProcessPool) -> Option<&'static str> {
    let st = pool.shared().state.lock();
    st.flights.0.first().map(|f| match f.reader {
        Reader::Held => "held",
        Reader::Nobody => "nobody",
        Reader::Back(_) => "back",
    })
}

/// Polls `cond` until it holds; panics after a generous bound. For a
/// state another thread reaches without telling the test.
fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    wait_until_or(what, cond).unwrap();
}

/// As [`wait_until`], but says it timed out instead of panicking: for a
/// test that must release its task first.
fn wait_until_or(what: &str, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        if Instant::now() >= deadline {
            return Err(format!("timed out waiting until {what}"));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// A submit to an idle worker writes the request itself (no queue, no
/// driver), and the thread that joins reads the reply; the worker is
/// parked again for the next submit.
#[test]
fn a_submit_to_an_idle_worker_is_sent_directly_and_its_joiner_reads_it() {
    let (pool, pid) = warm_pool();
    let gate = Gate::new("joiner");
    let handle = pool
        .submit(crate::remote!(run_when_told), gate.arg())
        .unwrap();
    let mut running = gate.running();
    assert_eq!(pool.queued(), 0);
    assert_eq!(flight(&pool), Some("nobody"), "sent directly");
    std::thread::scope(|s| {
        let joiner = s.spawn(|| handle.join());
        let held = wait_until_or("the joiner reads", || flight(&pool) == Some("held"));
        running.write_all(&[1]).unwrap(); // whatever happened: no hang
        assert_eq!(joiner.join().unwrap().unwrap(), pid);
        held.unwrap();
    });
    assert_eq!(flight(&pool), None);
    assert_eq!(pool.shared().state.lock().parked.len(), 1);
    assert_eq!(pool.workers_started(), 1);
}

/// A reply nobody joins is read by the driver: at once when work is
/// queued behind it, or after `FALLBACK` for a task that is only
/// watched (its callback runs) or whose handle was dropped.
#[test]
fn a_reply_nobody_joins_is_read_by_the_driver() {
    let (pool, pid) = warm_pool();
    let gate = Gate::new("nobody");
    // Watched by a callback only.
    let handle = pool
        .submit(crate::remote!(run_when_told), gate.arg())
        .unwrap();
    let (tx, rx) = mpsc::channel();
    handle.add_done_callback(move |outcome| tx.send(*outcome.unwrap()).unwrap());
    gate.running().write_all(&[1]).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), pid);
    // (Callbacks run before the outcome is published: wait for it.)
    assert_eq!(handle.join().unwrap(), pid);
    // Dropped, with a task queued behind it.
    let dropped = pool
        .submit(crate::remote!(run_when_told), gate.arg())
        .unwrap();
    let mut running = gate.running();
    drop(dropped);
    let next = pool
        .submit(crate::remote!(|_: ()| std::process::id()), ())
        .unwrap();
    assert_eq!(pool.queued(), 1, "the worker is lent: the next task queues");
    running.write_all(&[1]).unwrap();
    assert_eq!(next.join().unwrap(), pid);
    assert_eq!(pool.workers_started(), 1);
}

/// Awaiting a task sent directly (or watching it, or adding a callback)
/// asks its driver to read the reply, as nobody else will.
#[test]
fn awaiting_a_direct_task_asks_the_driver_to_read_it() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    struct Tell(std::sync::Mutex<mpsc::Sender<()>>);
    impl Wake for Tell {
        fn wake(self: Arc<Self>) {
            let _ = self.0.lock().unwrap().send(());
        }
    }
    let (pool, pid) = warm_pool();
    let gate = Gate::new("await");
    let mut handle = pool
        .submit(crate::remote!(run_when_told), gate.arg())
        .unwrap();
    let mut running = gate.running();
    let (tx, woken) = mpsc::channel();
    let waker = Waker::from(Arc::new(Tell(std::sync::Mutex::new(tx))));
    let polled = Pin::new(&mut handle).poll(&mut Context::from_waker(&waker));
    assert!(polled.is_pending());
    {
        let st = pool.shared().state.lock();
        // Asked, or already taken up by the driver.
        assert!(st.flights.0.first().is_none_or(|f| f.asked));
    }
    running.write_all(&[1]).unwrap();
    woken.recv_timeout(Duration::from_secs(20)).unwrap();
    let polled = Pin::new(&mut handle).poll(&mut Context::from_waker(&waker));
    assert!(matches!(polled, std::task::Poll::Ready(Ok(p)) if p == pid));
}

/// A reply nobody asks for (its handle dropped, nothing queued) is read
/// by the driver after the fallback, and the worker is parked again.
#[test]
fn a_reply_nobody_asks_for_is_read_after_the_fallback() {
    let (pool, pid) = warm_pool();
    pool.shared().set_fallback(Duration::from_millis(2));
    let gate = Gate::new("fallback");
    let dropped = pool
        .submit(crate::remote!(run_when_told), gate.arg())
        .unwrap();
    gate.running().write_all(&[1]).unwrap();
    drop(dropped);
    wait_until("the driver reads the reply and parks the worker", || {
        let st = pool.shared().state.lock();
        st.flights.0.is_empty() && st.parked.len() == 1
    });
    let next = pool
        .submit(crate::remote!(|_: ()| std::process::id()), ())
        .unwrap();
    assert_eq!(next.join().unwrap(), pid);
    assert_eq!(pool.workers_started(), 1);
}

/// A timed join reads only a reply that begins in time; otherwise it
/// leaves the flight as it found it, and a later join reads it.
#[test]
fn a_timed_join_leaves_a_late_reply_for_later() {
    let (pool, pid) = warm_pool();
    let gate = Gate::new("timed");
    let handle = pool
        .submit(crate::remote!(run_when_told), gate.arg())
        .unwrap();
    let mut running = gate.running();
    let Err(JoinTimeoutError::Timeout(handle)) = handle.join_timeout(Duration::from_millis(1))
    else {
        panic!("the task can't have ended: it waits for the test");
    };
    assert!(matches!(flight(&pool), Some("nobody") | None));
    running.write_all(&[1]).unwrap();
    assert_eq!(handle.join().unwrap(), pid);
    assert_eq!(pool.workers_started(), 1);
}

/// A time limit that kills the worker while its joiner reads: the task
/// times out, the killed worker goes back to its driver to be reaped,
/// and the next task runs on a fresh worker.
#[test]
fn a_kill_while_the_joiner_reads_goes_back_to_the_driver() {
    let (pool, pid) = warm_pool();
    let gate = Gate::new("kill");
    let handle = pool
        .task()
        .timeout(Duration::from_millis(200))
        .submit(crate::remote!(run_when_told), gate.arg())
        .unwrap();
    let _running = gate.running(); // never released
    let err = handle.join().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let next = pool
        .submit(crate::remote!(|_: ()| std::process::id()), ())
        .unwrap()
        .join()
        .unwrap();
    assert_ne!(next, pid);
    assert_eq!(pool.workers_started(), 2);
    wait_until("the killed worker is reaped", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}

/// A shutdown that cancels running work reaches a task sent directly,
/// while its joiner reads.
#[test]
fn a_shutdown_that_cancels_reaches_a_direct_task() {
    let (pool, _) = warm_pool();
    let gate = Gate::new("shutdown");
    let handle = pool
        .submit(crate::remote!(run_when_told), gate.arg())
        .unwrap();
    let running = gate.running(); // never released
    std::thread::scope(|s| {
        let joiner = s.spawn(|| handle.wait());
        if let Err(err) = wait_until_or("the joiner reads", || flight(&pool) == Some("held")) {
            drop(running); // the task returns: no hang
            joiner.join().unwrap();
            panic!("{err}");
        }
        let options = crate::ShutdownOptions::new().cancel_running(true);
        assert!(pool.shutdown_with(options));
        joiner.join().unwrap();
    });
    assert!(handle.is_cancelled());
    assert!(pool.worker_pids().is_empty());
}
