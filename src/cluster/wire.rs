//! The cluster's messages (docs/WIRE.md, "The cluster's messages"): a task
//! as it waits in the work queue ([`TaskMsg`]), and what a worker sends back
//! to the client that submitted it ([`Reply`]). Each is postcard 1.x, after
//! a varint [`VERSION`] that both sides check before decoding the rest.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::remote::codec;
use crate::remote::registry::Outcome;

/// The version of the cluster's messages. Any change to what follows bumps
/// it: the encoding is not self-describing.
pub(crate) const VERSION: u32 = 3;

/// A task in the work queue: everything a worker needs to run it and to
/// answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskMsg {
    /// The submitting client: replies go to the results stream, on
    /// `<prefix>.results.<client>.<task>.end` (how it ended) and `.note`.
    pub(crate) client: String,
    /// The task's id in that client (unique across the client's restarts).
    pub(crate) task: u64,
    /// The build identity of the client: only a worker of the same build
    /// runs it.
    pub(crate) build: String,
    /// The function's registered name.
    pub(crate) name: String,
    /// The encoded arguments: one for a call, several for a chunk of a map.
    pub(crate) args: Vec<ByteBuf>,
    /// Whether `args` is a chunk (the reply then has one outcome per
    /// argument; a call's has one).
    pub(crate) chunk: bool,
    /// The task's deadline, in milliseconds since the Unix epoch: a worker
    /// that takes it later doesn't run it.
    pub(crate) deadline_ms: Option<u64>,
    /// How long it may run once a worker starts it, in milliseconds: the
    /// worker's process pool kills it then.
    pub(crate) time_limit_ms: Option<u64>,
    /// Which submission of the task this is (0: the first).
    pub(crate) attempt: u32,
    /// Set when the arguments were too large for the message: the name of
    /// the object (in the `<PREFIX>_OBJECTS` object store) that holds
    /// them, encoded as `args` would be; `args` is then empty.
    pub(crate) args_object: Option<String>,
    /// The scattered objects the arguments name (`Scattered` values
    /// written as names): the worker fetches each (once) before it runs
    /// the task.
    pub(crate) scattered: Vec<String>,
    /// How many times the task may run again if it is lost: its process
    /// dies on the worker (the worker's pool reruns it), or the worker
    /// itself (a redelivery beyond `retries + 1` deliveries fails it as
    /// "worker lost"). `None`: the pool's and the queue's defaults.
    pub(crate) retries: Option<u32>,
}

/// What a worker sends to the client that submitted a task.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// 0: a worker of the task's build took it and starts it.
    Started { task: u64, worker: String },
    /// 1: the task ran: each argument's outcome, in order.
    Done {
        task: u64,
        worker: String,
        outcomes: Vec<Outcome>,
    },
    /// 2: the task ran out of time on the worker (its time limit or
    /// deadline), and its process was killed.
    TimedOut { task: u64, worker: String },
    /// 3: the task failed on the worker without an outcome: its process
    /// died, or the worker couldn't run it. The message says why.
    Failed {
        task: u64,
        worker: String,
        message: String,
    },
    /// 4: a worker of another build saw the task and left it in the queue.
    /// Not sent since version 3 (a worker pulls only its own build's
    /// tasks); kept so that the indices stay.
    Mismatch {
        task: u64,
        worker: String,
        build: String,
    },
    /// 5: the client asked to cancel the task, and the worker that held it
    /// killed its process (or never started it): it won't run again.
    Cancelled { task: u64, worker: String },
    /// 6: the task ran, and its outcomes were too large for a message:
    /// they are in the object `object` of the object store (`Done`'s
    /// `outcomes`, encoded), `size` bytes. The client deletes it once read.
    DoneObject {
        task: u64,
        worker: String,
        object: String,
        size: u64,
    },
    /// 7: the task ran, and its outcomes were too large to carry (above
    /// the worker's `max_object_size`, or refused by the object store);
    /// or, unrun, a payload it was to fetch (its arguments, a scattered
    /// value) is above the worker's `max_object_size`. The message says
    /// which, and how large.
    TooLarge {
        task: u64,
        worker: String,
        message: String,
    },
}

/// On `<prefix>.workers` (version 3): a worker says it is there (when it
/// starts, every heartbeat, when a client asks), or that it leaves.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Presence {
    /// The worker's name (`host:pid`).
    pub(crate) worker: String,
    /// Its build identity: a client counts the workers of its own.
    pub(crate) build: String,
    /// How many tasks it runs at once.
    pub(crate) concurrency: u32,
    /// It stops taking tasks (SIGTERM): count it no longer.
    pub(crate) leaving: bool,
}

impl Reply {
    /// The task it is about.
    pub(crate) fn task(&self) -> u64 {
        match self {
            Reply::Started { task, .. }
            | Reply::Done { task, .. }
            | Reply::TimedOut { task, .. }
            | Reply::Failed { task, .. }
            | Reply::Mismatch { task, .. }
            | Reply::Cancelled { task, .. }
            | Reply::DoneObject { task, .. }
            | Reply::TooLarge { task, .. } => *task,
        }
    }
}

/// `VERSION` then `message`.
pub(crate) fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    codec::encode_into(&mut out, &VERSION).map_err(|e| e.to_string())?;
    codec::encode_into(&mut out, message).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Checks the version, then decodes the message (every byte of it).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (version, rest) =
        postcard::take_from_bytes::<u32>(bytes).map_err(|e| format!("no version: {e}"))?;
    if version != VERSION {
        return Err(format!(
            "a cluster message of version {version}; this build speaks version {VERSION}"
        ));
    }
    codec::decode(rest).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_round_trips_and_its_bytes_are_pinned() {
        let msg = TaskMsg {
            client: "c".into(),
            task: 5,
            build: "b".into(),
            name: "f".into(),
            args: vec![ByteBuf::from(vec![7u8])],
            chunk: false,
            deadline_ms: None,
            time_limit_ms: Some(300),
            attempt: 0,
            args_object: Some("o".into()),
            scattered: vec!["s".into()],
            retries: Some(2),
        };
        let bytes = encode(&msg).unwrap();
        assert_eq!(
            bytes,
            [
                3, 1, b'c', 5, 1, b'b', 1, b'f', 1, 1, 7, 0, 0, 1, 0xac, 0x02, 0, 1, 1, b'o', 1, 1,
                b's', 1, 2
            ]
        );
        let back: TaskMsg = decode(&bytes).unwrap();
        assert_eq!(
            (back.task, back.time_limit_ms, back.retries),
            (5, Some(300), Some(2))
        );
        assert_eq!(
            (back.args_object.as_deref(), &back.scattered[..]),
            (Some("o"), &["s".to_owned()][..])
        );
    }

    #[test]
    fn another_version_is_refused_before_decoding() {
        let err = decode::<Reply>(&[2, 0, 1, 1, b'w']).unwrap_err();
        assert!(err.contains("version 2"), "{err}");
        assert!(decode::<Reply>(&[3, 0, 1, 1, b'w', 9]).is_err()); // trailing byte
    }

    #[test]
    fn a_presence_round_trips_and_its_bytes_are_pinned() {
        let p = Presence {
            worker: "h:7".into(),
            build: "b".into(),
            concurrency: 2,
            leaving: true,
        };
        let bytes = encode(&p).unwrap();
        assert_eq!(bytes, [3, 3, b'h', b':', b'7', 1, b'b', 2, 1]);
        let back: Presence = decode(&bytes).unwrap();
        assert_eq!(
            (back.worker.as_str(), back.concurrency, back.leaving),
            ("h:7", 2, true)
        );
    }

    #[test]
    fn a_cancelled_reply_is_the_sixth_variant() {
        let bytes = encode(&Reply::Cancelled {
            task: 7,
            worker: "w".into(),
        })
        .unwrap();
        assert_eq!(bytes, [3, 5, 7, 1, b'w']);
        assert!(matches!(
            decode::<Reply>(&bytes).unwrap(),
            Reply::Cancelled { task: 7, .. }
        ));
    }
}
