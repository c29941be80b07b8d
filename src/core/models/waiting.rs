//! Models of a consumer waiting for a task as it completes: `join`, a
//! bounded `join`, `.await`, and done-callbacks. See the table in the
//! [module docs](super).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{CountWakes, bump, counter, read};
use crate::JoinTimeoutError;
use crate::core::cell::{Caller, TaskSpec};
use crate::core::handle::TaskHandle;
use crate::core::producer::{Producer, new_task};
use crate::loom::model::model;

/// A task, and a thread that completes it with 7.
fn completing() -> (loom::thread::JoinHandle<()>, TaskHandle<u32>) {
    let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
    (spawn_completion(producer), handle)
}

fn spawn_completion(producer: Producer<u32, ()>) -> loom::thread::JoinHandle<()> {
    loom::thread::spawn(move || assert!(producer.complete(Ok(7)).is_ok()))
}

/// A `join` blocked (or about to block) as the task completes: it is woken,
/// every callback added before has run by the time it returns, and it
/// returns the value.
#[test]
fn complete_racing_join() {
    model("complete_racing_join").exhaustive().check(|| {
        let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
        let calls = counter();
        let counted = calls.clone();
        handle.add_done_callback(move |_| bump(&counted));
        let completer = spawn_completion(producer);
        assert_eq!(handle.join().unwrap(), 7);
        assert_eq!(read(&calls), 1, "the callback ran before join returned");
        completer.join().unwrap();
    });
}

/// `join_deadline`, then `join_timeout`, as the task completes. Under loom
/// a timed wait times out at once (there is no clock), so both outcomes
/// are explored: the value, or a timeout whose handle still yields it.
#[test]
fn complete_racing_join_timeout() {
    model("complete_racing_join_timeout")
        .exhaustive()
        .check(|| {
            let (completer, handle) = completing();
            let far = Instant::now() + Duration::from_secs(3600);
            let handle = match handle.join_deadline(far) {
                Ok(value) => {
                    assert_eq!(value, 7);
                    None
                }
                Err(JoinTimeoutError::Timeout(handle)) => Some(handle),
                Err(JoinTimeoutError::Failed(err)) => panic!("{err}"),
            };
            let handle =
                handle.and_then(
                    |handle| match handle.join_timeout(Duration::from_secs(3600)) {
                        Ok(value) => {
                            assert_eq!(value, 7);
                            None
                        }
                        Err(JoinTimeoutError::Timeout(handle)) => Some(handle),
                        Err(JoinTimeoutError::Failed(err)) => panic!("{err}"),
                    },
                );
            if let Some(handle) = handle {
                assert_eq!(
                    handle.join().unwrap(),
                    7,
                    "a timed-out join hands back a live handle"
                );
            }
            completer.join().unwrap();
        });
}

/// Polls `handle` with a waker that counts its wakes.
fn poll_counting(handle: &mut TaskHandle<u32>) -> (Poll<u32>, StdArc<CountWakes>) {
    let (count, waker) = CountWakes::waker();
    let poll = Pin::new(handle)
        .poll(&mut Context::from_waker(&waker))
        .map(|outcome| outcome.unwrap());
    (poll, count)
}

/// A handle polled twice (two wakers, as a future moved between tasks is)
/// as the task completes. Once the producer is done, the last poll that
/// returned `Pending` has had its waker woken, exactly once, and the first
/// waker, replaced before the completion, never: no lost wake-up, no
/// wake-up of a waker nobody listens to any more.
#[test]
fn complete_racing_await() {
    model("complete_racing_await").exhaustive().check(|| {
        let (completer, mut handle) = completing();
        let (first, first_wakes) = poll_counting(&mut handle);
        if first == Poll::Ready(7) {
            completer.join().unwrap();
            assert_eq!(first_wakes.wakes(), 0);
            return;
        }
        let (second, second_wakes) = poll_counting(&mut handle);
        completer.join().unwrap();
        match second {
            Poll::Ready(value) => {
                assert_eq!(value, 7);
                assert_eq!(first_wakes.wakes(), 1, "the first waker was woken");
            }
            Poll::Pending => {
                assert_eq!(second_wakes.wakes(), 1, "the registered waker was woken");
                assert_eq!(first_wakes.wakes(), 0, "the replaced waker was not");
                let (third, _) = poll_counting(&mut handle);
                assert_eq!(third, Poll::Ready(7));
            }
        }
    });
}

/// A callback added as the task completes runs exactly once, before `join`
/// returns, on the completing thread or on the adding one; added to a task
/// already done, it runs on the adding thread, before `add_done_callback`
/// returns.
#[test]
fn complete_racing_add_done_callback() {
    model("complete_racing_add_done_callback")
        .exhaustive()
        .check(|| {
            let (completer, handle) = completing();
            let completing_thread = completer.thread().id();
            let ran_on = StdArc::new(crate::loom::sync::Mutex::new(Vec::new()));
            let recorded = ran_on.clone();
            let done_before = handle.is_done();
            handle.add_done_callback(move |outcome| {
                assert_eq!(outcome.ok(), Some(&7));
                recorded.lock().push(loom::thread::current().id());
            });
            let here = loom::thread::current().id();
            if done_before {
                assert_eq!(*ran_on.lock(), [here], "run in the call, on this thread");
            }
            assert_eq!(handle.join().unwrap(), 7);
            let ran_on = ran_on.lock().clone();
            assert!(
                ran_on == [here] || ran_on == [completing_thread],
                "once, on the completing or the adding thread: {ran_on:?}"
            );
            completer.join().unwrap();
        });
}

/// Callbacks added to a task from two threads as it completes, and after:
/// each runs exactly once, never two at a time (the outcome is lent to one
/// thread, which runs the other's too), and the outcome is back in the cell
/// for `join` afterwards.
#[test]
fn late_callbacks_from_two_threads() {
    model("late_callbacks_from_two_threads")
        .exhaustive()
        .check(|| {
            let (completer, handle) = completing();
            let handle = StdArc::new(handle);
            let running = StdArc::new(loom::sync::atomic::AtomicBool::new(false));
            let calls = counter();
            let add = {
                let running = running.clone();
                let calls = calls.clone();
                move |handle: &TaskHandle<u32>| {
                    let running = running.clone();
                    let calls = calls.clone();
                    handle.add_done_callback(move |outcome| {
                        use loom::sync::atomic::Ordering::Relaxed;
                        assert!(!running.swap(true, Relaxed), "two callbacks at once");
                        assert_eq!(outcome.ok(), Some(&7));
                        bump(&calls);
                        running.store(false, Relaxed);
                    });
                }
            };
            let adder = {
                let handle = handle.clone();
                let add = add.clone();
                loom::thread::spawn(move || add(&handle))
            };
            add(&handle);
            adder.join().unwrap();
            completer.join().unwrap();
            let handle = StdArc::try_unwrap(handle).expect("the adder is done");
            assert_eq!(handle.join().unwrap(), 7, "the outcome is back in the cell");
            assert_eq!(read(&calls), 2, "each callback ran once");
        });
}
