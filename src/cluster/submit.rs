//! How a [`ClusterExecutor`] submits a task: its argument encoded in the
//! caller (a chunk's, each in its place), a message to the work queue
//! (its arguments through the object store if they are too large), and a
//! producer that the worker's reply ends.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

use super::client::{self, Decoder, Queued, Typed, outcome};
use super::wire::{self, TaskMsg};
use super::{ClusterExecutor, objects};
use crate::core::cell::{Caller, TaskSpec};
use crate::core::handle::TaskHandle;
use crate::core::producer::new_task;
use crate::core::state::End;
use crate::core::timer::ScheduleError;
use crate::error::{Refusal, TaskError};
use crate::executor::options::TaskOptions;
use crate::loom::sync::atomic::Ordering;
use crate::remote::RemoteFn;
use crate::remote::{self, codec};

impl ClusterExecutor {
    /// Queues one message (a call, or a chunk) for `decode` to end.
    fn spawn<T: Send + 'static>(
        &self,
        name: &str,
        (args, scattered): (Vec<ByteBuf>, Vec<String>),
        chunk: bool,
        decode: Decoder<T>,
        options: &TaskOptions,
    ) -> Result<TaskHandle<T>, Refusal> {
        if client::is_shut(self.shared()) {
            return Err(Refusal::Shutdown);
        }
        let spec = TaskSpec {
            name: options.name.clone(),
            ..TaskSpec::default()
        };
        let (producer, handle) = new_task(Queued, spec, Caller::Internal);
        let task = self.shared().base.wrapping_add(producer.id());
        let deadline = options.deadline();
        let now = Instant::now();
        if deadline.is_some_and(|d| d <= now) {
            producer.expire();
            self.shared().counters.count_unqueued(End::Error);
            return Ok(handle);
        }
        if let Some(deadline) = deadline {
            match self.inner.timer.schedule(deadline, producer.expiry()) {
                Ok(()) => {}
                Err(ScheduleError::Closed) => return Err(Refusal::Shutdown),
                Err(ScheduleError::Spawn(err)) => return Err(Refusal::spawn(err)),
            }
        }
        let mut msg = TaskMsg {
            client: self.shared().id.clone(),
            task,
            build: self.shared().build.clone(),
            name: name.to_owned(),
            args,
            chunk,
            deadline_ms: deadline.map(|d| unix_ms(d, now)),
            time_limit_ms: options.time_limit.map(|t| t.as_millis() as u64),
            attempt: 0,
            args_object: None,
            scattered,
            retries: options.retries,
        };
        // Above the server's message limit: the arguments go through the
        // object store (or the task fails, too large).
        let store = &self.shared().objects;
        let mut offloaded = None;
        if !codec::encoded_len(&msg).is_ok_and(|len| store.fits(len)) {
            match store.offload_args(&mut msg) {
                Ok(object) => offloaded = Some(object),
                Err(err) => {
                    producer.fail(err);
                    self.shared().counters.count_unqueued(End::Error);
                    return Ok(handle);
                }
            }
        }
        let bytes = match wire::encode(&msg) {
            Ok(bytes) => bytes,
            Err(err) => {
                producer.fail(TaskError::serialization(format!(
                    "failed to serialize the task's message: {err}"
                )));
                self.shared().counters.count_unqueued(End::Error);
                return Ok(handle);
            }
        };
        // A cancel of the running task asks its worker to kill it.
        producer.set_request(self.shared().requests.hook(task));
        let mut slot: Box<dyn client::Slot> = Box::new(Typed { producer, decode });
        if let Some((name, _)) = &offloaded {
            slot = objects::Holding::wrap(slot, store, name.clone());
        }
        let at = options.start().map(tokio::time::Instant::from_std);
        self.shared().insert(task, slot, at.is_some());
        // ORDERING: Relaxed: a count, read by `metrics`.
        self.shared().submitted.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared().clone();
        shared.sending();
        self.runtime().spawn(async move {
            if let Some(at) = at {
                if !client::until_due(&shared, task, at).await {
                    // Ended before its start (a cancel, a shutdown, its
                    // deadline): never sent.
                    shared.sent();
                    return;
                }
            }
            match offloaded {
                None => client::publish(shared, task, bytes).await,
                Some(object) => objects::put_then_publish(shared, task, object, bytes).await,
            }
        });
        Ok(handle)
    }

    pub(super) fn submit_one<A, R>(
        &self,
        f: RemoteFn<A, R>,
        arg: A,
        options: &TaskOptions,
    ) -> Result<TaskHandle<R>, (A, Refusal)>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let (encoded, scattered) = remote::scattered::collecting(|| codec::encode(&arg));
        let encoded = match encoded {
            Ok(bytes) => bytes,
            Err(err) => {
                let (producer, handle) = new_task(Queued, TaskSpec::default(), Caller::User);
                producer.fail(TaskError::serialization(format!(
                    "failed to serialize the task's argument: {err}"
                )));
                self.shared().counters.count_unqueued(End::Error);
                return Ok(handle);
            }
        };
        self.spawn(
            f.name(),
            (vec![ByteBuf::from(encoded)], scattered),
            false,
            one_decoder(),
            options,
        )
        .map_err(|reason| (arg, reason))
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn submit_chunk<A, R>(
        &self,
        f: RemoteFn<A, R>,
        args: Vec<A>,
        options: &TaskOptions,
    ) -> Result<TaskHandle<Vec<Result<R, TaskError>>>, (Vec<A>, Refusal)>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        // An argument that fails to encode is its own error in its place,
        // and never leaves the caller.
        let mut plan = Vec::with_capacity(args.len());
        let mut encoded = Vec::new();
        let mut scattered: Vec<String> = Vec::new();
        for arg in &args {
            let (bytes, names) = remote::scattered::collecting(|| codec::encode(arg));
            for name in names {
                if !scattered.contains(&name) {
                    scattered.push(name);
                }
            }
            match bytes {
                Ok(bytes) => {
                    encoded.push(ByteBuf::from(bytes));
                    plan.push(None);
                }
                Err(err) => plan.push(Some(TaskError::serialization(format!(
                    "failed to serialize the task's argument: {err}"
                )))),
            }
        }
        let sent = encoded.len();
        let decode: Decoder<Vec<Result<R, TaskError>>> = Box::new(move |outcomes, worker| {
            if outcomes.len() != sent {
                return Err(TaskError::cluster(format!(
                    "worker {worker} answered a chunk of {sent} with {} results",
                    outcomes.len()
                )));
            }
            let mut outcomes = outcomes.into_iter();
            Ok(plan
                .into_iter()
                .map(|slot| match slot {
                    Some(err) => Err(err),
                    None => outcome(outcomes.next().expect("counted above"), worker),
                })
                .collect())
        });
        self.spawn(f.name(), (encoded, scattered), true, decode, options)
            .map_err(|reason| (args, reason))
    }
}

/// The decoder of a call's reply: one outcome.
pub(super) fn one_decoder<R: DeserializeOwned + Send + 'static>() -> Decoder<R> {
    Box::new(|outcomes, worker| {
        let mut outcomes = outcomes.into_iter();
        match (outcomes.next(), outcomes.next()) {
            (Some(one), None) => outcome(one, worker),
            _ => Err(TaskError::cluster(format!(
                "worker {worker} answered a call with another number of results than one"
            ))),
        }
    })
}

/// `deadline` (an `Instant`, `now` being now) in milliseconds since the
/// Unix epoch: how a deadline crosses machines (their clocks must agree).
fn unix_ms(deadline: Instant, now: Instant) -> u64 {
    let wall = SystemTime::now() + deadline.saturating_duration_since(now);
    wall.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}
