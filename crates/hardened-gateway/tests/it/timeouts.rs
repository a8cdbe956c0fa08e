//! Connection deadlines, in process: a [`Gateway`] on 127.0.0.1 with short timeouts in
//! front of a small upstream. Connections that send nothing, part of a request head or
//! part of the HTTP/2 preface are closed after the header-read timeout counted from
//! accept; connections with no request in flight (HTTP/1 keep-alive, HTTP/2 with no
//! stream) after the idle timeout; a request in flight is never idle.
//!
//! Only 127.0.0.1 is used. Every wait is bounded; every gateway is stopped when its
//! test ends, and every upstream's accept task (with its connections) is aborted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hardened_gateway::{Gateway, GatewayOptions, parse_upstream};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Running, Upstream, security, shared, text, upstream};

/// The longest any single wait may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A gateway on 127.0.0.1 in front of `upstream`, with the development defaults.
async fn start(upstream: SocketAddr, options: GatewayOptions) -> Running {
    let upstream = parse_upstream(&format!("http://{upstream}")).unwrap();
    Running::serve(Gateway::new(security(None), upstream, options)).await
}

/// An upstream on 127.0.0.1: `/slow` answers after 2 s, anything else at once.
async fn slow_upstream() -> Upstream {
    upstream(|req| async move {
        if req.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        text("hello")
    })
    .await
}

/// Short timeouts: 1 s to send the first head, 1 s idle.
fn short() -> GatewayOptions {
    GatewayOptions::default()
        .with_header_read_timeout(Duration::from_secs(1))
        .with_idle_timeout(Duration::from_secs(1))
        .with_upstream_timeout(Duration::from_secs(10))
}

/// Reads until the gateway closes the connection (bounded): how long that took, and
/// what was read.
async fn wait_closed(s: &mut TcpStream) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(TIMEOUT, s.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the connection is still open after {TIMEOUT:?}"
    );
    (start.elapsed(), got)
}

/// A plain HTTP/1.1 request on `s`, reading its whole answer (`Content-Length`).
async fn get_on(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the answer was complete");
            got.extend_from_slice(&buf[..n]);
            if got.ends_with(b"hello") {
                break;
            }
        }
    };
    tokio::time::timeout(TIMEOUT, read)
        .await
        .expect("no answer");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_sending_nothing_is_closed_after_the_header_read_timeout() {
    let _shared = shared().await;
    let up = slow_upstream().await;
    let gw = start(up.addr, short().with_idle_timeout(Duration::from_secs(60))).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let (waited, got) = wait_closed(&mut s).await;
    assert!(got.is_empty());
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_an_http2_preface_is_closed_after_the_header_read_timeout() {
    let _shared = shared().await;
    let up = slow_upstream().await;
    let gw = start(up.addr, short().with_idle_timeout(Duration::from_secs(60))).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let (waited, _) = wait_closed(&mut s).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_with_no_stream_is_closed_after_the_idle_timeout() {
    let _shared = shared().await;
    let up = slow_upstream().await;
    let gw = start(
        up.addr,
        short().with_header_read_timeout(Duration::from_secs(60)),
    )
    .await;
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    let mut conn = tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(format!("http://{}/", gw.addr))
        .body(Empty::new())
        .unwrap();
    let resp = tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");
    let idle_from = Instant::now();
    // The gateway sends GOAWAY and closes; the client's connection task ends.
    let ended = tokio::time::timeout(TIMEOUT, &mut conn).await;
    conn.abort();
    assert!(ended.is_ok(), "the idle HTTP/2 connection is still open");
    let waited = idle_from.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http1_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let _shared = shared().await;
    let up = slow_upstream().await;
    let gw = start(
        up.addr,
        short().with_header_read_timeout(Duration::from_secs(60)),
    )
    .await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let answer = get_on(&mut s, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (waited, got) = wait_closed(&mut s).await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );
}

/// A request in flight is not idle: the upstream takes 2 s, twice the idle and
/// header-read timeouts, and the answer still arrives; the connection then serves
/// another request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_request_is_not_cut() {
    let _shared = shared().await;
    let up = slow_upstream().await;
    let gw = start(up.addr, short()).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let answer = get_on(&mut s, "/slow").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = get_on(&mut s, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Many connections that send nothing do not keep the gateway from answering, and are
/// all closed after the header-read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_silent_connections_neither_block_others_nor_stay_open() {
    let _shared = shared().await;
    let up = slow_upstream().await;
    let gw = start(up.addr, short().with_idle_timeout(Duration::from_secs(60))).await;
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let answer = get_on(&mut s, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let all_closed = async {
        for mut c in silent {
            let mut got = Vec::new();
            c.read_to_end(&mut got).await.unwrap_or_default();
            assert!(got.is_empty());
        }
    };
    tokio::time::timeout(TIMEOUT, all_closed)
        .await
        .expect("some silent connections are still open");
}
