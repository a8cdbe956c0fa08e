//! The fuzzing entry point ([`h1_response`]) and the scripted transport it uses (also
//! used by the tests): one exchange on arbitrary upstream bytes, checked against a
//! second, straightforward reading of the same bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Conn, Error, Limits};

/// A transport that plays `input` to the reader, in pieces, and records what is
/// written. Reads wait (return `Pending`, to be polled again) until something has been
/// written, or flushed if `after_flush`; then the input ends with end of file.
#[derive(Debug)]
pub(crate) struct Script {
    input: Bytes,
    /// The size of each read, in turn.
    reads: &'static [usize],
    read_turn: usize,
    /// The most bytes one write takes.
    write_max: usize,
    vectored: bool,
    after_flush: bool,
    flushed: bool,
    /// What the client wrote (shared, so it can be read after the transport is gone).
    written: Arc<Mutex<Vec<u8>>>,
}

/// Read sizes the fuzzer chooses from.
const READS: [&[usize]; 8] = [
    &[usize::MAX],
    &[1],
    &[2, 3],
    &[7, 1, 64],
    &[16],
    &[100, 1],
    &[4096],
    &[5, 17, 3, 1000],
];

/// Write sizes the fuzzer chooses from.
const WRITES: [usize; 4] = [usize::MAX, 1, 7, 4096];

impl Script {
    /// Plays `input` in reads of sizes taken from `reads` (each bounded by the caller's
    /// buffer).
    pub(crate) fn new(input: impl Into<Bytes>, reads: &'static [usize]) -> Script {
        Script {
            input: input.into(),
            reads,
            read_turn: 0,
            write_max: usize::MAX,
            vectored: true,
            after_flush: false,
            flushed: false,
            written: Arc::default(),
        }
    }

    /// Waits for the request to be flushed before answering (else for its first bytes).
    pub(crate) fn after_flush(mut self) -> Script {
        self.after_flush = true;
        self
    }

    /// Takes at most `max` bytes per write, with or without vectored writes.
    pub(crate) fn writes(mut self, max: usize, vectored: bool) -> Script {
        self.write_max = max.max(1);
        self.vectored = vectored;
        self
    }

    /// What the client has written so far, now and later.
    pub(crate) fn log(&self) -> Arc<Mutex<Vec<u8>>> {
        self.written.clone()
    }

    /// Input bytes not read yet.
    pub(crate) fn unread(&self) -> usize {
        self.input.len()
    }

    fn has_written(&self) -> bool {
        !self.written.lock().unwrap().is_empty()
    }
}

impl AsyncRead for Script {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.has_written() || (this.after_flush && !this.flushed) {
            return Poll::Pending;
        }
        let size = this.reads[this.read_turn % this.reads.len()].max(1);
        this.read_turn += 1;
        let n = size.min(this.input.len()).min(buf.remaining());
        buf.put_slice(&this.input.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Script {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = buf.len().min(this.write_max);
        this.written.lock().unwrap().extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut n = 0;
        let mut log = this.written.lock().unwrap();
        for b in bufs {
            let take = b.len().min(this.write_max - n);
            log.extend_from_slice(&b[..take]);
            n += take;
            if n == this.write_max {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().flushed = true;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A request body of the given frames, with an exact size hint or none, that may
/// answer `Pending` before each frame (to be polled again).
#[derive(Debug)]
pub(crate) struct Frames {
    frames: Vec<Bytes>,
    exact: bool,
    pause: bool,
    paused: bool,
}

impl Frames {
    pub(crate) fn new(frames: &[&'static [u8]], exact: bool, pause: bool) -> Frames {
        Frames {
            frames: frames.iter().rev().map(|f| Bytes::from_static(f)).collect(),
            exact,
            pause,
            paused: false,
        }
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.pause && !this.paused {
            this.paused = true;
            return Poll::Pending;
        }
        this.paused = false;
        Poll::Ready(this.frames.pop().map(|f| Ok(Frame::data(f))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        let len: usize = self.frames.iter().map(Bytes::len).sum();
        if self.exact {
            SizeHint::with_exact(len as u64)
        } else {
            SizeHint::default()
        }
    }
}

/// Polls `fut` to completion with a waker that does nothing (everything here is ready
/// when polled again); panics if it does not finish.
pub(crate) fn drive<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("the exchange stalled");
}

/// The request bodies the fuzzer chooses from: frames, exact size hint.
const BODIES: [(&[&[u8]], bool); 4] = [
    (&[], true),
    (&[b"hello world"], true),
    (&[b"hello", b" ", b"world"], false),
    (&[&[b'x'; 20_000], b"tail"], true),
];

/// One exchange on arbitrary upstream bytes. The first two bytes choose the request
/// (method, body, whether the body pauses, whether the upstream waits for the whole
/// request) and how the transport cuts reads and writes; the rest is the upstream's
/// answer. Panics when an invariant breaks:
///
/// - no panic, no stall;
/// - the bytes written are (a prefix of) the request expected, all of it when the
///   upstream waited for it;
/// - a response head accepted or refused as a plain reading of the same bytes says (the
///   same status, version and headers);
/// - a body read to its end equals the bytes that the framing delimits (Content-Length:
///   exactly that many bytes; chunked: a naive decoder's output; else the rest);
/// - the connection is handed back exactly when it may serve another request (HTTP/1.1,
///   no `Connection: close`, a delimited body, nothing after the response, the whole
///   request written).
#[allow(unreachable_pub)] // public through the crate root with the `fuzzing` feature
pub fn h1_response(data: &[u8]) {
    let (flags, rest) = match data {
        [a, b, rest @ ..] => ([*a, *b], rest),
        _ => return,
    };
    let method =
        [Method::GET, Method::HEAD, Method::POST, Method::PUT][usize::from(flags[0] & 3)].clone();
    let (frames, exact) = BODIES[usize::from((flags[0] >> 2) & 3)];
    let after_flush = flags[0] & 0x10 != 0;
    let pause = flags[0] & 0x20 != 0;
    let close_request = flags[0] & 0x40 != 0;
    let reads = READS[usize::from(flags[1] & 7)];
    let write_max = WRITES[usize::from((flags[1] >> 3) & 3)];
    let vectored = flags[1] & 0x20 != 0;
    let input = Bytes::copy_from_slice(rest);

    let mut script = Script::new(input.clone(), reads).writes(write_max, vectored);
    if after_flush {
        script = script.after_flush();
    }
    let log = script.log();
    let mut builder = Request::builder()
        .method(method.clone())
        .uri("/p?q")
        .header("host", "upstream")
        .header("x-dup", "1")
        .header("x-dup", "2");
    if close_request {
        builder = builder.header("connection", "close");
    }
    let req = builder.body(Frames::new(frames, exact, pause)).unwrap();
    let expected = expected_request(&method, frames, exact, close_request);

    let result = drive(Conn::new(script, Limits::default()).send(req));
    let reference = reference(&input, &method);
    let whole_request = after_flush && !pause;
    let written = log.lock().unwrap().clone();
    let resp = match result {
        Err((e, back)) => {
            assert!(back.is_none(), "request given back after {e}");
            if let Ok(r) = &reference {
                // A head a plain reading accepts is accepted (limits aside).
                assert!(
                    r.head_len > Limits::default().max_head,
                    "head refused ({e}) that reads as {r:?}"
                );
            }
            return;
        }
        Ok(resp) => resp,
    };
    assert!(
        expected.starts_with(&written),
        "request bytes differ:\n{:?}\n{:?}",
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&expected)
    );
    let r = match reference {
        Ok(r) => r,
        Err(why) => panic!("head accepted that reads as invalid: {why}"),
    };
    assert_eq!(resp.status(), r.status);
    assert_eq!(resp.version(), r.version);
    let mut ours: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (name, value) in resp.headers() {
        ours.entry(name.as_str().to_owned())
            .or_default()
            .push(value.as_bytes().to_vec());
    }
    assert_eq!(ours, r.headers, "headers");

    let mut body = resp.into_body();
    let hint = body.size_hint();
    let mut collected = Vec::new();
    let mut trailers = false;
    let mut failed = None;
    // Bounded: the input is finite and every frame consumes some of it (or ends).
    loop {
        match drive(std::future::poll_fn(|cx| {
            Pin::new(&mut body).poll_frame(cx)
        })) {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(d) => collected.extend_from_slice(&d),
                Err(f) => {
                    assert!(f.is_trailers());
                    trailers = true;
                }
            },
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
        }
    }
    let body_after = &input[r.head_len.min(input.len())..];
    match (&failed, &r.framing) {
        (None, RefFraming::Empty) => assert!(collected.is_empty()),
        (None, RefFraming::Length(n)) => {
            assert_eq!(collected.len() as u64, *n);
            assert_eq!(collected, body_after[..collected.len()]);
        }
        (Some(e), RefFraming::Length(n)) => {
            assert!(
                (body_after.len() as u64) < *n,
                "{e} with the whole body there"
            );
        }
        (None, RefFraming::Eof) => assert_eq!(collected, body_after),
        (Some(e), RefFraming::Eof | RefFraming::Empty) => panic!("{e} on a body that cannot fail"),
        (None, RefFraming::Chunked) => {
            let naive = naive_chunked(body_after).expect("chunked body accepted");
            assert_eq!(collected, naive.data);
            assert_eq!(trailers, naive.trailers);
        }
        (Some(_), RefFraming::Chunked) => {}
    }
    if failed.is_none() {
        assert!(body.is_end_stream());
        if let Some(n) = hint.exact() {
            assert_eq!(collected.len() as u64, n, "size hint");
        }
    }
    let written = log.lock().unwrap().clone();
    let mut conn = body.take_conn();
    let consumed = match r.framing {
        RefFraming::Empty => Some(0),
        RefFraming::Length(n) => usize::try_from(n).ok(),
        RefFraming::Chunked => naive_chunked(body_after).map(|c| c.consumed),
        RefFraming::Eof => None,
    };
    let end = consumed.map(|c| r.head_len.saturating_add(c));
    if let Some(conn) = &mut conn {
        // Handed back: a delimited response of a kept connection, the whole request
        // written, and every byte read so far consumed; bytes not read yet are the next
        // idle check's to find.
        assert!(r.keep_alive && !close_request && failed.is_none());
        assert_eq!(written, expected, "handed back before the whole request");
        let unread = conn.get_ref().unread();
        assert_eq!(
            end,
            Some(input.len() - unread),
            "handed back with bytes left"
        );
        let idle = drive(std::future::poll_fn(|cx| Poll::Ready(conn.check_idle(cx))));
        if unread == 0 {
            assert!(matches!(idle, Err(Error::Closed)), "{idle:?}");
        } else {
            assert!(matches!(idle, Err(Error::UnexpectedData)), "{idle:?}");
        }
    } else if whole_request
        && r.keep_alive
        && !close_request
        && failed.is_none()
        && end == Some(input.len())
    {
        panic!("a reusable connection was closed");
    }
}

/// The request bytes expected for the fuzzer's request.
fn expected_request(method: &Method, frames: &[&[u8]], exact: bool, close: bool) -> Vec<u8> {
    let mut out = format!("{method} /p?q HTTP/1.1\r\nhost: upstream\r\nx-dup: 1\r\nx-dup: 2\r\n");
    if close {
        out.push_str("connection: close\r\n");
    }
    let len: usize = frames.iter().map(|f| f.len()).sum();
    let with_content = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
    let mut body = Vec::new();
    if frames.is_empty() || (exact && len == 0) {
        if with_content {
            out.push_str("content-length: 0\r\n");
        }
    } else if exact {
        out.push_str(&format!("content-length: {len}\r\n"));
        for f in frames {
            body.extend_from_slice(f);
        }
    } else {
        out.push_str("transfer-encoding: chunked\r\n");
        for f in frames {
            body.extend_from_slice(format!("{:x}\r\n", f.len()).as_bytes());
            body.extend_from_slice(f);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    out
}

#[derive(Debug)]
enum RefFraming {
    Empty,
    Length(u64),
    Chunked,
    Eof,
}

/// The final response head as a plain reading gives it.
#[derive(Debug)]
struct RefHead {
    status: StatusCode,
    version: Version,
    headers: BTreeMap<String, Vec<Vec<u8>>>,
    /// Up to the end of the final head (informational responses included).
    head_len: usize,
    framing: RefFraming,
    keep_alive: bool,
}

/// Reads the final head with httparse, skipping 1xx, and applies RFC 9112 §6.3 with this
/// client's choices (both framing headers refused, HTTP/1.0 never kept).
fn reference(input: &[u8], method: &Method) -> Result<RefHead, String> {
    let mut at = 0;
    loop {
        let mut slots = [httparse::EMPTY_HEADER; 100];
        let mut res = httparse::Response::new(&mut slots);
        let len = match res.parse(&input[at..]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err("incomplete head".into()),
            Err(e) => return Err(e.to_string()),
        };
        let code = res.code.unwrap();
        if !(100..=999).contains(&code) {
            return Err("status".into());
        }
        if code == 101 {
            return Err("101".into());
        }
        if code < 200 {
            at += len;
            continue;
        }
        let version = if res.version == Some(1) {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        };
        let mut headers: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for h in res.headers.iter() {
            headers
                .entry(h.name.to_ascii_lowercase())
                .or_default()
                .push(h.value.to_vec());
        }
        let values = |name: &str| headers.get(name).cloned().unwrap_or_default();
        let list = |name: &str| -> Vec<String> {
            values(name)
                .iter()
                .flat_map(|v| {
                    String::from_utf8_lossy(v)
                        .split(',')
                        .map(|t| t.trim().to_ascii_lowercase())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let visible = |v: &Vec<u8>| v.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
        let keep_alive = version == Version::HTTP_11
            && !values("connection")
                .iter()
                .any(|v| visible(v) && list_has(v, "close"));
        let framing = if code == 204 || code == 304 || *method == Method::HEAD {
            RefFraming::Empty
        } else if headers.contains_key("transfer-encoding") {
            if version == Version::HTTP_10 {
                return Err("te in 1.0".into());
            }
            if headers.contains_key("content-length") {
                return Err("te and cl".into());
            }
            let last = values("transfer-encoding").pop().unwrap();
            let chunked = visible(&last)
                && String::from_utf8_lossy(&last)
                    .rsplit(',')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
            if chunked {
                RefFraming::Chunked
            } else {
                RefFraming::Eof
            }
        } else if headers.contains_key("content-length") {
            if !values("content-length").iter().all(visible) {
                return Err("cl bytes".into());
            }
            let mut lengths = list("content-length").into_iter().map(|i| {
                if !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) {
                    i.parse::<u64>().ok()
                } else {
                    None
                }
            });
            let first = lengths.next().flatten().ok_or("cl")?;
            if lengths.any(|n| n != Some(first)) {
                return Err("cl".into());
            }
            match first {
                0 => RefFraming::Empty,
                n if n <= u64::MAX - 2 => RefFraming::Length(n),
                _ => return Err("cl value".into()),
            }
        } else {
            RefFraming::Eof
        };
        return Ok(RefHead {
            status: StatusCode::from_u16(code).unwrap(),
            version,
            headers,
            head_len: at + len,
            framing,
            keep_alive,
        });
    }
}

fn list_has(value: &[u8], token: &str) -> bool {
    String::from_utf8_lossy(value)
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A chunked body as a naive decoder reads it.
struct Naive {
    data: Vec<u8>,
    trailers: bool,
    consumed: usize,
}

/// Decodes a chunked body the plain way: size lines up to CRLF (hex, then optional
/// spaces, `;` and anything), data, CRLF; after the last chunk, trailer lines up to an
/// empty line.
fn naive_chunked(input: &[u8]) -> Option<Naive> {
    let find = |from: usize, pat: &[u8]| -> Option<usize> {
        input
            .get(from..)?
            .windows(pat.len())
            .position(|w| w == pat)
            .map(|p| p + from)
    };
    let mut data = Vec::new();
    let mut at = 0;
    loop {
        let eol = find(at, b"\r\n")?;
        let line = &input[at..eol];
        let size_end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
        let size = std::str::from_utf8(&line[..size_end])
            .ok()?
            .trim_end_matches([' ', '\t']);
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let size = u64::from_str_radix(size, 16).ok()?;
        at = eol + 2;
        if size == 0 {
            if input.get(at..at + 2)? == b"\r\n" {
                return Some(Naive {
                    data,
                    trailers: false,
                    consumed: at + 2,
                });
            }
            let end = find(at, b"\r\n\r\n")?;
            return Some(Naive {
                data,
                trailers: true,
                consumed: end + 4,
            });
        }
        let size = usize::try_from(size).ok()?;
        data.extend_from_slice(input.get(at..at.checked_add(size)?)?);
        at += size;
        if input.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        at += 2;
    }
}
