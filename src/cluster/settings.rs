//! What a client and a worker share: where the server is, how to log in,
//! the names of the stream, its subjects and the workers' consumer, and the
//! connection itself (made on the feature's own runtime).

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};

use super::identity;

/// How to log in to the server.
#[derive(Clone)]
pub(crate) enum Auth {
    None,
    UserPassword(String, String),
    Token(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets.
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPassword(user, _) => write!(f, "UserPassword({user:?}, \"***\")"),
            Auth::Token(_) => f.write_str("Token(\"***\")"),
        }
    }
}

/// A connection: the client, its JetStream context, the work queue, the
/// results stream.
pub(crate) type Connected = (
    async_nats::Client,
    jetstream::Context,
    stream::Stream,
    stream::Stream,
);

/// The settings a client and its workers must agree on.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) auth: Auth,
    /// The subjects' prefix; the stream is named after it.
    pub(crate) prefix: String,
    /// How long a worker may hold a task without a word (it heartbeats
    /// while the task runs) before the server gives it to another.
    pub(crate) ack_wait: Duration,
    /// How many times the server hands out a task at most.
    pub(crate) max_deliver: i64,
    pub(crate) connect_timeout: Duration,
    /// How long the results stream keeps a reply (its `max_age`), and the
    /// object store an object.
    pub(crate) result_ttl: Duration,
    pub(crate) tls: super::tls::Tls,
    /// The largest payload (a task's encoded arguments, its outcomes, a
    /// scattered value) that goes through the object store.
    pub(crate) max_object: u64,
}

impl Settings {
    pub(crate) fn new(url: &str) -> Settings {
        Settings {
            url: url.to_owned(),
            auth: Auth::None,
            prefix: "futurepool".to_owned(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            connect_timeout: Duration::from_secs(5),
            result_ttl: Duration::from_secs(24 * 60 * 60),
            tls: super::tls::Tls::default(),
            max_object: DEFAULT_MAX_OBJECT,
        }
    }

    /// The JetStream stream that holds queued tasks.
    pub(crate) fn stream_name(&self) -> String {
        self.prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The subject the tasks of `build` are published to: one per build
    /// identity, so a worker only ever pulls tasks of its own build.
    pub(crate) fn tasks_subject(&self, build: &str) -> String {
        format!("{}.tasks.{}", self.prefix, identity::token(build))
    }

    /// The stream that keeps the workers' replies (durable: a client that
    /// was away reads them when it is back).
    pub(crate) fn results_stream_name(&self) -> String {
        format!("{}_RESULTS", self.stream_name())
    }

    /// The stream that keeps cancel requests (a worker that takes a task
    /// again after its first worker died looks there).
    pub(crate) fn cancels_stream_name(&self) -> String {
        format!("{}_CANCELS", self.stream_name())
    }

    /// The subject of the cancel request of a client's task.
    pub(crate) fn cancel_subject(&self, client: &str, task: u64) -> String {
        format!("{}.cancel.{client}.{task}", self.prefix)
    }

    /// The subjects of a client's replies: `<prefix>.results.<client>`,
    /// then `.<task>.end` (how it ended) or `.<task>.note` (started, left
    /// by a worker of another build).
    pub(crate) fn results_subject(&self, client: &str) -> String {
        format!("{}.results.{client}", self.prefix)
    }

    /// The object store of payloads above the server's message limit and
    /// of scattered values (made when first needed).
    pub(crate) fn objects_bucket_name(&self) -> String {
        format!("{}_OBJECTS", self.stream_name())
    }

    /// The pull consumer every worker of `build` shares (filtered on its
    /// build's subject).
    pub(crate) fn consumer_name(&self, build: &str) -> String {
        format!("workers-{}", identity::token(build))
    }

    /// Checks what can be checked before connecting.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.prefix.is_empty() || !self.prefix.chars().all(ok) {
            return Err(format!(
                "a cluster prefix is letters, digits, `-` and `_`, not {:?}",
                self.prefix
            ));
        }
        if self.ack_wait < Duration::from_millis(100) {
            return Err("ack_wait must be at least 100 ms".to_owned());
        }
        if self.result_ttl < Duration::from_secs(1) {
            return Err("result_ttl must be at least 1 s".to_owned());
        }
        if self.max_deliver < 1 {
            return Err("max_deliveries must be at least 1".to_owned());
        }
        self.tls.validate()
    }

    /// Connects, and makes (or finds) the work queue's stream and the
    /// results stream. `connected` (if any) is notified at each
    /// reconnection.
    pub(crate) async fn connect(
        &self,
        connected: Option<std::sync::Arc<tokio::sync::Notify>>,
    ) -> Result<Connected, String> {
        let mut options =
            async_nats::ConnectOptions::new().connection_timeout(self.connect_timeout);
        if let Some(connected) = connected {
            // The first `Connected` is this connection's: not a reconnection.
            let first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
            options = options.event_callback(move |event| {
                let (connected, first) = (connected.clone(), first.clone());
                async move {
                    // ORDERING: Relaxed: one flag, no data behind it.
                    if matches!(event, async_nats::Event::Connected)
                        && !first.swap(false, std::sync::atomic::Ordering::Relaxed)
                    {
                        connected.notify_one();
                    }
                }
            });
        }
        options = match &self.auth {
            Auth::None => options,
            Auth::UserPassword(user, pass) => options.user_and_password(user.clone(), pass.clone()),
            Auth::Token(token) => options.token(token.clone()),
        };
        options = self.tls.apply(options);
        let client = options.connect(self.url.as_str()).await.map_err(|err| {
            use async_nats::ConnectErrorKind as K;
            if let Some(tls) = super::tls::failure(&err, &self.url) {
                return tls;
            }
            match err.kind() {
                K::AuthorizationViolation | K::Authentication => format!(
                    "the NATS server at {} refused the credentials: {err}",
                    self.url
                ),
                _ => format!("cannot connect to the NATS server at {}: {err}", self.url),
            }
        })?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_or_create_stream(stream::Config {
                name: self.stream_name(),
                subjects: vec![format!("{}.tasks.*", self.prefix)],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|err| {
                format!(
                    "cannot set up the work queue (stream {}) on the NATS server at {}: {err} \
                     (is JetStream enabled? `nats-server -js`)",
                    self.stream_name(),
                    self.url
                )
            })?;
        if !stream
            .cached_info()
            .config
            .subjects
            .iter()
            .any(|s| *s == format!("{}.tasks.*", self.prefix))
        {
            return Err(format!(
                "the work queue (stream {}) on the NATS server at {} was made by an older \
                 futurepool (one queue for every build): let it drain, then delete it \
                 (`nats stream rm {}`)",
                self.stream_name(),
                self.url,
                self.stream_name()
            ));
        }
        let results = js
            .get_or_create_stream(stream::Config {
                name: self.results_stream_name(),
                subjects: vec![format!("{}.results.>", self.prefix)],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                max_age: self.result_ttl,
                ..Default::default()
            })
            .await
            .map_err(|err| {
                format!(
                    "cannot set up the results stream {} on the NATS server at {}: {err}",
                    self.results_stream_name(),
                    self.url
                )
            })?;
        Ok((client, js, stream, results))
    }

    /// The shared pull consumer of the workers of `build`: it delivers only
    /// that build's tasks, so a worker never sees (nor uses up a delivery
    /// of) another build's. Its description is the build identity (what a
    /// client names when no worker of its build is there).
    pub(crate) async fn consumer(
        &self,
        stream: &stream::Stream,
        build: &str,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, String> {
        let name = self.consumer_name(build);
        stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    description: Some(build.to_owned()),
                    filter_subject: self.tasks_subject(build),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_deliver: self.max_deliver,
                    ..Default::default()
                },
            )
            .await
            .map_err(|err| format!("cannot set up the workers' consumer {name}: {err}"))
    }
}

/// The default of `max_object_size`: 1 GiB, the process pool's own limit
/// on a frame (a worker hands a task's arguments to its process pool).
pub(crate) const DEFAULT_MAX_OBJECT: u64 = 1 << 30;

/// The feature's own tokio runtime: one thread, which runs the client's
/// connection and its tasks; never user code.
pub(crate) fn runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start the cluster's runtime thread: {err}"))
}

/// Runs `fut` on `rt` and waits for it from this thread, whatever runtime
/// (if any) this thread is in.
pub(crate) fn block_on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the cluster's runtime dropped a task")
}
