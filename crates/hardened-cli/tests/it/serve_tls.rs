//! End-to-end tests of `hardened serve` with direct TLS: the guide's direct SSL mode
//! (`ssl_redirect: true`, a TLS listener and a plain one) configured from the config
//! file's `gateway:` section, certificate reload on SIGHUP, the order flag >
//! environment > file, and startup failures (exit 2).
//!
//! Certificates are made by the test; the client is rustls trusting the test's CA.
//! Only 127.0.0.x is used; every wait is bounded, and every started process is killed by
//! its id when its test ends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Served, Upstream, command, text, upstream};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};

const TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- certificates

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "test CA");
        Pki {
            ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// Writes a new leaf for example.com as `tls.crt` / `tls.key` in `dir`: its DER.
    fn write_leaf(&self, dir: &Path) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["example.com".to_owned()])
            .unwrap()
            .signed_by(&key, &self.ca)
            .unwrap();
        for (name, text) in [
            ("tls.crt", format!("{}{}", cert.pem(), self.ca.pem())),
            ("tls.key", key.serialize_pem()),
        ] {
            let tmp = dir.join(format!("{name}.tmp"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, dir.join(name)).unwrap();
        }
        cert.der().clone()
    }

    async fn connect(
        &self,
        addr: SocketAddr,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("example.com").unwrap();
        tokio::time::timeout(
            TIMEOUT,
            tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
        )
        .await
        .unwrap()
        .unwrap()
    }
}

fn served_cert(
    s: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().unwrap()[0].clone()
}

// ---------------------------------------------------------------- processes

/// An upstream answering `proto=<X-Forwarded-Proto> path=<path>`.
async fn proto_upstream() -> Upstream {
    upstream(|req: Request<Incoming>| async move {
        let proto = req
            .headers()
            .get("x-forwarded-proto")
            .map(|v| v.to_str().unwrap_or("?").to_owned())
            .unwrap_or_default();
        Ok::<_, Infallible>(text(format!("proto={proto} path={}", req.uri().path())))
    })
    .await
}

async fn plain_get(addr: SocketAddr, host: &str, path: &str) -> Response<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(TIMEOUT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_ssl_mode_from_the_config_file() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let first = pki.write_leaf(dir.path());
    let up_task = proto_upstream().await;
    let up = up_task.addr;
    let config = format!(
        "environment: production\n\
         security_domains: [example.com]\n\
         ssl_redirect: true\n\
         health_check_paths: [/healthz]\n\
         gateway:\n  \
           listen: 127.0.0.1:0\n  \
           listen_http: 127.0.0.1:0\n  \
           upstream: http://{up}\n  \
           tls: {{cert: tls.crt, key: tls.key}}\n"
    );
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    let mut srv = Served::launch(dir.path(), &["serve"], &[], 3);
    let tls_addr = srv.addr_of(0, "https");
    let plain = srv
        .lines
        .iter()
        .position(|l| l.starts_with("hardened: listening on http://"))
        .unwrap_or_else(|| panic!("no plain listener line: {:?}", srv.lines));
    let plain_addr = srv.addr_of(plain, "http");
    assert!(
        srv.lines[0].ends_with(&format!("gateway to http://{up}/)")),
        "{:?}",
        srv.lines
    );

    // HTTPS over HTTP/2: secure, HSTS, X-Forwarded-Proto https.
    let io = pki.connect(tls_addr).await;
    assert_eq!(served_cert(&io), first);
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://example.com/a")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("strict-transport-security"));
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "proto=https path=/a");

    // Plain HTTP: redirected to the TLS port; health checks served.
    let host = format!("example.com:{}", plain_addr.port());
    let resp = plain_get(plain_addr, &host, "/a?b=1").await;
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        resp.headers()["location"],
        format!("https://example.com:{}/a?b=1", tls_addr.port()).as_str()
    );
    let resp = plain_get(plain_addr, &host, "/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.body(), "proto=http path=/healthz");

    // SIGHUP reloads the certificate; the open HTTP/2 connection goes on.
    let second = pki.write_leaf(dir.path());
    srv.signal("-HUP");
    let start = Instant::now();
    loop {
        let io = pki.connect(tls_addr).await;
        if served_cert(&io) == second {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let req = Request::get("https://example.com/b")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    drop(send);

    srv.signal("-TERM");
    assert_eq!(srv.wait_exit(Duration::from_secs(15)).0, Some(0));
    drop(up_task);
}

#[test]
fn listen_address_flag_over_environment_over_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "debug: true\ngateway:\n  listen: 127.0.0.2:0\n",
    )
    .unwrap();
    let env = [("HARDENED_GATEWAY_LISTEN", "127.0.0.3:0")];
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 3] = [
        (&["serve"], &[], "127.0.0.2"),
        (&["serve"], &env, "127.0.0.3"),
        (&["serve", "--listen", "127.0.0.1:0"], &env, "127.0.0.1"),
    ];
    for (args, env, ip) in cases {
        let srv = Served::launch(dir.path(), args, env, 1);
        assert_eq!(
            srv.addr_of(0, "http").ip().to_string(),
            ip,
            "{args:?} {env:?}"
        );
    }
}

#[test]
fn bad_tls_settings_exit_2_before_listening() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    pki.write_leaf(dir.path());
    std::fs::write(dir.path().join("garbage.pem"), "not PEM\n").unwrap();
    std::fs::write(dir.path().join("config.yaml"), "debug: true\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--listen-http",
                "127.0.0.1:0",
            ],
            "--listen-http",
        ),
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "garbage.pem",
                "--tls-key",
                "tls.key",
            ],
            "garbage.pem: no PEM certificate",
        ),
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "tls.crt",
                "--tls-key",
                "garbage.pem",
            ],
            "garbage.pem: no PEM private key",
        ),
        (&["serve", "--tls-cert", "tls.crt"], "--tls-key"),
    ];
    for (args, expect) in cases {
        let out = command(dir.path(), args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
}
