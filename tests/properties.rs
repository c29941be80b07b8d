//! Properties, checked on random cases: `map` keeps input order,
//! `as_completed` yields every task exactly once, and a handle behaves as a
//! small model of its state machine says under any sequence of cancels,
//! starts, ends and callback registrations.

mod common;

use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use common::{Gate, LONG, block_worker};
use futurepool::{TaskError, ThreadPool, as_completed};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        // Failures are reported with their minimal case; don't write files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Results come in input order whatever the task durations (the sleep is
    /// the tasks' work), the number of workers and the window.
    #[test]
    fn map_keeps_input_order(
        micros in prop::collection::vec(0u64..300, 0..40),
        workers in 1usize..5,
        window in 1usize..9,
    ) {
        let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
        let got: Vec<usize> = pool
            .map(
                |(i, us): (usize, u64)| {
                    thread::sleep(Duration::from_micros(us));
                    i
                },
                micros.iter().copied().enumerate(),
            )
            .max_in_flight(window)
            .map(Result::unwrap)
            .collect();
        prop_assert_eq!(got, (0..micros.len()).collect::<Vec<_>>());
    }

    /// Every distinct task is yielded exactly once, however it ends (value,
    /// panic, cancel) and however often it is given.
    #[test]
    fn as_completed_yields_each_task_once(
        kinds in prop::collection::vec((0u8..3, 0u64..200), 1..30),
        repeats in prop::collection::vec(0usize..30, 0..10),
        workers in 1usize..4,
    ) {
        let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
        let handles: Vec<_> = kinds
            .iter()
            .map(|&(kind, us)| {
                let h = pool
                    .submit(move || {
                        thread::sleep(Duration::from_micros(us));
                        if kind == 1 {
                            panic!("property");
                        }
                    })
                    .unwrap();
                if kind == 2 {
                    h.cancel(); // may be too late: either way it ends once
                }
                h
            })
            .collect();
        // The handles, some of them given again.
        let mut given: Vec<_> = handles.iter().collect();
        given.extend(repeats.iter().map(|&r| &handles[r % handles.len()]));
        let mut seen = vec![0usize; handles.len()];
        for h in as_completed(given) {
            prop_assert!(h.is_done());
            let i = handles.iter().position(|x| std::ptr::eq(x, h)).unwrap();
            seen[i] += 1;
        }
        prop_assert!(seen.iter().all(|&n| n == 1), "{:?}", seen);
    }

    /// The handle against a model of its state machine.
    #[test]
    fn handle_matches_its_model(
        with_token in any::<bool>(),
        ops in prop::collection::vec(op_strategy(), 0..12),
    ) {
        run_model(with_token, &ops)?;
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    AddCallback,
    Cancel,
    /// Let the worker take the task (if it is still queued).
    Start,
    /// Let the running closure return a value, or panic.
    Finish {
        panic: bool,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::AddCallback),
        Just(Op::Cancel),
        Just(Op::Start),
        any::<bool>().prop_map(|panic| Op::Finish { panic }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Value,
    Panic,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Queued,
    Running,
    Done(Ending),
}

fn ending(outcome: Result<&u32, &TaskError>) -> Ending {
    match outcome {
        Ok(_) => Ending::Value,
        Err(e) if e.is_cancelled() => Ending::Cancelled,
        Err(e) if e.is_panic() => Ending::Panic,
        Err(e) => panic!("unexpected ending {e}"),
    }
}

enum Cmd {
    Value,
    Panic,
}

fn run_model(with_token: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let blocker = block_worker(&pool);
    let mut blocker_gate: Option<Gate> = Some(blocker.gate);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (cmd_tx, cmd_rx) = mpsc::channel::<Cmd>();
    let body = move || {
        started_tx.send(()).unwrap();
        match cmd_rx.recv() {
            Ok(Cmd::Panic) => panic!("model"),
            _ => 1u32,
        }
    };
    let handle = if with_token {
        pool.submit_cancellable(move |_token| body()).unwrap()
    } else {
        pool.submit(body).unwrap()
    };

    let log: Arc<Mutex<Vec<(usize, Ending)>>> = Arc::default();
    let mut expected: Vec<(usize, Ending)> = Vec::new();
    let mut waiting: Vec<usize> = Vec::new(); // callbacks not run yet
    let mut next_id = 0;
    let mut model = Model::Queued;
    let mut closure_running = false;
    let mut ever_started = false;

    // Ends the model with `e`, running the waiting callbacks in order.
    let end = |model: &mut Model, waiting: &mut Vec<usize>, expected: &mut Vec<_>, e| {
        *model = Model::Done(e);
        expected.extend(waiting.drain(..).map(|id| (id, e)));
    };

    for &op in ops {
        match op {
            Op::AddCallback => {
                let (l, id) = (log.clone(), next_id);
                next_id += 1;
                handle.add_done_callback(move |o| l.lock().unwrap().push((id, ending(o))));
                match model {
                    Model::Done(e) => expected.push((id, e)), // at once
                    _ => waiting.push(id),
                }
            }
            Op::Cancel => {
                let cancelled = handle.cancel();
                let expect = match model {
                    Model::Queued => true,
                    Model::Running => with_token,
                    Model::Done(e) => e == Ending::Cancelled,
                };
                prop_assert_eq!(cancelled, expect, "cancel in {:?}", model);
                if cancelled && model != Model::Done(Ending::Cancelled) {
                    end(&mut model, &mut waiting, &mut expected, Ending::Cancelled);
                }
            }
            Op::Start => {
                if let Some(gate) = blocker_gate.take() {
                    gate.open();
                    if model == Model::Queued {
                        started_rx.recv_timeout(LONG).expect("the task starts");
                        model = Model::Running;
                        closure_running = true;
                        ever_started = true;
                    }
                }
            }
            Op::Finish { panic } => {
                if closure_running {
                    closure_running = false;
                    cmd_tx
                        .send(if panic { Cmd::Panic } else { Cmd::Value })
                        .unwrap();
                    if model == Model::Running {
                        handle.wait();
                        let e = if panic { Ending::Panic } else { Ending::Value };
                        end(&mut model, &mut waiting, &mut expected, e);
                    }
                }
            }
        }
        prop_assert_eq!(
            handle.is_done(),
            matches!(model, Model::Done(_)),
            "{:?}",
            model
        );
        prop_assert_eq!(
            handle.is_cancelled(),
            model == Model::Done(Ending::Cancelled)
        );
        prop_assert_eq!(handle.is_running(), model == Model::Running, "{:?}", model);
        prop_assert_eq!(&*log.lock().unwrap(), &expected);
    }

    // Let everything end: start the task if still queued, finish it.
    drop(blocker_gate);
    if model == Model::Queued {
        started_rx.recv_timeout(LONG).expect("the task starts");
        model = Model::Running;
        ever_started = true;
    }
    if model == Model::Running {
        cmd_tx.send(Cmd::Value).unwrap();
        handle.wait();
        end(&mut model, &mut waiting, &mut expected, Ending::Value);
    }
    drop(cmd_tx); // a closure cancelled while running returns now
    let Model::Done(e) = model else {
        unreachable!()
    };
    let outcome = handle.join();
    prop_assert_eq!(ending(outcome.as_ref()), e);
    pool.shutdown();
    prop_assert_eq!(&*log.lock().unwrap(), &expected);
    if !ever_started {
        // Cancelled while queued: the closure never started (the worker has
        // been through the queue: the pool is shut down).
        prop_assert!(started_rx.try_recv().is_err());
    }
    Ok(())
}
