//! A bounded soak of the gateway: `hardened serve --upstream` in production in front of
//! a small hyper upstream (some answers slow, some connections dropped → 502), with 32
//! concurrent keep-alive clients on loopback mixing good requests and hostile ones, a
//! task sending raw hostile bytes on fresh connections, idle half-sent requests
//! (slow-loris) held open, and slow clients: uploads that stall half-way (the gateway
//! buffers them, to temporary files) and clients that ask for a 2 MiB response and do
//! not read it for seconds (the gateway buffers it and frees the upstream). Counts wrong
//! verdicts and dropped good requests (both must be 0) and samples the gateway's
//! resident memory (`VmRSS`) after warm-up and at the end.
//!
//! Ignored by `cargo test`: `scripts/soak.sh` runs it (`SOAK_SECONDS`, default 30, at
//! most 55; warm-up 5 s of it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Served, Upstream, upstream};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENTS: usize = 32;
const SLOW_LORIS: usize = 16;
const SLOW_UPLOADS: usize = 16;
const NON_READERS: usize = 16;

/// The body of `/big`, larger than what the kernel buffers for a client that does not
/// read.
static BIG: [u8; 2 << 20] = [b'b'; 2 << 20];
const APP: &str = "https://app.example.com";

// ---------------------------------------------------------------- upstream

async fn upstream_handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?;
    match path.as_str() {
        // An error from the service makes hyper drop the connection: the gateway's
        // request fails and it answers 502.
        "/close" => Err(std::io::Error::other("dropping the connection")),
        "/big" => Ok(Response::new(Full::new(Bytes::from_static(&BIG)))),
        "/slow" => {
            let ms = 50 + (body.to_bytes().len() as u64 * 37 + rand_ms()) % 250;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Response::new(Full::new(Bytes::from_static(b"slow"))))
        }
        _ => Ok(Response::new(Full::new(Bytes::from_static(b"ok")))),
    }
}

fn rand_ms() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0x9e37_79b9);
    let x = N.fetch_add(0x6d2b_79f5, Ordering::Relaxed);
    (x ^ (x >> 15)).wrapping_mul(0x2c1b_3c6d) >> 40
}

async fn start_upstream() -> Upstream {
    upstream(upstream_handle).await
}

// ---------------------------------------------------------------- gateway

/// `hardened serve --upstream http://UPSTREAM` in production.
fn start_gateway(upstream: SocketAddr) -> Served {
    Served::start_env(
        Some("environment: production\nsecurity_domains: [example.com, https://app.example.com]\n"),
        &[
            "--upstream-timeout",
            "5",
            "--header-read-timeout",
            "5",
            "--upstream",
            &format!("http://{upstream}"),
        ],
        &[("HARDENED_LOG", "error")],
    )
}

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

// ---------------------------------------------------------------- clients

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    good: AtomicU64,
    hostile: AtomicU64,
    wrong: AtomicU64,
    dropped: AtomicU64,
    raw: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Get,
    Slow,
    PostSameSite,
    CorsGet,
    UpstreamDrops,
    ForeignHost,
    CrossSitePost,
    Preflight,
    PreflightForeign,
}

const SCHEDULE: [Kind; 12] = [
    Kind::Get,
    Kind::ForeignHost,
    Kind::Slow,
    Kind::PostSameSite,
    Kind::CrossSitePost,
    Kind::Get,
    Kind::Preflight,
    Kind::CorsGet,
    Kind::UpstreamDrops,
    Kind::PreflightForeign,
    Kind::Get,
    Kind::CrossSitePost,
];

impl Kind {
    /// A good request: it must be answered, and as the app answers.
    fn good(self) -> bool {
        matches!(
            self,
            Kind::Get | Kind::Slow | Kind::PostSameSite | Kind::CorsGet | Kind::Preflight
        )
    }

    fn request(self) -> Request<Full<Bytes>> {
        let b = Request::builder().header(header::HOST, "example.com");
        let b = match self {
            Kind::Get => b.uri("/"),
            Kind::Slow => b.uri("/slow"),
            Kind::PostSameSite => b
                .method(Method::POST)
                .uri("/submit")
                .header(header::ORIGIN, APP),
            Kind::CorsGet => b.uri("/api").header(header::ORIGIN, APP),
            Kind::UpstreamDrops => b.uri("/close"),
            Kind::ForeignHost => Request::builder().uri("/").header(header::HOST, "evil.com"),
            Kind::CrossSitePost => b
                .method(Method::POST)
                .uri("/submit")
                .header(header::ORIGIN, "https://evil.com"),
            Kind::Preflight => b
                .method(Method::OPTIONS)
                .uri("/api")
                .header(header::ORIGIN, APP)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT"),
            Kind::PreflightForeign => b
                .method(Method::OPTIONS)
                .uri("/api")
                .header(header::ORIGIN, "https://evil.com")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT"),
        };
        let body = match self {
            Kind::PostSameSite | Kind::CrossSitePost => Bytes::from_static(b"amount=10"),
            _ => Bytes::new(),
        };
        b.body(Full::new(body)).unwrap()
    }

    /// Whether the response is the right verdict.
    fn verdict_ok(self, status: StatusCode, acao: Option<&str>, body: &[u8]) -> bool {
        match self {
            Kind::Get | Kind::PostSameSite => status == 200 && body == b"ok",
            Kind::Slow => status == 200 && body == b"slow",
            Kind::CorsGet => status == 200 && acao == Some(APP) && body == b"ok",
            Kind::UpstreamDrops => status == 502,
            Kind::ForeignHost => status == 400,
            Kind::CrossSitePost => status == 403,
            Kind::Preflight => status == 200 && acao == Some(APP),
            Kind::PreflightForeign => status == 200 && acao.is_none(),
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Option<Sender> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

async fn client(id: usize, addr: SocketAddr, stop: Arc<AtomicBool>, counts: Arc<Counts>) {
    let mut sender: Option<Sender> = None;
    let mut i = id;
    while !stop.load(Ordering::Relaxed) {
        let kind = SCHEDULE[i % SCHEDULE.len()];
        i += 1;
        // Every 50th request on a new connection.
        if i.is_multiple_of(50) {
            sender = None;
        }
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = connect(addr).await;
        }
        let Some(s) = sender.as_mut() else {
            counts.dropped.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        counts.requests.fetch_add(1, Ordering::Relaxed);
        if kind.good() {
            counts.good.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.hostile.fetch_add(1, Ordering::Relaxed);
        }
        let fut = async {
            s.ready().await?;
            let resp = s.send_request(kind.request()).await?;
            let status = resp.status();
            let acao = resp
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, acao, body))
        };
        match tokio::time::timeout(Duration::from_secs(10), fut).await {
            Ok(Ok((status, acao, body))) => {
                if !kind.verdict_ok(status, acao.as_deref(), &body) {
                    counts.wrong.fetch_add(1, Ordering::Relaxed);
                    eprintln!("wrong verdict for {kind:?}: {status} acao={acao:?} body={body:?}");
                }
            }
            Ok(Err(e)) => {
                sender = None;
                if kind.good() {
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                    eprintln!("good request {kind:?} failed: {e}");
                } else {
                    counts.wrong.fetch_add(1, Ordering::Relaxed);
                    eprintln!("hostile request {kind:?} got no answer: {e}");
                }
            }
            Err(_) => {
                sender = None;
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                eprintln!("{kind:?}: no answer in 10 s");
            }
        }
    }
}

/// Raw hostile bytes on fresh connections: each must be answered, never with a 2xx.
async fn raw_hostile(addr: SocketAddr, stop: Arc<AtomicBool>, counts: Arc<Counts>) {
    const RAW: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\nHost: example.com.evil.com\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nHost: evil.com\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: ex\0ample.com\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    ];
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let raw = RAW[i % RAW.len()];
        i += 1;
        counts.raw.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(raw).await?;
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await?;
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        match tokio::time::timeout(Duration::from_secs(10), exchange).await {
            Ok(Ok(text)) if text.starts_with("HTTP/1.1 4") => {}
            // Closing on bytes that are not HTTP is a correct answer too.
            Ok(Ok(text)) if text.is_empty() => {}
            Ok(Ok(text)) => {
                counts.wrong.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "raw hostile {i}: {:?}",
                    text.lines().next().unwrap_or_default()
                );
            }
            Ok(Err(_)) => {}
            Err(_) => {
                counts.wrong.fetch_add(1, Ordering::Relaxed);
                eprintln!("raw hostile {i}: no answer in 10 s");
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Connections that send half a request head and wait, replaced when the gateway
/// closes them (its header-read timeout).
async fn slow_loris(addr: SocketAddr, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = s
            .write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Slow: ")
            .await;
        let mut buf = [0u8; 256];
        let wait = async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        tokio::select! {
            () = wait => {}
            () = async { while !stop.load(Ordering::Relaxed) { tokio::time::sleep(Duration::from_millis(100)).await } } => {}
        }
    }
}

/// Uploads that send 100 KiB of a 200 KiB body and stall for 1-4 s, then give up and
/// start again: the gateway holds the partial bodies (in temporary files), never the
/// upstream.
async fn slow_upload(addr: SocketAddr, stop: Arc<AtomicBool>) {
    let piece = vec![b'u'; 100 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = s
            .write_all(
                b"POST /upload HTTP/1.1\r\nHost: example.com\r\nOrigin: https://app.example.com\r\nContent-Length: 204800\r\n\r\n",
            )
            .await;
        let _ = s.write_all(&piece).await;
        tokio::time::sleep(Duration::from_millis(1000 + rand_ms() % 3000)).await;
    }
}

/// Clients that ask for `/big` (2 MiB) and read nothing for 1-4 s, then close: the
/// gateway buffers the response and releases the upstream connection.
async fn non_reader(addr: SocketAddr, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        let _ = socket.set_recv_buffer_size(4096);
        let Ok(mut s) = socket.connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = s
            .write_all(b"GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_millis(1000 + rand_ms() % 3000)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "bounded soak (about 30 s): run by scripts/soak.sh"]
async fn gateway_soak() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
        .clamp(10, 55);
    let warmup = Duration::from_secs(5);
    let up = start_upstream().await;
    let upstream = up.addr;
    let gw = start_gateway(upstream);
    let pid = gw.child.id();
    let rss_start = rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        tasks.push(tokio::spawn(client(
            id,
            gw.addr,
            stop.clone(),
            counts.clone(),
        )));
    }
    tasks.push(tokio::spawn(raw_hostile(
        gw.addr,
        stop.clone(),
        counts.clone(),
    )));
    for _ in 0..SLOW_LORIS {
        tasks.push(tokio::spawn(slow_loris(gw.addr, stop.clone())));
    }
    for _ in 0..SLOW_UPLOADS {
        tasks.push(tokio::spawn(slow_upload(gw.addr, stop.clone())));
    }
    for _ in 0..NON_READERS {
        tasks.push(tokio::spawn(non_reader(gw.addr, stop.clone())));
    }

    let started = Instant::now();
    tokio::time::sleep(warmup).await;
    let rss_warm = rss_kib(pid);
    let requests_warm = counts.requests.load(Ordering::Relaxed);
    let mut rss_peak = rss_warm;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_peak = rss_peak.max(rss_kib(pid));
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
    }
    let elapsed = started.elapsed();
    let rss_end = rss_kib(pid);
    rss_peak = rss_peak.max(rss_end);

    let requests = counts.requests.load(Ordering::Relaxed);
    let good = counts.good.load(Ordering::Relaxed);
    let hostile = counts.hostile.load(Ordering::Relaxed);
    let wrong = counts.wrong.load(Ordering::Relaxed);
    let dropped = counts.dropped.load(Ordering::Relaxed);
    let raw = counts.raw.load(Ordering::Relaxed);
    let measured = elapsed.saturating_sub(warmup).as_secs_f64().max(1.0);
    println!(
        "soak: {elapsed:.1?}, {CLIENTS} clients + raw hostile + {SLOW_LORIS} slow-loris connections + {SLOW_UPLOADS} stalled uploads + {NON_READERS} non-reading clients of 2 MiB"
    );
    println!(
        "soak: {requests} requests ({good} good, {hostile} hostile) + {raw} raw hostile connections; {:.0} req/s after warm-up",
        (requests - requests_warm) as f64 / measured
    );
    println!("soak: wrong verdicts {wrong}, dropped good requests {dropped}");
    println!(
        "soak: gateway VmRSS start {rss_start} KiB, after warm-up {rss_warm} KiB, peak {rss_peak} KiB, end {rss_end} KiB"
    );
    assert!(requests > 1000, "too few requests: {requests}");
    assert_eq!(wrong, 0, "wrong verdicts");
    assert_eq!(dropped, 0, "dropped good requests");
    let bound = rss_warm + rss_warm / 2 + 20 * 1024;
    assert!(
        rss_end < bound,
        "RSS grew from {rss_warm} KiB to {rss_end} KiB (bound {bound} KiB)"
    );
    drop(gw);
}
