//! Attacks on `hardened serve --upstream` that once got through, each through the real
//! binary with a raw upstream on 127.0.0.1 that records what reached it: upgrade
//! requests under the body, connection and response-buffering defences; a deleted or
//! environment-changing config on reload; report-only mode and Host syntax; the one
//! reading of `Upgrade`; several `X-Request-Id` lines; the mode of temporary files.
//!
//! Negative assertions ("the upstream saw nothing") wait first for an event that comes
//! after what they rule out: a marker request sent afterwards on a new connection has
//! reached the upstream, or the gateway has answered.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Served, command, workdir};

/// The longest any awaited event may take.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- the raw upstream

/// What the raw upstream does with each request head.
#[derive(Clone, Copy)]
enum Answer {
    /// Never answers (keeps the connection open).
    Hold,
    /// `200 ok`, keep-alive.
    Ok,
    /// `101` to a head with an `Upgrade` header (then holds the connection), `200 ok`
    /// to any other.
    Switch,
    /// `200` with a body of this many bytes, written whole (noted when done).
    Big(usize),
    /// `101` to every head, then holds the connection.
    AlwaysSwitch,
    /// Never answers a head with an `Upgrade` header; `200 ok` to any other.
    HoldUpgrades,
}

#[derive(Default)]
struct Seen {
    /// Connections accepted.
    accepted: usize,
    /// Request heads received, in order.
    heads: Vec<String>,
    /// Big bodies written to their end.
    wrote_all: usize,
}

/// A raw HTTP/1.1 upstream on 127.0.0.1, one thread per connection; stopped (its
/// connections shut down) when dropped.
struct RawUpstream {
    addr: SocketAddr,
    seen: Arc<(Mutex<Seen>, Condvar)>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl RawUpstream {
    fn start(answer: Answer) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (s, st, cs) = (seen.clone(), stop.clone(), conns.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                if let Ok(c) = stream.try_clone() {
                    cs.lock().unwrap().push(c);
                }
                note(&s, |seen| seen.accepted += 1);
                let s = s.clone();
                std::thread::spawn(move || serve_conn(stream, answer, &s));
            }
        });
        RawUpstream {
            addr,
            seen,
            stop,
            conns,
        }
    }

    /// Waits (bounded) until `pred` holds of what the upstream saw.
    fn wait_for(&self, what: &str, pred: impl Fn(&Seen) -> bool) {
        let (lock, cv) = &*self.seen;
        let deadline = Instant::now() + WAIT;
        let mut seen = lock.lock().unwrap();
        while !pred(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the upstream never saw {what}");
            seen = cv.wait_timeout(seen, left).unwrap().0;
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.0.lock().unwrap())
    }

    /// Sends a marker request through `gw` on a new connection and waits until the
    /// upstream has it: everything sent to the gateway before has had its chance.
    fn marker(&self, gw: SocketAddr, host: &str) {
        let mut s = connect(gw);
        s.write_all(
            format!("GET /marker HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        self.wait_for("the marker request", |s| {
            s.heads.iter().any(|h| h.starts_with("GET /marker "))
        });
    }

    /// The heads seen other than the marker's.
    fn heads_but_marker(&self) -> Vec<String> {
        self.with(|s| {
            s.heads
                .iter()
                .filter(|h| !h.starts_with("GET /marker "))
                .cloned()
                .collect()
        })
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn note(seen: &Arc<(Mutex<Seen>, Condvar)>, f: impl FnOnce(&mut Seen)) {
    let (lock, cv) = &**seen;
    f(&mut lock.lock().unwrap());
    cv.notify_all();
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve_conn(mut s: TcpStream, answer: Answer, seen: &Arc<(Mutex<Seen>, Condvar)>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // One head.
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            match crate::common::read_some(&mut s, &mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let upgrade = head
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("upgrade:"));
        note(seen, |s| s.heads.push(head));
        match answer {
            Answer::Hold => {
                while matches!(crate::common::read_some(&mut s, &mut chunk), Ok(n) if n > 0) {}
                return;
            }
            Answer::AlwaysSwitch => {
                let _ = s.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                );
                while matches!(crate::common::read_some(&mut s, &mut chunk), Ok(n) if n > 0) {}
                return;
            }
            Answer::HoldUpgrades if upgrade => {
                while matches!(crate::common::read_some(&mut s, &mut chunk), Ok(n) if n > 0) {}
                return;
            }
            Answer::Switch if upgrade => {
                let _ = s.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                );
                while matches!(crate::common::read_some(&mut s, &mut chunk), Ok(n) if n > 0) {}
                return;
            }
            Answer::Ok | Answer::Switch | Answer::HoldUpgrades => {
                if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
            }
            Answer::Big(n) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let block = vec![b'x'; 64 * 1024];
                let mut left = n;
                while left > 0 {
                    let k = left.min(block.len());
                    if s.write_all(&block[..k]).is_err() {
                        return;
                    }
                    left -= k;
                }
                note(seen, |s| s.wrote_all += 1);
            }
        }
    }
}

// ---------------------------------------------------------------- the client side

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads one response head from `s`: its status and the head's text.
fn read_head(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while find(&buf, b"\r\n\r\n").is_none() {
        match crate::common::read_some(s, &mut byte) {
            Ok(1) => buf.push(byte[0]),
            other => panic!(
                "no response head ({other:?}); got {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {head:?}"));
    (status, head)
}

/// One raw request on a new connection; its response status and head.
fn exchange(gw: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut s = connect(gw);
    s.write_all(raw).unwrap();
    read_head(&mut s)
}

fn gateway(config: Option<&str>, upstream: &RawUpstream, extra: &[&str]) -> Served {
    let url = format!("http://{}", upstream.addr);
    let mut args = vec!["--upstream", url.as_str()];
    args.extend_from_slice(extra);
    Served::start(config, &args)
}

const HANDSHAKE: &str = "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

// ---------------------------------------------------------------- upgrades

/// A handshake with a body over the limit is refused like any request (413), and none
/// of it reaches the upstream.
#[test]
fn upgrade_request_body_over_the_limit_is_refused() {
    let up = RawUpstream::start(Answer::Ok);
    let gw = gateway(None, &up, &["--client-max-body-size", "1k"]);
    let mut s = connect(gw.addr);
    s.write_all(format!("{HANDSHAKE}Content-Length: 100000\r\n\r\n").as_bytes())
        .unwrap();
    // The body may be refused before it is all written.
    let _ = s.write_all(&vec![b'a'; 100_000]);
    let (status, _) = read_head(&mut s);
    assert_eq!(status, 413);
    up.marker(gw.addr, "localhost");
    assert_eq!(up.heads_but_marker(), Vec::<String>::new());
}

/// A handshake whose body stalls is answered at once, without holding an upstream
/// connection (a handshake has no body).
#[test]
fn upgrade_request_with_a_stalled_body_never_reaches_the_upstream() {
    let up = RawUpstream::start(Answer::Hold);
    let gw = gateway(None, &up, &["--upstream-timeout", "60"]);
    let mut s = connect(gw.addr);
    s.write_all(format!("{HANDSHAKE}Content-Length: 10\r\n\r\n").as_bytes())
        .unwrap();
    let (status, head) = read_head(&mut s);
    assert_eq!(status, 400, "{head}");
    up.marker(gw.addr, "localhost");
    assert_eq!(up.heads_but_marker(), Vec::<String>::new());
    assert_eq!(up.with(|s| s.accepted), 1, "only the marker's connection");
}

/// Pending handshakes wait for upstream connections under the same cap as any
/// request: with the cap at 2, six never open more than two.
#[test]
fn pending_handshakes_respect_the_upstream_connection_cap() {
    let up = RawUpstream::start(Answer::Hold);
    let gw = gateway(
        None,
        &up,
        &[
            "--upstream-max-connections",
            "2",
            // The tunnels' own cap above the pool's: this is about the pool's.
            "--upstream-max-tunnels",
            "6",
            "--upstream-queue-timeout",
            "1",
            "--upstream-timeout",
            "60",
        ],
    );
    let mut clients: Vec<TcpStream> = (0..6)
        .map(|_| {
            let mut s = connect(gw.addr);
            s.write_all(format!("{HANDSHAKE}\r\n").as_bytes()).unwrap();
            s
        })
        .collect();
    up.wait_for("two handshakes", |s| s.heads.len() >= 2);
    // The four others wait in the queue, then get 503: that is the event after which
    // a third upstream connection would have been opened.
    let mut refused = 0;
    for s in &mut clients {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    let deadline = Instant::now() + WAIT;
    let mut answered = vec![false; clients.len()];
    while refused < 4 && Instant::now() < deadline {
        for (i, s) in clients.iter_mut().enumerate() {
            if answered[i] {
                continue;
            }
            let mut b = [0u8; 12];
            if let Ok(n) = s.peek(&mut b)
                && n >= 12
            {
                answered[i] = true;
                let (status, head) = read_head(s);
                assert_eq!(status, 503, "{head}");
                refused += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(refused, 4, "four handshakes refused at the cap");
    assert_eq!(up.with(|s| s.accepted), 2);
}

/// Tunnels and pending handshakes have a cap of their own: beyond it a handshake gets
/// 503 at once, and ordinary requests keep their upstream connections.
#[test]
fn tunnels_cannot_take_every_upstream_connection() {
    let up = RawUpstream::start(Answer::HoldUpgrades);
    let gw = gateway(
        None,
        &up,
        &[
            "--upstream-max-connections",
            "4",
            "--upstream-max-tunnels",
            "2",
            "--upstream-timeout",
            "60",
        ],
    );
    let mut pending: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(gw.addr);
            s.write_all(format!("{HANDSHAKE}\r\n").as_bytes()).unwrap();
            s
        })
        .collect();
    up.wait_for("two handshakes", |s| s.heads.len() >= 2);
    let (status, head) = exchange(gw.addr, format!("{HANDSHAKE}\r\n").as_bytes());
    assert_eq!(status, 503, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    // Ordinary requests still get upstream connections.
    for _ in 0..3 {
        let (status, _) = exchange(gw.addr, b"GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(status, 200);
    }
    assert_eq!(
        up.with(|s| s.heads.iter().filter(|h| h.starts_with("GET /ws ")).count()),
        2
    );
    pending.clear();
}

/// Any answer but 101 to a handshake is an ordinary response: read from the upstream
/// whole (buffered) while the client does not read.
#[test]
fn non_switching_answer_to_a_handshake_is_buffered() {
    let up = RawUpstream::start(Answer::Big(32 << 20));
    let tmp = tempfile::tempdir().unwrap();
    let gw = gateway(
        None,
        &up,
        &[
            "--temp-dir",
            tmp.path().to_str().unwrap(),
            "--send-timeout",
            "60",
        ],
    );
    let mut s = connect(gw.addr);
    s.write_all(format!("{HANDSHAKE}\r\n").as_bytes()).unwrap();
    // The client reads nothing; the upstream's 32 MiB must all be taken anyway.
    up.wait_for("its 32 MiB answer taken whole", |s| s.wrote_all == 1);
    let (status, _) = read_head(&mut s);
    assert_eq!(status, 200);
}

/// `Upgrade` spellings the tunnel would not take are still judged by the WebSocket
/// Origin check: a foreign page never gets a 101, and what reaches the upstream is a
/// plain request.
#[test]
fn every_upgrade_spelling_is_judged_before_any_tunnel() {
    let up = RawUpstream::start(Answer::Switch);
    let gw = gateway(None, &up, &[]);
    let spellings: &[&[u8]] = &[
        b",websocket",
        b"websocket\xff",
        b"websocket, ,",
        b"websocket",
    ];
    for spelling in spellings {
        let mut raw = b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nOrigin: https://evil.com\r\nUpgrade: ".to_vec();
        raw.extend_from_slice(spelling);
        raw.extend_from_slice(
            b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        );
        let (status, head) = exchange(gw.addr, &raw);
        assert_eq!(status, 403, "{spelling:?}: {head}");
    }
    // Without Origin (not a browser), a spelling the tunnel does not take is forwarded
    // as a plain request, without its Upgrade.
    let (status, head) = exchange(
        gw.addr,
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: ,websocket\r\n\r\n",
    );
    assert_eq!(status, 200, "{head}");
    let heads = up.heads_but_marker();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        !heads[0].to_ascii_lowercase().contains("upgrade"),
        "{heads:?}"
    );
}

/// An upstream that answers a WebSocket handshake with `101` but without the
/// `Sec-WebSocket-Accept` of the client's key (an HTTP server saying 101) gets no
/// tunnel: 502, and nothing sent after the handshake reaches it.
#[test]
fn websocket_switch_needs_the_accept_of_the_key() {
    let up = RawUpstream::start(Answer::AlwaysSwitch);
    let gw = gateway(None, &up, &[]);
    let mut s = connect(gw.addr);
    s.write_all(format!("{HANDSHAKE}\r\n").as_bytes()).unwrap();
    let (status, head) = read_head(&mut s);
    assert_eq!(status, 502, "{head}");
    // The handshake reached the upstream; the smuggled request after it does not.
    let _ = s.write_all(b"GET /smuggled HTTP/1.1\r\nHost: evil.test\r\n\r\n");
    up.marker(gw.addr, "localhost");
    let heads = up.heads_but_marker();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with("GET /ws "), "{heads:?}");
    // Without a valid key it is no WebSocket handshake: a plain request, whose 101 is
    // a 502 too.
    let raw = "GET /nokey HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: short\r\n\r\n";
    let (status, head) = exchange(gw.addr, raw.as_bytes());
    assert_eq!(status, 502, "{head}");
}

// ---------------------------------------------------------------- report-only

/// `report_only: [host]` relaxes the allow-list only: a request without one
/// well-formed Host is refused as in enforcing mode.
#[test]
fn report_only_host_still_refuses_malformed_hosts() {
    let up = RawUpstream::start(Answer::Ok);
    let config = "environment: production\nsecurity_domains: [example.test]\nsecret_key: 'k9#vQ2$mX7!pL4@wZ8^nR3&bT6*yH1%cF5(jD0)gS2-aE9+uK4=oI7'\nreport_only: [host, tls]\n";
    let gw = gateway(Some(config), &up, &[]);
    let malformed: &[&str] = &[
        "GET / HTTP/1.1\r\nHost: example.test\r\nHost: evil.test\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a b@evil.com:x\r\n\r\n",
    ];
    for raw in malformed {
        let (status, head) = exchange(gw.addr, raw.as_bytes());
        assert_eq!(status, 400, "{raw:?}: {head}");
    }
    // A well-formed foreign Host is what report-only lets through (and reports).
    let (status, _) = exchange(gw.addr, b"GET /foreign HTTP/1.1\r\nHost: evil.test\r\n\r\n");
    assert_eq!(status, 200);
    up.marker(gw.addr, "example.test");
    let heads = up.heads_but_marker();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with("GET /foreign "), "{heads:?}");
}

// ---------------------------------------------------------------- request ids

/// Of several `X-Request-Id` lines from a trusted proxy, one reaches the upstream: the
/// first when it is valid, else a fresh id.
#[test]
fn one_request_id_reaches_the_upstream() {
    let up = RawUpstream::start(Answer::Ok);
    let gw = gateway(None, &up, &[]);
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("first-id", "second; unchecked", Some("first-id")),
        ("bad id with spaces", "good-id", None),
    ];
    for (i, (first, second, kept)) in cases.iter().enumerate() {
        let raw = format!(
            "GET /id{i} HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: {first}\r\nX-Request-Id: {second}\r\nConnection: close\r\n\r\n"
        );
        let (status, _) = exchange(gw.addr, raw.as_bytes());
        assert_eq!(status, 200);
        let path = format!("GET /id{i} ");
        up.wait_for("the request", |s| {
            s.heads.iter().any(|h| h.starts_with(&path))
        });
        let head = up.with(|s| {
            s.heads
                .iter()
                .find(|h| h.starts_with(&path))
                .cloned()
                .unwrap()
        });
        let ids: Vec<&str> = head
            .lines()
            .filter_map(|l| {
                l.split_once(':')
                    .filter(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
                    .map(|(_, v)| v.trim())
            })
            .collect();
        assert_eq!(ids.len(), 1, "{head}");
        match kept {
            Some(k) => assert_eq!(ids[0], *k),
            None => assert!(ids[0] != *first && ids[0] != *second && !ids[0].is_empty()),
        }
    }
}

/// A client cannot make the gateway drop its own request id by naming it in
/// `Connection`.
#[test]
fn connection_cannot_drop_the_request_id() {
    let up = RawUpstream::start(Answer::Ok);
    let gw = gateway(None, &up, &[]);
    let raw = "GET /named HTTP/1.1\r\nHost: localhost\r\nConnection: X-Request-Id, close\r\n\r\n";
    let (status, head) = exchange(gw.addr, raw.as_bytes());
    assert_eq!(status, 200);
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("the response's request id")
        .to_owned();
    up.wait_for("the request", |s| {
        s.heads.iter().any(|h| h.starts_with("GET /named "))
    });
    let seen = up.with(|s| {
        s.heads
            .iter()
            .find(|h| h.starts_with("GET /named "))
            .cloned()
            .unwrap()
    });
    assert!(
        seen.to_ascii_lowercase()
            .contains(&format!("x-request-id: {id}")),
        "{seen}"
    );
}

/// An upstream that switches protocols on a request that asked for no upgrade (a
/// streamed upload here) gets the client a 502, never a dangling 101.
#[test]
fn unasked_protocol_switch_is_a_bad_gateway() {
    let up = RawUpstream::start(Answer::AlwaysSwitch);
    let gw = gateway(None, &up, &["--unbuffered-request-path", "/up/*"]);
    for raw in [
        "POST /up/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ] {
        let (status, head) = exchange(gw.addr, raw.as_bytes());
        assert_eq!(status, 502, "{raw:?}: {head}");
    }
}

// ---------------------------------------------------------------- reload

const PRODUCTION: &str = "environment: production\nsecurity_domains: [example.test]\nsecret_key: 'k9#vQ2$mX7!pL4@wZ8^nR3&bT6*yH1%cF5(jD0)gS2-aE9+uK4=oI7'\n";

/// Waits (bounded) until the gateway's stderr has `needle` at least `times` times.
fn wait_log(gw: &Served, needle: &str, times: usize) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = gw.stderr();
        if log.matches(needle).count() >= times {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A production gateway started from `./config.yaml` keeps its policy when the file
/// is moved away, and refuses to change environment on a reload.
#[test]
fn deleted_or_development_config_keeps_the_running_policy() {
    let up = RawUpstream::start(Answer::Ok);
    let gw = gateway(Some(PRODUCTION), &up, &[]);
    let dir = gw.stderr_path.parent().unwrap().to_path_buf();
    let localhost = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(gw.addr, localhost).0, 400);

    std::fs::rename(dir.join("config.yaml"), dir.join("moved.yaml.bak")).unwrap();
    let log = wait_log(&gw, "configuration reload", 1);
    assert!(log.contains("reload failed"), "{log}");
    assert!(log.contains("unreadable-file"), "{log}");
    assert!(!log.contains("configuration reloaded"), "{log}");
    assert_eq!(exchange(gw.addr, localhost).0, 400, "still production");

    // A development configuration in its place: refused, the policy stays.
    std::fs::write(dir.join("config.yaml"), "environment: development\n").unwrap();
    let log = wait_log(&gw, "environment-changed", 1);
    assert!(!log.contains("configuration reloaded"), "{log}");
    assert_eq!(exchange(gw.addr, localhost).0, 400, "still production");

    // The production file back: an ordinary reload.
    std::fs::write(
        dir.join("config.yaml"),
        PRODUCTION.replace("example.test", "example.test, other.test"),
    )
    .unwrap();
    wait_log(&gw, "configuration reloaded", 1);
    let other = b"GET / HTTP/1.1\r\nHost: other.test\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(gw.addr, other).0, 200);
}

/// An overlay the running policy came from that disappears fails the reload: the
/// policy in force keeps its `ssl_redirect`.
#[test]
fn deleted_overlay_keeps_the_running_policy() {
    let up = RawUpstream::start(Answer::Ok);
    let dir = workdir(Some(PRODUCTION));
    std::fs::write(
        dir.path().join("config.production.yaml"),
        "ssl_redirect: true\n",
    )
    .unwrap();
    let url = format!("http://{}", up.addr);
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        url.as_str(),
    ];
    let gw = Served::launch(dir.path(), &args, &[], 1);
    let plain = b"GET /x HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(gw.addr, plain).0, 301);
    std::fs::remove_file(dir.path().join("config.production.yaml")).unwrap();
    let log = wait_log(&gw, "configuration reload", 1);
    assert!(log.contains("reload failed"), "{log}");
    assert!(!log.contains("configuration reloaded"), "{log}");
    assert_eq!(exchange(gw.addr, plain).0, 301, "still redirecting");
}

// ---------------------------------------------------------------- temporary files

/// Request bodies spooled to disk are mode 0600 under umask 022.
#[test]
fn temporary_files_are_private_under_umask_022() {
    let up = RawUpstream::start(Answer::Ok);
    let dir = workdir(None);
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://{}", up.addr);
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        url.as_str(),
        "--client-body-buffer-size",
        "1k",
        "--temp-dir",
        tmp.path().to_str().unwrap(),
    ];
    let probe = command(dir.path(), &args);
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(probe.get_program())
        .args(probe.get_args())
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DOCKER", "false");
    let gw = Served::launch_command(c, dir.path(), &args, 1);
    let mut s = connect(gw.addr);
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n\r\n")
        .unwrap();
    s.write_all(&vec![b'a'; 64 * 1024]).unwrap();
    // The body's temporary file shows among the process's descriptors.
    let fds = format!("/proc/{}/fd", gw.child.id());
    let prefix = tmp.path().to_str().unwrap().to_owned();
    let deadline = Instant::now() + WAIT;
    let mode = loop {
        let found = std::fs::read_dir(&fds).unwrap().flatten().find_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            target
                .to_str()?
                .starts_with(&prefix)
                .then(|| std::fs::metadata(e.path()).ok())
                .flatten()
        });
        if let Some(m) = found {
            use std::os::unix::fs::PermissionsExt;
            break m.permissions().mode() & 0o777;
        }
        assert!(Instant::now() < deadline, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(mode, 0o600, "mode {mode:o}");
}
