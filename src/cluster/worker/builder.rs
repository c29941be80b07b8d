//! [`WorkerBuilder`]: a worker's configuration, and `build`, which
//! connects (the server, the cancel requests, the work queue of its build,
//! the object store) and starts its process pool.

use std::time::Duration;

use super::Worker;
use crate::cluster::cancel;
use crate::cluster::identity;
use crate::cluster::objects::Objects;
use crate::cluster::settings::{self, Auth, Settings};
use crate::error::{BuildError, BuildErrorKind};
use crate::loom::sync::Arc;
use crate::process_pool::ProcessPool;

/// Configures a [`Worker`]; see [`Worker::builder`].
///
/// # Examples
///
/// ```
/// use futurepool::cluster::Worker;
///
/// let builder = Worker::builder("nats://127.0.0.1:4222").user_password("me", "secret").concurrency(4);
/// assert!(!format!("{builder:?}").contains("secret"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct WorkerBuilder {
    pub(in crate::cluster) settings: Settings,
    pub(super) build: Option<String>,
    pub(super) concurrency: usize,
    pub(super) sigterm: bool,
}

impl WorkerBuilder {
    /// Logs in with a user name and password.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").user_password("u", "p");
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
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").token("s3cret");
    /// assert!(!format!("{b:?}").contains("s3cret"));
    /// ```
    pub fn token(mut self, token: &str) -> Self {
        self.settings.auth = Auth::Token(token.to_owned());
        self
    }

    /// The cluster's prefix; see [`ClusterBuilder::prefix`](crate::ClusterBuilder::prefix).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").prefix("jobs");
    /// assert!(format!("{b:?}").contains("jobs"));
    /// ```
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.settings.prefix = prefix.to_owned();
        self
    }

    /// The build identity of the tasks this worker runs (by default, this
    /// binary's): it pulls from that build's queue only, and never sees
    /// (nor uses up a delivery of) a task of another build. See [`ClusterBuilder::build_identity`](crate::ClusterBuilder::build_identity).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").build_identity("v2");
    /// assert!(format!("{b:?}").contains("v2"));
    /// ```
    pub fn build_identity(mut self, build: &str) -> Self {
        self.build = Some(build.to_owned());
        self
    }

    /// How many tasks it runs at once (its process pool's size); the
    /// machine's parallelism by default.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").concurrency(0);
    /// assert_eq!(b.build().unwrap_err().to_string(), "max_workers must be at least 1");
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// The ack wait, if this worker creates the work queue; see
    /// [`ClusterBuilder::ack_wait`](crate::ClusterBuilder::ack_wait). It
    /// heartbeats three times per ack wait while a task runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").ack_wait(Duration::from_secs(2));
    /// assert!(format!("{b:?}").contains("2s"));
    /// ```
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.settings.ack_wait = ack_wait;
        self
    }

    /// The most deliveries of a task, if this worker creates the work
    /// queue; see [`ClusterBuilder::max_deliveries`](crate::ClusterBuilder::max_deliveries).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").max_deliveries(3);
    /// assert!(format!("{b:?}").contains("max_deliver: 3"));
    /// ```
    pub fn max_deliveries(mut self, n: u32) -> Self {
        self.settings.max_deliver = i64::from(n);
        self
    }

    /// How long the results stream keeps a reply, if this worker creates
    /// it; see [`ClusterBuilder::result_ttl`](crate::ClusterBuilder::result_ttl).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222")
    ///     .result_ttl(Duration::from_secs(3600));
    /// assert!(format!("{b:?}").contains("3600s"));
    /// ```
    pub fn result_ttl(mut self, ttl: Duration) -> Self {
        self.settings.result_ttl = ttl;
        self
    }

    /// Whether [`run`](Worker::run) stops on SIGTERM (the default): it
    /// stops pulling, finishes the tasks it holds, and returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").stop_on_sigterm(false);
    /// assert!(format!("{b:?}").contains("sigterm: false"));
    /// ```
    pub fn stop_on_sigterm(mut self, yes: bool) -> Self {
        self.sigterm = yes;
        self
    }

    /// Starts the worker's process pool and connects.
    ///
    /// # Errors
    ///
    /// A [`BuildError`]: the process pool can't start (not Linux), the
    /// server isn't there or refuses the credentials.
    ///
    /// # Examples
    ///
    /// ```
    /// use futurepool::cluster::Worker;
    ///
    /// let err = Worker::builder("nats://127.0.0.1:1").build().unwrap_err();
    /// # if cfg!(target_os = "linux") {
    /// assert!(err.to_string().starts_with("cannot connect to the NATS server"));
    /// # }
    /// ```
    pub fn build(self) -> Result<Worker, BuildError> {
        let fail = |msg: String| BuildError::new(BuildErrorKind::Cluster(msg));
        self.settings.validate().map_err(fail)?;
        let pool = ProcessPool::builder()
            .max_workers(self.concurrency)
            .build()?;
        let runtime = settings::runtime("futurepool-cluster-worker").map_err(fail)?;
        let settings = self.settings.clone();
        let build = self.build.unwrap_or_else(identity::default_build);
        let build_for = build.clone();
        let reconnected = std::sync::Arc::new(tokio::sync::Notify::new());
        let on_connect = reconnected.clone();
        let (nats, js, consumer, cancels, objects) = settings::block_on(&runtime, async move {
            let (nats, js, stream, _results) = settings.connect(Some(on_connect)).await?;
            // Subscribed before it pulls anything: no request for a task it
            // holds can pass it.
            let requests = nats
                .subscribe(format!("{}.cancel.>", settings.prefix))
                .await
                .map_err(|err| format!("cannot subscribe to cancel requests: {err}"))?;
            let cancels = cancel::stream(&js, &settings).await?;
            let consumer = settings.consumer(&stream, &build_for).await?;
            let objects = Objects::new(&nats, js.clone(), &settings);
            Ok::<_, String>((
                nats,
                js,
                consumer,
                (cancels, requests, reconnected),
                objects,
            ))
        })
        .map_err(fail)?;
        // The work queue's own ack wait (whoever created it set it): the
        // heartbeats keep within it.
        let mut settings = self.settings;
        settings.ack_wait = consumer.cached_info().config.ack_wait;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        Ok(Worker {
            name: format!("{}:{}", host.trim(), std::process::id()),
            build,
            settings,
            concurrency: self.concurrency,
            sigterm: self.sigterm,
            pool,
            runtime,
            nats,
            js,
            consumer,
            cancels,
            objects: Arc::new(objects),
        })
    }

    /// The largest task result this worker sends through the cluster's
    /// object store (results above the server's message limit go through
    /// it); above it, the task's handle fails
    /// ([`TaskError::is_too_large`](crate::TaskError::is_too_large)).
    /// Also bounds the arguments and scattered values it fetches: a task
    /// whose payload is above it fails the same way, unrun. 1 GiB
    /// by default; see
    /// [`ClusterBuilder::max_object_size`](crate::ClusterBuilder::max_object_size).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").max_object_size(1 << 20);
    /// assert!(format!("{b:?}").contains("max_object: 1048576"));
    /// ```
    #[doc(alias = "max_payload")]
    pub fn max_object_size(mut self, bytes: u64) -> Self {
        self.settings.max_object = bytes;
        self
    }
}
