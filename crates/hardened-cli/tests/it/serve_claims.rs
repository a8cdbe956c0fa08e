//! Promises of `hardened serve` that only the shipped binary can show: `OPTIONS *` is
//! answered by the gateway and never forwarded; `/readyz` answers 503 from SIGTERM on,
//! while open requests drain; `--workers N` spreads connections arriving under load
//! over N worker threads; a failed accept (out of file descriptors) pauses the accept loop
//! instead of spinning (decision 59).
//!
//! Each test starts the binary through `common::Served` (clean environment, 127.0.0.1
//! only, killed by its id when the test ends) and waits for events it can see: a
//! response, a log line, the kernel's per-thread counters in `/proc`. Every wait is
//! bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::common::{Served, Upstream, free_port, upstream};

/// The longest any single wait may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// An upstream recording `METHOD target` of every request it gets; `/hang` is never
/// answered, anything else gets `ok`.
async fn recording_upstream() -> (Upstream, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let up = upstream(move |req: Request<Incoming>| {
        let s = s.clone();
        async move {
            s.lock()
                .unwrap()
                .push(format!("{} {}", req.method(), req.uri()));
            if req.uri().path() == "/hang" {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    })
    .await;
    (up, seen)
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) off `s`: its head.
fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = crate::common::read_some(s, &mut byte).unwrap();
        assert_eq!(
            n,
            1,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

// ---------------------------------------------------------------- OPTIONS *

/// `OPTIONS *` asks about the server, not about a resource of the upstream: the gateway
/// answers it (200 with `Allow`) and the upstream sees nothing of it. The next request
/// on the same connection is forwarded: had `OPTIONS *` been forwarded, the upstream
/// would have seen it first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_asterisk_is_answered_by_the_gateway_and_never_forwarded() {
    let (up, seen) = recording_upstream().await;
    let srv = Served::start(None, &["--upstream", &format!("http://{}", up.addr)]);
    let addr = srv.addr;
    let (head, after) = tokio::task::spawn_blocking(move || {
        let mut s = connect(addr);
        s.write_all(b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let head = read_response(&mut s);
        s.write_all(b"GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        (head, read_response(&mut s))
    })
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let allow = head
        .lines()
        .find_map(|l| l.strip_prefix("allow: "))
        .unwrap_or_else(|| panic!("no Allow header:\n{head}"));
    assert!(
        allow.contains("GET") && allow.contains("OPTIONS"),
        "{allow}"
    );
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    assert_eq!(*seen.lock().unwrap(), ["GET /after"]);
}

// ---------------------------------------------------------------- /readyz on SIGTERM

async fn get_status(url: &str) -> u16 {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let req = Request::get(url)
        .body(http_body_util::Empty::new())
        .unwrap();
    tokio::time::timeout(TIMEOUT, client.request(req))
        .await
        .unwrap_or_else(|_| panic!("GET {url}: no answer in time"))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .status()
        .as_u16()
}

/// From SIGTERM on, `/readyz` answers 503 (load balancers stop sending) while a request
/// still in flight drains; `/healthz` stays 200; the process exits 0 once its client
/// has gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_on_sigterm_while_requests_drain() {
    let (up, seen) = recording_upstream().await;
    let admin = free_port();
    let mut srv = Served::start(
        None,
        &[
            "--upstream",
            &format!("http://{}", up.addr),
            "--admin-listen",
            &admin.to_string(),
        ],
    );
    let readyz = format!("http://{admin}/readyz");
    let start = Instant::now();
    while TcpStream::connect(admin).is_err() {
        assert!(
            start.elapsed() < TIMEOUT,
            "no admin listener:\n{}",
            srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get_status(&readyz).await, 200);
    // A request in flight: the upstream has it (and never answers).
    let mut hanging = connect(srv.addr);
    hanging
        .write_all(b"GET /hang HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    while !seen.lock().unwrap().iter().any(|l| l == "GET /hang") {
        assert!(
            start.elapsed() < TIMEOUT,
            "the request never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    srv.sigterm();
    let start = Instant::now();
    loop {
        let status = get_status(&readyz).await;
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            start.elapsed() < TIMEOUT,
            "/readyz still 200 after SIGTERM:\n{}",
            srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still draining, still alive.
    assert!(srv.alive(), "exited before the request ended");
    assert_eq!(get_status(&format!("http://{admin}/healthz")).await, 200);
    // The client gives up: nothing is left to drain, and the process exits 0.
    hanging.shutdown(std::net::Shutdown::Both).unwrap();
    let (code, _) = srv.wait_exit(TIMEOUT);
    assert_eq!(code, Some(0), "stderr:\n{}", srv.stderr());
}

// ---------------------------------------------------------------- --workers

/// The threads of process `pid` whose name starts with `prefix` (the kernel keeps 15
/// bytes of a thread's name): their ids.
fn threads_named(pid: u32, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid = entry.unwrap().file_name().to_string_lossy().into_owned();
        let comm =
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
        if comm.trim_end().starts_with(prefix) {
            out.push(tid);
        }
    }
    out.sort();
    out
}

/// CPU time the kernel has counted for thread `tid` of `pid`, in nanoseconds (the
/// first field of its `schedstat`).
fn cpu_ns(pid: u32, tid: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// `--workers 2`: two worker threads, and connections that keep arriving while the
/// gateway is busy are spread over both (decision 106: whichever worker is free
/// accepts). 8 clients each open 8 connections one after the other, 20 requests on
/// each; the kernel's CPU time of each worker thread shows how much of the work it
/// did. Each must have done at least a quarter of an even share (measured: 45-55 %
/// each; a worker that accepts nothing only wakes to lose accept races, well under
/// 1 %).
///
/// Not claimed: that a burst reaching an idle server is split. 16 connections queued
/// at once while both workers slept all went to one worker in 7 runs of 30.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_flag_spreads_connections_under_load() {
    const WORKERS: usize = 2;
    const CLIENTS: usize = 8;
    const CONNECTIONS: usize = 8;
    const REQUESTS: usize = 20;
    let srv = Served::start(None, &["--workers", &WORKERS.to_string()]);
    let pid = srv.child.id();
    // The banner comes before the workers start: wait for their threads to wait in
    // epoll (their listener registered, accepting).
    let start = Instant::now();
    let workers = loop {
        let workers = threads_named(pid, "hardened-worke");
        let waiting = workers.iter().all(|t| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{t}/wchan"))
                .is_ok_and(|w| w.contains("epoll") || w.contains("ep_poll"))
        });
        if workers.len() >= WORKERS && waiting {
            break workers;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "worker threads not accepting: {workers:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(workers.len(), WORKERS, "worker threads: {workers:?}");
    let before: Vec<u64> = workers.iter().map(|t| cpu_ns(pid, t)).collect();
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..CONNECTIONS {
                        let mut s = connect(addr);
                        for _ in 0..REQUESTS {
                            s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                                .unwrap();
                            let head = read_response(&mut s);
                            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    })
    .await
    .unwrap();
    let spent: Vec<u64> = workers
        .iter()
        .zip(&before)
        .map(|(t, b)| cpu_ns(pid, t).saturating_sub(*b))
        .collect();
    let total: u64 = spent.iter().sum();
    let floor = total / (4 * WORKERS as u64);
    eprintln!("CPU per worker (ns): {spent:?}, floor {floor}");
    for (t, s) in workers.iter().zip(&spent) {
        assert!(
            *s >= floor,
            "worker thread {t} did {s} ns of {total} ns of the work: connections were \
             not spread ({spent:?})"
        );
    }
}

// ---------------------------------------------------------------- accept errors

/// The `more` and `timestamp` of each "accept failed" line of a JSON log.
fn accept_failures(stderr: &str) -> Vec<(u64, String)> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "accept failed")
        .map(|v| {
            (
                v["more"].as_u64().unwrap(),
                v["timestamp"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Seconds since midnight of an RFC 3339 timestamp (`...THH:MM:SS.ffffffZ`).
fn seconds_of_day(ts: &str) -> f64 {
    let time = ts.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

/// Decision 59: when accepting fails for want of file descriptors, the loop pauses
/// 50 ms before the next try instead of spinning on the queued connection. The process
/// gets a file limit just above what it holds; connections beyond it stay queued and
/// every accept fails. The log says so at most once a second, with the number of
/// failures since the last line: between two lines `T` seconds apart, a loop that
/// pauses 50 ms fails at most `T / 0.05 + 1` times (a spinning one, thousands of
/// times).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_accept_pauses_the_loop() {
    let srv = Served::start(
        None,
        &[
            "--workers",
            "1",
            "--log-format",
            "json",
            "--header-read-timeout",
            "120",
        ],
    );
    let pid = srv.child.id();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = open + 4;
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .unwrap_or_else(|e| panic!("cannot run prlimit (util-linux): {e}"));
    assert!(status.success(), "prlimit failed");
    // More connections than descriptors left: the last ones stay queued.
    let _held: Vec<TcpStream> = (0..12).map(|_| connect(srv.addr)).collect();
    let start = Instant::now();
    let lines = loop {
        let lines = accept_failures(&srv.stderr());
        if lines.len() >= 3 {
            break lines;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "fewer than 3 `accept failed` lines:\n{}",
            srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("accept failed (more, timestamp): {lines:?}");
    for pair in lines.windows(2) {
        let (_, t0) = &pair[0];
        let (more, t1) = &pair[1];
        let apart = seconds_of_day(t1) - seconds_of_day(t0);
        assert!(apart > 0.0, "{t0} .. {t1}");
        let most = (apart / 0.05).floor() as u64 + 1;
        assert!(
            *more <= most,
            "{more} failed accepts in {apart:.3} s: the loop does not pause 50 ms"
        );
        assert!(*more >= 1, "no retry between {t0} and {t1}");
    }
}
