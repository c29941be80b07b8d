//! A task's panic is a value: caught at the task boundary, kept with its
//! payload, never killing a worker.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;

use common::{Gate, LONG};
use futurepool::ThreadPool;

#[test]
fn a_panic_becomes_the_task_error() {
    let pool = ThreadPool::new();
    let err = pool
        .submit(|| -> u8 { panic!("boom") })
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled() && !err.is_timeout() && !err.is_broken() && !err.is_shutdown());
    assert_eq!(err.panic_message(), Some("boom"));
    assert_eq!(err.to_string(), "task panicked: boom");
    assert_eq!(
        format!("{err:?}"),
        format!(
            "TaskError {{ kind: Panic(\"boom\"), task: {:?} }}",
            err.task_id().unwrap()
        )
    );
    assert!(std::error::Error::source(&err).is_none());
}

#[test]
fn formatted_and_custom_payloads_are_kept() {
    let pool = ThreadPool::new();
    let err = pool
        .submit(|| -> u8 { panic!("code {}", 7) })
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(err.panic_message(), Some("code 7"));

    #[derive(Debug, PartialEq)]
    struct Custom(u32);
    let err = pool
        .submit(|| -> u8 { panic::panic_any(Custom(3)) })
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), None);
    assert_eq!(err.to_string(), "task panicked");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<Custom>(), Some(&Custom(3)));
}

// CPython: executor.py ExecutorTest.test_swallows_falsey_exceptions. Python
// once took an exception whose `bool()` is false for success; the Rust
// analogue is a zero-sized payload, which must still be a failure.
#[test]
fn an_empty_payload_is_still_a_failure() {
    let pool = ThreadPool::new();
    let err = pool
        .submit(|| -> u8 { panic::panic_any(()) })
        .unwrap()
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert!(err.into_panic().downcast_ref::<()>().is_some());
}

#[test]
fn a_panic_can_be_resumed_in_the_caller() {
    let pool = ThreadPool::new();
    let err = pool
        .submit(|| -> u8 { panic!("carry me") })
        .unwrap()
        .join()
        .unwrap_err();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| panic::resume_unwind(err.into_panic())))
        .unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"carry me"));
}

#[test]
fn try_into_panic_gives_back_other_errors() {
    let (pool, blocker) = common::busy_pool();
    let queued = pool.submit(|| 1).unwrap();
    queued.cancel();
    let err = queued.join().unwrap_err();
    let err = err.try_into_panic().unwrap_err();
    assert!(err.is_cancelled());
    drop(blocker);
}

#[test]
#[should_panic(expected = "not a panic")]
fn into_panic_on_another_error_panics() {
    let (pool, blocker) = common::busy_pool();
    let queued = pool.submit(|| 1).unwrap();
    queued.cancel();
    let err = queued.join().unwrap_err();
    drop(blocker);
    drop(pool);
    let _ = err.into_panic();
}

#[test]
fn a_panic_does_not_kill_the_worker() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .thread_name("pw")
        .build()
        .unwrap();
    for _ in 0..3 {
        assert!(pool.submit(|| panic!("again")).unwrap().join().is_err());
    }
    let name = pool
        .submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(name.as_deref(), Some("pw-0"), "still the first worker");
    assert_eq!(pool.worker_count(), 1);
}

#[test]
fn many_panics_at_once_are_each_reported() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let handles: Vec<_> = (0..40)
        .map(|i| {
            pool.submit(move || {
                if i % 2 == 0 {
                    panic!("even {i}");
                }
                i
            })
            .unwrap()
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(v) => assert_eq!(v, i),
            Err(e) => assert_eq!(e.panic_message(), Some(format!("even {i}").as_str())),
        }
    }
    assert_eq!(pool.submit(|| "alive").unwrap().join().unwrap(), "alive");
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop panicked");
    }
}

#[test]
fn a_capture_that_panics_on_drop_is_the_task_panicking() {
    let pool = ThreadPool::new();
    let capture = PanicOnDrop;
    let err = pool
        .submit(move || {
            let _c = capture;
            1
        })
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(err.panic_message(), Some("drop panicked"));
}

#[test]
fn a_value_that_panics_when_dropped_unwanted_does_not_kill_the_worker() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .thread_name("pd")
        .build()
        .unwrap();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let handle = pool
        .submit(move || {
            waiter.wait();
            PanicOnDrop
        })
        .unwrap();
    drop(handle); // the worker will drop the value itself
    gate.open();
    let name = pool
        .submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(name.as_deref(), Some("pd-0"));
}

#[test]
fn a_panic_after_cancellation_leaves_the_task_cancelled() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let handle = pool
        .submit_cancellable(move |token| -> u8 {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
            panic!("stopping rudely")
        })
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    assert!(handle.cancel());
    assert!(handle.join().unwrap_err().is_cancelled());
    assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
}

#[test]
fn awaiting_a_panicked_task_gives_the_error_not_a_panic() {
    let pool = ThreadPool::new();
    let h = pool.submit(|| -> u8 { panic!("async") }).unwrap();
    let err = futures::executor::block_on(h).unwrap_err();
    assert_eq!(err.panic_message(), Some("async"));
}

#[test]
fn task_error_is_send_and_sync_even_for_a_non_sync_payload() {
    fn assert_send_sync<E: Send + Sync + 'static>(_: &E) {}
    let pool = ThreadPool::new();
    // `Cell` is Send but not Sync: the error must still be Sync, and the
    // payload must still come back whole.
    let err = pool
        .submit(|| std::panic::panic_any(std::cell::Cell::new(7_u8)))
        .unwrap()
        .join()
        .unwrap_err();
    assert_send_sync(&err);
    assert_eq!(err.panic_message(), None);
    let payload = err.into_panic();
    assert_eq!(
        payload
            .downcast_ref::<std::cell::Cell<u8>>()
            .map(|c| c.get()),
        Some(7)
    );
}

#[test]
fn task_error_boxes_into_a_send_sync_error() {
    fn run(pool: &ThreadPool) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
        Ok(pool.submit(|| -> u8 { panic!("boxed") }).unwrap().join()?)
    }
    let pool = ThreadPool::new();
    assert_eq!(run(&pool).unwrap_err().to_string(), "task panicked: boxed");
}
