//! Feature `tracing`: each task's span is a child of the span that
//! submitted it, carries the task's id, name and pool, is entered while the
//! task runs (so the task's own events nest in it), and says how the task
//! ended. Checked with a small recording subscriber, installed once for the
//! whole binary (the workers' threads must see it), so the cases run in one
//! test, one after the other.

#![cfg(feature = "tracing")]
#![allow(missing_docs)]

#[cfg(all(feature = "process", target_os = "linux"))]
futurepool::process_init_before_main!();

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use futurepool::{TaskId, ThreadPool};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Debug, Default, Clone)]
struct SpanRec {
    name: &'static str,
    fields: HashMap<&'static str, String>,
    parent: Option<u64>,
}

#[derive(Debug, Clone)]
struct EventRec {
    fields: HashMap<&'static str, String>,
    parent: Option<u64>,
    /// The name of the thread that emitted it.
    #[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))]
    // the process pool's part
    thread: String,
}

#[derive(Default)]
struct Log {
    spans: HashMap<u64, SpanRec>,
    events: Vec<EventRec>,
}

/// Records spans (with their parents and fields) and events (with the span
/// they are in). Parents are resolved the way `tracing` says: an explicit
/// parent, else (contextual) the span this thread is in.
#[derive(Clone, Default)]
struct Recorder {
    log: Arc<Mutex<Log>>,
    next: Arc<AtomicU64>,
}

thread_local! {
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn current() -> Option<u64> {
    STACK.with(|s| s.borrow().last().copied())
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let parent = if attrs.is_contextual() {
            current()
        } else {
            attrs.parent().map(Id::into_u64)
        };
        let mut rec = SpanRec {
            name: attrs.metadata().name(),
            parent,
            ..SpanRec::default()
        };
        attrs.record(&mut Fields(&mut rec.fields));
        self.log.lock().unwrap().spans.insert(id, rec);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut log = self.log.lock().unwrap();
        if let Some(rec) = log.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let parent = if event.is_contextual() {
            current()
        } else {
            event.parent().map(Id::into_u64)
        };
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.log.lock().unwrap().events.push(EventRec {
            fields,
            parent,
            thread: std::thread::current().name().unwrap_or("").to_owned(),
        });
    }

    fn enter(&self, span: &Id) {
        STACK.with(|s| s.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|&id| id == span.into_u64()) {
                s.remove(i);
            }
        });
    }
}

impl Recorder {
    /// The span of the task `handle`, with its id.
    fn task_span(&self, task: TaskId) -> (u64, SpanRec) {
        let log = self.log.lock().unwrap();
        let found: Vec<_> = log
            .spans
            .iter()
            .filter(|(_, s)| {
                s.name == "task"
                    && s.fields.get("id").map(|id| format!("task {id}")) == Some(task.to_string())
            })
            .map(|(id, s)| (*id, s.clone()))
            .collect();
        assert_eq!(found.len(), 1, "one span for {task}");
        found.into_iter().next().unwrap()
    }

    /// The events in span `span`, by message.
    fn events_in(&self, span: u64) -> Vec<EventRec> {
        let log = self.log.lock().unwrap();
        log.events
            .iter()
            .filter(|e| e.parent == Some(span))
            .cloned()
            .collect()
    }

    /// The one `task ended` event of span `span`.
    fn end_of(&self, span: u64) -> EventRec {
        let ends: Vec<_> = self
            .events_in(span)
            .into_iter()
            .filter(|e| e.fields.get("message").map(String::as_str) == Some("task ended"))
            .collect();
        assert_eq!(ends.len(), 1, "one end event: {ends:?}");
        ends.into_iter().next().unwrap()
    }

    /// Waits (up to a minute) until span `span` has had its `task ended`
    /// event: a process pool's events come from the event lane, soon after
    /// the driver's step, not necessarily before a `join` returns.
    #[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))] // the process pool's part
    fn wait_for_end(&self, span: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self
            .events_in(span)
            .iter()
            .any(|e| e.fields.get("message").map(String::as_str) == Some("task ended"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no `task ended` for span {span}"
            );
            std::thread::yield_now();
        }
    }

    fn outcome_of(&self, span: u64) -> String {
        self.end_of(span).fields["outcome"].clone()
    }
}

#[test]
fn task_spans_nest_under_the_submitter_and_say_how_tasks_end() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).unwrap();

    let pool = ThreadPool::builder()
        .max_workers(1)
        .thread_name("traced")
        .build()
        .unwrap();
    let submitter = tracing::info_span!("submitter");
    let submitter_id = submitter.id().unwrap().into_u64();
    let _in_submitter = submitter.enter();

    // A value, with an event of its own inside.
    let ok = pool
        .task()
        .name("job-ok")
        .submit(|| {
            tracing::info!(inside = true, "inside the task");
            7
        })
        .unwrap();
    let ok_id = ok.id();
    assert_eq!(ok.join().unwrap(), 7);
    // A panic.
    let panics = pool.submit(|| -> u8 { panic!("boom") }).unwrap();
    let panics_id = panics.id();
    assert!(panics.join().unwrap_err().is_panic());
    // Cancelled while queued behind a blocker.
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let blocker = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv();
        })
        .unwrap();
    started.recv().unwrap();
    let cancelled = pool.submit(|| 1).unwrap();
    let cancelled_id = cancelled.id();
    assert!(cancelled.cancel());
    release.send(()).unwrap();
    blocker.join().unwrap();
    // A time limit.
    let limited = pool
        .task()
        .time_limit(Duration::from_millis(1))
        .submit_cancellable(|token| {
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
        })
        .unwrap();
    let limited_id = limited.id();
    assert!(limited.join().unwrap_err().is_timeout());
    pool.shutdown(); // every end has been said

    let (ok_span, rec) = recorder.task_span(ok_id);
    assert_eq!(
        rec.parent,
        Some(submitter_id),
        "the submitter's span is the parent"
    );
    assert_eq!(rec.fields["name"], "job-ok");
    assert_eq!(rec.fields["pool"], "traced");
    let inside: Vec<_> = recorder
        .events_in(ok_span)
        .into_iter()
        .filter(|e| e.fields.contains_key("inside"))
        .collect();
    assert_eq!(inside.len(), 1, "the task's own event is in its span");
    let messages: Vec<_> = recorder
        .events_in(ok_span)
        .into_iter()
        .map(|e| e.fields["message"].clone())
        .collect();
    assert_eq!(messages, ["task started", "inside the task", "task ended"]);
    let end = recorder.end_of(ok_span);
    assert_eq!(end.fields["outcome"], "ok");
    assert!(end.fields["run_us"].parse::<u64>().is_ok());

    let (panic_span, rec) = recorder.task_span(panics_id);
    assert_eq!(rec.parent, Some(submitter_id));
    assert!(
        !rec.fields.contains_key("name"),
        "an unnamed task has no name field"
    );
    assert_eq!(recorder.outcome_of(panic_span), "panicked");

    let (cancel_span, _) = recorder.task_span(cancelled_id);
    assert_eq!(recorder.outcome_of(cancel_span), "cancelled");
    let end = recorder.end_of(cancel_span);
    assert!(!end.fields.contains_key("run_us"), "it never ran");

    let (limit_span, _) = recorder.task_span(limited_id);
    assert_eq!(recorder.outcome_of(limit_span), "timed out");

    // Not inside any span: a task span without a parent.
    drop(_in_submitter);
    let pool = ThreadPool::new();
    let orphan = pool.submit(|| ()).unwrap();
    let orphan_id = orphan.id();
    orphan.join().unwrap();
    pool.shutdown();
    assert_eq!(recorder.task_span(orphan_id).1.parent, None);

    dependents(&recorder);
    series(&recorder);

    #[cfg(all(feature = "process", target_os = "linux"))]
    process_pool(&recorder);
}

/// A dependent task (`after`) is traced like any task: its span is made by
/// its submit, in the submitter's span, with the id its handle has (not
/// that of the task that runs it once its dependencies are in, which was
/// made later, elsewhere); and one that ends without running (a dependency
/// failed, or it was cancelled while it waited) says so in its span too.
fn dependents(recorder: &Recorder) {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .thread_name("deps")
        .build()
        .unwrap();
    let submitter = tracing::info_span!("dependent submitter");
    let submitter_id = submitter.id().unwrap().into_u64();
    let (go, wait) = mpsc::channel::<()>();
    let (ok, failing, waiting, promise) = submitter.in_scope(|| {
        let dep = pool.submit(move || wait.recv().unwrap()).unwrap();
        let ok = pool
            .task()
            .name("dependent-ok")
            .after(dep)
            .submit(|()| {
                tracing::info!(inside = true, "inside the dependent");
                5
            })
            .unwrap();
        let bad = pool.submit(|| -> u8 { panic!("boom") }).unwrap();
        let failing = pool.task().after(bad).submit(|x: u8| x).unwrap();
        let (promise, never) = futurepool::Promise::<u8>::new();
        let waiting = pool.task().after(never).submit(|x: u8| x).unwrap();
        (ok, failing, waiting, promise)
    });
    let ids = (ok.id(), failing.id(), waiting.id());
    go.send(()).unwrap();
    assert_eq!(ok.join().unwrap(), 5);
    assert!(failing.join().unwrap_err().is_dependency_failed());
    assert!(waiting.cancel());
    drop(promise);
    pool.shutdown();

    let (ok_span, rec) = recorder.task_span(ids.0);
    assert_eq!(rec.parent, Some(submitter_id));
    assert_eq!(rec.fields["name"], "dependent-ok");
    assert_eq!(rec.fields["pool"], "deps");
    let messages: Vec<_> = recorder
        .events_in(ok_span)
        .into_iter()
        .map(|e| e.fields["message"].clone())
        .collect();
    assert_eq!(
        messages,
        ["task started", "inside the dependent", "task ended"]
    );
    assert_eq!(recorder.outcome_of(ok_span), "ok");

    let (failing_span, rec) = recorder.task_span(ids.1);
    assert_eq!(rec.parent, Some(submitter_id));
    assert_eq!(recorder.outcome_of(failing_span), "failed");
    assert_eq!(
        recorder.events_in(failing_span).len(),
        1,
        "it never started"
    );

    let (waiting_span, _) = recorder.task_span(ids.2);
    assert_eq!(recorder.outcome_of(waiting_span), "cancelled");
}

/// A periodic task (`every`) is one task: its span is made by its submit,
/// in the submitter's span, with the id its handle has, and says how the
/// series ended; each run's span is a child of it (not a span without a
/// parent, made on the thread that queues the run).
fn series(recorder: &Recorder) {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .thread_name("ticks")
        .build()
        .unwrap();
    let submitter = tracing::info_span!("series submitter");
    let submitter_id = submitter.id().unwrap().into_u64();
    let (tx, rx) = mpsc::channel();
    let ticker = submitter.in_scope(|| {
        pool.task()
            .name("ticker")
            .every(Duration::from_millis(1))
            .submit(move || {
                tracing::info!(tick = true, "tick");
                let _ = tx.send(());
            })
            .unwrap()
    });
    let ticker_id = ticker.id();
    rx.recv().unwrap();
    rx.recv().unwrap();
    assert!(ticker.cancel());
    pool.shutdown();

    let (series_span, rec) = recorder.task_span(ticker_id);
    assert_eq!(rec.parent, Some(submitter_id));
    assert_eq!(rec.fields["name"], "ticker");
    assert_eq!(rec.fields["pool"], "ticks");
    assert_eq!(recorder.outcome_of(series_span), "cancelled");
    let log = recorder.log.lock().unwrap();
    let runs: Vec<u64> = log
        .spans
        .iter()
        .filter(|(_, s)| s.parent == Some(series_span))
        .map(|(id, _)| *id)
        .collect();
    drop(log);
    // A span per run, in the series' span, with the run's own events (a
    // run queued as the series was cancelled may end without its tick).
    let mut ticks = 0;
    for run in runs {
        let in_run = recorder
            .events_in(run)
            .iter()
            .filter(|e| e.fields.contains_key("tick"))
            .count();
        assert!(in_run <= 1);
        ticks += in_run;
        recorder.end_of(run);
    }
    assert!(ticks >= 2, "{ticks} ticks in the runs' spans");
}

#[cfg(all(feature = "process", target_os = "linux"))]
fn process_pool(recorder: &Recorder) {
    use futurepool::{Executor, ProcessPool, remote};

    fn double(x: u32) -> u32 {
        x * 2
    }
    fn boom(_: u32) -> u32 {
        panic!("boom")
    }

    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let submitter = tracing::info_span!("process submitter");
    let submitter_id = submitter.id().unwrap().into_u64();
    let (ok, panics) = submitter.in_scope(|| {
        let ok = pool
            .task()
            .name("remote-ok")
            .submit_fn(remote!(double), 4)
            .unwrap();
        let panics = pool.submit_fn(remote!(boom), 0).unwrap();
        (ok, panics)
    });
    let (ok_id, panics_id) = (ok.id(), panics.id());
    assert_eq!(ok.join().unwrap(), 8);
    assert!(panics.join().unwrap_err().is_panic());
    pool.shutdown();

    let (ok_span, rec) = recorder.task_span(ok_id);
    recorder.wait_for_end(ok_span);
    assert_eq!(rec.parent, Some(submitter_id));
    assert_eq!(rec.fields["pool"], "process");
    assert_eq!(rec.fields["name"], "remote-ok");
    let messages: Vec<_> = recorder
        .events_in(ok_span)
        .into_iter()
        .map(|e| e.fields["message"].clone())
        .collect();
    assert_eq!(messages, ["task started", "task ended"]);
    assert_eq!(recorder.outcome_of(ok_span), "ok");
    let (panic_span, _) = recorder.task_span(panics_id);
    recorder.wait_for_end(panic_span);
    assert_eq!(recorder.outcome_of(panic_span), "panicked");
    // A subscriber is user code: a driver thread never calls it.
    for span in [ok_span, panic_span] {
        for event in recorder.events_in(span) {
            assert!(
                !event.thread.starts_with("futurepool-process-"),
                "an event on the driver thread {}",
                event.thread
            );
        }
    }
}
