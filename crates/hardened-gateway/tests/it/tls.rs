//! Direct TLS, in process: certificates made by the test (a CA and leaves of every key
//! kind), a [`Gateway`] serving TLS on 127.0.0.1:0 in front of a small upstream, and a
//! real rustls client trusting the CA: HTTP/1.1 and HTTP/2 by ALPN, TLS 1.2 and 1.3,
//! TLS 1.1 refused, HSTS and `X-Forwarded-Proto: https`, the plain listener's redirect
//! to the TLS port, the handshake deadline, and certificate reload (good and bad).
//!
//! Every wait is bounded; every gateway is stopped when its test ends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardened_gateway::{Gateway, GatewayOptions, Tls, TlsError, parse_upstream};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;

use crate::common::{Running, Upstream, logs, security, shared, text, upstream};

/// The longest any single exchange may take.
const TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- certificates

/// A certificate authority made for one test.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate (chain PEM: leaf then CA) and its key (PEM).
struct Leaf {
    chain_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "hardened test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki { ca }
    }

    /// A leaf for `example.com` with a key of `alg`.
    fn leaf(&self, alg: &'static rcgen::SignatureAlgorithm) -> Leaf {
        self.leaf_with_key(KeyPair::generate_for(alg).unwrap())
    }

    fn leaf_with_key(&self, key: KeyPair) -> Leaf {
        let params = CertificateParams::new(vec!["example.com".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            chain_pem: format!("{}{}", cert.pem(), self.ca.pem()),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        roots
    }
}

fn write_leaf(dir: &Path, leaf: &Leaf) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    replace_file(&cert, leaf.chain_pem.as_bytes());
    replace_file(&key, leaf.key_pem.as_bytes());
    (cert, key)
}

/// Writes through a temporary file and a rename, as deploy tools do.
fn replace_file(path: &Path, text: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

// ---------------------------------------------------------------- servers

/// The policy of `config` (YAML text).
const PRODUCTION: &str = "environment: production\nsecurity_domains: [example.com]\n";

/// An upstream answering every request with `proto=<X-Forwarded-Proto> path=<path>`.
async fn proto_upstream() -> (String, Upstream) {
    let up = upstream(|req| async move {
        let proto = req
            .headers()
            .get("x-forwarded-proto")
            .map(|v| v.to_str().unwrap_or("?").to_owned())
            .unwrap_or_default();
        text(format!("proto={proto} path={}", req.uri().path()))
    })
    .await;
    (up.url(), up)
}

fn gateway(config: &str, upstream: &str, options: GatewayOptions) -> Gateway {
    Gateway::new(
        security(Some(config)),
        parse_upstream(upstream).unwrap(),
        options,
    )
}

// ---------------------------------------------------------------- client

/// A TLS connection to `addr` for `example.com`, offering `alpn` and `versions`.
async fn connect(
    addr: SocketAddr,
    roots: rustls::RootCertStore,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<TlsStream<TcpStream>, std::io::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("example.com").unwrap();
    tokio::time::timeout(
        TIMEOUT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .unwrap()
}

const ALL: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The certificate the server presented.
fn served_cert(s: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// An HTTP/1.1 client connection over `io`.
async fn h1(io: TlsStream<TcpStream>) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn h1_get(
    send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: &str,
    path: &str,
) -> (Response<()>, String) {
    let req = Request::get(path)
        .header("host", host)
        .body(Empty::new())
        .unwrap();
    let resp = tokio::time::timeout(TIMEOUT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn http1_and_http2_by_alpn_are_secure() {
    let _shared = shared().await;
    let pki = Pki::new();
    let leaf = pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256);
    let tls = Tls::from_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let (up, up_task) = proto_upstream().await;
    let gw =
        Running::serve(gateway(PRODUCTION, &up, GatewayOptions::default()).with_tls(tls)).await;

    // HTTP/1.1, TLS 1.3.
    let io = connect(gw.addr, pki.roots(), &[b"http/1.1"], ALL)
        .await
        .unwrap();
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        io.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(served_cert(&io), leaf.der);
    let mut send = h1(io).await;
    let (resp, body) = h1_get(&mut send, "example.com", "/a").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body, "proto=https path=/a");
    let hsts = resp.headers()["strict-transport-security"]
        .to_str()
        .unwrap();
    assert!(hsts.starts_with("max-age="), "{hsts}");

    // HTTP/2, preferred when offered, TLS 1.2.
    let io = connect(
        gw.addr,
        pki.roots(),
        &[b"h2", b"http/1.1"],
        &[&rustls::version::TLS12],
    )
    .await
    .unwrap();
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        io.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://example.com/h2")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(TIMEOUT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert!(resp.headers().contains_key("strict-transport-security"));
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "proto=https path=/h2");

    // No ALPN at all: HTTP/1.1 still works.
    let io = connect(gw.addr, pki.roots(), &[], ALL).await.unwrap();
    assert_eq!(io.get_ref().1.alpn_protocol(), None);
    let (resp, _) = h1_get(&mut h1(io).await, "example.com", "/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    drop(up_task);
}

/// A TLS 1.1 ClientHello (no extensions): the server must refuse it.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // two TLS 1.0/1.1 suites
    body.extend([0x01, 0x00]); // null compression
    let mut hs = vec![0x01, 0x00];
    hs.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    hs.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(u16::try_from(hs.len()).unwrap().to_be_bytes());
    record.extend(hs);
    record
}

#[tokio::test]
async fn tls_1_1_is_refused() {
    let _shared = shared().await;
    let pki = Pki::new();
    let leaf = pki.leaf(&rcgen::PKCS_ED25519);
    let tls = Tls::from_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let (up, up_task) = proto_upstream().await;
    let gw =
        Running::serve(gateway(PRODUCTION, &up, GatewayOptions::default()).with_tls(tls)).await;

    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(&tls11_client_hello()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    // A fatal alert (record type 21, level 2: handshake_failure or protocol_version),
    // no ServerHello, and the connection closed.
    assert_eq!(answer.len(), 7, "{answer:?}");
    assert_eq!(answer.first(), Some(&0x15), "{answer:?}");
    assert_eq!(answer.get(5), Some(&2), "{answer:?}");
    assert!(matches!(answer.last(), Some(40 | 70)), "{answer:?}");
    drop(up_task);
}

#[tokio::test]
async fn every_key_kind_serves() {
    let _shared = shared().await;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let mut leaves = vec![
        ("ecdsa-p256", pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256)),
        ("ecdsa-p384", pki.leaf(&rcgen::PKCS_ECDSA_P384_SHA384)),
        ("ed25519", pki.leaf(&rcgen::PKCS_ED25519)),
    ];
    // ring cannot generate RSA keys: openssl makes one (.ci/run installs it; without it
    // the test fails).
    let rsa = dir.path().join("rsa.key");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&rsa)
        .output();
    let out = made.unwrap_or_else(|e| panic!("cannot run openssl (install it): {e}"));
    assert!(
        out.status.success(),
        "openssl genpkey failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = std::fs::read_to_string(&rsa).unwrap();
    let key = KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    leaves.push(("rsa-2048", pki.leaf_with_key(key)));
    let (up, up_task) = proto_upstream().await;
    for (kind, leaf) in &leaves {
        let sub = dir.path().join(kind);
        std::fs::create_dir(&sub).unwrap();
        let (cert, key) = write_leaf(&sub, leaf);
        let tls = Tls::from_pem_files(&cert, &key).unwrap();
        let gw =
            Running::serve(gateway(PRODUCTION, &up, GatewayOptions::default()).with_tls(tls)).await;
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let io = connect(gw.addr, pki.roots(), &[b"http/1.1"], versions)
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(served_cert(&io), leaf.der, "{kind}");
            let (resp, _) = h1_get(&mut h1(io).await, "example.com", "/").await;
            assert_eq!(resp.status(), StatusCode::OK, "{kind}");
        }
    }
    drop(up_task);
}

#[tokio::test]
async fn refused_certificates_say_why_and_never_show_the_key() {
    let _shared = shared().await;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let a = pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256);
    let b = pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (cert, key) = write_leaf(dir.path(), &a);

    let missing = dir.path().join("missing.pem");
    assert!(matches!(
        Tls::from_pem_files(&missing, &key),
        Err(TlsError::Read { .. })
    ));
    let err = Tls::from_pem_files(&key, &key).unwrap_err();
    assert!(matches!(err, TlsError::Certificate { .. }), "{err}");
    let err = Tls::from_pem_files(&cert, &cert).unwrap_err();
    assert!(matches!(err, TlsError::Key { .. }), "{err}");
    assert!(err.to_string().contains("no PEM private key"), "{err}");
    // A key that is not the certificate's.
    let err = Tls::from_pem(b.chain_pem.as_bytes(), a.key_pem.as_bytes()).unwrap_err();
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
    // Broken PEM in the key file: the message does not quote it.
    let broken = dir.path().join("broken.key");
    std::fs::write(&broken, a.key_pem.replace("-----END", "-----XXX")).unwrap();
    let err = Tls::from_pem_files(&cert, &broken).unwrap_err();
    let body: String = a.key_pem.lines().nth(1).unwrap().chars().take(20).collect();
    assert!(!err.to_string().contains(&body), "{err}");

    // An encrypted key is named as such.
    let encrypted = dir.path().join("encrypted.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = Tls::from_pem_files(&cert, &encrypted).unwrap_err();
    assert!(err.to_string().contains("encrypted private key"), "{err}");
    // Certificate and key in one file serve as both.
    let both = dir.path().join("both.pem");
    std::fs::write(&both, format!("{}{}", a.chain_pem, a.key_pem)).unwrap();
    Tls::from_pem_files(&both, &both).unwrap();

    let tls = Tls::from_pem_files(&cert, &key).unwrap();
    let shown = format!("{tls:?}");
    assert!(
        shown.contains("tls.crt") && shown.contains("tls.key"),
        "{shown}"
    );
    assert!(
        !shown.contains("PRIVATE") && !shown.contains(&body),
        "{shown}"
    );
    assert!(matches!(
        Tls::from_pem(a.chain_pem.as_bytes(), a.key_pem.as_bytes())
            .unwrap()
            .reload(),
        Err(TlsError::NoFiles)
    ));
}

#[tokio::test]
async fn plain_listener_redirects_to_the_tls_port_and_serves_health_checks() {
    let _shared = shared().await;
    // The guide's direct SSL mode: ssl_redirect on, a TLS listener and a plain one.
    let config = "environment: production\n\
                  security_domains: [example.com]\n\
                  ssl_redirect: true\n\
                  health_check_paths: [/healthz]\n";
    let pki = Pki::new();
    let leaf = pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256);
    let tls = Tls::from_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let (up, up_task) = proto_upstream().await;
    let base = gateway(config, &up, GatewayOptions::default());
    let tls_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_port = tls_listener.local_addr().unwrap().port();
    let secure = Running::on(base.clone().with_tls(tls), tls_listener);
    let plain = Running::serve(base.with_https_redirect_port(tls_port)).await;

    let tcp = TcpStream::connect(plain.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let host = format!("example.com:{}", plain.addr.port());
    let req = |path: &str| {
        Request::get(path)
            .header("host", &host)
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let resp = send.send_request(req("/a/b?c=1")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        resp.headers()["location"],
        format!("https://example.com:{tls_port}/a/b?c=1").as_str()
    );
    assert!(!resp.headers().contains_key("strict-transport-security"));
    resp.into_body().collect().await.unwrap();
    // A health check is served over plain HTTP, without redirect.
    let resp = send.send_request(req("/healthz")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "proto=http path=/healthz");
    // A host the policy refuses is refused, not redirected.
    let bad = Request::get("/")
        .header("host", "evil.example.net")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(bad).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    resp.into_body().collect().await.unwrap();

    // The TLS listener serves, with HSTS and no redirect.
    let io = connect(secure.addr, pki.roots(), &[b"h2", b"http/1.1"], ALL)
        .await
        .unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("https://example.com:{tls_port}/a"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("strict-transport-security"));
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "proto=https path=/a");

    // Redirects to port 443 leave the port out.
    let plain443 = Running::serve(
        gateway(config, &up, GatewayOptions::default()).with_https_redirect_port(443),
    )
    .await;
    let tcp = TcpStream::connect(plain443.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = send
        .send_request(req_host("example.com:8080", "/x"))
        .await
        .unwrap();
    assert_eq!(resp.headers()["location"], "https://example.com/x");
    drop(up_task);
}

fn req_host(host: &str, path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", host)
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn handshake_must_finish_within_the_header_read_timeout() {
    let _shared = shared().await;
    let pki = Pki::new();
    let leaf = pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256);
    let tls = Tls::from_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let (up, up_task) = proto_upstream().await;
    let options = GatewayOptions::default().with_header_read_timeout(Duration::from_millis(300));
    let gw = Running::serve(gateway(PRODUCTION, &up, options).with_tls(tls)).await;

    // Silent, and a ClientHello cut in the middle: both closed near the deadline.
    let hello = tls11_client_hello();
    for sent in [&[][..], &hello[..20]] {
        let start = std::time::Instant::now();
        let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
        tcp.write_all(sent).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "still open after 5 s");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
    // A client that completes the handshake in time is served.
    let io = connect(gw.addr, pki.roots(), &[b"http/1.1"], ALL)
        .await
        .unwrap();
    let (resp, _) = h1_get(&mut h1(io).await, "example.com", "/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    drop(up_task);
}

/// Waits until a new handshake is served `want` (bounded).
async fn wait_for_cert(addr: SocketAddr, pki: &Pki, want: &CertificateDer<'static>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let io = connect(addr, pki.roots(), &[b"http/1.1"], ALL)
            .await
            .unwrap();
        if served_cert(&io) == *want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was not served within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn certificate_reloads_on_file_change_keeping_open_connections() {
    let _shared = shared().await;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let a = pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256);
    let b = pki.leaf(&rcgen::PKCS_ED25519);
    let (cert, key) = write_leaf(dir.path(), &a);
    let tls = Tls::from_pem_files(&cert, &key).unwrap();
    let watcher = tokio::spawn(tls.clone().watch(Duration::from_millis(50)));
    let (up, up_task) = proto_upstream().await;
    let gw =
        Running::serve(gateway(PRODUCTION, &up, GatewayOptions::default()).with_tls(tls.clone()))
            .await;

    let io = connect(gw.addr, pki.roots(), &[b"http/1.1"], ALL)
        .await
        .unwrap();
    assert_eq!(served_cert(&io), a.der);
    let mut open = h1(io).await;
    assert_eq!(h1_get(&mut open, "example.com", "/1").await.0.status(), 200);

    // New files: new handshakes get the new certificate, the open connection goes on.
    write_leaf(dir.path(), &b);
    wait_for_cert(gw.addr, &pki, &b.der).await;
    assert_eq!(tls.certificate_chain()[0], b.der);
    let (resp, body) = h1_get(&mut open, "example.com", "/2").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body, "proto=https path=/2");

    // A bad new certificate (garbage, then a key of another certificate) keeps the
    // served one, by file change and by explicit reload alike. The watcher logs each
    // refusal: once the line is there, a wrong swap would already be served.
    let logs = logs();
    let cert_name = cert.display().to_string();
    let refused = [
        "TLS certificate not reloaded",
        "the files changed",
        &cert_name,
    ];
    replace_file(&cert, b"not a certificate\n");
    logs.wait_for_lines(1, &refused).await;
    let io = connect(gw.addr, pki.roots(), &[b"http/1.1"], ALL)
        .await
        .unwrap();
    assert_eq!(served_cert(&io), b.der);
    assert!(matches!(tls.reload(), Err(TlsError::Certificate { .. })));
    replace_file(&cert, a.chain_pem.as_bytes());
    logs.wait_for_lines(2, &refused).await;
    assert!(logs.text().contains("does not hold the private key"));
    assert!(matches!(tls.reload(), Err(TlsError::Mismatch { .. })));
    let io = connect(gw.addr, pki.roots(), &[b"http/1.1"], ALL)
        .await
        .unwrap();
    assert_eq!(served_cert(&io), b.der);
    let (resp, _) = h1_get(&mut h1(io).await, "example.com", "/3").await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Fixed by writing the matching key: picked up by the watcher.
    replace_file(&key, a.key_pem.as_bytes());
    wait_for_cert(gw.addr, &pki, &a.der).await;
    assert_eq!(h1_get(&mut open, "example.com", "/4").await.0.status(), 200);
    watcher.abort();
    drop(up_task);
}

#[cfg(unix)]
#[tokio::test]
async fn certificate_reloads_when_a_symlink_is_swapped() {
    let _shared = shared().await;
    // Kubernetes mounts Secrets as `tls.crt -> ..data/tls.crt`, `..data -> ..<stamp>`,
    // and swaps `..data` atomically.
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let a = pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256);
    let b = pki.leaf(&rcgen::PKCS_ECDSA_P384_SHA384);
    let v1 = dir.path().join("..v1");
    let v2 = dir.path().join("..v2");
    std::fs::create_dir(&v1).unwrap();
    std::fs::create_dir(&v2).unwrap();
    write_leaf(&v1, &a);
    write_leaf(&v2, &b);
    let data = dir.path().join("..data");
    std::os::unix::fs::symlink("..v1", &data).unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::os::unix::fs::symlink("..data/tls.crt", &cert).unwrap();
    std::os::unix::fs::symlink("..data/tls.key", &key).unwrap();

    let tls = Tls::from_pem_files(&cert, &key).unwrap();
    let watcher = tokio::spawn(tls.clone().watch(Duration::from_millis(50)));
    assert_eq!(tls.certificate_chain()[0], a.der);
    let tmp = dir.path().join("..data_tmp");
    std::os::unix::fs::symlink("..v2", &tmp).unwrap();
    std::fs::rename(&tmp, &data).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tls.certificate_chain()[0] != b.der {
        assert!(tokio::time::Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
}

#[tokio::test]
async fn websockets_pass_over_tls() {
    let _shared = shared().await;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    // An echo upstream.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = format!("http://{}", listener.local_addr().unwrap());
    let up_task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let pki = Pki::new();
    let leaf = pki.leaf(&rcgen::PKCS_ECDSA_P256_SHA256);
    let tls = Tls::from_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let gw =
        Running::serve(gateway(PRODUCTION, &up, GatewayOptions::default()).with_tls(tls)).await;

    // WebSockets ride HTTP/1.1: a client offering only that.
    let io = connect(gw.addr, pki.roots(), &[b"http/1.1"], ALL)
        .await
        .unwrap();
    let req = "wss://example.com/ws".into_client_request().unwrap();
    let (mut ws, resp) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(req, io))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("over tls")).await.unwrap();
    let echoed = tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::text("over tls"));
    up_task.abort();
}
