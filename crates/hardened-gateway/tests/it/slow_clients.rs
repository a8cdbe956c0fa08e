//! Slow clients against a worker-limited upstream, through the real gateway on loopback:
//! gunicorn with two sync workers (tests/wsgi_app/slow_app.py), which serve one request
//! each at a time and rely on the proxy in front to absorb slow clients, as behind nginx.
//!
//! - stalled request bodies, clients that never read a large response, and one HTTP/2
//!   connection with 300 POST streams whose bodies never arrive leave the workers free: a
//!   third client is answered promptly (gunicorn's own timeout is 30 s);
//! - server-sent events stream; body limits (413), body timeouts (408), paths whose
//!   bodies stream; the caps on upstream connections (counted by a loopback proxy in
//!   front of gunicorn) and the 503 at the cap; temporary files are never named and
//!   never outlive their request; the memory of 1 000 slow uploads and of 250 slow
//!   readers of 4 MiB (1 000 with `HARDENED_SLOW_CLIENTS=1000`, which puts up to 2 GiB
//!   on disk) stays bounded.
//!
//! gunicorn comes from the pinned venv of `scripts/django-venv.sh` at `$HARDENED_VENV`
//! (default `.venv` at the repository root); without it the tests fail saying how to make
//! it. Only 127.0.0.1 is used; gunicorn runs in its own process group, killed with it
//! when its guard is dropped (also on panic); every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hardened_gateway::{Gateway, GatewayOptions, parse_upstream};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{EXCLUSIVE, Proc, Running, fixture, free_port, security, shared, venv_python};

/// The longest any single exchange or start-up may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// How soon a third client must be answered while others stall. With nginx in front it
/// is answered at once; a proxy that lets the stalled clients hold gunicorn's two
/// workers makes it wait for gunicorn's 30 s worker timeout.
const PROMPT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- gunicorn

/// tests/wsgi_app/slow_app.py under gunicorn, two sync workers, on 127.0.0.1.
fn gunicorn() -> (Proc, SocketAddr) {
    let python = venv_python();
    let addr = free_port();
    let app_dir = fixture("wsgi_app");
    let mut cmd = Command::new(&python);
    cmd.args([
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--timeout",
        "30",
        "--bind",
    ])
    .arg(addr.to_string())
    .arg("--chdir")
    .arg(&app_dir)
    .arg("slow_app:application")
    .env("PYTHONDONTWRITEBYTECODE", "1");
    let mut proc = Proc::spawn("gunicorn", cmd, tempfile::tempdir().unwrap());
    let start = Instant::now();
    // Both workers up: two requests answered at once.
    loop {
        if let Some(status) = proc.exited() {
            panic!("gunicorn exited ({status}):\n{}", proc.log());
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "gunicorn not serving on {addr} after {TIMEOUT:?}:\n{}",
            proc.log()
        );
        let booted = proc.log().matches("Booting worker").count();
        if booted >= 2 && std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (proc, addr)
}

// ---------------------------------------------------------------- counting proxy

/// A loopback TCP proxy in front of the upstream that counts the connections the
/// gateway opens.
struct Counter {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Counter {
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn counting_proxy(target: SocketAddr) -> Counter {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            conns.spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Counter {
        addr,
        accepted,
        task,
    }
}

// ---------------------------------------------------------------- the gateway

fn options() -> GatewayOptions {
    GatewayOptions::default().with_upstream_timeout(TIMEOUT)
}

async fn gateway(upstream: SocketAddr, options: GatewayOptions) -> Running {
    let gateway = Gateway::new(
        security(None),
        parse_upstream(&format!("http://{upstream}")).unwrap(),
        options,
    );
    Running::serve(gateway).await
}

// ---------------------------------------------------------------- raw clients

/// A response read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response head (skipping 1xx) and, with `Content-Length`, its body.
async fn read_response(s: &mut TcpStream) -> Raw {
    let fut = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
                if (100..200).contains(&status) {
                    buf.drain(..end + 4);
                    continue;
                }
                let len = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.trim().parse::<usize>().unwrap());
                let mut body = buf[end + 4..].to_vec();
                if let Some(len) = len {
                    while body.len() < len {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&chunk[..n]);
                    }
                }
                return Raw { status, head, body };
            }
            let n = s.read(&mut chunk).await.unwrap_or(0);
            assert!(
                n > 0,
                "connection closed before a response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("no response in time")
}

/// Sends `head` (request line and header lines, without the blank line) and `body` on
/// a new connection and reads the response.
async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> Raw {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{head}\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    read_response(&mut s).await
}

/// `GET /` from a fresh client: answered, and how long it took.
async fn third_client(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let r = request(
        addr,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close",
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), "ok");
    let took = start.elapsed();
    eprintln!("third client answered in {took:?}");
    took
}

/// A client that announces a 1000-byte body, sends one byte and stalls.
async fn stalled_upload(addr: SocketAddr) -> TcpStream {
    stalled_upload_to(addr, "/echo").await
}

/// [`stalled_upload`] to `path`. It asks for `100 Continue` and sends its byte once the
/// gateway answers it: the gateway has taken the request in and reads its body (a
/// streaming forward has opened its upstream connection and sent the head by then).
async fn stalled_upload_to(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\
         Expect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // Byte by byte: nothing after the interim response is taken from the stream.
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, s.read(&mut byte))
            .await
            .expect("no 100 Continue in time")
            .unwrap();
        assert!(
            n == 1,
            "closed before 100 Continue: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.push(byte[0]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 100"),
        "expected 100 Continue, got {:?}",
        String::from_utf8_lossy(&got)
    );
    s.write_all(b"x").await.unwrap();
    s
}

/// A client that asks for `path` and never reads (a small receive buffer, so the
/// response cannot hide in the kernel).
async fn non_reader(addr: SocketAddr, path: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    s
}

/// Open descriptors of this process on files in `dir` (unlinked temporary files).
fn open_files_in(dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .count()
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

async fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < TIMEOUT, "{what}: not within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request body that never arrives.
struct Never;

impl Body for Never {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

/// One HTTP/2 connection carrying streams; its driver is stopped when dropped.
struct H2 {
    /// The streams' answers.
    streams: tokio::task::JoinSet<Result<Response<hyper::body::Incoming>, hyper::Error>>,
    conn: tokio::task::JoinHandle<()>,
}

impl Drop for H2 {
    fn drop(&mut self) {
        self.streams.abort_all();
        self.conn.abort();
    }
}

/// One HTTP/2 connection with `n` POST streams whose bodies never arrive.
async fn h2_fan_out(addr: SocketAddr, n: usize) -> H2 {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut streams = tokio::task::JoinSet::new();
    for _ in 0..n {
        let mut s = sender.clone();
        streams.spawn(async move {
            let req = Request::post("http://localhost/echo")
                .header("content-length", "1000")
                .body(Never)
                .unwrap();
            s.send_request(req).await
        });
    }
    H2 { streams, conn }
}

// ---------------------------------------------------------------- the three measurements

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_request_bodies_never_reach_the_workers() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let counter = counting_proxy(up).await;
    let gw = gateway(counter.addr, options()).await;
    // Both taken in (answered 100 Continue, body being read) before the third client
    // connects: a forward of either would have connected to the counter first.
    let _a = stalled_upload(gw.addr).await;
    let _b = stalled_upload(gw.addr).await;
    let took = third_client(gw.addr).await;
    assert!(took < PROMPT, "the third client waited {took:?}");
    // The stalled bodies opened no upstream connection at all, as with nginx.
    assert_eq!(counter.accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_request_buffering_stalled_bodies_do_hold_the_workers() {
    let _shared = shared().await;
    // The control of the test above: the scenario really blocks a streaming proxy.
    let (_gunicorn, up) = gunicorn();
    let counter = counting_proxy(up).await;
    let gw = gateway(counter.addr, options().with_request_buffering(false)).await;
    let _a = stalled_upload(gw.addr).await;
    let _b = stalled_upload(gw.addr).await;
    // Both forwarded: their heads went out on two upstream connections.
    eventually("both uploads forwarded", || counter.accepted() == 2).await;
    let blocked = tokio::time::timeout(Duration::from_secs(2), third_client(gw.addr)).await;
    assert!(blocked.is_err(), "gunicorn's workers were not held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_a_large_response_do_not_hold_the_workers() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let temp = tempfile::tempdir().unwrap();
    let gw = gateway(up, options().with_temp_dir(temp.path())).await;
    let a = non_reader(gw.addr, "/big").await;
    let b = non_reader(gw.addr, "/big").await;
    // The two responses are held by the gateway, in temporary files never named.
    eventually("both responses spilled", || open_files_in(temp.path()) == 2).await;
    let took = third_client(gw.addr).await;
    assert!(took < PROMPT, "the third client waited {took:?}");
    assert_eq!(entries(temp.path()), 0);
    // Gone with their clients.
    drop((a, b));
    eventually("temporary files closed", || open_files_in(temp.path()) == 0).await;
    assert_eq!(entries(temp.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_http2_connection_with_300_stalled_uploads_opens_no_upstream_connection() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let counter = counting_proxy(up).await;
    let gw = gateway(
        counter.addr,
        options().with_client_body_timeout(Duration::from_secs(2)),
    )
    .await;
    let mut h2 = h2_fan_out(gw.addr, 300).await;
    let took = third_client(gw.addr).await;
    assert!(took < PROMPT, "the third client waited {took:?}");
    // Every stream ends in the gateway's 408: each was taken in and its body awaited
    // (a forward would have connected to the counter before that answer).
    for i in 0..300 {
        let resp = tokio::time::timeout(TIMEOUT, h2.streams.join_next())
            .await
            .unwrap_or_else(|_| panic!("stream {i}: no answer in time"))
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT, "stream {i}");
    }
    assert_eq!(
        counter.accepted(),
        1,
        "a stalled upload reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_marked_unbuffered_stream_their_bodies() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let counter = counting_proxy(up).await;
    let gw = gateway(
        counter.addr,
        options().with_unbuffered_request_paths(["/ec*"]),
    )
    .await;
    // A stalled upload to a streaming path reaches the upstream at once...
    let _streaming = stalled_upload(gw.addr).await;
    eventually("the streamed upload forwarded", || counter.accepted() == 1).await;
    // ...one to any other path does not: it is taken in (100 Continue) and buffered. A
    // forward would have connected before that; the next client's connection comes
    // after it, so once that client is answered the count is final.
    let _buffered = stalled_upload_to(gw.addr, "/other").await;
    let took = third_client(gw.addr).await;
    assert!(took < PROMPT, "the third client waited {took:?}");
    assert_eq!(counter.accepted(), 2, "the buffered upload was forwarded");
}

// ---------------------------------------------------------------- caps

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_request_buffering_one_http2_connection_uses_at_most_its_share() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let counter = counting_proxy(up).await;
    let gw = gateway(
        counter.addr,
        options()
            .with_request_buffering(false)
            .with_upstream_max_connections_per_client(8)
            .with_upstream_queue_timeout(Duration::from_secs(1)),
    )
    .await;
    let mut h2 = h2_fan_out(gw.addr, 300).await;
    eventually("the first streams forwarded", || counter.accepted() >= 1).await;
    // The streams beyond the share wait, then are answered 503 with the reason.
    let first = tokio::time::timeout(TIMEOUT, h2.streams.join_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = first.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("per-client limit"), "{text}");
    assert!(
        counter.accepted() <= 8,
        "{} upstream connections",
        counter.accepted()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_global_cap_a_request_waits_then_gets_503() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let counter = counting_proxy(up).await;
    let gw = gateway(
        counter.addr,
        options()
            .with_request_buffering(false)
            .with_upstream_max_connections(1)
            .with_upstream_queue_timeout(Duration::from_millis(500)),
    )
    .await;
    // A streaming upload holds the only upstream connection.
    let _holder = stalled_upload(gw.addr).await;
    eventually("the upload forwarded", || counter.accepted() == 1).await;
    let start = Instant::now();
    let r = request(
        gw.addr,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close",
        b"",
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.head);
    assert!(
        r.text().contains("upstream connections stayed busy"),
        "{}",
        r.text()
    );
    assert!(
        r.head.to_ascii_lowercase().contains("retry-after"),
        "{}",
        r.head
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < PROMPT,
        "{took:?}"
    );
    assert_eq!(counter.accepted(), 1);
}

// ---------------------------------------------------------------- streaming responses

async fn stream_timings(addr: SocketAddr, path: &str) -> (http::HeaderMap, Duration, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let resp = tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let first = tokio::time::timeout(TIMEOUT, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    let got_first = Instant::now();
    let mut text = String::from_utf8_lossy(&first).into_owned();
    while let Some(f) = tokio::time::timeout(TIMEOUT, body.frame()).await.unwrap() {
        if let Ok(d) = f.unwrap().into_data() {
            text.push_str(&String::from_utf8_lossy(&d));
        }
    }
    conn.abort();
    (headers, got_first.elapsed(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_arrive_before_the_upstream_has_finished() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let gw = gateway(up, options()).await;
    // The app sends an event, sleeps 4 s, sends another: the first must not wait.
    let (headers, gap, text) = stream_timings(gw.addr, "/sse").await;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert!(
        gap >= Duration::from_secs(3),
        "first event held back: gap {gap:?}"
    );
    assert_eq!(text, "data: 1\n\ndata: 2\n\n");
    // Marked by the upstream: streams too, and the mark stays between the two.
    let (headers, gap, text) = stream_timings(gw.addr, "/nobuf").await;
    assert!(headers.get("x-accel-buffering").is_none());
    assert!(gap >= Duration::from_secs(3), "held back: gap {gap:?}");
    assert_eq!(text, "data: 1\n\ndata: 2\n\n");
}

// ---------------------------------------------------------------- body limits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413_without_the_upstream() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let counter = counting_proxy(up).await;
    let gw = gateway(counter.addr, options().with_client_max_body_size(1 << 20)).await;

    // Content-Length over the limit: at once, without a byte of body.
    let start = Instant::now();
    let r = request(
        gw.addr,
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20000000",
        b"",
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.head);
    assert!(r.text().contains("1048576"), "{}", r.text());
    assert!(start.elapsed() < PROMPT);

    // A chunked body: as soon as it crosses the limit, while the client still sends.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let piece = vec![b'y'; 65536];
        for _ in 0..24 {
            let mut chunk = b"10000\r\n".to_vec();
            chunk.extend_from_slice(&piece);
            chunk.extend_from_slice(b"\r\n");
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // Still open, the final chunk never sent.
        tokio::time::sleep(TIMEOUT).await;
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(TIMEOUT, rd.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    writer.abort();
    assert_eq!(counter.accepted(), 0);

    // Up to the limit is forwarded.
    let body = vec![b'z'; 1 << 20];
    let r = request(
        gw.addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}",
            body.len()
        ),
        &body,
    )
    .await;
    assert_eq!((r.status, r.text()), (200, "1048576".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_means_no_body_limit() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let gw = gateway(up, options().with_client_max_body_size(0)).await;
    let body = vec![b'z'; 12 << 20];
    let r = request(
        gw.addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}",
            body.len()
        ),
        &body,
    )
    .await;
    assert_eq!((r.status, r.text()), (200, (12u64 << 20).to_string()));
    // The default (10 MiB) refuses the same body.
    let gw = gateway(up, options()).await;
    let r = request(
        gw.addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}",
            body.len()
        ),
        b"",
    )
    .await;
    assert_eq!(r.status, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_408_without_the_upstream() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let counter = counting_proxy(up).await;
    let gw = gateway(
        counter.addr,
        options().with_client_body_timeout(Duration::from_secs(1)),
    )
    .await;
    let start = Instant::now();
    let mut s = stalled_upload(gw.addr).await;
    let r = read_response(&mut s).await;
    assert_eq!(r.status, 408, "{}", r.head);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < PROMPT,
        "{took:?}"
    );
    assert_eq!(counter.accepted(), 0);
}

// ---------------------------------------------------------------- temporary files

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_files_are_never_named_and_never_outlive_the_request() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let temp = tempfile::tempdir().unwrap();
    let gw = gateway(up, options().with_temp_dir(temp.path())).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n\r\n")
        .await
        .unwrap();
    let piece = vec![b'q'; 65536];
    for _ in 0..8 {
        s.write_all(&piece).await.unwrap();
    }
    // Half sent: beyond the memory buffer, so in a file, open but never in the directory.
    eventually("the body spilled", || open_files_in(temp.path()) == 1).await;
    assert_eq!(entries(temp.path()), 0);
    for _ in 0..8 {
        s.write_all(&piece).await.unwrap();
    }
    let r = read_response(&mut s).await;
    assert_eq!((r.status, r.text()), (200, "1048576".to_owned()));
    eventually("the file closed", || open_files_in(temp.path()) == 0).await;
    assert_eq!(entries(temp.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_temp_dir_is_507_for_large_bodies_only() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let temp = tempfile::tempdir().unwrap();
    let gw = gateway(up, options().with_temp_dir(temp.path().join("missing"))).await;
    let body = vec![b'z'; 200_000];
    let r = request(
        gw.addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}",
            body.len()
        ),
        &body,
    )
    .await;
    assert_eq!(r.status, 507, "{}", r.head);
    let r = request(
        gw.addr,
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 5",
        b"hello",
    )
    .await;
    assert_eq!((r.status, r.text()), (200, "5".to_owned()));
    // Responses fall back to streaming.
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::get("/big")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let resp = tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let len = tokio::time::timeout(TIMEOUT, resp.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes()
        .len();
    assert_eq!(len, 32 << 20);
    conn.abort();
}

// ---------------------------------------------------------------- send timeout

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_after_the_send_timeout() {
    let _shared = shared().await;
    let (_gunicorn, up) = gunicorn();
    let temp = tempfile::tempdir().unwrap();
    let gw = gateway(
        up,
        options()
            .with_temp_dir(temp.path())
            .with_send_timeout(Duration::from_secs(1)),
    )
    .await;
    let mut s = non_reader(gw.addr, "/big").await;
    eventually("the response spilled", || open_files_in(temp.path()) == 1).await;
    // Given up on: what it buffered is freed, and the connection ends early.
    eventually("the response freed", || open_files_in(temp.path()) == 0).await;
    let mut total = 0usize;
    let mut buf = vec![0u8; 65536];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    tokio::time::timeout(TIMEOUT, read_all)
        .await
        .expect("the connection must end");
    assert!(total < 32 << 20, "read {total} bytes");
}

// ---------------------------------------------------------------- memory

/// The resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// How many slow clients a memory test uses: `HARDENED_SLOW_CLIENTS`, else `default`.
fn slow_clients(default: usize) -> usize {
    std::env::var("HARDENED_SLOW_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_uploads_keep_memory_bounded() {
    let _alone = EXCLUSIVE.write().await;
    let (_gunicorn, up) = gunicorn();
    let temp = tempfile::tempdir().unwrap();
    let gw = gateway(up, options().with_temp_dir(temp.path())).await;
    // 1000 uploads put 100 MiB on disk.
    let n = slow_clients(1000);
    let before = rss();
    let mut clients = Vec::with_capacity(n);
    let piece = vec![b'u'; 100 * 1024];
    for _ in 0..n {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n\r\n")
            .await
            .unwrap();
        s.write_all(&piece).await.unwrap();
        clients.push(s);
    }
    // Each has sent 100 KiB, more than the memory buffer: every one is in a file.
    eventually("every upload spilled", || open_files_in(temp.path()) == n).await;
    let grown = rss().saturating_sub(before);
    eprintln!(
        "{n} slow uploads: RSS grew {} KiB ({} KiB per upload)",
        grown / 1024,
        grown / 1024 / n as u64
    );
    // The documented bound: 64 KiB (the memory buffer) + 64 KiB (connection buffers)
    // per upload.
    assert!(grown < n as u64 * 128 * 1024, "RSS grew {grown} bytes");
    // The workers were never involved.
    assert!(third_client(gw.addr).await < PROMPT);
    drop(clients);
    eventually("temporary files closed", || open_files_in(temp.path()) == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_keep_memory_bounded() {
    let _alone = EXCLUSIVE.write().await;
    // An in-process upstream answering 4 MiB (more than the kernel buffers on loopback
    // for a client that does not read: up to about 2 MiB) from one shared buffer (no
    // memory of its own per response), counting the responses it has handed over.
    static DATA: [u8; 4 << 20] = [b'r'; 4 << 20];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = sent.clone();
    let upstream = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let counted = counted.clone();
            conns.spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    let counted = counted.clone();
                    async move {
                        let body = Counted {
                            data: Some(Bytes::from_static(&DATA)),
                            sent: counted,
                        };
                        Ok::<_, Infallible>(Response::new(body))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let temp = tempfile::tempdir().unwrap();
    let gw = gateway(
        up,
        options()
            .with_temp_dir(temp.path())
            .with_upstream_queue_timeout(TIMEOUT),
    )
    .await;
    // Each reader parks up to 2 MiB on disk: 250 by default, the full 1000 with
    // HARDENED_SLOW_CLIENTS=1000 (measured in docs/decisions.md).
    let n = slow_clients(250);
    let before = rss();
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(non_reader(gw.addr, "/").await);
    }
    // Every response handed to the upstream's sockets, and read by the gateway: what the
    // clients' sockets could not take is parked in the gateway, mostly in files.
    eventually("every response sent by the upstream", || {
        sent.load(Ordering::SeqCst) == n
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let files = open_files_in(temp.path());
    let grown = rss().saturating_sub(before);
    eprintln!(
        "{n} slow readers of 4 MiB: RSS grew {} KiB ({} KiB per reader), {files} temporary files",
        grown / 1024,
        grown / 1024 / n as u64
    );
    assert!(files > 0);
    // The documented bound: 64 KiB (the memory buffer) + 64 KiB (the chunk being
    // written) + 64 KiB (connection buffers) per reader.
    assert!(grown < n as u64 * 192 * 1024, "RSS grew {grown} bytes");
    drop(clients);
    eventually("temporary files closed", || open_files_in(temp.path()) == 0).await;
    upstream.abort();
}

/// A one-chunk response body that counts itself as sent once it has been taken whole.
struct Counted {
    data: Option<Bytes>,
    sent: Arc<AtomicUsize>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.data.take() {
            Some(d) => {
                self.sent.fetch_add(1, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(d))))
            }
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
