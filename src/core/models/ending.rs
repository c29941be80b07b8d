//! Models of the events that end a task racing each other and the
//! producer's start: see the table in the [module docs](super).

use std::sync::Arc as StdArc;

use super::{Closure, bump, counter, read};
use crate::core::cell::{Caller, Start, TaskSpec};
use crate::core::producer::new_task;
use crate::core::token::CancelToken;
use crate::loom::model::model;

/// A producer starting a task, as a pool's worker does (take the closure,
/// start, run it and complete; or, refused, drop it), racing a `cancel`
/// from the handle's thread. Returns whether `cancel` said it cancelled,
/// whether the producer started the task, and whether its outcome was
/// wanted.
fn start_racing_cancel(spec: TaskSpec) -> (bool, bool, bool) {
    let token = spec.token.clone();
    let (producer, handle) = new_task::<u32, Closure>(Closure::new(), spec, Caller::User);
    let counts = producer.payload().counts.clone();
    let calls = counter();
    let counted = calls.clone();
    handle.add_done_callback(move |_| bump(&counted));
    let handle = StdArc::new(handle);
    let canceller = {
        let handle = handle.clone();
        loom::thread::spawn(move || handle.cancel())
    };
    // What a worker does: claim the closure through the cell, then run it
    // or drop it (or find that the canceller's thread dropped it).
    let started = match producer.start() {
        Start::Run => {
            // SAFETY: `Start::Run` claimed the payload for this thread.
            let job = unsafe { producer.payload().take() };
            let value = job.expect("a task that starts has its closure").run();
            Some(producer.complete(Ok(value)).is_ok())
        }
        Start::Drop => {
            // SAFETY: `Start::Drop` claimed the payload for this thread.
            drop(unsafe { producer.payload().take() });
            None
        }
        Start::Gone => None,
    };
    let (started, wanted) = (started.is_some(), started.unwrap_or(false));
    let cancelled = canceller.join().unwrap();
    let handle = StdArc::try_unwrap(handle).expect("the canceller is done");
    assert_eq!(
        counts.get(),
        (usize::from(started), 1),
        "the closure ran iff the task started, and was dropped once"
    );
    match handle.join() {
        Ok(value) => assert!(started && wanted && !cancelled && value == 7),
        Err(err) => assert!(cancelled && !wanted && err.is_cancelled(), "{err}"),
    }
    assert_eq!(read(&calls), 1, "the callback ran once");
    if let Some(token) = token {
        assert_eq!(
            token.is_cancelled(),
            started && cancelled,
            "the token is signalled iff a running task was cancelled"
        );
    }
    (cancelled, started, wanted)
}

/// A cancel racing the start of a task that can't be stopped once it runs
/// (a thread-pool task without a token): exactly one of them happens.
#[test]
fn cancel_racing_start() {
    model("cancel_racing_start").exhaustive().check(|| {
        let (cancelled, started, wanted) = start_racing_cancel(TaskSpec::default());
        assert_ne!(
            cancelled, started,
            "started, or cancelled before it started"
        );
        assert_eq!(wanted, started);
    });
}

/// A cancel racing the start of a task with a token: the cancel may also
/// win after the start, and then the producer's outcome is handed back.
#[test]
fn cancel_racing_start_of_a_cancellable_task() {
    model("cancel_racing_start_of_a_cancellable_task")
        .exhaustive()
        .check(|| {
            let spec = TaskSpec {
                token: Some(CancelToken::new()),
                ..TaskSpec::default()
            };
            let (cancelled, _started, wanted) = start_racing_cancel(spec);
            assert_ne!(cancelled, wanted, "exactly one of cancel and complete wins");
        });
}

/// A cancel racing the producer's completion: exactly one wins; `join`
/// returns the winner's outcome; a callback added before either runs exactly
/// once, before `join` can return.
#[test]
fn cancel_racing_complete() {
    model("cancel_racing_complete").exhaustive().check(|| {
        let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
        let calls = counter();
        let counted = calls.clone();
        handle.add_done_callback(move |_| bump(&counted));
        let handle = StdArc::new(handle);
        let canceller = {
            let handle = handle.clone();
            loom::thread::spawn(move || handle.cancel())
        };
        let completed = producer.complete(Ok(7)).is_ok();
        let cancelled = canceller.join().unwrap();
        assert_ne!(completed, cancelled, "exactly one wins");
        let handle = StdArc::try_unwrap(handle).expect("the canceller is done");
        match handle.join() {
            Ok(value) => assert!(completed && value == 7),
            Err(err) => assert!(cancelled && err.is_cancelled()),
        }
        assert_eq!(read(&calls), 1, "the callback ran once");
    });
}

/// A promise's keeper starting and keeping it, racing a consumer that
/// cancels: exactly one wins; the keeper learns it lost from `set_running`
/// or from `set` handing the value back; a callback runs once.
#[test]
fn a_kept_promise_racing_a_cancel() {
    model("a_kept_promise_racing_a_cancel")
        .exhaustive()
        .check(|| {
            let (promise, handle) = crate::core::promise::Promise::<u32>::new();
            let calls = counter();
            let counted = calls.clone();
            handle.add_done_callback(move |_| bump(&counted));
            let handle = StdArc::new(handle);
            let canceller = {
                let handle = handle.clone();
                loom::thread::spawn(move || handle.cancel())
            };
            let kept = if promise.set_running() {
                promise.set(7).is_ok()
            } else {
                assert!(promise.is_cancelled());
                false
            };
            let cancelled = canceller.join().unwrap();
            assert_ne!(kept, cancelled, "exactly one wins");
            let handle = StdArc::try_unwrap(handle).expect("the canceller is done");
            match handle.join() {
                Ok(value) => assert!(kept && value == 7),
                Err(err) => assert!(cancelled && err.is_cancelled()),
            }
            assert_eq!(read(&calls), 1, "the callback ran once");
        });
}

/// Three ways to end a running task with a token at once: the deadline
/// timer's expiry (on a thread of its own, as the timer thread does), the
/// producer's outcome, and a cancel. Exactly one wins and `join` reports
/// it; the token is signalled iff the expiry or the cancel won; the
/// callback runs once, before `join` returns, and never on the timer's
/// thread: an expiry hands it to the callback runner.
#[test]
fn expire_racing_complete_and_cancel() {
    model("expire_racing_complete_and_cancel")
        .exhaustive()
        .check(|| {
            let token = CancelToken::new();
            let spec = TaskSpec {
                token: Some(token.clone()),
                ..TaskSpec::default()
            };
            let (producer, handle) = new_task::<u32, ()>((), spec, Caller::User);
            let ran_on = StdArc::new(crate::loom::sync::Mutex::new(None));
            let recorded = ran_on.clone();
            handle.add_done_callback(move |_| {
                let mut ran_on = recorded.lock();
                assert!(ran_on.is_none(), "the callback runs once");
                *ran_on = Some(loom::thread::current().id());
            });
            assert_eq!(producer.start(), Start::Run);
            let expiry = producer.expiry();
            let timer = loom::thread::spawn(move || {
                if let Some(task) = expiry.upgrade() {
                    task.expire();
                }
            });
            let completer = loom::thread::spawn(move || producer.complete(Ok(7)).is_ok());
            let cancelled = handle.cancel();
            let timer_id = timer.thread().id();
            let completed = completer.join().unwrap();
            let outcome = handle.join();
            let ran_on = ran_on
                .lock()
                .expect("the callback ran before join returned");
            assert_ne!(ran_on, timer_id, "the timer runs no user code");
            timer.join().unwrap();
            match outcome {
                Ok(value) => assert!(completed && !cancelled && value == 7),
                Err(err) if err.is_cancelled() => assert!(cancelled && !completed),
                Err(err) => assert!(err.is_timeout() && !cancelled && !completed, "{err}"),
            }
            assert_eq!(
                token.is_cancelled(),
                !completed,
                "signalled iff not completed"
            );
        });
}
