//! How the process pool queues a task: the argument (or a chunk of them)
//! encoded in the caller, a producer for the drivers, a deadline for the
//! timer.

use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ProcessPool;
use super::protocol::Request;
use super::remote_task::{
    Decoder, Remote, RemoteTask, call_frame, decode_chunk, decode_one, encode_arg, request_frame,
};
use crate::core::cell::{Caller, TaskSpec};
use crate::core::handle::TaskHandle;
use crate::core::producer::new_task;
use crate::core::state::End;
use crate::core::timer::{Fire, ScheduleError};
use crate::error::{Refusal, SubmitError, TaskError};
use crate::executor::options::TaskOptions;
#[cfg(feature = "tracing")]
use crate::executor::trace;
use crate::loom::sync::Arc;
use crate::remote::RemoteFn;

impl ProcessPool {
    pub(super) fn submit_with<A, R>(
        &self,
        f: RemoteFn<A, R>,
        arg: A,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<R>, SubmitError<A>>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let frame = call_frame(f.name(), &arg, |room| self.shared().take_spare(room));
        self.spawn(frame, Box::new(decode_one::<R>), options, block)
            .map_err(|reason| SubmitError::new(arg, reason))
    }

    /// Queues an encoded request. A request that failed to encode gives a
    /// handle that has already failed.
    fn spawn<T: Send + 'static>(
        &self,
        frame: Result<Vec<u8>, TaskError>,
        decode: Decoder<T>,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<T>, Refusal> {
        // Cancellable while running: the driver installs a hook that kills
        // the worker process. The deadline is the pool's timer's to enforce,
        // the same way.
        let stopping = TaskSpec {
            token: None,
            cancellable: true,
            name: options.name.clone(),
            ..TaskSpec::default()
        };
        // The task's span (feature `tracing`), a child of the submitter's.
        #[cfg(feature = "tracing")]
        let span = trace::span_for("process", options).unwrap_or_else(tracing::Span::none);
        let remote = Remote {
            pool: Arc::downgrade(self.shared()),
        };
        let (producer, handle) = new_task(remote, stopping, Caller::Internal);
        #[cfg(feature = "tracing")]
        trace::set_id_for(&span, producer.id(), options);
        let deadline = options.deadline();
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Already passed: the task must never run, so it ends here
            // rather than racing a warm driver against the timer (as the
            // thread pool's `spawn` does). A pool that would refuse it
            // still does.
            if let Some(reason) = self.shared().refusal() {
                return Err(reason);
            }
            producer.expire();
            self.shared().counters.count_unqueued(End::Error);
            #[cfg(feature = "tracing")]
            trace::ended(&span, trace::Outcome::TimedOut, None);
            return Ok(handle);
        }
        let frame = match frame {
            Ok(frame) => frame,
            Err(err) => {
                producer.fail(err);
                self.shared().counters.count_unqueued(End::Error);
                #[cfg(feature = "tracing")]
                trace::ended(&span, trace::Outcome::Failed, None);
                return Ok(handle);
            }
        };
        // The deadline is registered (and for a time limit, the timer
        // started: the driver schedules the limit when the task starts)
        // before the task is queued, so that a timer that can't start
        // refuses a task nobody has seen yet.
        let timer = &self.shared().timer;
        let scheduled = match (deadline, options.time_limit) {
            (Some(deadline), _) => timer.schedule(deadline, producer.expiry()),
            (None, Some(_)) => timer.start(),
            (None, None) => Ok(()),
        };
        match scheduled {
            Ok(()) => {}
            Err(ScheduleError::Closed) => return Err(Refusal::Shutdown),
            Err(ScheduleError::Spawn(err)) => return Err(Refusal::spawn(err)),
        }
        let task = Box::new(RemoteTask {
            producer,
            frame: Arc::new(frame),
            decode,
            retries: options.retries.unwrap_or(self.shared().config.retries),
            time_limit: options.time_limit,
            deadline,
            #[cfg(feature = "tracing")]
            span: trace::LaneSpan::new(span),
            #[cfg(feature = "tracing")]
            since: std::cell::Cell::new(None),
        });
        let Some(at) = options.start() else {
            // A refused task is dropped unqueued: nobody sees its handle.
            return self.shared().push(task, block).map(|()| handle);
        };
        // It starts later: the timer queues it then (on the callback
        // runner, waiting for room if need be); a shutdown first ends it as
        // cancelled. It holds no user value: its argument is encoded.
        if let Some(reason) = self.shared().refusal() {
            return Err(reason);
        }
        let pool = Arc::downgrade(self.shared());
        let job = Box::new(move |fire| match (fire, pool.upgrade()) {
            (Fire::Due, Some(shared)) if shared.refusal().is_none() => {
                // Refused only by a shutdown racing this: it is then
                // dropped unqueued and ends as abandoned.
                let _ = shared.push(task, true);
            }
            _ => {
                let RemoteTask { producer, .. } = *task;
                producer.cancel();
            }
        });
        match timer.run_at(at, job) {
            Ok(_) => Ok(handle),
            Err(ScheduleError::Closed) => Err(Refusal::Shutdown),
            Err(ScheduleError::Spawn(err)) => Err(Refusal::spawn(err)),
        }
    }

    /// Queues `f` over a chunk of arguments as one task; its value is each
    /// argument's outcome, in order. An argument that fails to encode is
    /// its own error there, and never leaves the caller. A refused chunk's
    /// arguments come back.
    #[allow(clippy::type_complexity)]
    pub(crate) fn spawn_chunk<A, R>(
        &self,
        f: RemoteFn<A, R>,
        args: Vec<A>,
        options: &TaskOptions,
        block: bool,
    ) -> Result<TaskHandle<Vec<Result<R, TaskError>>>, (Vec<A>, Refusal)>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let mut plan = Vec::with_capacity(args.len());
        let mut encoded = Vec::new();
        for arg in &args {
            match encode_arg(arg) {
                Ok(bytes) => {
                    encoded.push(bytes);
                    plan.push(None);
                }
                Err(err) => plan.push(Some(err)),
            }
        }
        if encoded.is_empty() {
            // Nothing to send: the chunk is done, each input its error.
            let remote = Remote {
                pool: crate::loom::sync::Weak::new(),
            };
            let (producer, handle) = new_task(remote, TaskSpec::default(), Caller::User);
            let errors = plan.into_iter().map(|p| Err(p.expect("none was sent")));
            let _ = producer.complete(Ok(errors.collect()));
            self.shared().counters.count_unqueued(End::Value);
            return Ok(handle);
        }
        let frame = request_frame(&Request::Chunk {
            name: f.name().to_owned(),
            args: encoded,
        });
        let decode: Decoder<_> = Box::new(move |reply, pid| decode_chunk(plan, reply, pid));
        self.spawn(frame, decode, options, block)
            .map_err(|reason| (args, reason))
    }
}
