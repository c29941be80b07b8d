//! `SharedHandle`: one outcome read by many consumers, many times; read
//! from many threads at once, awaited by many clones at once on every
//! runtime, over values, panics, cancellations and promises.

mod common;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use common::{Gate, LONG};
use futurepool::{Promise, SharedHandle, TaskHandle, ThreadPool};

/// A task that returns `value` once the gate opens.
fn gated<T: Send + 'static>(pool: &ThreadPool, gate: &Gate, value: T) -> TaskHandle<T> {
    let waiter = gate.waiter();
    pool.submit(move || {
        waiter.wait();
        value
    })
    .unwrap()
}

/// Polls once and says whether that poll was pending, then goes on as the
/// future would: proves that a waiter registered before the task ended.
struct FirstPollPending<F> {
    fut: F,
    told: Option<mpsc::Sender<bool>>,
}

impl<F: Future + Unpin> Future for FirstPollPending<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let outcome = Pin::new(&mut self.fut).poll(cx);
        if let Some(told) = self.told.take() {
            told.send(outcome.is_pending()).unwrap();
        }
        outcome
    }
}

fn first_poll_pending<F>(fut: F, told: &mpsc::Sender<bool>) -> FirstPollPending<F> {
    FirstPollPending {
        fut,
        told: Some(told.clone()),
    }
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn a_shared_handle_is_clone_send_and_sync() {
    assert_send_sync::<SharedHandle<String>>();
    assert_send_sync::<SharedHandle<Vec<u8>>>();
    let pool = ThreadPool::new();
    let shared = pool.submit(|| 1).unwrap().shared();
    let clone = shared.clone();
    assert_eq!(clone.id(), shared.id());
}

#[test]
fn many_threads_read_one_outcome_at_once() {
    const READERS: usize = 8;
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let shared = gated(&pool, &gate, String::from("the one value")).shared();
    let start = Arc::new(Barrier::new(READERS + 1));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let shared = shared.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let value: &String = shared.get().unwrap();
                // Every reader borrows the same value: one copy, kept.
                (value.clone(), value as *const String as usize)
            })
        })
        .collect();
    start.wait();
    gate.open();
    let read: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let here = shared.get().unwrap() as *const String as usize;
    for (value, address) in read {
        assert_eq!(value, "the one value");
        assert_eq!(address, here);
    }
}

#[test]
fn reads_repeat() {
    let pool = ThreadPool::new();
    let shared = pool.submit(|| vec![1, 2, 3]).unwrap().shared();
    assert_eq!(shared.get().unwrap(), &[1, 2, 3]);
    assert_eq!(shared.get().unwrap(), &[1, 2, 3]);
    assert_eq!(shared.join().unwrap(), [1, 2, 3]);
    assert_eq!(shared.join().unwrap(), [1, 2, 3]);
    assert_eq!(shared.try_get().unwrap().unwrap(), &[1, 2, 3]);
    assert!(shared.is_done());
    assert!(!shared.is_cancelled());
    assert!(!shared.cancel(), "too late");
}

#[test]
fn bounded_reads_give_none_until_done() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let shared = gated(&pool, &gate, 5u8).shared();
    assert!(shared.try_get().is_none());
    assert!(shared.get_timeout(Duration::from_millis(1)).is_none());
    assert!(shared.get_deadline(std::time::Instant::now()).is_none());
    assert!(!shared.wait_timeout(Duration::from_millis(1)));
    gate.open();
    assert_eq!(shared.get_timeout(LONG).unwrap().unwrap(), &5);
    assert!(shared.wait_deadline(std::time::Instant::now()));
}

#[test]
fn a_panicking_task_is_read_as_the_same_error_by_everyone() {
    let pool = ThreadPool::new();
    let handle = pool
        .task()
        .name("parse")
        .submit(|| -> u32 { panic!("bad digit") })
        .unwrap();
    let id = handle.id();
    let shared = handle.shared();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let shared = shared.clone();
            thread::spawn(move || {
                let err = shared.get().unwrap_err();
                assert!(err.is_panic());
                (err.to_string(), err.task_id())
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(
            reader.join().unwrap(),
            ("task `parse` panicked: bad digit".to_owned(), Some(id))
        );
    }
    // A clone of the error: the panic's message, the task, as a new value.
    let copy = shared.join().unwrap_err();
    assert_eq!(copy.panic_message(), Some("bad digit"));
    assert_eq!(copy.task_id(), Some(id));
    assert_eq!(copy.task_name(), Some("parse"));
    let payload = copy.into_panic();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("bad digit")
    );
    // The original stays with the handle.
    assert!(shared.get().unwrap_err().is_panic());
}

#[test]
fn cancelling_through_one_clone_cancels_for_all() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let blocker = gated(&pool, &gate, ());
    let shared = pool.submit(|| 1).unwrap().shared();
    let other = shared.clone();
    assert!(other.cancel());
    assert!(shared.is_cancelled());
    assert!(shared.get().unwrap_err().is_cancelled());
    assert!(other.join().unwrap_err().is_cancelled());
    gate.open();
    blocker.join().unwrap();
}

#[test]
fn callbacks_added_through_any_clone_run_once_each() {
    let (promise, handle) = Promise::new();
    let shared = handle.shared();
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for clone in [shared.clone(), shared.clone()] {
        let calls = calls.clone();
        let tx = tx.clone();
        clone.add_done_callback(move |outcome| {
            calls.fetch_add(1, Ordering::SeqCst);
            tx.send(*outcome.unwrap()).unwrap();
        });
    }
    promise.set(9u8).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "before `set` returned");
    // Late: run at once, in the call, with the kept outcome; on any clone,
    // from any thread, again and again.
    let late = shared.clone();
    let tx2 = tx.clone();
    thread::spawn(move || {
        late.add_done_callback(move |outcome| tx2.send(*outcome.unwrap() + 1).unwrap())
    })
    .join()
    .unwrap();
    shared.add_done_callback(move |outcome| tx.send(*outcome.unwrap() + 2).unwrap());
    let mut got: Vec<u8> = rx.try_iter().collect();
    got.sort_unstable();
    assert_eq!(got, [9, 9, 10, 11]);
    assert_eq!(shared.get().unwrap(), &9);
}

#[test]
fn a_late_callback_that_panics_leaves_the_handle_readable() {
    let (promise, handle) = Promise::new();
    let shared = handle.shared();
    promise.set(1u8).unwrap();
    shared.add_done_callback(|_| panic!("a callback's bug"));
    assert_eq!(shared.get().unwrap(), &1);
}

#[test]
fn a_shared_promise_is_read_as_it_is_kept() {
    let (promise, handle) = Promise::named("config");
    let shared = handle.shared();
    assert_eq!(shared.name(), Some("config"));
    let reader = {
        let shared = shared.clone();
        thread::spawn(move || shared.get().cloned().map_err(|e| e.to_string()))
    };
    promise.set(String::from("loaded")).unwrap();
    assert_eq!(reader.join().unwrap(), Ok(String::from("loaded")));
    let id = shared.id().as_u64();
    assert_eq!(
        format!("{shared:?}"),
        format!("SharedHandle {{ id: {id}, name: \"config\", state: finished }}")
    );
}

/// Every clone awaited at once on tokio's multi-thread runtime: each first
/// poll is pending (reported before the task may end), then all wake.
#[test]
fn many_clones_are_awaited_at_once_on_tokio() {
    const CLONES: usize = 6;
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let shared = gated(&pool, &gate, 42u64).shared();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (told_tx, told_rx) = mpsc::channel();
    let tasks: Vec<_> = (0..CLONES)
        .map(|_| runtime.spawn(first_poll_pending(shared.clone(), &told_tx)))
        .collect();
    for _ in 0..CLONES {
        assert!(
            told_rx.recv_timeout(LONG).unwrap(),
            "pending before the task ends"
        );
    }
    gate.open();
    for task in tasks {
        assert_eq!(runtime.block_on(task).unwrap().unwrap(), 42);
    }
}

/// Clones awaited at once on smol, on `futures::executor`, on tokio's
/// current-thread runtime, by borrowing, and by a blocking reader, each on
/// its own thread: all pending first, all woken by the one completion.
#[test]
fn clones_are_awaited_on_different_runtimes_at_once() {
    let pool = ThreadPool::new();
    let gate = Gate::new();
    let shared = gated(&pool, &gate, String::from("done")).shared();
    let (told_tx, told_rx) = mpsc::channel();
    let mut waiters = Vec::new();
    {
        let (shared, told) = (shared.clone(), told_tx.clone());
        waiters.push(thread::spawn(move || {
            smol::block_on(first_poll_pending(shared, &told)).unwrap()
        }));
    }
    {
        let (shared, told) = (shared.clone(), told_tx.clone());
        waiters.push(thread::spawn(move || {
            futures::executor::block_on(first_poll_pending(shared, &told)).unwrap()
        }));
    }
    {
        let (shared, told) = (shared.clone(), told_tx.clone());
        waiters.push(thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(first_poll_pending(shared, &told))
                .unwrap()
        }));
    }
    {
        // A borrowing await: `(&shared).await`, through `IntoFuture`.
        let (shared, told) = (shared.clone(), told_tx.clone());
        waiters.push(thread::spawn(move || {
            let value =
                futures::executor::block_on(first_poll_pending((&shared).into_future(), &told));
            value.unwrap().clone()
        }));
    }
    for _ in 0..4 {
        assert!(
            told_rx.recv_timeout(LONG).unwrap(),
            "pending before the task ends"
        );
    }
    let blocking = {
        let shared = shared.clone();
        thread::spawn(move || shared.get().unwrap().clone())
    };
    gate.open();
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), "done");
    }
    assert_eq!(blocking.join().unwrap(), "done");
}

#[test]
fn a_borrowing_await_works_for_a_value_that_is_not_clone() {
    struct Connection {
        id: u32,
    }
    let pool = ThreadPool::new();
    let shared = pool.submit(|| Connection { id: 7 }).unwrap().shared();
    let (a, b) = futures::executor::block_on(async {
        futures::join!((&shared).into_future(), (&shared).into_future())
    });
    assert_eq!(a.unwrap().id, 7);
    assert_eq!(b.unwrap().id, 7);
}

#[test]
fn a_dropped_pending_await_does_not_disturb_the_others() {
    let (promise, handle) = Promise::new();
    let shared = handle.shared();
    let mut abandoned = shared.clone();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut abandoned).poll(&mut cx).is_pending());
    drop(abandoned); // registered, then dropped unfinished
    let mut kept = shared.clone();
    assert!(Pin::new(&mut kept).poll(&mut cx).is_pending());
    promise.set(3u8).unwrap();
    assert_eq!(futures::executor::block_on(kept).unwrap(), 3);
    // A finished clone can be polled again: it is read again.
    let mut again = shared.clone();
    assert!(matches!(
        Pin::new(&mut again).poll(&mut cx),
        Poll::Ready(Ok(3))
    ));
    assert!(matches!(
        Pin::new(&mut again).poll(&mut cx),
        Poll::Ready(Ok(3))
    ));
}

#[test]
fn waiting_for_a_shared_handle_on_a_full_pool_lends_the_worker() {
    // A task of a one-worker pool waits for another task of the same pool
    // through a shared handle: the worker lends its place, as for `join`.
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (shared_tx, shared_rx) = mpsc::channel::<SharedHandle<u8>>();
    let outer = pool
        .submit(move || *shared_rx.recv().unwrap().get().unwrap() + 1)
        .unwrap();
    let inner = pool.submit(|| 1u8).unwrap().shared();
    shared_tx.send(inner.clone()).unwrap();
    assert_eq!(outer.join_timeout(LONG).ok(), Some(2));
    assert_eq!(inner.get().unwrap(), &1);
}

#[test]
fn shared_handles_go_into_as_completed_and_wait_beside_plain_ones() {
    use futurepool::{ReturnWhen, TaskRef, as_completed, wait};

    let pool = ThreadPool::new();
    let gate = Gate::new();
    let slow = gated(&pool, &gate, 1u8).shared();
    let fast = pool.submit(|| 2u8).unwrap().shared();
    let mut done = as_completed([slow.clone(), fast.clone()]);
    assert_eq!(done.next().unwrap().join().unwrap(), 2);
    gate.open();
    assert_eq!(done.next().unwrap().join().unwrap(), 1);
    assert!(done.next().is_none());

    // Mixed with a plain handle of another type, by reference: the shared
    // ones stay readable afterwards.
    let plain = pool.submit(|| "plain").unwrap();
    let waited = wait(
        [&slow as &dyn TaskRef, &fast, &plain],
        ReturnWhen::AllCompleted,
    );
    assert_eq!(waited.done.len(), 3);
    assert_eq!(*slow.get().unwrap(), 1);
    assert_eq!(plain.join().unwrap(), "plain");
}
