//! Payloads above the server's message limit, and scattered values, through
//! the JetStream object store `<STREAM>_OBJECTS` (file storage; an object
//! is kept for `result_ttl` at most, the bucket's `max_age`; made when first
//! needed). docs/WIRE.md, "The cluster's messages", says what each side
//! stores and when it is deleted:
//!
//! - a task whose message would be above the server's `max_payload`: the
//!   client stores its encoded arguments as `<client>-<task>-args`, the
//!   message names it (`args_object`); the worker fetches it before running
//!   the task; the client deletes it when the task ends there (or it
//!   expires);
//! - outcomes too large for a reply: the worker stores them as
//!   `<client>-<task>-result-<worker>` and replies `DoneObject`; the client
//!   fetches, then deletes it;
//! - a scattered value (`ClusterExecutor::scatter`): stored once, named in
//!   the messages of the tasks whose arguments hold it (`scattered`); each
//!   worker fetches it once into a directory of its own, where its pool's
//!   processes read it (and decode it: user code runs there); it stays until
//!   `unscatter` or its age passes `result_ttl`.
//!
//! Everything here runs on the feature's runtime thread (or the submitting
//! thread), and handles bytes only: no user type is encoded or decoded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, object_store};
use serde_bytes::ByteBuf;
use tokio::io::AsyncReadExt;

use super::client::{Shared, Slot};
use super::settings::Settings;
use super::wire::{Reply, TaskMsg};
use crate::core::state::End;
use crate::error::TaskError;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::remote::codec;
use crate::remote::registry::Outcome;

/// What a message leaves the server's `max_payload` for its headers (a
/// message id) and the rest of a task's fields.
const HEADROOM: usize = 4096;

/// The object store of one cluster, as a client or a worker uses it.
pub(super) struct Objects {
    js: jetstream::Context,
    bucket: String,
    ttl: Duration,
    /// The largest payload stored (`max_object_size`).
    pub(super) max_object: u64,
    /// The server's message limit.
    max_payload: usize,
    store: tokio::sync::OnceCell<object_store::ObjectStore>,
    /// Objects to delete, by name: the deleter task reads them.
    release: tokio::sync::mpsc::UnboundedSender<String>,
    /// A worker's: where it keeps the scattered objects it has fetched.
    dir: PathBuf,
    /// A worker's: the scattered objects fetched (or being fetched).
    fetched: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<()>>>>,
    /// Numbers the scattered values a client stores.
    scattered: AtomicUsize,
}

/// Why an object couldn't be fetched.
pub(super) enum Fetch {
    /// It isn't in the store (deleted, expired, never stored).
    Gone,
    /// It is above this side's `max_object_size` (the message says so).
    TooLarge(String),
    Failed(String),
}

/// Why a worker can't make a task's payloads ready ([`Objects::prepare`]).
pub(super) enum Unready {
    /// One is above the worker's `max_object_size`: the task fails as too
    /// large.
    TooLarge(String),
    /// Anything else; the message says what.
    Failed(String),
}

impl From<String> for Unready {
    fn from(why: String) -> Unready {
        Unready::Failed(why)
    }
}

impl Objects {
    /// The object store of the cluster `settings` name, over `nats`; call
    /// inside the runtime (it starts the deleter task there).
    pub(super) fn new(
        nats: &async_nats::Client,
        js: jetstream::Context,
        settings: &Settings,
    ) -> Objects {
        let (release, to_delete) = tokio::sync::mpsc::unbounded_channel();
        let bucket = settings.objects_bucket_name();
        tokio::spawn(delete_released(js.clone(), bucket.clone(), to_delete));
        Objects {
            js,
            bucket,
            ttl: settings.result_ttl,
            max_object: settings.max_object,
            max_payload: nats.server_info().max_payload,
            store: tokio::sync::OnceCell::new(),
            release,
            dir: std::env::temp_dir().join(format!(
                "futurepool-scattered-{}-{}",
                std::process::id(),
                settings.prefix
            )),
            fetched: Mutex::new(HashMap::new()),
            scattered: AtomicUsize::new(0),
        }
    }

    /// Whether a message of `len` bytes fits the server's limit.
    pub(super) fn fits(&self, len: usize) -> bool {
        len.saturating_add(HEADROOM) <= self.max_payload
    }

    /// A number for the next scattered value.
    pub(super) fn next_scattered(&self) -> usize {
        // ORDERING: Relaxed: a counter, unique is all it must be.
        self.scattered.fetch_add(1, Ordering::Relaxed)
    }

    /// Refuses a payload of `len` bytes above `max_object_size`; `what` is
    /// what it is ("the task's arguments").
    pub(super) fn check_size(&self, what: &str, len: usize) -> Result<(), TaskError> {
        if len as u64 > self.max_object {
            return Err(TaskError::too_large(format!(
                "{what}: {len} bytes encoded, above the cluster's max_object_size ({} bytes) \
                 for its object store (the server's message limit is {} bytes)",
                self.max_object, self.max_payload
            )));
        }
        Ok(())
    }

    /// The bucket, made if it isn't there.
    async fn store(&self) -> Result<object_store::ObjectStore, String> {
        let made = self
            .store
            .get_or_try_init(|| async {
                if let Ok(store) = self.js.get_object_store(&self.bucket).await {
                    return Ok(store);
                }
                let config = object_store::Config {
                    bucket: self.bucket.clone(),
                    max_age: self.ttl,
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                };
                match self.js.create_object_store(config).await {
                    Ok(store) => Ok(store),
                    // Made meanwhile by someone else, perhaps.
                    Err(err) => self.js.get_object_store(&self.bucket).await.map_err(|_| {
                        format!("cannot set up the object store {}: {err}", self.bucket)
                    }),
                }
            })
            .await?;
        Ok(made.clone())
    }

    /// Stores `bytes` as `name`.
    pub(super) async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let store = self.store().await?;
        let mut reader = bytes;
        store
            .put(name, &mut reader)
            .await
            .map(|_| ())
            .map_err(|err| format!("the object store {} didn't take it: {err}", self.bucket))
    }

    /// The bytes of `name`.
    pub(super) async fn get(&self, name: &str) -> Result<Vec<u8>, Fetch> {
        let store = self.store().await.map_err(Fetch::Failed)?;
        let mut object = store.get(name).await.map_err(|err| match err.kind() {
            object_store::GetErrorKind::NotFound => Fetch::Gone,
            _ => Fetch::Failed(err.to_string()),
        })?;
        let size = object.info().size;
        if size as u64 > self.max_object {
            return Err(Fetch::TooLarge(format!(
                "it is {size} bytes, above max_object_size ({} bytes)",
                self.max_object
            )));
        }
        let mut out = Vec::with_capacity(size);
        object
            .read_to_end(&mut out)
            .await
            .map_err(|err| Fetch::Failed(err.to_string()))?;
        Ok(out)
    }

    /// Whether the object `name` is in the store (not deleted, not
    /// expired): a metadata look-up, not its bytes.
    async fn info(&self, name: &str) -> Result<(), Fetch> {
        let store = self.store().await.map_err(Fetch::Failed)?;
        match store.info(name).await {
            Ok(info) if !info.deleted => Ok(()),
            Ok(_) => Err(Fetch::Gone),
            Err(err) if matches!(err.kind(), object_store::InfoErrorKind::NotFound) => {
                Err(Fetch::Gone)
            }
            Err(err) => Err(Fetch::Failed(err.to_string())),
        }
    }

    /// Deletes `name` (`Gone` if it wasn't there).
    pub(super) async fn delete(&self, name: &str) -> Result<(), Fetch> {
        let store = self.store().await.map_err(Fetch::Failed)?;
        store.delete(name).await.map_err(|err| match err.kind() {
            object_store::DeleteErrorKind::NotFound => Fetch::Gone,
            _ => Fetch::Failed(err.to_string()),
        })
    }

    /// Deletes `name` later, on the deleter task (from any thread).
    pub(super) fn release(&self, name: String) {
        let _ = self.release.send(name);
    }

    // The client's side.

    /// Moves the arguments of `msg` (whose encoding, `len` bytes, is above
    /// the server's limit) into a payload to store: returns the object's
    /// name and bytes, and `msg` names it.
    pub(super) fn offload_args(&self, msg: &mut TaskMsg) -> Result<(String, Vec<u8>), TaskError> {
        let blob = codec::encode(&msg.args).map_err(|err| {
            TaskError::serialization(format!("failed to serialize the task's message: {err}"))
        })?;
        self.check_size("the task's arguments", blob.len())?;
        let name = format!("{}-{}-args", msg.client, msg.task);
        msg.args = Vec::new();
        msg.args_object = Some(name.clone());
        Ok((name, blob))
    }

    // The worker's side.

    /// Fetches what `task` needs before it runs: its arguments, if they
    /// are an object (then in `task.args`), and the scattered objects it
    /// names (into this worker's directory, once). Returns that directory
    /// if the task names any; an error says why it can't run.
    pub(super) async fn prepare(&self, task: &mut TaskMsg) -> Result<Option<PathBuf>, Unready> {
        if let Some(name) = task.args_object.take() {
            let bytes = self.get(&name).await.map_err(|why| match why {
                Fetch::Gone => Unready::Failed(format!(
                    "the task's arguments (object {name}) are no longer in the object store {} \
                     (the task ended on its client, or they expired after result_ttl)",
                    self.bucket
                )),
                Fetch::TooLarge(err) => {
                    Unready::TooLarge(format!("the task's arguments (object {name}): {err}"))
                }
                Fetch::Failed(err) => Unready::Failed(format!(
                    "cannot fetch the task's arguments (object {name}): {err}"
                )),
            })?;
            task.args = codec::decode::<Vec<ByteBuf>>(&bytes).map_err(|err| {
                format!("the task's arguments (object {name}) are garbled: {err}")
            })?;
        }
        for name in &task.scattered {
            self.fetch_scattered(name).await?;
        }
        Ok((!task.scattered.is_empty()).then(|| self.dir.clone()))
    }

    /// Fetches the scattered object `name` into this worker's directory,
    /// unless it is there already (or being fetched: then waits for it).
    async fn fetch_scattered(&self, name: &str) -> Result<(), Unready> {
        if !is_plain_name(name) {
            return Err(format!("{name:?} is not the name of a scattered object").into());
        }
        let cell = self
            .fetched
            .lock()
            .entry(name.to_owned())
            .or_default()
            .clone();
        let gone = || {
            format!(
                "scattered object {name} is not in the object store {} (unscattered, or \
                 expired after result_ttl)",
                self.bucket
            )
        };
        if cell.initialized() {
            // A copy here: the value may have been unscattered (or have
            // expired) since, and a task that names it then fails, as on a
            // worker without a copy. (A store that can't be asked now
            // fails nothing: the copy is good.)
            return match self.info(name).await {
                Err(Fetch::Gone) => Err(gone().into()),
                _ => Ok(()),
            };
        }
        // A failure leaves the cell empty: the next task tries again.
        cell.get_or_try_init(|| async {
            let bytes = self.get(name).await.map_err(|why| match why {
                Fetch::Gone => Unready::Failed(gone()),
                Fetch::TooLarge(err) => {
                    Unready::TooLarge(format!("scattered object {name}: {err}"))
                }
                Fetch::Failed(err) => {
                    Unready::Failed(format!("cannot fetch scattered object {name}: {err}"))
                }
            })?;
            let write = || {
                std::fs::create_dir_all(&self.dir)?;
                let part = self.dir.join(format!("{name}.part"));
                std::fs::write(&part, &bytes)?;
                std::fs::rename(&part, self.dir.join(name))
            };
            write().map_err(|err| {
                Unready::Failed(format!(
                    "cannot keep scattered object {name} in {}: {err}",
                    self.dir.display()
                ))
            })
        })
        .await?;
        Ok(())
    }

    /// Removes the worker's directory of scattered objects.
    pub(super) fn remove_dir(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// `answer`, or, if its outcomes are too large for a reply, a reply
    /// that names the object that holds them (or says they are too large).
    pub(super) async fn shrink(&self, answer: Reply, client: &str) -> Reply {
        let Reply::Done {
            task,
            worker,
            outcomes,
        } = answer
        else {
            return answer;
        };
        if codec::encoded_len(&outcomes).is_ok_and(|len| self.fits(len)) {
            return Reply::Done {
                task,
                worker,
                outcomes,
            };
        }
        let blob = match codec::encode(&outcomes) {
            Ok(blob) => blob,
            Err(err) => {
                return Reply::Failed {
                    task,
                    worker,
                    message: format!("cannot encode the task's outcomes: {err}"),
                };
            }
        };
        drop(outcomes);
        if let Err(err) = self.check_size("the task's results", blob.len()) {
            return Reply::TooLarge {
                task,
                worker,
                message: err.to_string(),
            };
        }
        let plain: String = worker
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let object = format!("{client}-{task}-result-{plain}");
        match self.put(&object, &blob).await {
            Ok(()) => Reply::DoneObject {
                task,
                worker,
                object,
                size: blob.len() as u64,
            },
            Err(err) => Reply::Failed {
                task,
                worker,
                message: format!(
                    "cannot store the task's results ({} bytes): {err}",
                    blob.len()
                ),
            },
        }
    }
}

/// Whether `name` is safe as a file name (the names this crate makes).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The deleter task: deletes each object released, until every sender is
/// gone. Best effort: what it can't delete expires with the bucket's age.
async fn delete_released(
    js: jetstream::Context,
    bucket: String,
    mut to_delete: tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let mut store = None;
    while let Some(name) = to_delete.recv().await {
        if store.is_none() {
            store = js.get_object_store(&bucket).await.ok();
        }
        if let Some(store) = &store {
            let _ = store.delete(&name).await;
        }
    }
}

/// The client's runtime task for a `DoneObject` reply: fetches the
/// outcomes (bytes, and this crate's own `Outcome`s: no user type), ends
/// the task with them, and deletes the object.
pub(super) async fn fetch_done(shared: Arc<Shared>, task: u64, worker: String, object: String) {
    let outcomes = match shared.objects.get(&object).await {
        Ok(bytes) => codec::decode::<Vec<Outcome>>(&bytes).map_err(|err| {
            TaskError::cluster(format!(
                "the task's results (object {object}) from worker {worker} are garbled: {err}"
            ))
        }),
        Err(Fetch::Gone) => Err(TaskError::cluster(format!(
            "the task's results (object {object}) from worker {worker} are no longer in the \
             object store"
        ))),
        Err(Fetch::TooLarge(err)) => Err(TaskError::too_large(format!(
            "the task's results (object {object}) from worker {worker}: {err}"
        ))),
        Err(Fetch::Failed(err)) => Err(TaskError::cluster(format!(
            "cannot fetch the task's results (object {object}) from worker {worker}: {err}"
        ))),
    };
    match outcomes {
        Ok(outcomes) => {
            let failed = super::client::failed_units(&outcomes);
            shared.end(task, failed, |slot| slot.done(outcomes, worker));
        }
        Err(err) => shared.fail(task, err),
    }
    let _ = shared.objects.delete(&object).await;
}

/// A pending task whose arguments are an object: the object is released
/// (deleted) when the task ends here, however it ends.
pub(super) struct Holding {
    slot: Box<dyn Slot>,
    _object: Release,
}

impl Holding {
    pub(super) fn wrap(slot: Box<dyn Slot>, objects: &Arc<Objects>, name: String) -> Box<dyn Slot> {
        Box::new(Holding {
            slot,
            _object: Release(objects.clone(), Some(name)),
        })
    }
}

/// Releases its object when dropped.
struct Release(Arc<Objects>, Option<String>);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(name) = self.1.take() {
            self.0.release(name);
        }
    }
}

impl Slot for Holding {
    fn start(&self) -> bool {
        self.slot.start()
    }

    fn done(self: Box<Self>, outcomes: Vec<Outcome>, worker: String) -> End {
        self.slot.done(outcomes, worker)
    }

    fn fail(self: Box<Self>, err: TaskError) -> End {
        self.slot.fail(err)
    }

    fn cancel(self: Box<Self>) -> End {
        self.slot.cancel()
    }

    fn cancelled(self: Box<Self>) -> End {
        self.slot.cancelled()
    }

    fn ended(&self) -> Option<End> {
        self.slot.ended()
    }
}

/// Stores a task's arguments, then publishes its message; if they can't
/// be stored, the task fails (and nothing is published).
pub(super) async fn put_then_publish(
    shared: Arc<Shared>,
    task: u64,
    (name, blob): (String, Vec<u8>),
    bytes: Vec<u8>,
) {
    match shared.objects.put(&name, &blob).await {
        Ok(()) => super::client::publish(shared, task, bytes).await,
        Err(err) => {
            shared.fail(
                task,
                TaskError::cluster(format!("cannot store the task's arguments: {err}")),
            );
            shared.sent();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_names_become_file_names() {
        assert!(super::is_plain_name("c0ffee-17-scattered"));
        for bad in ["", "../etc/passwd", "a/b", "a.b", "a b"] {
            assert!(!super::is_plain_name(bad), "{bad:?}");
        }
    }
}
