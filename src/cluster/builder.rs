//! [`ClusterBuilder`]: where the server is, how to log in, and the
//! cluster's settings; `build` connects.

use std::time::Duration;

use super::client::{self, Shared};
use super::settings::{self, Auth, Settings};
use super::{ClusterExecutor, Inner, identity};
use super::{cancel, matching, presence, replies};
use crate::core::timer::Timer;
use crate::error::{BuildError, BuildErrorKind};
use crate::loom::sync::Arc;

/// Configures a [`ClusterExecutor`]; see [`ClusterExecutor::builder`].
///
/// Workers and clients of one cluster must agree on the server, the
/// `prefix`, and (to share tasks) the build identity; the `ack_wait` and
/// `max_deliveries` of a build's queue are set by whichever client or worker
/// of that build creates it first.
///
/// # Examples
///
/// ```
/// use futurepool::ClusterExecutor;
/// use std::time::Duration;
///
/// let builder = ClusterExecutor::builder("nats://127.0.0.1:4222")
///     .user_password("me", "secret")
///     .prefix("jobs")
///     .match_timeout(Duration::from_secs(30));
/// assert!(!format!("{builder:?}").contains("secret")); // never the password
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ClusterBuilder {
    pub(super) settings: Settings,
    build: Option<String>,
    match_timeout: Duration,
    client_id: Option<String>,
}

impl ClusterBuilder {
    pub(super) fn new(url: &str) -> ClusterBuilder {
        ClusterBuilder {
            settings: Settings::new(url),
            build: None,
            match_timeout: Duration::from_secs(60),
            client_id: None,
        }
    }

    /// Logs in with a user name and password.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222").user_password("u", "p");
    /// assert!(format!("{b:?}").contains("\"u\""));
    /// ```
    pub fn user_password(mut self, user: &str, password: &str) -> Self {
        self.settings.auth = Auth::UserPassword(user.to_owned(), password.to_owned());
        self
    }

    /// Logs in with a token.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222").token("s3cret");
    /// assert!(!format!("{b:?}").contains("s3cret"));
    /// ```
    pub fn token(mut self, token: &str) -> Self {
        self.settings.auth = Auth::Token(token.to_owned());
        self
    }

    /// The prefix of the cluster's subjects (`<prefix>.tasks.<build>`,
    /// `<prefix>.results.<client>`) and the name of its stream (the prefix
    /// in capitals): one server can hold several clusters. Letters, digits,
    /// `-` and `_`; `futurepool` by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ClusterExecutor;
    ///
    /// let err = ClusterExecutor::builder("nats://127.0.0.1:4222").prefix("a.b").build().unwrap_err();
    /// assert!(err.to_string().starts_with("a cluster prefix is"));
    /// ```
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.settings.prefix = prefix.to_owned();
        self
    }

    /// The build identity the client's tasks carry (by default, a digest
    /// of the executable and its registered functions): only workers of the
    /// same identity run them. Set it (to a version, a commit) where copies
    /// of one build are deployed as different files, e.g. rebuilt per
    /// machine.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222").build_identity("v2");
    /// assert!(format!("{b:?}").contains("v2"));
    /// ```
    pub fn build_identity(mut self, build: &str) -> Self {
        self.build = Some(build.to_owned());
        self
    }

    /// How long a worker may hold a task without a word before the server
    /// hands it to another (workers heartbeat while a task runs, so this
    /// bounds how soon a dead worker's task is redelivered); 30 s by
    /// default, at least 100 ms. Set on the build's queue (its consumer)
    /// when it is created.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ClusterExecutor;
    /// use std::time::Duration;
    ///
    /// let err = ClusterExecutor::builder("nats://127.0.0.1:1")
    ///     .ack_wait(Duration::from_millis(1))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "ack_wait must be at least 100 ms");
    /// ```
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.settings.ack_wait = ack_wait;
        self
    }

    /// How many times the server hands out one task at most (its first
    /// delivery included); 5 by default. Only workers of the task's build
    /// are given it. Set on the build's queue (its consumer) when it is
    /// created.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ClusterExecutor;
    ///
    /// let err = ClusterExecutor::builder("nats://127.0.0.1:1").max_deliveries(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "max_deliveries must be at least 1");
    /// ```
    pub fn max_deliveries(mut self, n: u32) -> Self {
        self.settings.max_deliver = i64::from(n);
        self
    }

    /// How long a task may wait for a worker of the client's build while
    /// workers of other builds consume the queue and none of its own does
    /// (a rolling deploy that never brings its build); then its handle
    /// fails ([`TaskError::is_cluster_error`](crate::TaskError::is_cluster_error),
    /// the message names the builds that are there) and it leaves the
    /// queue. Workers of other builds never see the task (each build has a
    /// queue of its own), so the wait uses up none of its
    /// [`max_deliveries`](Self::max_deliveries). With no worker at all, a
    /// task waits. 60 s by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222")
    ///     .match_timeout(Duration::from_secs(5));
    /// assert!(format!("{b:?}").contains("5s"));
    /// ```
    pub fn match_timeout(mut self, timeout: Duration) -> Self {
        self.match_timeout = timeout;
        self
    }

    /// This client's identity in the cluster: its replies are stored under
    /// it, so a client built later with the same id (the same program,
    /// restarted) can [`collect`](crate::ClusterExecutor::collect) the
    /// results of tasks an earlier one submitted. Letters, digits, `-` and
    /// `_`; random by default. One client at a time per id.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ClusterExecutor;
    ///
    /// let err = ClusterExecutor::builder("nats://127.0.0.1:1").client_id("a.b").build().unwrap_err();
    /// assert!(err.to_string().starts_with("a client id is"));
    /// ```
    pub fn client_id(mut self, id: &str) -> Self {
        self.client_id = Some(id.to_owned());
        self
    }

    /// How long the server keeps a task's stored reply (whether or not a
    /// client has read it): a client that is away longer can't collect
    /// it. 24 hours by default, at least 1 s. Set on the results stream
    /// when it is created (by whichever client or worker comes first).
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ClusterExecutor;
    /// use std::time::Duration;
    ///
    /// let err = ClusterExecutor::builder("nats://127.0.0.1:1")
    ///     .result_ttl(Duration::from_millis(10))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "result_ttl must be at least 1 s");
    /// ```
    pub fn result_ttl(mut self, ttl: Duration) -> Self {
        self.settings.result_ttl = ttl;
        self
    }

    /// The largest payload the cluster carries through its object store:
    /// a task's encoded arguments (or a map chunk's) or its results above
    /// the server's message limit (`max_payload`, 1 MiB by default) go
    /// through the JetStream object store `<PREFIX>_OBJECTS`, up to this
    /// size; above it, the task's handle fails
    /// ([`TaskError::is_too_large`](crate::TaskError::is_too_large)), as
    /// does [`scatter`](crate::ClusterExecutor::scatter). 1 GiB by default
    /// (the process pool's own limit). Workers have their own
    /// ([`WorkerBuilder::max_object_size`](crate::cluster::WorkerBuilder::max_object_size)),
    /// for results.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222")
    ///     .max_object_size(64 << 20);
    /// assert!(format!("{b:?}").contains("max_object: 67108864"));
    /// ```
    #[doc(alias = "max_payload")]
    pub fn max_object_size(mut self, bytes: u64) -> Self {
        self.settings.max_object = bytes;
        self
    }

    /// How long `build` waits for the server; 5 s by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222")
    ///     .connect_timeout(Duration::from_secs(2));
    /// assert!(format!("{b:?}").contains("2s"));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Connects to the server, sets up the work queue and the results
    /// stream if they aren't there, and subscribes to this client's
    /// replies.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] saying why: a setting that can't work, a server
    /// that isn't there or refuses the credentials, JetStream disabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::ClusterExecutor;
    /// use std::time::Duration;
    ///
    /// let err = ClusterExecutor::builder("nats://127.0.0.1:1")
    ///     .connect_timeout(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("127.0.0.1:1"));
    /// ```
    pub fn build(self) -> Result<ClusterExecutor, BuildError> {
        let fail = |msg: String| BuildError::new(BuildErrorKind::Cluster(msg));
        self.settings.validate().map_err(fail)?;
        let id = self.client_id.clone().unwrap_or_else(client_id);
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if id.is_empty() || !id.chars().all(ok) {
            return Err(fail(format!(
                "a client id is letters, digits, `-` and `_`, not {id:?}"
            )));
        }
        let runtime = settings::runtime("futurepool-cluster").map_err(fail)?;
        let build = self.build.unwrap_or_else(identity::default_build);
        let consumer = self.settings.consumer_name(&build);
        let settings = self.settings.clone();
        let build_for = build.clone();
        let prefix = settings.results_subject(&id);
        let replies_prefix = prefix.clone();
        let reconnected = std::sync::Arc::new(tokio::sync::Notify::new());
        let on_connect = reconnected.clone();
        let connected = settings::block_on(&runtime, async move {
            let (nats, js, stream, results) = settings.connect(Some(on_connect)).await?;
            // The consumer of its build's workers, with this client's ack
            // wait and deliveries if it is the first to make it.
            settings.consumer(&stream, &build_for).await?;
            // Where its cancel requests are kept.
            cancel::stream(&js, &settings).await?;
            // The server's word that a task was delivered for the last
            // time and not acked: its worker (or workers) died with it.
            let lost = nats
                .subscribe(format!(
                    "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{}",
                    settings.stream_name(),
                    settings.consumer_name(&build_for)
                ))
                .await
                .map_err(|err| format!("cannot subscribe to the server's advisories: {err}"))?;
            // The consumer exists before any task is published, so every
            // reply after now reaches it (earlier ones are `collect`'s).
            // (From a sequence number, not "new": the ordered consumer,
            // recreated after a reconnect before it has read anything,
            // would start from "new" again and miss what came meanwhile.)
            let start = results.cached_info().state.last_sequence + 1;
            let replies = replies::replies(
                &results,
                &prefix,
                async_nats::jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
            )
            .await?;
            // The workers' announcements, then a question that makes every
            // worker announce itself now.
            let announcements = nats
                .subscribe(presence::subject(&settings.prefix))
                .await
                .map_err(|err| format!("cannot subscribe to the workers' heartbeats: {err}"))?;
            let _ = nats
                .publish(presence::ask_subject(&settings.prefix), Default::default())
                .await;
            nats.flush()
                .await
                .map_err(|err| format!("cannot reach the NATS server: {err}"))?;
            let objects = super::objects::Objects::new(&nats, js.clone(), &settings);
            Ok::<_, String>((
                js,
                stream,
                results,
                replies,
                lost,
                start,
                announcements,
                objects,
            ))
        });
        let (js, stream, results, replies, lost, start, announcements, objects) =
            connected.map_err(fail)?;
        let (requests, cancels) =
            cancel::Requests::new(format!("{}.cancel.{id}", self.settings.prefix));
        let shared = Arc::new(Shared::new(
            id,
            build.clone(),
            (self.settings.tasks_subject(&build), consumer),
            self.match_timeout,
            requests,
            js,
            (stream, results),
            replies_prefix,
            start,
            Arc::new(objects),
        ));
        runtime.spawn(replies::read_replies(
            Arc::downgrade(&shared),
            replies,
            reconnected,
        ));
        runtime.spawn(client::read_lost(shared.clone(), lost));
        runtime.spawn(client::sweep(Arc::downgrade(&shared), SWEEP));
        runtime.spawn(cancel::send_requests(Arc::downgrade(&shared), cancels));
        runtime.spawn(matching::watch(
            Arc::downgrade(&shared),
            matching::period(self.match_timeout),
        ));
        runtime.spawn(presence::listen(Arc::downgrade(&shared), announcements));
        // Progress reports ask it where its tasks are (see `client.rs`).
        let source: std::sync::Arc<dyn crate::progress::live::Source> = shared.clone();
        crate::progress::live::register(std::sync::Arc::downgrade(&source));
        Ok(ClusterExecutor {
            inner: Arc::new(Inner {
                shared,
                timer: Timer::new("futurepool-cluster-timer".to_owned()),
                runtime: Some(runtime),
            }),
        })
    }
}

/// How often the client forgets ended tasks (and takes the messages of
/// cancelled ones out of the queue).
const SWEEP: Duration = Duration::from_millis(250);

/// A client id unique enough across machines and restarts: the pid, the
/// time, and a hash of the host's name, as 16 hex digits.
fn client_id() -> String {
    use crate::remote::registry::hash_bytes;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let host = std::fs::read("/proc/sys/kernel/hostname").unwrap_or_default();
    let h = hash_bytes(hash_bytes(nanos, &host), &std::process::id().to_le_bytes());
    format!("{h:016x}")
}
