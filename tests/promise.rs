//! `Promise`: a task kept by hand. Set, fail, cancel (pending and running),
//! drop, `set_running` races, where callbacks run, and the handle with
//! `wait`, `as_completed`, callbacks and `.await` like any other.

mod common;

use std::error::Error;
use std::fmt;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::LONG;
use futurepool::{Promise, ReturnWhen, TaskHandle, as_completed, wait, wait_timeout};

#[derive(Debug)]
struct NotFound(&'static str);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no such key: {}", self.0)
    }
}

impl Error for NotFound {}

#[test]
fn a_value_set_on_another_thread_is_joined() {
    let (promise, handle) = Promise::new();
    assert!(!handle.is_done());
    assert!(!handle.is_running());
    let keeper = thread::spawn(move || promise.set(vec![1, 2, 3]));
    assert_eq!(handle.join().unwrap(), [1, 2, 3]);
    assert_eq!(keeper.join().unwrap(), Ok(()));
}

#[test]
fn a_failure_is_a_custom_error_with_the_cause_as_source() {
    let (promise, handle) = Promise::<u32>::new();
    promise.fail(NotFound("alice")).unwrap();
    let err = handle.join().unwrap_err();
    assert!(err.is_custom());
    assert!(!err.is_panic() && !err.is_cancelled() && !err.is_abandoned());
    assert_eq!(err.to_string(), "task failed");
    let source = err.source().unwrap();
    assert_eq!(source.to_string(), "no such key: alice");
    assert_eq!(
        err.custom_error()
            .unwrap()
            .downcast_ref::<NotFound>()
            .unwrap()
            .0,
        "alice"
    );
    let debug = format!("{err:?}");
    assert!(
        debug.starts_with("TaskError { kind: Custom(NotFound(\"alice\")), task: TaskId("),
        "{debug}"
    );
}

#[test]
fn a_named_promise_names_its_task_everywhere() {
    let (promise, handle) = Promise::<u32>::named("lookup");
    assert_eq!(promise.name(), Some("lookup"));
    assert_eq!(handle.name(), Some("lookup"));
    assert_eq!(promise.id(), handle.id());
    let id = handle.id();
    promise.fail("timeout upstream").unwrap();
    let err = handle.join().unwrap_err();
    assert_eq!(err.to_string(), "task `lookup` failed");
    assert_eq!(err.task_name(), Some("lookup"));
    assert_eq!(err.task_id(), Some(id));
}

#[test]
fn too_late_the_value_or_the_error_comes_back() {
    let (promise, handle) = Promise::new();
    assert!(handle.cancel());
    assert!(promise.is_cancelled());
    assert_eq!(
        promise.set(String::from("unwanted")),
        Err(String::from("unwanted"))
    );
    assert!(handle.join().unwrap_err().is_cancelled());

    let (promise, handle) = Promise::<u8>::new();
    assert!(handle.cancel());
    let back = promise.fail(NotFound("bob")).unwrap_err();
    assert_eq!(back.downcast_ref::<NotFound>().unwrap().0, "bob");
    assert!(handle.join().unwrap_err().is_cancelled());
}

#[test]
fn a_dropped_promise_abandons_its_task() {
    let (promise, handle) = Promise::<u8>::named("orphan");
    drop(promise);
    let err = handle.join().unwrap_err();
    assert!(err.is_abandoned());
    assert_eq!(
        err.to_string(),
        "task `orphan` was abandoned: its promise or executor was dropped before it ended"
    );
}

#[test]
fn a_promise_dropped_by_a_panicking_keeper_abandons_its_task() {
    let (promise, handle) = Promise::<u8>::new();
    let keeper = thread::spawn(move || {
        let _kept_until_unwound = promise;
        panic!("the keeper's bug");
    });
    assert!(keeper.join().is_err());
    assert!(handle.join().unwrap_err().is_abandoned());
}

#[test]
fn dropping_a_cancelled_promise_leaves_it_cancelled() {
    let (promise, handle) = Promise::<u8>::new();
    handle.cancel();
    drop(promise);
    assert!(handle.join().unwrap_err().is_cancelled());
}

#[test]
fn set_running_marks_the_task_running_until_it_is_kept() {
    let (promise, handle) = Promise::new();
    assert!(promise.set_running());
    assert!(handle.is_running());
    assert!(promise.set_running(), "again, still running");
    assert!(!handle.is_done());
    promise.set(7).unwrap();
    assert!(!handle.is_running());
    assert_eq!(handle.join().unwrap(), 7);
}

#[test]
fn set_running_after_a_cancel_says_skip_the_work() {
    let (promise, handle) = Promise::<u8>::new();
    assert!(handle.cancel());
    assert!(!promise.set_running());
    assert!(!handle.is_running());
}

/// The decision documented on `Promise`: a running promise can be
/// cancelled (Python refuses); the keeper sees it through `is_cancelled`.
#[test]
fn cancelling_a_running_promise_cancels_it_and_tells_the_keeper() {
    let (promise, handle) = Promise::<u64>::new();
    let (running_tx, running_rx) = mpsc::channel();
    let (cancelled_tx, cancelled_rx) = mpsc::channel::<()>();
    let keeper = thread::spawn(move || {
        assert!(promise.set_running());
        running_tx.send(()).unwrap();
        cancelled_rx.recv().unwrap();
        assert!(promise.is_cancelled());
        assert!(!promise.set_running(), "no longer running: cancelled");
        promise.set(1) // the value nobody wants comes back
    });
    running_rx.recv_timeout(LONG).unwrap();
    assert!(handle.is_running());
    assert!(handle.cancel());
    assert!(handle.is_cancelled());
    cancelled_tx.send(()).unwrap();
    assert_eq!(keeper.join().unwrap(), Err(1));
    assert!(handle.join().unwrap_err().is_cancelled());
}

/// A keeper that starts, checks and sets, racing a consumer that cancels:
/// exactly one of them wins, and each knows which.
#[test]
fn a_keeper_racing_a_cancel_agrees_on_one_winner() {
    for _ in 0..500 {
        let (promise, handle) = Promise::<u32>::new();
        let start = Arc::new(Barrier::new(2));
        let keeper = {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                if !promise.set_running() {
                    assert!(promise.is_cancelled());
                    return false;
                }
                promise.set(5).is_ok()
            })
        };
        start.wait();
        let cancelled = handle.cancel();
        let kept = keeper.join().unwrap();
        assert_ne!(kept, cancelled, "exactly one wins");
        match handle.join() {
            Ok(value) => assert!(kept && value == 5),
            Err(err) => assert!(cancelled && err.is_cancelled()),
        }
    }
}

#[test]
fn callbacks_run_on_the_keeping_thread() {
    let (promise, handle) = Promise::new();
    let (tx, rx) = mpsc::channel();
    handle.add_done_callback(move |outcome| {
        tx.send((thread::current().id(), *outcome.unwrap()))
            .unwrap();
    });
    let keeper = thread::spawn(move || {
        promise.set(3).unwrap();
        thread::current().id()
    });
    let keeper_id = keeper.join().unwrap();
    // It ran before `set` returned, so it is there already.
    assert_eq!(rx.try_recv().unwrap(), (keeper_id, 3));
    assert_eq!(handle.join().unwrap(), 3);
}

#[test]
fn callbacks_of_a_cancelled_promise_run_on_the_cancelling_thread() {
    let (promise, handle) = Promise::<u8>::new();
    let (tx, rx) = mpsc::channel();
    handle.add_done_callback(move |outcome| {
        tx.send((thread::current().id(), outcome.unwrap_err().is_cancelled()))
            .unwrap();
    });
    assert!(handle.cancel());
    assert_eq!(rx.try_recv().unwrap(), (thread::current().id(), true));
    drop(promise);
}

#[test]
fn callbacks_of_a_dropped_promise_run_where_it_is_dropped() {
    let (promise, handle) = Promise::<u8>::new();
    let (tx, rx) = mpsc::channel();
    handle.add_done_callback(move |outcome| {
        tx.send((thread::current().id(), outcome.unwrap_err().is_abandoned()))
            .unwrap();
    });
    let dropper = thread::spawn(move || {
        drop(promise);
        thread::current().id()
    });
    let dropper_id = dropper.join().unwrap();
    assert_eq!(rx.try_recv().unwrap(), (dropper_id, true));
    drop(handle);
}

#[test]
fn wait_returns_when_the_first_promise_is_kept() {
    let (first, first_handle) = Promise::new();
    let (_second, second_handle) = Promise::<u8>::new();
    let handles = [first_handle, second_handle];
    let nothing_yet = wait_timeout(
        &handles,
        ReturnWhen::FirstCompleted,
        Duration::from_millis(1),
    );
    assert!(nothing_yet.done.is_empty());
    assert_eq!(nothing_yet.not_done.len(), 2);
    first.set(1).unwrap();
    let waited = wait(&handles, ReturnWhen::FirstCompleted);
    assert_eq!(waited.done.len(), 1);
    assert_eq!(waited.not_done.len(), 1);
    assert!(waited.done[0].is_done());
}

#[test]
fn a_failed_promise_is_an_exception_to_wait() {
    let (ok, ok_handle) = Promise::<u8>::new();
    let (bad, bad_handle) = Promise::<u8>::new();
    let (_pending, pending_handle) = Promise::<u8>::new();
    ok.set(1).unwrap();
    bad.fail("broken").unwrap();
    let handles = [ok_handle, bad_handle, pending_handle];
    let waited = wait(&handles, ReturnWhen::FirstException);
    assert_eq!(waited.done.len(), 2);
    assert_eq!(waited.not_done.len(), 1);
}

#[test]
fn as_completed_yields_promises_in_the_order_they_are_kept() {
    let promises: Vec<(Promise<usize>, TaskHandle<usize>)> =
        (0..4).map(|_| Promise::new()).collect();
    let (promises, handles): (Vec<_>, Vec<_>) = promises.into_iter().unzip();
    let keyed: Vec<_> = handles.into_iter().enumerate().collect();
    let (order_tx, order_rx) = mpsc::channel::<usize>();
    let keeper = thread::spawn(move || {
        let mut promises: Vec<Option<Promise<usize>>> = promises.into_iter().map(Some).collect();
        for i in order_rx {
            promises[i].take().unwrap().set(i * 10).unwrap();
        }
    });
    let mut finished = as_completed(keyed);
    for i in [2, 0, 3, 1] {
        order_tx.send(i).unwrap();
        let (key, handle) = finished.next().unwrap();
        assert_eq!(key, i);
        assert_eq!(handle.join().unwrap(), i * 10);
    }
    assert!(finished.next().is_none());
    drop(order_tx);
    keeper.join().unwrap();
}

/// Awaiting a promise's handle on every runtime we test with: the first
/// poll is pending (nobody has kept the promise), and only then is the
/// keeper told to go, so the wake-up from another thread is what ends the
/// await.
#[test]
fn a_promise_handle_is_awaited_on_any_runtime() {
    fn case() -> (
        std::thread::JoinHandle<()>,
        TaskHandle<u32>,
        mpsc::Sender<()>,
    ) {
        let (promise, handle) = Promise::new();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let keeper = thread::spawn(move || {
            go_rx.recv().unwrap();
            promise.set(42).unwrap();
        });
        (keeper, handle, go_tx)
    }

    let (keeper, handle, go) = case();
    let answer = futures::executor::block_on(async move {
        let mut handle = handle;
        assert!(futures::poll!(&mut handle).is_pending());
        go.send(()).unwrap();
        handle.await
    });
    assert_eq!(answer.unwrap(), 42);
    keeper.join().unwrap();

    let (keeper, handle, go) = case();
    let answer = smol::block_on(async move {
        let mut handle = handle;
        assert!(futures::poll!(&mut handle).is_pending());
        go.send(()).unwrap();
        handle.await
    });
    assert_eq!(answer.unwrap(), 42);
    keeper.join().unwrap();

    for multi in [false, true] {
        let runtime = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
        };
        let (keeper, handle, go) = case();
        let answer = runtime.block_on(async move {
            let mut handle = handle;
            assert!(futures::poll!(&mut handle).is_pending());
            go.send(()).unwrap();
            handle.await
        });
        assert_eq!(answer.unwrap(), 42);
        keeper.join().unwrap();
    }
}

#[test]
fn a_promise_of_a_send_only_type_works() {
    let (promise, handle) = Promise::new();
    thread::spawn(move || promise.set(std::cell::Cell::new(5u8)).unwrap())
        .join()
        .unwrap();
    assert_eq!(handle.join().unwrap().get(), 5);
}

#[test]
fn a_promise_shows_its_task() {
    let (promise, handle) = Promise::<u8>::new();
    let id = handle.id().as_u64();
    assert_eq!(
        format!("{promise:?}"),
        format!("Promise {{ id: {id}, state: pending }}")
    );
    promise.set_running();
    assert_eq!(
        format!("{promise:?}"),
        format!("Promise {{ id: {id}, state: running }}")
    );
    handle.cancel();
    assert_eq!(
        format!("{promise:?}"),
        format!("Promise {{ id: {id}, state: cancelled }}")
    );
}
