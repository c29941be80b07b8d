//! TLS to the server, for clients and workers alike: the builders' `tls_*`
//! options, how they become async-nats' connect options (its rustls, with
//! `ring` as the crypto provider), and a failed handshake told
//! plainly.

use std::path::{Path, PathBuf};

use super::builder::ClusterBuilder;
use super::worker::WorkerBuilder;

/// A client's or a worker's TLS settings. TLS is used if the server asks
/// for it (its `tls` block), if the URL is `tls://`, or if any of these is
/// set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tls {
    required: bool,
    /// PEM file of the CA(s) the server's certificate must chain to
    /// (instead of the system's roots).
    roots: Option<PathBuf>,
    /// PEM files of this side's certificate and key, for a server that
    /// verifies its clients.
    client: Option<(PathBuf, PathBuf)>,
}

impl Tls {
    fn is_required(&self) -> bool {
        self.required || self.roots.is_some() || self.client.is_some()
    }

    /// Checks what can be checked before connecting: the files are there.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let files = self
            .roots
            .iter()
            .chain(self.client.iter().flat_map(|(cert, key)| [cert, key]));
        for file in files {
            if let Err(err) = std::fs::metadata(file) {
                return Err(format!("cannot read {}: {err}", file.display()));
            }
        }
        Ok(())
    }

    /// The connect options with these settings.
    pub(crate) fn apply(
        &self,
        mut options: async_nats::ConnectOptions,
    ) -> async_nats::ConnectOptions {
        if self.is_required() {
            options = options.require_tls(true);
        }
        if let Some(roots) = &self.roots {
            options = options.add_root_certificates(roots.clone());
        }
        if let Some((cert, key)) = &self.client {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        options
    }
}

/// What a failed connection says if TLS is why (a TLS setup that fails, a
/// handshake that fails), with a hint; `None` if TLS isn't why.
pub(crate) fn failure(err: &async_nats::ConnectError, url: &str) -> Option<String> {
    use async_nats::rustls;
    if err.kind() == async_nats::ConnectErrorKind::Tls {
        return Some(format!(
            "the TLS setup for the NATS server at {url} failed: {err}"
        ));
    }
    // A failed handshake comes as an I/O error around rustls' error.
    let mut source = std::error::Error::source(err);
    let mut tls = None;
    while let Some(s) = source {
        if let Some(e) = s.downcast_ref::<rustls::Error>() {
            tls = Some(e);
            break;
        }
        if let Some(e) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            tls = Some(e);
            break;
        }
        source = s.source();
    }
    let tls = tls?;
    let hint = match tls {
        rustls::Error::InvalidCertificate(_) => {
            " (is the CA that signed the server's certificate given with `tls_root_certificates`?)"
        }
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            " (the server wants a client certificate: see `tls_client_certificate`)"
        }
        rustls::Error::AlertReceived(
            rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::CertificateUnknown
            | rustls::AlertDescription::CertificateExpired,
        ) => " (the server refused the certificate given with `tls_client_certificate`)",
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            " (is the server set up for TLS?)"
        }
        _ => "",
    };
    Some(format!(
        "the TLS handshake with the NATS server at {url} failed: {tls}{hint}"
    ))
}

// The builders' TLS options, the same three for a client and a worker.

impl ClusterBuilder {
    /// Whether the connection must use TLS (`false` by default: it does if
    /// the server asks for it, or if the URL is `tls://`). With `true`, a
    /// server that doesn't do TLS is refused at `build`. Giving a CA or a
    /// client certificate requires TLS too.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222").require_tls(true);
    /// assert!(format!("{b:?}").contains("required: true"));
    /// ```
    pub fn require_tls(mut self, required: bool) -> Self {
        self.settings.tls.required = required;
        self
    }

    /// The CA certificate(s) (a PEM file) the server's certificate must
    /// chain to, instead of the system's roots: the server's own CA, for a
    /// server with a certificate of its own making. Requires TLS.
    ///
    /// # Errors
    ///
    /// `build` fails if the file can't be read, and if the server's
    /// certificate isn't signed by these CAs (or doesn't name the URL's
    /// host), saying which.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222")
    ///     .tls_root_certificates("no/such/ca.pem")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("cannot read no/such/ca.pem"));
    /// ```
    #[doc(alias = "add_root_certificates")]
    #[doc(alias = "tls_ca_file")]
    pub fn tls_root_certificates(mut self, ca: impl AsRef<Path>) -> Self {
        self.settings.tls.roots = Some(ca.as_ref().to_owned());
        self
    }

    /// This side's certificate and private key (PEM files), for a server
    /// that verifies its clients' certificates (`verify: true` in its
    /// `tls` block). Requires TLS.
    ///
    /// # Errors
    ///
    /// `build` fails if a file can't be read, or if the server refuses the
    /// certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::ClusterExecutor::builder("nats://127.0.0.1:4222").tls_client_certificate("me.pem", "me-key.pem");
    /// assert!(format!("{b:?}").contains("me-key.pem"));
    /// ```
    #[doc(alias = "add_client_certificate")]
    #[doc(alias = "tls_client_cert")]
    pub fn tls_client_certificate(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.settings.tls.client = Some((cert.as_ref().to_owned(), key.as_ref().to_owned()));
        self
    }
}

impl WorkerBuilder {
    /// Whether the connection must use TLS (`false` by default: it does if
    /// the server asks for it, or if the URL is `tls://`). With `true`, a
    /// server that doesn't do TLS is refused at `build`. Giving a CA or a
    /// client certificate requires TLS too.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").require_tls(true);
    /// assert!(format!("{b:?}").contains("required: true"));
    /// ```
    pub fn require_tls(mut self, required: bool) -> Self {
        self.settings.tls.required = required;
        self
    }

    /// The CA certificate(s) (a PEM file) the server's certificate must
    /// chain to, instead of the system's roots: the server's own CA, for a
    /// server with a certificate of its own making. Requires TLS.
    ///
    /// # Errors
    ///
    /// `build` fails if the file can't be read, and if the server's
    /// certificate isn't signed by these CAs (or doesn't name the URL's
    /// host), saying which.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222")
    ///     .tls_root_certificates("no/such/ca.pem")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("cannot read no/such/ca.pem"));
    /// ```
    #[doc(alias = "add_root_certificates")]
    #[doc(alias = "tls_ca_file")]
    pub fn tls_root_certificates(mut self, ca: impl AsRef<Path>) -> Self {
        self.settings.tls.roots = Some(ca.as_ref().to_owned());
        self
    }

    /// This side's certificate and private key (PEM files), for a server
    /// that verifies its clients' certificates (`verify: true` in its
    /// `tls` block). Requires TLS.
    ///
    /// # Errors
    ///
    /// `build` fails if a file can't be read, or if the server refuses the
    /// certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = futurepool::cluster::Worker::builder("nats://127.0.0.1:4222").tls_client_certificate("me.pem", "me-key.pem");
    /// assert!(format!("{b:?}").contains("me-key.pem"));
    /// ```
    #[doc(alias = "add_client_certificate")]
    #[doc(alias = "tls_client_cert")]
    pub fn tls_client_certificate(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.settings.tls.client = Some((cert.as_ref().to_owned(), key.as_ref().to_owned()));
        self
    }
}
