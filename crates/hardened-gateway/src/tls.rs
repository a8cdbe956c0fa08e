//! Direct TLS: rustls (the `ring` provider) with TLS 1.2 and 1.3 only, ALPN `h2` and
//! `http/1.1`, and a certificate that is reloaded in place.
//!
//! The certificate chain and private key come from PEM files. Every handshake asks the
//! [`Tls`] value's resolver for the current certificate, so [`Tls::reload`] (called on
//! SIGHUP by a program, or by [`Tls::watch`] when the files change) swaps it for new
//! handshakes while open connections keep the one they negotiated. A new certificate
//! that cannot be read, parsed, or does not match its key is refused and the old one
//! kept.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, version};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The ALPN protocols offered, in order of preference.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// How often [`Tls::watch`] looks at the certificate and key files by default.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// Direct TLS termination for a [`Server`](crate::Server) or
/// [`Gateway`](crate::Gateway): a rustls server configuration (TLS 1.2 and 1.3, ALPN `h2`
/// and `http/1.1`) whose certificate can be replaced while serving.
///
/// Clones share the certificate: reloading one reloads them all.
///
/// ```no_run
/// use hardened_gateway::Tls;
///
/// # fn main() -> Result<(), hardened_gateway::TlsError> {
/// let tls = Tls::from_pem_files("/etc/tls/tls.crt", "/etc/tls/tls.key")?;
/// // Later, e.g. on SIGHUP: a bad new certificate keeps the old one.
/// if let Err(e) = tls.reload() {
///     eprintln!("certificate not reloaded: {e}");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Tls {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<ServerConfig>,
    resolver: Arc<Resolver>,
    provider: Arc<CryptoProvider>,
    /// The certificate and key files, when loaded from files.
    files: Option<(PathBuf, PathBuf)>,
    /// What the files looked like when they were last read.
    seen: Mutex<Option<Stamp>>,
}

impl fmt::Debug for Tls {
    /// The file paths only: key material never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Tls");
        if let Some((cert, key)) = &self.inner.files {
            d.field("cert", cert).field("key", key);
        }
        d.finish_non_exhaustive()
    }
}

/// Why a certificate or key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The certificate file holds no PEM certificate, or invalid PEM.
    #[error("{}: {reason}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file holds no PEM private key, invalid PEM, or a key of a kind rustls
    /// cannot sign with.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// The private key is not the certificate's.
    #[error("{} does not hold the private key of the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
    /// [`Tls::reload`] on a value built from memory: there are no files to read.
    #[error("no certificate files to reload")]
    NoFiles,
}

impl Tls {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8,
    /// PKCS#1 RSA or SEC1 EC; RSA, ECDSA P-256/P-384 and Ed25519 keys).
    ///
    /// # Errors
    /// [`TlsError`] when a file cannot be read, holds no certificate or key, or the
    /// key is not the certificate's.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Tls, TlsError> {
        let (cert, key) = (cert.as_ref().to_owned(), key.as_ref().to_owned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamp = Stamp::of(&cert, &key);
        let certified = load_files(&cert, &key, &provider)?;
        let tls = Tls::build(provider, certified, Some((cert, key)))?;
        *lock(&tls.inner.seen) = stamp;
        Ok(tls)
    }

    /// Like [`from_pem_files`](Self::from_pem_files), from PEM text in memory (such a
    /// value cannot [`reload`](Self::reload)).
    ///
    /// # Errors
    /// [`TlsError`] when the text holds no certificate or key, or the key is not the
    /// certificate's.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert, key) = (PathBuf::from("(certificate)"), PathBuf::from("(key)"));
        let certified = certified_key(cert_pem, key_pem, &cert, &key, &provider)?;
        Tls::build(provider, certified, None)
    }

    fn build(
        provider: Arc<CryptoProvider>,
        certified: CertifiedKey,
        files: Option<(PathBuf, PathBuf)>,
    ) -> Result<Tls, TlsError> {
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(certified)),
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&version::TLS13, &version::TLS12])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        // Stateless resumption (tickets, keys rotated by rustls every 6 hours) besides
        // the in-memory session cache: a returning client skips the full handshake.
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Config)?;
        Ok(Tls {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                resolver,
                provider,
                files,
                seen: Mutex::new(None),
            }),
        })
    }

    /// The rustls server configuration (its certificate follows reloads).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.inner.config.clone()
    }

    /// The certificate and key files, when built from files.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        self.inner
            .files
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path()))
    }

    /// The certificate chain served to new handshakes (leaf first).
    pub fn certificate_chain(&self) -> Vec<CertificateDer<'static>> {
        self.inner.resolver.get().cert.clone()
    }

    /// Reads the files again and, when they hold a valid certificate and matching key,
    /// serves it to new handshakes. Open connections are not touched.
    ///
    /// # Errors
    /// [`TlsError`] when the new files are refused: the old certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some((cert, key)) = &self.inner.files else {
            return Err(TlsError::NoFiles);
        };
        let stamp = Stamp::of(cert, key);
        let result = load_files(cert, key, &self.inner.provider);
        // A file replaced while it was read is read again on the next look.
        if Stamp::of(cert, key) == stamp {
            *lock(&self.inner.seen) = stamp;
        }
        self.inner.resolver.set(result?);
        Ok(())
    }

    /// Whether the files differ (path target, inode, size or modification time) from
    /// when they were last read.
    fn changed(&self) -> bool {
        let Some((cert, key)) = &self.inner.files else {
            return false;
        };
        let now = Stamp::of(cert, key);
        now.is_some() && now != *lock(&self.inner.seen)
    }

    /// Looks at the files every `interval` and [`reload`](Self::reload)s when they
    /// changed, including a symbolic link swapped to new files (as Kubernetes does with
    /// mounted Secrets). A refused certificate is logged and the old one kept; the same
    /// files are not tried again until they change again. Runs until dropped.
    pub async fn watch(self, interval: Duration) {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let tls = self.clone();
            // File system calls block: off the runtime's threads.
            let changed = tokio::task::spawn_blocking(move || tls.changed())
                .await
                .unwrap_or(false);
            if changed {
                self.reload_logged_blocking("the files changed").await;
            }
        }
    }

    /// [`reload`](Self::reload)s on every SIGHUP, logging the outcome. Installing it
    /// replaces SIGHUP's default action (ending the process) for the whole process.
    /// Runs until dropped.
    #[cfg(unix)]
    pub async fn reload_on_sighup(self) {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                while hup.recv().await.is_some() {
                    self.reload_logged_blocking("SIGHUP").await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP"),
        }
        std::future::pending::<()>().await;
    }

    /// [`reload_logged`](Self::reload_logged) on a blocking thread: reading and parsing
    /// the files must not stall the connections of the runtime's thread.
    async fn reload_logged_blocking(&self, why: &'static str) {
        let tls = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || tls.reload_logged(why)).await {
            tracing::error!(error = %e, "TLS certificate reload did not finish");
        }
    }

    /// [`reload`](Self::reload), logging the outcome; `why` says what asked for it.
    pub fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(()) => tracing::info!(reason = why, "TLS certificate reloaded"),
            Err(e) => tracing::error!(
                reason = why,
                error = %e,
                "TLS certificate not reloaded; the previous one is still served"
            ),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The certificate of every new handshake, swapped atomically on reload.
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Resolver {
    fn get(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, certified: CertifiedKey) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(certified);
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// What the certificate and key files look like, to notice a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp([FileStamp; 2]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(cert: &Path, key: &Path) -> Option<Stamp> {
        Some(Stamp([FileStamp::of(cert)?, FileStamp::of(key)?]))
    }
}

impl FileStamp {
    /// The file's metadata, following symbolic links (a swapped link is a new file).
    fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Some(FileStamp {
            dev,
            ino,
            len: m.len(),
            modified: m.modified().ok(),
        })
    }
}

fn load_files(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    certified_key(&cert_pem, &key_pem, cert, key, provider)
}

fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            path: cert.to_owned(),
            reason: pem_reason(&e, "certificate"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.to_owned(),
            reason: "no PEM certificate (`-----BEGIN CERTIFICATE-----`) found".into(),
        });
    }
    let der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        reason: if contains(key_pem, b"ENCRYPTED") {
            "an encrypted private key; give it unencrypted (`openssl pkey -in KEY -out KEY.plain`) and protect the file instead".to_owned()
        } else {
            pem_reason(&e, "private key")
        },
    })?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| TlsError::Key {
            path: key.to_owned(),
            reason: format!("unsupported private key: {e}"),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
        }),
        Err(e) => Err(TlsError::Certificate {
            path: cert.to_owned(),
            reason: format!("invalid certificate: {e}"),
        }),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A PEM error in words that never quote the file (it may hold a key).
fn pem_reason(e: &pem::Error, what: &str) -> String {
    match e {
        pem::Error::NoItemsFound => format!("no PEM {what} found"),
        pem::Error::MissingSectionEnd { .. } => {
            "invalid PEM: a section has no `-----END` line".to_owned()
        }
        pem::Error::IllegalSectionStart { .. } => {
            "invalid PEM: a malformed `-----BEGIN` line".to_owned()
        }
        pem::Error::Base64Decode(_) => "invalid PEM: the base64 text does not decode".to_owned(),
        pem::Error::SectionTooLarge => "invalid PEM: a section is too large".to_owned(),
        _ => "invalid PEM".to_owned(),
    }
}

/// A client connection: plain, or TLS over the same transport.
pub(crate) enum Conn<IO> {
    Plain(IO),
    Tls(Box<tokio_rustls::server::TlsStream<IO>>),
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Conn<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Conn<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
