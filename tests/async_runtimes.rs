//! The same async cases on every runtime we know of, and on one written
//! here, to show that nothing depends on a particular runtime: a handle's
//! waker is whatever the last poll gave it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use futurepool::{ReturnWhen, ShutdownOptions, ThreadPool, as_completed, wait_async};
use futures::StreamExt;
use futures::future::join_all;

/// A minimal executor: poll, and park the thread until woken.
fn hand_block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

type Case = fn() -> Pin<Box<dyn Future<Output = ()>>>;

/// Runs `case` to completion on each runtime.
fn on_every_runtime(case: Case) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(case());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(case());
    smol::block_on(case());
    futures::executor::block_on(case());
    hand_block_on(case());
}

/// A task that holds its worker until the returned sender is used.
fn blocker(pool: &ThreadPool) -> (mpsc::Sender<()>, futurepool::TaskHandle<()>) {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let handle = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
        })
        .unwrap();
    started_rx.recv().unwrap();
    (go_tx, handle)
}

#[test]
fn await_gives_the_value() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::new();
            assert_eq!(pool.submit(|| 40 + 2).unwrap().await.unwrap(), 42);
        })
    });
}

#[test]
fn many_concurrent_awaits() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(4).build().unwrap();
            let handles: Vec<_> = (0..500u64)
                .map(|i| pool.submit(move || i * 2).unwrap())
                .collect();
            let results = join_all(handles).await;
            let sum: u64 = results.into_iter().map(Result::unwrap).sum();
            assert_eq!(sum, 2 * (0..500).sum::<u64>());
        })
    });
}

#[test]
fn completion_on_another_thread_wakes_the_awaiter() {
    // The task is released only after the awaiter has surely registered its
    // waker (it has polled once and returned Pending), so the wake-up must
    // come from the worker thread.
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::new();
            let barrier = Arc::new(Barrier::new(2));
            let b = barrier.clone();
            let mut handle = pool
                .submit(move || {
                    b.wait();
                    "woken"
                })
                .unwrap();
            assert!(futures::poll!(&mut handle).is_pending());
            barrier.wait();
            assert_eq!(handle.await.unwrap(), "woken");
        })
    });
}

#[test]
fn repoll_with_a_different_waker_is_honoured() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::new();
            let (tx, rx) = mpsc::channel::<()>();
            let mut handle = pool.submit(move || rx.recv().unwrap()).unwrap();
            // Poll once with a waker that is then forgotten ...
            let noop = Waker::noop();
            assert!(
                Pin::new(&mut handle)
                    .poll(&mut Context::from_waker(noop))
                    .is_pending()
            );
            // ... then await with the runtime's waker: it must be the one woken.
            tx.send(()).unwrap();
            handle.await.unwrap();
        })
    });
}

#[test]
fn panic_while_awaited() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::new();
            let err = pool
                .submit(|| -> u8 { panic!("awaited panic") })
                .unwrap()
                .await
                .unwrap_err();
            assert!(err.is_panic());
            assert_eq!(err.panic_message(), Some("awaited panic"));
        })
    });
}

#[test]
fn cancel_while_awaited() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(1).build().unwrap();
            let (go, busy) = blocker(&pool);
            let mut queued = pool.submit(|| 1).unwrap();
            assert!(futures::poll!(&mut queued).is_pending()); // waker registered
            assert!(queued.cancel());
            assert!(queued.await.unwrap_err().is_cancelled());
            go.send(()).unwrap();
            busy.await.unwrap();
        })
    });
}

#[test]
fn cancel_from_another_thread_while_awaited() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
            let (go, busy) = blocker(&pool);
            let mut queued = pool.submit(|| 1).unwrap();
            assert!(futures::poll!(&mut queued).is_pending());
            let p = pool.clone();
            let canceller = thread::spawn(move || {
                p.shutdown_with(ShutdownOptions::new().wait(false).cancel_pending(true));
            });
            assert!(queued.await.unwrap_err().is_cancelled());
            canceller.join().unwrap();
            go.send(()).unwrap();
            busy.await.unwrap();
        })
    });
}

#[test]
fn a_timeout_wakes_the_awaiter() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::new();
            let handle = pool
                .task()
                .timeout(Duration::from_millis(20))
                .submit_cancellable(|token| {
                    while !token.is_cancelled() {
                        thread::yield_now();
                    }
                })
                .unwrap();
            assert!(handle.await.unwrap_err().is_timeout());
        })
    });
}

#[test]
fn awaiting_a_finished_handle_is_ready_at_once() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::new();
            let mut handle = pool.submit(|| 7).unwrap();
            handle.wait();
            match futures::poll!(&mut handle) {
                Poll::Ready(v) => assert_eq!(v.unwrap(), 7),
                Poll::Pending => panic!("a finished handle must be ready on the first poll"),
            }
        })
    });
}

#[test]
fn dropping_the_awaiting_future_does_not_cancel_by_default() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(1).build().unwrap();
            let (go, busy) = blocker(&pool);
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let queued = pool
                .submit(move || r.store(true, Ordering::SeqCst))
                .unwrap();
            let mut awaiting = Box::pin(async move { queued.await.unwrap() });
            assert!(futures::poll!(&mut awaiting).is_pending());
            drop(awaiting);
            go.send(()).unwrap();
            busy.await.unwrap();
            pool.shutdown(); // waits for the queue to drain
            assert!(
                ran.load(Ordering::SeqCst),
                "a dropped awaiter leaves the task running"
            );
        })
    });
}

#[test]
fn dropping_a_cancel_on_drop_future_cancels_the_task() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(1).build().unwrap();
            let (go, busy) = blocker(&pool);
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let queued = pool
                .submit(move || r.store(true, Ordering::SeqCst))
                .unwrap();
            let mut awaiting = Box::pin(queued.cancel_on_drop());
            assert!(futures::poll!(&mut awaiting).is_pending());
            drop(awaiting);
            go.send(()).unwrap();
            busy.await.unwrap();
            pool.shutdown();
            assert!(!ran.load(Ordering::SeqCst), "the queued task was cancelled");
        })
    });
}

#[test]
fn as_completed_stream_yields_each_task_once_in_finish_order() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(3).build().unwrap();
            let (go, slow) = blocker(&pool);
            let fast: Vec<_> = (0..20).map(|_| pool.submit(|| ()).unwrap()).collect();
            let mut stream = as_completed(fast.iter().chain(std::iter::once(&slow))).into_stream();
            let mut seen = 0;
            for _ in 0..20 {
                let handle = stream.next().await.unwrap();
                assert!(handle.is_done());
                seen += 1;
            }
            // Only the blocker is left; release it and it comes out last.
            go.send(()).unwrap();
            let last = stream.next().await.unwrap();
            assert!(std::ptr::eq(last, &slow));
            assert!(stream.next().await.is_none());
            assert_eq!(seen, 20);
        })
    });
}

#[test]
fn map_stream_keeps_input_order() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(4).build().unwrap();
            let out: Vec<u64> = pool
                .map(
                    |i: u64| {
                        // later inputs finish sooner
                        thread::sleep(Duration::from_micros(200 * (20 - i)));
                        i
                    },
                    0..20,
                )
                .into_stream()
                .map(Result::unwrap)
                .collect()
                .await;
            assert_eq!(out, (0..20).collect::<Vec<_>>());
        })
    });
}

#[test]
fn map_stream_timeout_wakes_without_a_runtime_timer() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(1).build().unwrap();
            let (go, busy) = blocker(&pool);
            let mut stream = pool
                .map(|x: u8| x, [1u8])
                .timeout(Duration::from_millis(20))
                .into_stream();
            assert!(stream.next().await.unwrap().unwrap_err().is_timeout());
            assert!(stream.next().await.is_none());
            go.send(()).unwrap();
            busy.await.unwrap();
        })
    });
}

#[test]
fn wait_async_first_completed_and_all() {
    on_every_runtime(|| {
        Box::pin(async {
            let pool = ThreadPool::builder().max_workers(2).build().unwrap();
            let (go, slow) = blocker(&pool);
            let fast = pool.submit(|| ()).unwrap();
            let waited = wait_async([&slow, &fast], ReturnWhen::FirstCompleted).await;
            assert_eq!(waited.done.len(), 1);
            assert!(std::ptr::eq(waited.done[0], &fast));
            go.send(()).unwrap();
            let waited = wait_async([&slow, &fast], ReturnWhen::AllCompleted).await;
            assert_eq!((waited.done.len(), waited.not_done.len()), (2, 0));
        })
    });
}

#[test]
fn await_from_inside_a_runtime_does_not_block_other_tasks() {
    // On a single-threaded runtime, a task awaiting pool work must leave the
    // event loop free: a second task makes progress meanwhile.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = ThreadPool::new();
        let (tx, rx) = mpsc::channel::<()>();
        let slow = pool.submit(move || rx.recv().unwrap()).unwrap();
        let progressed = Arc::new(AtomicUsize::new(0));
        let p = progressed.clone();
        let other = tokio::task::spawn(async move {
            p.fetch_add(1, Ordering::SeqCst);
            tx.send(()).unwrap(); // only this other task releases the slow one
        });
        slow.await.unwrap();
        other.await.unwrap();
        assert_eq!(progressed.load(Ordering::SeqCst), 1);
    });
}
