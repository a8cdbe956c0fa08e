//! Hostile requests through the real `hardened serve` gateway, as raw bytes over loopback.
//!
//! Each file in `tests/hostile/*.case` holds one raw request and what a correct server
//! answers. The test spawns a recording upstream (a small HTTP/1.1 server on std threads
//! that keeps every request head it receives) and two gateways in front of it, both in
//! production (`tests/hostile/config.yaml`, loopback trusted as a proxy; and
//! `config-untrusted.yaml`, where loopback peers are ordinary clients). Every case is sent
//! on a fresh connection with a read timeout; after each one the gateway must still answer
//! a good request, and the upstream must never have seen a request whose target names
//! `smuggle` (a request hidden in another one's body).
//!
//! Case format: header lines, a `---` line, then the raw request. In the raw part the
//! file's line breaks are ignored (write `\r\n` explicitly); escapes: `\r` `\n` `\t` `\0`
//! `\\` `\xHH`; `{{N*text}}` repeats `text` N times. Header lines:
//!
//! - `expect: 400 431` — the acceptable statuses of the first response; `close` accepts a
//!   connection closed without a response (never a hang: a read timeout fails the case);
//! - `upstream: 0` — how many requests the case may make reach the upstream;
//! - `server: untrusted` — send to the gateway that does not trust loopback as a proxy;
//! - `response-has: NAME` / `response-lacks: NAME` — a response header (by name);
//! - `upstream-has: LINE` / `upstream-lacks: TEXT` — a whole header line in (text
//!   anywhere absent from) the lowercased head of the last request the upstream received;
//! - `responses: N` — exactly N responses come back on the connection;
//! - `known-bug: TEXT` — the case documents a reported bug: its failure names the bug
//!   and fails the test like any other (a known bug is not a pass); a known-bug case that
//!   passes fails too, so the stale marker is removed.
//!
//! `HOSTILE_VERBOSE=1` prints every case's statuses and upstream count.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::Served;

const READ_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- recording upstream

/// What the upstream received: one request head (lowercased) per request.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn heads(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads until `buf` holds `n` bytes; false on EOF or error.
fn fill(s: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> bool {
    let mut chunk = [0u8; 8192];
    while buf.len() < n {
        match crate::common::read_some(s, &mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    true
}

/// Reads until `buf` contains `needle`, returning its position.
fn fill_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) -> Option<usize> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = find(buf, needle) {
            return Some(i);
        }
        if buf.len() > 4 << 20 {
            return None;
        }
        match crate::common::read_some(s, &mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

/// Consumes a chunked body at the start of `buf` (reading more as needed).
fn skip_chunked(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    loop {
        let Some(eol) = fill_until(s, buf, b"\r\n") else {
            return false;
        };
        let line = String::from_utf8_lossy(&buf[..eol]).to_string();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16);
        let Ok(size) = size else {
            return false;
        };
        buf.drain(..eol + 2);
        if size == 0 {
            // Trailers, then the empty line.
            let Some(end) = fill_until(s, buf, b"\r\n") else {
                return false;
            };
            if end == 0 {
                buf.drain(..2);
                return true;
            }
            let Some(end) = fill_until(s, buf, b"\r\n\r\n") else {
                return false;
            };
            buf.drain(..end + 4);
            return true;
        }
        if !fill(s, buf, size + 2) {
            return false;
        }
        buf.drain(..size + 2);
    }
}

fn header_value<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn upstream_conn(mut s: TcpStream, rec: Recorder) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    loop {
        let Some(end) = fill_until(&mut s, &mut buf, b"\r\n\r\n") else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end + 4);
        rec.0.lock().unwrap().push(head.clone());
        let chunked = header_value(&head, "transfer-encoding")
            .iter()
            .any(|v| v.contains("chunked"));
        if chunked {
            if !skip_chunked(&mut s, &mut buf) {
                return;
            }
        } else if let Some(cl) = header_value(&head, "content-length").first() {
            let Ok(n) = cl.parse::<usize>() else {
                return;
            };
            if !fill(&mut s, &mut buf, n) {
                return;
            }
            buf.drain(..n);
        }
        let body = b"upstream";
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if s.write_all(resp.as_bytes()).is_err() || s.write_all(body).is_err() {
            return;
        }
    }
}

fn start_upstream() -> (SocketAddr, Recorder) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rec = Recorder::default();
    let r = rec.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            let r = r.clone();
            std::thread::spawn(move || upstream_conn(s, r));
        }
    });
    (addr, rec)
}

// ---------------------------------------------------------------- the gateway

/// `hardened serve --config CONFIG --upstream http://UPSTREAM` in production.
fn start_gateway(config: &Path, upstream: SocketAddr) -> Served {
    Served::start_env(
        None,
        &[
            "--config",
            config.to_str().unwrap(),
            "--upstream-timeout",
            "5",
            "--upstream",
            &format!("http://{upstream}"),
        ],
        &[("HARDENED_LOG", "warn")],
    )
}

// ---------------------------------------------------------------- client side

struct Reply {
    status: u16,
    head: String,
}

enum Outcome {
    /// Responses read, in order.
    Replies(Vec<Reply>),
    /// The connection was closed before a (further) response.
    Closed(Vec<Reply>),
    /// No response before the read timeout.
    Timeout(Vec<Reply>),
}

/// Reads one response; `Err(true)` on a timeout, `Err(false)` on a close.
fn read_reply(s: &mut TcpStream, buf: &mut Vec<u8>, head_req: bool) -> Result<Reply, bool> {
    loop {
        let mut chunk = [0u8; 8192];
        let end = loop {
            if let Some(i) = find(buf, b"\r\n\r\n") {
                break i;
            }
            match crate::common::read_some(s, &mut chunk) {
                Ok(0) => return Err(false),
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(true);
                }
                Err(_) => return Err(false),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end + 4);
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if (100..200).contains(&status) {
            continue; // 100 Continue: the final response follows.
        }
        if !head_req && status != 204 && status != 304 {
            if header_value(&head, "transfer-encoding")
                .iter()
                .any(|v| v.contains("chunked"))
            {
                if !skip_chunked(s, buf) {
                    return Err(false);
                }
            } else if let Some(cl) = header_value(&head, "content-length").first() {
                let n: usize = cl.parse().unwrap_or(0);
                if !fill(s, buf, n) {
                    return Err(false);
                }
                buf.drain(..n);
            }
        }
        return Ok(Reply { status, head });
    }
}

/// Sends raw bytes and reads `want` responses (then waits briefly for any extra one
/// when `exact`).
fn exchange(addr: SocketAddr, raw: &[u8], want: usize, exact: bool) -> Outcome {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    // The server may close early (a rejection before the body): ignore write errors.
    let _ = s.write_all(raw);
    let head_req = raw.starts_with(b"HEAD ");
    let mut buf = Vec::new();
    let mut replies = Vec::new();
    while replies.len() < want {
        match read_reply(&mut s, &mut buf, head_req) {
            Ok(r) => replies.push(r),
            Err(true) => return Outcome::Timeout(replies),
            Err(false) => return Outcome::Closed(replies),
        }
    }
    if exact {
        s.set_read_timeout(Some(Duration::from_millis(400)))
            .unwrap();
        if let Ok(r) = read_reply(&mut s, &mut buf, head_req) {
            replies.push(r);
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    Outcome::Replies(replies)
}

// ---------------------------------------------------------------- cases

#[derive(Debug, Default)]
struct Case {
    name: String,
    expect: Vec<String>,
    upstream: Option<usize>,
    untrusted: bool,
    response_has: Vec<String>,
    response_lacks: Vec<String>,
    upstream_has: Vec<String>,
    upstream_lacks: Vec<String>,
    responses: Option<usize>,
    known_bug: Option<String>,
    raw: Vec<u8>,
}

fn unescape(text: &str) -> Vec<u8> {
    // Repeats first: {{N*text}}.
    let mut expanded = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        expanded.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find("}}").expect("unclosed {{");
        let (n, t) = after[..end].split_once('*').expect("{{N*text}}");
        expanded.push_str(&t.repeat(n.trim().parse().unwrap()));
        rest = &after[end + 2..];
    }
    expanded.push_str(rest);
    let b = expanded.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let (byte, used) = match b[i + 1] {
                b'r' => (b'\r', 2),
                b'n' => (b'\n', 2),
                b't' => (b'\t', 2),
                b'0' => (0, 2),
                b'\\' => (b'\\', 2),
                b'x' => (
                    u8::from_str_radix(std::str::from_utf8(&b[i + 2..i + 4]).unwrap(), 16).unwrap(),
                    4,
                ),
                other => panic!("unknown escape \\{}", other as char),
            };
            out.push(byte);
            i += used;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn parse_case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let (meta, raw) = text
        .split_once("\n---\n")
        .unwrap_or_else(|| panic!("{}: no `---` line", path.display()));
    let mut c = Case {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        ..Case::default()
    };
    for line in meta.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{}: bad line {line:?}", path.display()));
        let v = v.trim().to_owned();
        match k.trim() {
            "expect" => c.expect = v.split_whitespace().map(str::to_owned).collect(),
            "upstream" => c.upstream = Some(v.parse().unwrap()),
            "server" => c.untrusted = v == "untrusted",
            "response-has" => c.response_has.push(v.to_ascii_lowercase()),
            "response-lacks" => c.response_lacks.push(v.to_ascii_lowercase()),
            "upstream-has" => c.upstream_has.push(v.to_ascii_lowercase()),
            "upstream-lacks" => c.upstream_lacks.push(v.to_ascii_lowercase()),
            "responses" => c.responses = Some(v.parse().unwrap()),
            "known-bug" => c.known_bug = Some(v),
            other => panic!("{}: unknown key {other:?}", path.display()),
        }
    }
    assert!(!c.expect.is_empty(), "{}: no `expect:`", path.display());
    c.raw = unescape(&raw.replace(['\n', '\r'], ""));
    c
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

fn load_cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    paths.sort();
    paths.iter().map(|p| parse_case(p)).collect()
}

/// Runs one case; the problems found.
fn run_case(c: &Case, gw: SocketAddr, rec: &Recorder) -> Vec<String> {
    let mut problems = Vec::new();
    let before = rec.len();
    let want = c.responses.unwrap_or(1);
    let outcome = exchange(gw, &c.raw, want, c.responses.is_some());
    let (replies, closed) = match outcome {
        Outcome::Replies(r) => (r, false),
        Outcome::Closed(r) => (r, true),
        Outcome::Timeout(r) => {
            problems.push(format!(
                "no response within {READ_TIMEOUT:?} (a hang) after {} response(s)",
                r.len()
            ));
            (r, false)
        }
    };
    match replies.first() {
        Some(r) => {
            if !c.expect.iter().any(|e| e == &r.status.to_string()) {
                problems.push(format!(
                    "status {} (expected {})",
                    r.status,
                    c.expect.join(" or ")
                ));
            }
            let names: Vec<String> = r
                .head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, _)| n.trim().to_ascii_lowercase())
                .collect();
            for h in &c.response_has {
                if !names.contains(h) {
                    problems.push(format!("response lacks header {h}"));
                }
            }
            for h in &c.response_lacks {
                if names.contains(h) {
                    problems.push(format!("response has header {h}"));
                }
            }
        }
        None if closed && c.expect.iter().any(|e| e == "close") => {}
        None if closed => problems.push(format!(
            "connection closed without a response (expected {})",
            c.expect.join(" or ")
        )),
        None => {}
    }
    if let Some(n) = c.responses
        && replies.len() != n
        && !(closed && c.expect.iter().any(|e| e == "close"))
    {
        problems.push(format!("{} responses (expected {n})", replies.len()));
    }
    let heads = rec.heads();
    let new = &heads[before.min(heads.len())..];
    if std::env::var_os("HOSTILE_VERBOSE").is_some() {
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        println!(
            "{}: statuses {statuses:?}{}, {} upstream request(s)",
            c.name,
            if closed { ", then closed" } else { "" },
            new.len()
        );
    }
    if let Some(max) = c.upstream
        && new.len() > max
    {
        problems.push(format!(
            "{} request(s) reached the upstream (at most {max}): {:?}",
            new.len(),
            new.iter()
                .map(|h| h.lines().next().unwrap_or(""))
                .collect::<Vec<_>>()
        ));
    }
    if !c.upstream_has.is_empty() || !c.upstream_lacks.is_empty() {
        match new.last() {
            None => problems.push("no request reached the upstream".into()),
            Some(h) => {
                for t in &c.upstream_has {
                    if !h.lines().any(|l| l.trim() == t) {
                        problems.push(format!("upstream request lacks {t:?}:\n{h}"));
                    }
                }
                for t in &c.upstream_lacks {
                    if h.contains(t.as_str()) {
                        problems.push(format!("upstream request has {t:?}:\n{h}"));
                    }
                }
            }
        }
    }
    problems
}

/// A good request on a fresh connection: the gateway must still serve it.
fn still_serves(gw: SocketAddr) -> Result<(), String> {
    let raw = b"GET /__alive HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n";
    match exchange(gw, raw, 1, false) {
        Outcome::Replies(r) if r.first().is_some_and(|r| r.status == 200) => Ok(()),
        Outcome::Replies(r) => Err(format!(
            "good request answered {:?}",
            r.first().map(|r| r.status)
        )),
        Outcome::Closed(_) => Err("good request: connection closed".into()),
        Outcome::Timeout(_) => Err("good request: no answer (hang)".into()),
    }
}

#[test]
fn hostile_requests_through_the_gateway() {
    let cases = load_cases();
    assert!(cases.len() >= 50, "only {} hostile cases", cases.len());
    let (up, rec) = start_upstream();
    let dir = cases_dir();
    let mut trusted = start_gateway(&dir.join("config.yaml"), up);
    let mut untrusted = start_gateway(&dir.join("config-untrusted.yaml"), up);

    let mut failures = Vec::new();
    let started = Instant::now();
    for c in &cases {
        let gw = if c.untrusted {
            &mut untrusted
        } else {
            &mut trusted
        };
        let mut problems = run_case(c, gw.addr, &rec);
        if let Err(e) = still_serves(gw.addr) {
            problems.push(format!("after the case: {e}"));
        }
        if !gw.alive() {
            problems.push("the gateway exited".into());
        }
        let smuggled: Vec<String> = rec
            .heads()
            .iter()
            .filter_map(|h| h.lines().next())
            .filter(|l| l.contains("smuggle"))
            .map(str::to_owned)
            .collect();
        if !smuggled.is_empty() {
            problems.push(format!(
                "smuggled request(s) reached the upstream: {smuggled:?}"
            ));
            rec.0.lock().unwrap().clear();
        }
        match (&c.known_bug, problems.is_empty()) {
            (None, true) => {}
            (Some(bug), true) => failures.push(format!(
                "{}: known bug no longer shows ({bug}); remove the `known-bug:` marker",
                c.name
            )),
            (Some(bug), false) => failures.push(format!(
                "{}: known bug ({bug}): {}",
                c.name,
                problems.join("; ")
            )),
            (None, false) => failures.push(format!("{}: {}", c.name, problems.join("; "))),
        }
    }
    println!(
        "{} hostile cases in {:.1?}: {} failed",
        cases.len(),
        started.elapsed(),
        failures.len()
    );
    if !failures.is_empty() {
        for gw in [&trusted, &untrusted] {
            let log = gw.stderr();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!("--- gateway {} stderr (last lines, newest first):", gw.addr);
            for l in tail {
                eprintln!("{l}");
            }
        }
        panic!(
            "{} hostile case(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

#[test]
fn case_files_parse() {
    let cases = load_cases();
    for c in &cases {
        assert!(!c.raw.is_empty(), "{}: empty request", c.name);
        for e in &c.expect {
            assert!(
                e == "close" || e.parse::<u16>().is_ok_and(|s| (100..600).contains(&s)),
                "{}: bad expect {e:?}",
                c.name
            );
        }
    }
    assert_eq!(unescape(r"a\r\n\x41\0{{3*ab}}\\"), b"a\r\nA\0ababab\\");
}
