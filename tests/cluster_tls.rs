//! TLS between the cluster's clients, workers and a real nats-server
//! (tests/common/nats.rs, `start_tls`): a throwaway CA, and a server and a
//! client certificate it signs, made with the `openssl` command into a
//! temporary directory. Without `openssl` each test says so and passes.
//! And the other servers a build refuses: one without JetStream, one that
//! never answers.

#![cfg(all(feature = "cluster", target_os = "linux"))]

mod common {
    pub mod nats;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::nats::{PASSWORD, Server, USER, WorkerProc, server, start_tls};
use futurepool::cluster::Worker;
use futurepool::{ClusterExecutor, Executor, remote};

// Worker mode: a process started with this variable set is a TLS worker.
extern "C" fn worker_mode() {
    futurepool::process::init();
    let Ok(spec) = std::env::var("FUTUREPOOL_TEST_TLS_WORKER") else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, prefix, ca, cert, key] = parts[..] else {
        panic!("bad worker spec {spec}");
    };
    let mut builder = Worker::builder(url)
        .user_password(USER, PASSWORD)
        .prefix(prefix)
        .concurrency(1)
        .tls_root_certificates(ca);
    if !cert.is_empty() {
        builder = builder.tls_client_certificate(cert, key);
    }
    builder.build().expect("the worker can't start").run();
    std::process::exit(0);
}

#[used]
#[unsafe(link_section = ".init_array")]
static WORKER_MODE: extern "C" fn() = worker_mode;

fn start_worker(url: &str, prefix: &str, pki: &Pki, with_cert: bool) -> WorkerProc {
    let (cert, key) = if with_cert {
        (
            pki.client_cert.display().to_string(),
            pki.client_key.display().to_string(),
        )
    } else {
        (String::new(), String::new())
    };
    let spec = format!("{url}|{prefix}|{}|{cert}|{key}", pki.ca.display());
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no-test-runs-in-a-worker"])
        .env("FUTUREPOOL_TEST_TLS_WORKER", spec)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    WorkerProc(child)
}

/// The throwaway certificates.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test binary's CA and certificates, made on first use; `None` (the
/// test then returns, saying why) if there is no `openssl` command.
fn pki() -> Option<&'static Pki> {
    static PKI: OnceLock<Option<Pki>> = OnceLock::new();
    let pki = PKI.get_or_init(|| {
        let found = Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("futurepool-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        // The CA.
        let mut ca = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=futurepool test CA",
        ];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&dir, &ca);
        // Another CA, which signs the stranger's certificate.
        let mut other = vec!["req", "-x509", "-days", "2", "-subj", "/CN=another CA"];
        other.extend(ec);
        other.extend(["-keyout", "other-ca-key.pem", "-out", "other-ca.pem"]);
        openssl(&dir, &other);
        // The server's and a client's, signed by the CA; the stranger's.
        for (name, ext, ca) in [
            (
                "server",
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
                "ca",
            ),
            ("client", "extendedKeyUsage=clientAuth\n", "ca"),
            ("stranger", "extendedKeyUsage=clientAuth\n", "other-ca"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
            let key = format!("{name}-key.pem");
            let csr = format!("{name}.csr");
            let subj = format!("/CN=futurepool test {name}");
            let mut req = vec!["req", "-subj", &subj, "-keyout", &key, "-out", &csr];
            req.extend(ec);
            openssl(&dir, &req);
            let (cert, extfile) = (format!("{name}.pem"), format!("{name}.ext"));
            let (ca_cert, ca_key) = (format!("{ca}.pem"), format!("{ca}-key.pem"));
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_cert,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-out",
                    &cert,
                    "-extfile",
                    &extfile,
                ],
            );
        }
        Some(Pki {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
            dir,
        })
    });
    if pki.is_none() {
        eprintln!("skipped: no `openssl` command to make the test's certificates");
    }
    pki.as_ref()
}

/// The test binary's server with TLS; with `verify`, one that also wants
/// a client certificate signed by the CA.
fn tls_server(pki: &Pki, verify: bool) -> &'static Server {
    static PLAIN: OnceLock<Server> = OnceLock::new();
    static VERIFY: OnceLock<Server> = OnceLock::new();
    let (cell, ca) = if verify {
        (&VERIFY, Some(pki.ca.as_path()))
    } else {
        (&PLAIN, None)
    };
    // The last one of them to stop removes the certificates; the other
    // finds them gone.
    cell.get_or_init(|| start_tls(&pki.server_cert, &pki.server_key, ca, &pki.dir))
}

fn prefix(test: &str) -> String {
    format!("tls{}-{test}", std::process::id())
}

fn square(x: u64) -> u64 {
    x * x
}

const LONG: Duration = Duration::from_secs(60);

#[test]
fn a_client_and_a_worker_with_the_ca_run_a_task() {
    let Some(pki) = pki() else { return };
    let server = tls_server(pki, false);
    let p = prefix("runs");
    let _worker = start_worker(&server.url, &p, pki, false);
    let pool = ClusterExecutor::builder(&server.url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .tls_root_certificates(&pki.ca)
        .build()
        .unwrap();
    let handle = pool.submit_fn(remote!(square), 7).unwrap();
    assert_eq!(handle.join_timeout(LONG).unwrap(), 49);
}

#[test]
fn a_client_without_the_ca_is_refused_at_build_saying_why() {
    let Some(pki) = pki() else { return };
    let server = tls_server(pki, false);
    // Nothing about TLS (the server asks for it), or TLS without the CA:
    // the system's roots don't know the server's certificate.
    for builder in [
        ClusterExecutor::builder(&server.url),
        ClusterExecutor::builder(&server.url).require_tls(true),
    ] {
        let err = builder
            .user_password(USER, PASSWORD)
            .prefix(&prefix("no-ca"))
            .build()
            .unwrap_err();
        let msg = err.to_string();
        eprintln!("refused: {msg}");
        assert!(
            msg.starts_with(&format!(
                "the TLS handshake with the NATS server at {} failed",
                server.url
            )),
            "{msg}"
        );
        assert!(msg.contains("certificate"), "{msg}");
        assert!(msg.contains("tls_root_certificates"), "{msg}");
    }
}

#[test]
fn a_worker_without_the_ca_is_refused_at_build() {
    let Some(pki) = pki() else { return };
    let server = tls_server(pki, false);
    let err = Worker::builder(&server.url)
        .user_password(USER, PASSWORD)
        .prefix(&prefix("worker-no-ca"))
        .concurrency(1)
        .build()
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("refused: {msg}");
    assert!(
        msg.starts_with("the TLS handshake with the NATS server"),
        "{msg}"
    );
    assert!(msg.contains("tls_root_certificates"), "{msg}");
}

#[test]
fn requiring_tls_of_a_server_without_it_is_refused_at_build() {
    // The shared server of the other cluster tests: no TLS.
    let plain = server();
    let err = ClusterExecutor::builder(&plain.url)
        .user_password(USER, PASSWORD)
        .prefix(&prefix("plain"))
        .require_tls(true)
        .build()
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("refused: {msg}");
    assert!(
        msg.starts_with(&format!(
            "the TLS handshake with the NATS server at {}",
            plain.url
        )),
        "{msg}"
    );
    assert!(msg.contains("is the server set up for TLS?"), "{msg}");
}

#[test]
fn a_server_that_verifies_clients_takes_only_a_client_with_a_certificate_of_its_ca() {
    let Some(pki) = pki() else { return };
    let server = tls_server(pki, true);
    let p = prefix("verify");
    let err = ClusterExecutor::builder(&server.url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .tls_root_certificates(&pki.ca)
        .build()
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("refused: {msg}");
    assert!(
        msg.starts_with("the TLS handshake with the NATS server"),
        "{msg}"
    );
    assert!(
        msg.contains("the server wants a client certificate"),
        "{msg}"
    );
    // A certificate another CA signed.
    let err = ClusterExecutor::builder(&server.url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .tls_root_certificates(&pki.ca)
        .tls_client_certificate(
            pki.dir.join("stranger.pem"),
            pki.dir.join("stranger-key.pem"),
        )
        .build()
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("refused: {msg}");
    assert!(
        msg.starts_with("the TLS handshake with the NATS server"),
        "{msg}"
    );
    assert!(msg.contains("the server refused the certificate"), "{msg}");
    let _worker = start_worker(&server.url, &p, pki, true);
    let pool = ClusterExecutor::builder(&server.url)
        .user_password(USER, PASSWORD)
        .prefix(&p)
        .tls_root_certificates(&pki.ca)
        .tls_client_certificate(&pki.client_cert, &pki.client_key)
        .build()
        .unwrap();
    let handle = pool.submit_fn(remote!(square), 9).unwrap();
    assert_eq!(handle.join_timeout(LONG).unwrap(), 81);
}

#[test]
fn a_missing_certificate_file_is_refused_before_connecting() {
    // No server needed: the file is checked first.
    let err = ClusterExecutor::builder("nats://127.0.0.1:1")
        .tls_client_certificate("no/such/cert.pem", "no/such/key.pem")
        .build()
        .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read no/such/cert.pem"),
        "{err}"
    );
}

#[test]
fn a_server_without_jetstream_or_that_never_answers_fails_the_build_saying_so() {
    let plain = common::nats::start_without_jetstream();
    let err = client_of(&plain.url).unwrap_err().to_string();
    assert!(err.contains("is JetStream enabled?"), "{err}");
    // Takes the connection, never says a word: the connect timeout ends
    // the build (in a thread: a build that hangs fails the test).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("nats://{}", silent.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let built = ClusterExecutor::builder(&url)
            .connect_timeout(Duration::from_millis(500))
            .build();
        let _ = tx.send(built.map(drop).map_err(|e| e.to_string()));
    });
    let err = rx.recv_timeout(LONG).expect("the build hangs").unwrap_err();
    assert!(
        err.starts_with("cannot connect to the NATS server"),
        "{err}"
    );
}

fn client_of(url: &str) -> Result<ClusterExecutor, futurepool::BuildError> {
    ClusterExecutor::builder(url)
        .user_password(USER, PASSWORD)
        .build()
}
