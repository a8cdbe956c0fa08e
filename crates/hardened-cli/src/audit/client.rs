//! The auditor's HTTP client: one connection per request (TCP, then rustls with ALPN
//! `h2`/`http/1.1`, then hyper's HTTP/1.1 or HTTP/2 client connection), redirects
//! followed by the caller, and what the TLS handshake showed (version, cipher, the
//! certificate and whether it verified).
//!
//! The certificate is verified by webpki against the system's roots plus `--ca`; a
//! failure is recorded rather than refused, so the caller decides (the audit stops with
//! the reason unless `--insecure`).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Bodies are read up to this size (a page, a debug page); the rest is not needed.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// An absolute http(s) URL, split the way requests need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// `https` (else `http`).
    pub(crate) https: bool,
    /// Host name or IP literal, lowercase, IPv6 without brackets.
    pub(crate) host: String,
    /// An explicit port other than the scheme's default.
    pub(crate) port: Option<u16>,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
}

impl Url {
    /// Parses an absolute `http://` or `https://` URL.
    pub(crate) fn parse(s: &str) -> Option<Url> {
        let uri: http::Uri = s.trim().parse().ok()?;
        let https = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let auth = uri.authority()?;
        if auth.as_str().contains('@') {
            return None;
        }
        let host = auth
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        let default = if https { 443 } else { 80 };
        let port = auth.port_u16().filter(|p| *p != default);
        let path = uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        Some(Url {
            https,
            host,
            port,
            path,
        })
    }

    /// `Location` resolved against this URL (absolute, scheme-relative, absolute-path
    /// or relative-path references).
    pub(crate) fn join(&self, location: &str) -> Option<Url> {
        let loc = location.trim();
        let lower = loc.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Url::parse(loc);
        }
        if let Some(rest) = loc.strip_prefix("//") {
            let scheme = if self.https { "https" } else { "http" };
            return Url::parse(&format!("{scheme}://{rest}"));
        }
        let path = if loc.starts_with('/') {
            loc.to_owned()
        } else if loc.is_empty() {
            self.path.clone()
        } else {
            let base = self.path.split(['?', '#']).next().unwrap_or("/");
            let dir = base
                .rfind('/')
                .map_or("/", |i| base.get(..=i).unwrap_or("/"));
            format!("{dir}{loc}")
        };
        Url::parse(&format!("{}{path}", self.origin()))
    }

    /// The port connected to.
    pub(crate) fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// `host[:port]` as in a Host header.
    pub(crate) fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// `scheme://authority`.
    pub(crate) fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority()
        )
    }

    /// The same URL with another scheme (and the default port).
    pub(crate) fn with_scheme(&self, https: bool, path: &str) -> Url {
        Url {
            https,
            host: self.host.clone(),
            port: None,
            path: path.to_owned(),
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) url: Url,
    /// Extra headers (a `host` here replaces the URL's authority; HTTP/1.1 is used).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Bytes>,
}

impl Req {
    /// A GET of `url`.
    pub(crate) fn get(url: &Url) -> Req {
        Req {
            method: Method::GET,
            url: url.clone(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// With one more header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `METHOD URL` and the headers, one line (for evidence).
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("{} {}", self.method, self.url);
        for (n, v) in &self.headers {
            s.push_str(&format!("; {n}: {v}"));
        }
        s
    }
}

/// What the TLS handshake showed.
#[derive(Debug, Clone)]
pub(crate) struct TlsInfo {
    /// `TLSv1_3`, ...
    pub(crate) version: String,
    /// The negotiated cipher suite.
    pub(crate) cipher: String,
    /// The ALPN protocol, if any.
    pub(crate) alpn: Option<String>,
    /// `None` when the chain verified for the name; else why not.
    pub(crate) verify_error: Option<String>,
    /// The leaf certificate (DER).
    pub(crate) leaf: Option<Vec<u8>>,
    /// The name verified (SNI).
    pub(crate) name: String,
}

/// A response: status, headers in order (lowercase names), the body (up to 2 MiB).
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    pub(crate) tls: Option<TlsInfo>,
    /// `HTTP/1.1` or `HTTP/2`.
    pub(crate) version: &'static str,
}

impl Resp {
    /// The values of header `name` (lowercase), in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of header `name` (lowercase).
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The status and the headers named, one line (for evidence).
    pub(crate) fn describe(&self, names: &[&str]) -> String {
        let mut s = format!("{} {}", self.version, self.status);
        for (n, v) in &self.headers {
            if names.contains(&n.as_str()) {
                s.push_str(&format!("; {n}: {v}"));
            }
        }
        s
    }

    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetError {
    #[error("cannot resolve {host}: {cause}")]
    Dns { host: String, cause: String },
    #[error("connection to {addr} refused")]
    Refused { addr: SocketAddr },
    #[error("cannot connect to {addr}: {cause}")]
    Connect { addr: SocketAddr, cause: String },
    #[error("TLS handshake with {host} failed: {cause}")]
    Tls { host: String, cause: String },
    #[error("HTTP exchange with {url} failed: {cause}")]
    Http { url: String, cause: String },
    #[error("no response from {url} within {secs} s")]
    Timeout { url: String, secs: u64 },
}

/// A certificate verifier that records webpki's verdict and lets the handshake go on.
#[derive(Debug)]
struct Recording {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    error: Mutex<Option<String>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Err("no trusted root certificates (give one with --ca FILE)".to_owned()),
        };
        if let (Err(e), Ok(mut slot)) = (verdict, self.error.lock()) {
            *slot = Some(e);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The client: trusted roots, `--resolve` overrides, extra headers, a timeout, and the
/// log of every request sent.
pub(crate) struct Client {
    verifier: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    resolve: Vec<(String, u16, IpAddr)>,
    /// The `-H` headers, which may carry credentials: sent only to the origin the user
    /// named (`origin`), as curl sends them (never to a host a redirect or probe leads
    /// to, never in clear when the user named https), and never over a TLS connection
    /// whose certificate did not verify, unless `--insecure` (`insecure`).
    headers: Vec<(String, String)>,
    origin: Option<(bool, String, u16)>,
    insecure: bool,
    timeout: Duration,
    log: Mutex<Vec<String>>,
    verbose: bool,
}

/// The system's trusted roots (`SSL_CERT_FILE`, else the usual bundle paths).
fn system_roots(roots: &mut RootCertStore) {
    use rustls::pki_types::pem::PemObject;
    let files = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(std::path::PathBuf::from),
        );
    for f in files {
        if let Ok(iter) = CertificateDer::pem_file_iter(&f) {
            for cert in iter.flatten() {
                let _ = roots.add(cert);
            }
            return;
        }
    }
}

impl Client {
    /// A client trusting the system roots and the PEM certificates of `ca`.
    pub(crate) fn new(
        ca: Option<&std::path::Path>,
        resolve: Vec<(String, u16, IpAddr)>,
        headers: Vec<(String, String)>,
        timeout: Duration,
        verbose: bool,
    ) -> Result<Client, String> {
        use rustls::pki_types::pem::PemObject;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        system_roots(&mut roots);
        if let Some(ca) = ca {
            let certs: Vec<_> = CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("--ca {}: {e}", ca.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("--ca {}: {e}", ca.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--ca {}: no PEM certificate in the file; give the CA certificate",
                    ca.display()
                ));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("--ca {}: {e}", ca.display()))?;
            }
        }
        let verifier = if roots.is_empty() {
            None
        } else {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .ok()
        };
        Ok(Client {
            verifier,
            provider,
            resolve,
            headers,
            origin: None,
            insecure: false,
            timeout,
            log: Mutex::new(Vec::new()),
            verbose,
        })
    }

    /// Sends the `-H` headers to `url`'s origin only, and over TLS only when the
    /// certificate verifies unless `insecure`.
    pub(crate) fn for_origin(mut self, url: &Url, insecure: bool) -> Client {
        self.origin = Some((url.https, url.host.clone(), url.port_or_default()));
        self.insecure = insecure;
        self
    }

    /// Whether the user's `-H` headers may go with a request to `url` (see [`Client`]).
    fn user_headers_for(&self, url: &Url, verify_error: bool) -> bool {
        let same_origin = self.origin.as_ref().is_none_or(|(https, host, port)| {
            *https == url.https && *host == url.host && *port == url.port_or_default()
        });
        same_origin && (!verify_error || self.insecure)
    }

    /// Every request sent so far, one line each.
    pub(crate) fn sent(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    async fn connect(&self, url: &Url) -> Result<tokio::net::TcpStream, NetError> {
        let port = url.port_or_default();
        let addrs: Vec<SocketAddr> = match self
            .resolve
            .iter()
            .find(|(h, p, _)| h.eq_ignore_ascii_case(&url.host) && *p == port)
        {
            Some((_, _, ip)) => vec![SocketAddr::new(*ip, port)],
            None => match url.host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, port)],
                Err(_) => tokio::net::lookup_host((url.host.as_str(), port))
                    .await
                    .map_err(|e| NetError::Dns {
                        host: url.host.clone(),
                        cause: e.to_string(),
                    })?
                    .collect(),
            },
        };
        let mut last = None;
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    last = Some(NetError::Refused { addr });
                }
                Err(e) => {
                    last = Some(NetError::Connect {
                        addr,
                        cause: e.to_string(),
                    })
                }
            }
        }
        Err(last.unwrap_or(NetError::Dns {
            host: url.host.clone(),
            cause: "no address".to_owned(),
        }))
    }

    /// Sends `req` on a new connection and reads the response.
    pub(crate) async fn send(&self, req: &Req) -> Result<Resp, NetError> {
        let secs = self.timeout.as_secs();
        let url = req.url.to_string();
        match tokio::time::timeout(self.timeout, self.send_inner(req)).await {
            Ok(r) => r,
            Err(_) => Err(NetError::Timeout { url, secs }),
        }
    }

    async fn send_inner(&self, req: &Req) -> Result<Resp, NetError> {
        let custom_host = req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"));
        let line = format!("{} {}", req.method, req.url);
        if self.verbose {
            eprintln!("hardened audit: {}", crate::audit::report::clean(&line));
        }
        if let Ok(mut l) = self.log.lock() {
            l.push(line);
        }
        let tcp = self.connect(&req.url).await?;
        // The headers of the request: the tool's User-Agent, the user's `-H` headers
        // where they may go, then the probe's own.
        let headers_with = |user: bool| {
            let mut headers: Vec<(String, String)> = vec![(
                "user-agent".to_owned(),
                format!(
                    "hardened-audit/{} (+{})",
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_REPOSITORY")
                ),
            )];
            let user_headers = self.headers.iter().filter(|_| user);
            for (n, v) in user_headers.chain(req.headers.iter()) {
                headers.retain(|(m, _)| !m.eq_ignore_ascii_case(n));
                headers.push((n.clone(), v.clone()));
            }
            headers
        };
        if !req.url.https {
            let headers = headers_with(self.user_headers_for(&req.url, false));
            let io = TokioIo::new(tcp);
            return self.exchange_h1(io, req, &headers, None).await;
        }
        let name = ServerName::try_from(req.url.host.clone()).map_err(|e| NetError::Tls {
            host: req.url.host.clone(),
            cause: e.to_string(),
        })?;
        let recording = Arc::new(Recording {
            inner: self.verifier.clone(),
            provider: self.provider.clone(),
            error: Mutex::new(None),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| NetError::Tls {
                host: req.url.host.clone(),
                cause: e.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(recording.clone())
            .with_no_client_auth();
        config.alpn_protocols = if custom_host {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| NetError::Tls {
                host: req.url.host.clone(),
                cause: e.to_string(),
            })?;
        let conn = tls.get_ref().1;
        let info = TlsInfo {
            version: conn
                .protocol_version()
                .map_or_else(String::new, |v| format!("{v:?}")),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or_else(String::new, |c| format!("{:?}", c.suite())),
            alpn: conn
                .alpn_protocol()
                .map(|a| String::from_utf8_lossy(a).into_owned()),
            verify_error: recording.error.lock().ok().and_then(|e| e.clone()),
            leaf: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec()),
            name: req.url.host.clone(),
        };
        let headers = headers_with(self.user_headers_for(&req.url, info.verify_error.is_some()));
        if info.alpn.as_deref() == Some("h2") {
            let io = TokioIo::new(tls);
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| http_err(req, &e))?;
            tokio::spawn(conn);
            let request = build(req, &headers, true)?;
            let resp = send
                .send_request(request)
                .await
                .map_err(|e| http_err(req, &e))?;
            read(resp, Some(info), "HTTP/2", req).await
        } else {
            self.exchange_h1(TokioIo::new(tls), req, &headers, Some(info))
                .await
        }
    }

    async fn exchange_h1<T>(
        &self,
        io: TokioIo<T>,
        req: &Req,
        headers: &[(String, String)],
        tls: Option<TlsInfo>,
    ) -> Result<Resp, NetError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| http_err(req, &e))?;
        tokio::spawn(conn);
        let request = build(req, headers, false)?;
        let resp = send
            .send_request(request)
            .await
            .map_err(|e| http_err(req, &e))?;
        read(resp, tls, "HTTP/1.1", req).await
    }
}

fn http_err(req: &Req, e: &dyn std::fmt::Display) -> NetError {
    NetError::Http {
        url: req.url.to_string(),
        cause: e.to_string(),
    }
}

fn build(
    req: &Req,
    headers: &[(String, String)],
    h2: bool,
) -> Result<Request<Full<Bytes>>, NetError> {
    let target = if h2 {
        req.url.to_string()
    } else {
        req.url.path.clone()
    };
    let mut b = Request::builder().method(req.method.clone()).uri(target);
    if !h2 && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        b = b.header(http::header::HOST, req.url.authority());
    }
    for (n, v) in headers {
        let name = HeaderName::from_bytes(n.as_bytes()).map_err(|e| http_err(req, &e))?;
        let value = HeaderValue::from_str(v).map_err(|e| http_err(req, &e))?;
        b = b.header(name, value);
    }
    b.body(Full::new(req.body.clone().unwrap_or_default()))
        .map_err(|e| http_err(req, &e))
}

async fn read(
    resp: http::Response<hyper::body::Incoming>,
    tls: Option<TlsInfo>,
    version: &'static str,
    req: &Req,
) -> Result<Resp, NetError> {
    let (parts, body) = resp.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // The first 2 MiB; a body cut there (or by the peer) still tells what the page says.
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while buf.len() < BODY_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = BODY_LIMIT - buf.len();
                    buf.extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&data));
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    let body = buf.freeze();
    let _ = req;
    Ok(Resp {
        status: parts.status.as_u16(),
        headers,
        body,
        tls,
        version,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::Url;

    #[test]
    fn urls_parse_and_join() {
        let u = Url::parse("HTTPS://Example.com:443/a/b?c").unwrap();
        assert_eq!(u.to_string(), "https://example.com/a/b?c");
        assert_eq!(u.join("d").unwrap().to_string(), "https://example.com/a/d");
        assert_eq!(u.join("/x").unwrap().to_string(), "https://example.com/x");
        assert_eq!(
            u.join("//other.test:8443/y").unwrap().to_string(),
            "https://other.test:8443/y"
        );
        assert_eq!(
            u.join("http://example.com/").unwrap().to_string(),
            "http://example.com/"
        );
        let v6 = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "http://[::1]:8080/");
        assert!(Url::parse("ftp://x/").is_none());
        assert!(Url::parse("https://user@x/").is_none());
    }
}
