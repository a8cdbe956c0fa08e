//! The hyper example over real TCP, and its binary on a bad config.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use hardened::Security;
use hardened::config::Config;
use hardened::probe::RuntimeProbe;

/// Sends a raw HTTP/1.1 request and returns the response head and body.
fn send(addr: std::net::SocketAddr, head: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_layer_guards_every_connection() {
    let security = Security::from_config(&Config::development(), &RuntimeProbe::none()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_hyper_server::serve(listener, security));
    let (ok, evil, csrf) = tokio::task::spawn_blocking(move || {
        (
            send(addr, "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            send(addr, "GET / HTTP/1.1\r\nHost: evil.com\r\nConnection: close\r\n\r\n"),
            send(
                addr,
                "POST / HTTP/1.1\r\nHost: localhost\r\nOrigin: https://evil.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
        )
    })
    .await
    .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("hello from GET /x"), "{ok}");
    assert!(
        ok.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{ok}"
    );
    assert!(evil.starts_with("HTTP/1.1 400"), "{evil}");
    assert!(csrf.starts_with("HTTP/1.1 403"), "{csrf}");
}

/// `main` propagates the load error with `?`: the report, not a `Debug` dump.
#[test]
fn a_bad_config_prints_the_readable_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "security_domains: [example.com]\nsecret_key: ${SECRET_KEY}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_example-hyper-server"))
        .current_dir(dir.path())
        .env_clear()
        .env("LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr,
        "Error: 1 configuration problem:\nerror: config.yaml:2: `secret_key` = ${SECRET_KEY}: environment variable SECRET_KEY is not set\n  fix: export SECRET_KEY=... or add `SECRET_KEY=...` to .env (or write `${SECRET_KEY:-default}`)\n"
    );
}
