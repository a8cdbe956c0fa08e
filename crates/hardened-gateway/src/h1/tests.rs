//! The client against hyper's (`hyper::client::conn::http1`) on the same scripted
//! upstream bytes, the request bytes it writes, connection reuse, idle and early
//! closes, and the fuzz oracle on fixed inputs.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Method, Request, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::fuzz::{Frames, Script, drive};
use super::*;

/// A guard against a hang (never a measure of speed).
const LIMIT: Duration = Duration::from_secs(20);

async fn guard<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {LIMIT:?}"),
    }
}

fn request<B>(method: &str, body: B) -> Request<B> {
    Request::builder()
        .method(method)
        .uri("/")
        .header("host", "upstream")
        .body(body)
        .unwrap()
}

/// Header or trailer fields, in order.
type Fields = Vec<(String, Vec<u8>)>;

/// A body's data and trailers, or an error.
type Collected = Result<(Vec<u8>, Fields), ()>;

/// What a client made of an upstream's bytes.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// No response.
    HeadError,
    Response {
        status: u16,
        version: Version,
        headers: Fields,
        body: Collected,
        reusable: bool,
    },
}

fn pairs(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

async fn collect<B>(body: &mut B) -> Collected
where
    B: Body + Unpin,
{
    let mut data = Vec::new();
    let mut trailers = Vec::new();
    // Bounded by the upstream's bytes.
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        match frame.into_data() {
            Ok(mut d) => data.extend_from_slice(&d.copy_to_bytes(d.remaining())),
            Err(f) => {
                if let Ok(t) = f.into_trailers() {
                    trailers = pairs(&t);
                }
            }
        }
    }
    Ok((data, trailers))
}

/// A scripted upstream: reads one request head, answers `response`, then closes (or
/// holds the connection open, returning it).
async fn upstream(mut io: DuplexStream, response: Vec<u8>, close: bool) -> Option<DuplexStream> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    io.write_all(&response).await.ok()?;
    if close { None } else { Some(io) }
}

async fn ours(method: &str, response: &[u8], close: bool) -> Outcome {
    let (client, server) = tokio::io::duplex(1 << 20);
    let up = tokio::spawn(upstream(server, response.to_vec(), close));
    let conn = Conn::new(client, Limits::default());
    let outcome = match conn.send(request(method, Empty::<Bytes>::new())).await {
        Err(_) => Outcome::HeadError,
        Ok(resp) => {
            let (parts, mut body) = resp.into_parts();
            let collected = collect(&mut body).await;
            let reusable = body.take_conn().is_some();
            Outcome::Response {
                status: parts.status.as_u16(),
                version: parts.version,
                headers: pairs(&parts.headers),
                body: collected,
                reusable,
            }
        }
    };
    let _held = up.await;
    outcome
}

async fn hypers(method: &str, response: &[u8], close: bool) -> Outcome {
    let (client, server) = tokio::io::duplex(1 << 20);
    let up = tokio::spawn(upstream(server, response.to_vec(), close));
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(crate::buffer::CONNECTION_BUFFER)
        .handshake(TokioIo::new(client))
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let outcome = match sender
        .send_request(request(method, Empty::<Bytes>::new()))
        .await
    {
        Err(_) => Outcome::HeadError,
        Ok(resp) => {
            let (parts, mut body) = resp.into_parts();
            let collected = collect(&mut body).await;
            let reusable = collected.is_ok() && sender.ready().await.is_ok();
            Outcome::Response {
                status: parts.status.as_u16(),
                version: parts.version,
                headers: pairs(&parts.headers),
                body: collected,
                reusable,
            }
        }
    };
    let _held = up.await;
    task.abort();
    outcome
}

/// The expected outcome of a case.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Status, body, reusable.
    Ok(u16, &'static [u8], bool),
    /// A response with this status (anything else aside).
    Status(u16),
    HeadError,
    BodyError,
}

impl Want {
    fn check(self, name: &str, who: &str, got: &Outcome) {
        let ok = match (self, got) {
            (Want::HeadError, Outcome::HeadError) => true,
            (Want::BodyError, Outcome::Response { body: Err(()), .. }) => true,
            (Want::Status(s), Outcome::Response { status, .. }) => s == *status,
            (
                Want::Ok(s, b, r),
                Outcome::Response {
                    status,
                    body: Ok((data, _)),
                    reusable,
                    ..
                },
            ) => s == *status && b == data.as_slice() && r == *reusable,
            _ => false,
        };
        assert!(ok, "{name}: {who} gave {got:?}, expected {self:?}");
    }
}

/// Whether hyper's client answers the same.
#[derive(Clone, Copy, Debug)]
enum Hyper {
    Same,
    /// hyper answers this instead, and why this client does not.
    Differs(Want, &'static str),
}

struct Case {
    name: &'static str,
    method: &'static str,
    response: Vec<u8>,
    /// The upstream closes after its response (else it keeps the connection open).
    close: bool,
    want: Want,
    hyper: Hyper,
}

const KEEP: bool = false;
const CLOSE: bool = true;

fn case(name: &'static str, response: &[u8], close: bool, want: Want) -> Case {
    Case {
        name,
        method: "GET",
        response: response.to_vec(),
        close,
        want,
        hyper: Hyper::Same,
    }
}

impl Case {
    fn method(mut self, method: &'static str) -> Case {
        self.method = method;
        self
    }

    fn hyper(mut self, want: Want, why: &'static str) -> Case {
        self.hyper = Hyper::Differs(want, why);
        self
    }
}

fn with(head: &str, filler: &[u8], tail: &str) -> Vec<u8> {
    let mut v = head.as_bytes().to_vec();
    v.extend_from_slice(filler);
    v.extend_from_slice(tail.as_bytes());
    v
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    use Want::{BodyError, HeadError, Ok};
    let ok_hi = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    let mut many_headers = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..101 {
        many_headers.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"content-length: 0\r\n\r\n");
    vec![
        // Content-Length.
        case("cl", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", KEEP, Ok(200, b"hello", true)),
        case("cl_zero", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", KEEP, Ok(200, b"", true)),
        case("cl_duplicate_same", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", KEEP, Ok(200, b"hello", true)),
        case("cl_list_same", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", KEEP, Ok(200, b"hello", true)),
        case("cl_differing", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", CLOSE, HeadError),
        case("cl_list_differing", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!", CLOSE, HeadError),
        case("cl_plus", b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", CLOSE, HeadError),
        case("cl_minus", b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello", CLOSE, HeadError),
        case("cl_overflow", b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nhello", CLOSE, HeadError),
        case("cl_u64_max", b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nhello", CLOSE, HeadError),
        case("cl_trailing_comma", b"HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\nhello", CLOSE, HeadError),
        case("cl_hex", b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello", CLOSE, HeadError),
        case("cl_inner_space", b"HTTP/1.1 200 OK\r\nContent-Length: 1 0\r\n\r\nhello", CLOSE, HeadError),
        case("cl_leading_zeros", b"HTTP/1.1 200 OK\r\nContent-Length: 005\r\n\r\nhello", KEEP, Ok(200, b"hello", true)),
        case("cl_short_body", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", CLOSE, BodyError),
        case("cl_extra_bytes", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n", KEEP, Ok(200, b"hello", false)),
        // Chunked.
        case("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", KEEP, Ok(200, b"hello", true)),
        case("chunked_many_upper_hex", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nA\r\n0123456789\r\n000\r\n\r\n", KEEP, Ok(200, b"abc0123456789", true)),
        case("chunked_extensions", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d e\"\r\nhello\r\n0;end\r\n\r\n", KEEP, Ok(200, b"hello", true)),
        case("chunked_spaces_after_size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \t;x\r\nhello\r\n0 \r\n\r\n", KEEP, Ok(200, b"hello", true)),
        case("chunked_trailers", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: one\r\nX-Other: two\r\nx-trailer: three\r\n\r\n", KEEP, Ok(200, b"hello", true)),
        case("chunked_bad_trailer", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", CLOSE, BodyError),
        case("chunked_trailers_too_large", &with("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ", &[b'a'; 17_000], "\r\n\r\n"), CLOSE, BodyError),
        case("chunked_extensions_too_large", &with("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;", &[b'a'; 17_000], "\r\nhello\r\n0\r\n\r\n"), CLOSE, BodyError),
        case("chunked_size_overflow", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n0\r\n\r\n", CLOSE, BodyError),
        case("chunked_size_plus", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", CLOSE, BodyError),
        case("chunked_size_minus", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", CLOSE, BodyError),
        case("chunked_size_leading_space", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", CLOSE, BodyError),
        case("chunked_size_0x", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", CLOSE, BodyError),
        case("chunked_size_space_inside", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 0\r\nhello\r\n0\r\n\r\n", CLOSE, BodyError),
        case("chunked_bare_lf", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", CLOSE, BodyError),
        case("chunked_lf_in_extension", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n", CLOSE, BodyError),
        case("chunked_data_longer_than_size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", CLOSE, BodyError),
        case("chunked_truncated", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", CLOSE, BodyError),
        case("chunked_no_last_chunk", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", CLOSE, BodyError),
        case("chunked_extra_bytes", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nextra", KEEP, Ok(200, b"hello", false)),
        case("te_uppercase", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", KEEP, Ok(200, b"hello", true)),
        case("te_gzip_chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", KEEP, Ok(200, b"hello", true)),
        case("te_two_lines", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", KEEP, Ok(200, b"hello", true)),
        case("te_chunked_then_gzip", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n", CLOSE, Ok(200, b"5\r\nhello\r\n0\r\n\r\n", false)),
        case("te_identity", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nraw bytes", CLOSE, Ok(200, b"raw bytes", false)),
        case("te_and_cl", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", CLOSE, HeadError)
            .hyper(Ok(200, b"hello", false), "Transfer-Encoding wins in hyper; both is refused here (request smuggling)"),
        case("te_in_http10", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", CLOSE, HeadError),
        // Close-delimited, HTTP/1.0, Connection.
        case("eof_body", b"HTTP/1.1 200 OK\r\n\r\nup to the end", CLOSE, Ok(200, b"up to the end", false)),
        case("http10_cl", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", false)),
        case("http10_eof", b"HTTP/1.0 200 OK\r\n\r\nhi there", CLOSE, Ok(200, b"hi there", false)),
        case("http10_keep_alive", b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", false))
            .hyper(Ok(200, b"hi", true), "hyper keeps an HTTP/1.0 connection that asks for it; never kept here"),
        case("connection_close", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", false)),
        case("connection_close_in_list", b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", false)),
        case("connection_close_second_line", b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", false)),
        case("connection_keep_alive", b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        // Informational responses.
        case("continue_then_ok", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        case("processing_early_hints", b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        case("informational_framing_ignored", b"HTTP/1.1 100 Continue\r\nContent-Length: nope\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        case("switching_protocols", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", KEEP, HeadError)
            .hyper(Want::Status(101), "hyper hands the upgrade over; this client does no upgrades"),
        // No body whatever the headers say.
        case("head_with_cl", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", KEEP, Ok(200, b"", true)).method("HEAD"),
        case("head_with_te", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", KEEP, Ok(200, b"", true)).method("HEAD"),
        case("head_with_invalid_cl", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", KEEP, Ok(200, b"", true)).method("HEAD"),
        case("no_content_with_cl", b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", KEEP, Ok(204, b"", true)),
        case("not_modified_with_te", b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", KEEP, Ok(304, b"", true)),
        case("no_content_then_bytes", b"HTTP/1.1 204 No Content\r\n\r\nhello", KEEP, Ok(204, b"", false)),
        case("no_content_te_and_cl", b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", KEEP, Ok(204, b"", true)),
        // Head syntax and limits.
        case("obs_fold", b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("space_before_colon", b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nhi", CLOSE, HeadError),
        case("space_in_name", b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("control_in_value", b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("del_in_value", b"HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("nul_in_value", b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("obs_text_value", b"HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        case("too_many_headers", &many_headers, CLOSE, HeadError),
        case("head_too_large", &with("HTTP/1.1 200 OK\r\nX-Big: ", &[b'a'; 70_000], "\r\nContent-Length: 0\r\n\r\n"), CLOSE, HeadError)
            .hyper(Ok(200, b"", false), "hyper checks its limit only on a head still partial after a read, and reads past it"),
        case("head_far_too_large", &with("HTTP/1.1 200 OK\r\nX-Big: ", &[b'a'; 300_000], "\r\nContent-Length: 0\r\n\r\n"), CLOSE, HeadError),
        case("status_two_digits", b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("status_below_100", b"HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("status_600", b"HTTP/1.1 600 Custom\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(600, b"hi", true)),
        case("http2_version", b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("lowercase_protocol", b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", CLOSE, HeadError),
        case("garbage", b"garbage\r\n\r\n", CLOSE, HeadError),
        case("nothing", b"", CLOSE, HeadError),
        case("partial_head", b"HTTP/1.1 200 OK\r\nContent-Len", CLOSE, HeadError),
        case("leading_empty_line", b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        case("no_reason", b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        case("bare_lf_head", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", KEEP, Ok(200, b"hi", true)),
        case("set_cookie_order", b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Mid: m\r\nSet-Cookie: b=2\r\nset-cookie: c=3\r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        case("mixed_case_names", b"HTTP/1.1 404 Not Found\r\nCoNtEnT-TyPe: text/plain\r\nCONTENT-LENGTH: 2\r\n\r\nno", KEEP, Ok(404, b"no", true)),
        case("empty_value", b"HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaces:   \r\nContent-Length: 2\r\n\r\nhi", KEEP, Ok(200, b"hi", true)),
        case("twice_ok", &[&ok_hi[..], &ok_hi[..]].concat(), KEEP, Ok(200, b"hi", false)),
    ]
}

#[tokio::test]
async fn scripted_responses_match_hyper() {
    let cases = cases();
    assert!(cases.len() >= 30);
    for c in cases {
        let mine = guard(c.name, ours(c.method, &c.response, c.close)).await;
        let theirs = guard(c.name, hypers(c.method, &c.response, c.close)).await;
        c.want.check(c.name, "h1", &mine);
        match c.hyper {
            Hyper::Same => assert_eq!(mine, theirs, "{}: h1 and hyper differ", c.name),
            Hyper::Differs(want, _why) => want.check(c.name, "hyper", &theirs),
        }
    }
}

#[tokio::test]
async fn trailers_and_headers_are_kept_in_order() {
    let out = ours(
        "GET",
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Mid: m\r\nSet-Cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-T: 1\r\nx-t: 2\r\n\r\n",
        KEEP,
    )
    .await;
    let Outcome::Response {
        headers,
        body,
        version,
        reusable,
        ..
    } = out
    else {
        panic!("{out:?}");
    };
    assert_eq!(version, Version::HTTP_11);
    assert!(reusable);
    let names: Vec<_> = headers
        .iter()
        .map(|(n, v)| format!("{n}={}", String::from_utf8_lossy(v)))
        .collect();
    assert_eq!(
        names,
        [
            "set-cookie=a=1",
            "set-cookie=b=2",
            "x-mid=m",
            "transfer-encoding=chunked"
        ]
    );
    let (data, trailers) = body.unwrap();
    assert_eq!(data, b"hi");
    assert_eq!(
        trailers,
        [
            ("x-t".to_owned(), b"1".to_vec()),
            ("x-t".to_owned(), b"2".to_vec())
        ]
    );
}

/// A small pseudo-random generator (xorshift), for reproducible random cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A random response: framing, headers, body and their defects drawn together, so the
/// upstream knows whether the response is complete and delimited (then it keeps the
/// connection open, else it closes it: nobody waits forever).
fn random_response(rng: &mut Rng) -> (&'static str, Vec<u8>, bool) {
    let method = rng.pick(&["GET", "GET", "GET", "HEAD"]);
    let mut head = String::new();
    if rng.chance(15) {
        head.push_str(rng.pick(&[
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
            "HTTP/1.1 102 Processing\r\nContent-Length: 9\r\n\r\n",
        ]));
    }
    let status = rng.pick(&[200, 200, 201, 204, 304, 404, 500, 599]);
    let http10 = rng.chance(10);
    head.push_str(&format!(
        "HTTP/1.{} {status} Reason\r\n",
        if http10 { 0 } else { 1 }
    ));
    let extras = [
        "Server: test\r\n",
        "Set-Cookie: a=1\r\n",
        "Set-Cookie: b=2\r\n",
        "X-Empty:\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Connection: keep-alive\r\n",
        "Connection: close\r\n",
        "connection: Keep-Alive, CLOSE\r\n",
        "X-Obs: \u{e9}t\u{e9}\r\n",
        "Vary: Accept-Encoding\r\n",
    ];
    for _ in 0..rng.below(4) {
        head.push_str(rng.pick(&extras));
    }
    if rng.chance(8) {
        head.push_str(rng.pick(&["Bad Header\r\n", "X-Fold: a\r\n b\r\n", "X : y\r\n"]));
    }
    let data: &[u8] = rng.pick(&[&b""[..], b"x", b"hello", b"hello world, a longer body"]);
    // 0: Content-Length, 1: chunked, 2: to the end of the connection.
    let framing = rng.below(3);
    let mut body = Vec::new();
    let mut complete = true;
    match framing {
        0 => {
            let n = data.len();
            let value = match rng.below(6) {
                0 => format!("{n}, {n}"),
                1 => format!("0{n}"),
                2 => format!("{}", n + 3),
                _ => format!("{n}"),
            };
            if value == format!("{}", n + 3) {
                complete = false;
            }
            head.push_str(&format!("Content-Length: {value}\r\n"));
            if rng.chance(10) {
                head.push_str(&format!("content-length: {n}\r\n"));
                complete &= value.split(',').all(|v| v.trim().parse() == Ok(n));
            }
            body.extend_from_slice(data);
        }
        1 => {
            head.push_str(rng.pick(&[
                "Transfer-Encoding: chunked\r\n",
                "transfer-encoding: Chunked\r\n",
                "Transfer-Encoding: gzip, chunked\r\n",
            ]));
            for piece in data.chunks(1 + rng.below(7)) {
                let size = match rng.below(10) {
                    0 => format!("{:X}", piece.len()),
                    1 => format!("00{:x}", piece.len()),
                    2 => format!("{:x};ext=1", piece.len()),
                    3 => format!("{:x} ", piece.len()),
                    _ => format!("{:x}", piece.len()),
                };
                body.extend_from_slice(size.as_bytes());
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(piece);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(rng.pick(&[
                &b"0\r\n\r\n"[..],
                b"0\r\n\r\n",
                b"0\r\nX-Trailer: t\r\n\r\n",
            ]));
            if rng.chance(30) {
                // A defect: cut the body, or break a size line.
                match rng.below(3) {
                    0 => {
                        let keep = rng.below(body.len());
                        body.truncate(keep);
                        complete = false;
                    }
                    1 => body.insert(0, b'g'),
                    _ => body.insert(0, b'\n'),
                }
            }
        }
        _ => {
            body.extend_from_slice(data);
            complete = false;
        }
    }
    if rng.chance(8) {
        body.extend_from_slice(b"trailing garbage");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    // Where hyper and this client differ on purpose, the upstream closes and only the
    // outcome before reuse is compared.
    let differs_on_purpose = http10 || status == 101;
    let no_body = method == "HEAD" || status == 204 || status == 304;
    let close = !(complete || no_body) || differs_on_purpose || framing == 2 && !no_body;
    (method, bytes, close)
}

#[tokio::test]
async fn random_responses_match_hyper() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Head errors, body errors, reused, not reused: the generator reaches all four.
    let mut seen = [0usize; 4];
    for i in 0..600 {
        let (method, response, close) = random_response(&mut rng);
        let name = format!(
            "random case {i}: {method} {:?}",
            String::from_utf8_lossy(&response)
        );
        let mine = guard(&name, ours(method, &response, close)).await;
        let theirs = guard(&name, hypers(method, &response, close)).await;
        seen[match &mine {
            Outcome::HeadError => 0,
            Outcome::Response { body: Err(()), .. } => 1,
            Outcome::Response { reusable: true, .. } => 2,
            Outcome::Response { .. } => 3,
        }] += 1;
        match (&mine, &theirs) {
            // HTTP/1.0 keep-alive: reuse differs on purpose (the upstream closes here).
            (
                Outcome::Response {
                    version: Version::HTTP_10,
                    ..
                },
                _,
            ) => {
                let strip = |o: &Outcome| match o {
                    Outcome::Response {
                        status,
                        headers,
                        body,
                        ..
                    } => Some((*status, headers.clone(), body.clone())),
                    Outcome::HeadError => None,
                };
                assert_eq!(strip(&mine), strip(&theirs), "{name}");
            }
            _ => assert_eq!(mine, theirs, "{name}"),
        }
    }
    eprintln!("random responses: {seen:?} (head error, body error, reused, closed)");
    assert!(seen.iter().all(|&n| n >= 20), "{seen:?}");
}

/// Captures one complete request (head, then a `Content-Length` or chunked body) and
/// answers 200 with an empty body.
async fn capture(mut io: DuplexStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    // Bounded: the request is finite; a closed connection ends it.
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_len = end + 4;
            let mut slots = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut slots);
            req.parse(&got).unwrap();
            let cl = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| {
                    std::str::from_utf8(h.value)
                        .unwrap()
                        .parse::<usize>()
                        .unwrap()
                });
            let chunked = req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
            let done = match (cl, chunked) {
                (Some(n), _) => got.len() >= head_len + n,
                (None, true) => got.ends_with(b"0\r\n\r\n") && got.len() > head_len,
                (None, false) => true,
            };
            if done {
                break;
            }
        }
        let n = io.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    io.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    got
}

async fn written_by_ours<B>(req: Request<B>) -> Vec<u8>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (client, server) = tokio::io::duplex(1 << 20);
    let up = tokio::spawn(capture(server));
    let resp = guard("send", Conn::new(client, Limits::default()).send(req))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(resp.status(), 200);
    guard("capture", up).await.unwrap()
}

async fn written_by_hyper<B>(req: Request<B>) -> Vec<u8>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (client, server) = tokio::io::duplex(1 << 20);
    let up = tokio::spawn(capture(server));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client))
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let resp = guard("hyper send", sender.send_request(req)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let got = guard("capture", up).await.unwrap();
    task.abort();
    got
}

fn req_with<B>(method: &str, body: B) -> Request<B> {
    Request::builder()
        .method(method)
        .uri("/path?q=1")
        .header("host", "upstream")
        .header("x-dup", "1")
        .header("accept", "*/*")
        .header("x-dup", "2")
        .body(body)
        .unwrap()
}

/// A body of `frames` with no size hint, as a stream.
fn stream(
    frames: &'static [&'static str],
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Unpin> {
    StreamBody::new(futures_util::stream::iter(
        frames
            .iter()
            .map(|f| Ok(Frame::data(Bytes::from_static(f.as_bytes())))),
    ))
}

#[tokio::test]
async fn request_bytes_match_hyper() {
    let head = "/path?q=1 HTTP/1.1\r\nhost: upstream\r\nx-dup: 1\r\nx-dup: 2\r\naccept: */*\r\n";

    // No body: no framing header for GET and DELETE.
    for method in ["GET", "DELETE", "HEAD", "OPTIONS"] {
        let mine = written_by_ours(req_with(method, Empty::<Bytes>::new())).await;
        let theirs = written_by_hyper(req_with(method, Empty::<Bytes>::new())).await;
        assert_eq!(
            String::from_utf8(mine.clone()).unwrap(),
            format!("{method} {head}\r\n")
        );
        assert_eq!(mine, theirs, "{method}");
    }

    // An exact size: Content-Length, the body in the same write.
    let mine = written_by_ours(req_with("PUT", Full::new(Bytes::from("hello")))).await;
    let theirs = written_by_hyper(req_with("PUT", Full::new(Bytes::from("hello")))).await;
    assert_eq!(
        String::from_utf8(mine.clone()).unwrap(),
        format!("PUT {head}content-length: 5\r\n\r\nhello")
    );
    assert_eq!(mine, theirs);

    // No size: chunked.
    let mine = written_by_ours(req_with("POST", stream(&["hello", " world"]))).await;
    let theirs = written_by_hyper(req_with("POST", stream(&["hello", " world"]))).await;
    assert_eq!(
        String::from_utf8(mine.clone()).unwrap(),
        format!(
            "POST {head}transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
    );
    assert_eq!(mine, theirs);
}

#[tokio::test]
async fn request_framing_is_the_clients_choice() {
    // POST without a body: `Content-Length: 0` (hyper sends no framing header).
    let mine = written_by_ours(req_with("POST", Empty::<Bytes>::new())).await;
    assert!(
        mine.ends_with(b"accept: */*\r\ncontent-length: 0\r\n\r\n"),
        "{mine:?}"
    );
    let theirs = written_by_hyper(req_with("POST", Empty::<Bytes>::new())).await;
    assert!(theirs.ends_with(b"accept: */*\r\n\r\n"), "{theirs:?}");

    // Framing headers given by the caller are replaced.
    let mut req = req_with("POST", Full::new(Bytes::from("hello")));
    req.headers_mut()
        .insert("content-length", http::HeaderValue::from_static("99"));
    req.headers_mut().append(
        "transfer-encoding",
        http::HeaderValue::from_static("chunked"),
    );
    let mine = written_by_ours(req).await;
    assert!(
        mine.ends_with(b"accept: */*\r\ncontent-length: 5\r\n\r\nhello"),
        "{mine:?}"
    );

    // GET with a body of unknown size: chunked (hyper would send none of it).
    let mine = written_by_ours(req_with("GET", stream(&["abc"]))).await;
    assert!(mine.ends_with(b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));

    // An absolute URI is sent in origin form; no path is "/".
    let req = Request::get("http://upstream:8080/a/b?c")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert!(
        written_by_ours(req)
            .await
            .starts_with(b"GET /a/b?c HTTP/1.1\r\n")
    );
    let req = Request::get("http://upstream")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert!(
        written_by_ours(req)
            .await
            .starts_with(b"GET / HTTP/1.1\r\n")
    );
    let req = Request::options("*").body(Empty::<Bytes>::new()).unwrap();
    assert!(
        written_by_ours(req)
            .await
            .starts_with(b"OPTIONS * HTTP/1.1\r\n")
    );
}

#[tokio::test]
async fn large_and_streamed_request_bodies() {
    // Large data goes out from its own buffer, after the head, in any write sizes.
    let big: &'static [u8] = Box::leak(vec![b'z'; 100_000].into_boxed_slice());
    for (max, vectored) in [
        (usize::MAX, true),
        (usize::MAX, false),
        (1000, true),
        (7, false),
    ] {
        let script = Script::new(
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            &[usize::MAX],
        )
        .after_flush()
        .writes(max, vectored);
        let log = script.log();
        let body = Frames::new(&[b"small", big, b"tail"], true, false);
        let req = req_with("PUT", body);
        let resp = drive(Conn::new(script, Limits::default()).send(req)).unwrap();
        assert_eq!(resp.status(), 200);
        let written = log.lock().unwrap().clone();
        let mut expected = format!(
            "PUT /path?q=1 HTTP/1.1\r\nhost: upstream\r\nx-dup: 1\r\nx-dup: 2\r\naccept: */*\r\ncontent-length: {}\r\n\r\nsmall",
            100_009
        )
        .into_bytes();
        expected.extend_from_slice(big);
        expected.extend_from_slice(b"tail");
        assert_eq!(written, expected, "writes of {max}, vectored {vectored}");

        // The same, chunked, with the body pausing between frames.
        let script = Script::new(
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            &[usize::MAX],
        )
        .after_flush()
        .writes(max, vectored);
        let log = script.log();
        let body = Frames::new(&[b"small", big, b"tail"], false, true);
        let resp = drive(Conn::new(script, Limits::default()).send(req_with("PUT", body)));
        // The upstream may answer at the first flush (a pause): then it is an early answer.
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200);
        let written = log.lock().unwrap().clone();
        let mut full = b"PUT /path?q=1 HTTP/1.1\r\nhost: upstream\r\nx-dup: 1\r\nx-dup: 2\r\naccept: */*\r\ntransfer-encoding: chunked\r\n\r\n5\r\nsmall\r\n186a0\r\n".to_vec();
        full.extend_from_slice(big);
        full.extend_from_slice(b"\r\n4\r\ntail\r\n0\r\n\r\n");
        assert!(
            full.starts_with(&written),
            "writes of {max}, vectored {vectored}"
        );
    }
}

#[tokio::test]
async fn a_body_longer_or_shorter_than_its_size_hint_fails() {
    /// Claims `claim` bytes, sends `data`.
    struct Liar(Option<Bytes>, u64);
    impl Body for Liar {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.get_mut().0.take().map(|d| Ok(Frame::data(d))))
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.1)
        }
    }
    for (data, claim) in [("hello", 3), ("hi", 5)] {
        let script = Script::new(&b""[..], &[usize::MAX]).after_flush();
        let req = req_with("PUT", Liar(Some(Bytes::from(data)), claim));
        let err = drive(Conn::new(script, Limits::default()).send(req)).unwrap_err();
        assert!(matches!(err.0, Error::RequestBodyLength), "{:?}", err.0);
        assert!(err.1.is_none());
    }
}

/// A TCP loopback upstream served by hyper: echoes the method, path and body; closes
/// after `keep` requests on a connection.
async fn echo_upstream() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            conns.spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let method = req.method().clone();
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await?.to_bytes();
                        let mut resp = http::Response::new(Full::new(body));
                        resp.headers_mut().insert(
                            "x-echo",
                            http::HeaderValue::from_str(&format!("{method} {path}")).unwrap(),
                        );
                        Ok::<_, hyper::Error>(resp)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn one_tcp_connection_serves_many_requests() {
    let (addr, task) = echo_upstream().await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut conn = Some(Conn::new(stream, Limits::default()));
    let big = Bytes::from(vec![7u8; 1 << 20]);
    for i in 0..6 {
        let c = conn.take().expect("the connection came back");
        let req = match i % 3 {
            0 => req_with("GET", http_body_util::Either::Left(Empty::new())),
            1 => req_with(
                "POST",
                http_body_util::Either::Right(Full::new(big.clone())),
            ),
            _ => req_with(
                "PUT",
                http_body_util::Either::Right(Full::new(Bytes::from("small"))),
            ),
        };
        let resp = guard("send", c.send(req)).await.unwrap();
        assert_eq!(resp.status(), 200);
        let method = ["GET", "POST", "PUT"][i % 3];
        assert_eq!(resp.headers()["x-echo"], format!("{method} /path"));
        let mut body = resp.into_body();
        let (data, _) = guard("body", collect(&mut body)).await.unwrap();
        let expected: &[u8] = match i % 3 {
            0 => b"",
            1 => &big,
            _ => b"small",
        };
        assert_eq!(data.len(), expected.len());
        assert!(data == expected);
        conn = body.take_conn();
    }
    assert!(conn.is_some());
    task.abort();
}

#[tokio::test]
async fn chunked_streaming_over_tcp() {
    // The upstream streams a chunked body larger than any read.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        for i in 0..200u32 {
            let piece = vec![(i % 251) as u8; 1000 + i as usize];
            s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await
                .unwrap();
            s.write_all(&piece).await.unwrap();
            s.write_all(b"\r\n").await.unwrap();
        }
        s.write_all(b"0\r\nx-sum: done\r\n\r\n").await.unwrap();
        // Keep the connection until the client is done.
        let _ = s.read(&mut buf).await;
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let resp = guard(
        "send",
        Conn::new(stream, Limits::default()).send(request("GET", Empty::<Bytes>::new())),
    )
    .await
    .unwrap();
    let mut body = resp.into_body();
    let (data, trailers) = guard("body", collect(&mut body)).await.unwrap();
    let expected: Vec<u8> = (0..200u32)
        .flat_map(|i| vec![(i % 251) as u8; 1000 + i as usize])
        .collect();
    assert!(data == expected);
    assert_eq!(trailers, [("x-sum".to_owned(), b"done".to_vec())]);
    assert!(body.is_end_stream());
    let conn = body.take_conn().expect("reusable");
    drop(conn);
    guard("upstream", up).await.unwrap();
}

#[tokio::test]
async fn the_whole_response_in_the_buffer_is_one_frame_and_frees_the_connection_at_once() {
    let script = Script::new(
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
        &[usize::MAX],
    );
    let resp =
        drive(Conn::new(script, Limits::default()).send(request("GET", Empty::<Bytes>::new())))
            .unwrap();
    let mut body = resp.into_body();
    assert_eq!(body.size_hint().exact(), Some(5));
    assert!(!body.is_end_stream());
    let handed: Arc<Mutex<Option<Conn<Script>>>> = Arc::default();
    let slot = handed.clone();
    body.on_reusable(Box::new(move |c| *slot.lock().unwrap() = Some(c)));
    assert!(
        handed.lock().unwrap().is_some(),
        "handed back before the body is read"
    );
    let frame = drive(std::future::poll_fn(|cx| {
        Pin::new(&mut body).poll_frame(cx)
    }));
    assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "hello");
    assert!(body.is_end_stream());
    assert_eq!(body.size_hint().exact(), Some(0));
    assert!(drive(std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))).is_none());
}

#[tokio::test]
async fn a_streamed_body_hands_the_connection_back_at_its_end() {
    // One byte per read: the body comes in many frames.
    let script = Script::new(
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
        &[1],
    );
    let resp =
        drive(Conn::new(script, Limits::default()).send(request("GET", Empty::<Bytes>::new())))
            .unwrap();
    let mut body = resp.into_body();
    assert_eq!(body.size_hint().exact(), Some(5));
    let handed: Arc<Mutex<Option<Conn<Script>>>> = Arc::default();
    let slot = handed.clone();
    body.on_reusable(Box::new(move |c| *slot.lock().unwrap() = Some(c)));
    let mut data = Vec::new();
    // Bounded: five bytes.
    while let Some(frame) = drive(std::future::poll_fn(|cx| {
        Pin::new(&mut body).poll_frame(cx)
    })) {
        assert!(handed.lock().unwrap().is_none() || body.is_end_stream());
        data.extend_from_slice(&frame.unwrap().into_data().unwrap());
    }
    assert_eq!(data, b"hello");
    assert!(handed.lock().unwrap().is_some());
    assert!(body.take_conn().is_none(), "handed over once");

    // Dropped before its end: the connection goes nowhere.
    let script = Script::new(
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhe"[..],
        &[usize::MAX],
    );
    let resp =
        drive(Conn::new(script, Limits::default()).send(request("GET", Empty::<Bytes>::new())))
            .unwrap();
    let mut body = resp.into_body();
    let handed: Arc<Mutex<Option<Conn<Script>>>> = Arc::default();
    let slot = handed.clone();
    body.on_reusable(Box::new(move |c| *slot.lock().unwrap() = Some(c)));
    assert!(body.take_conn().is_none());
    drop(body);
    assert!(handed.lock().unwrap().is_none());
}

/// Answers one request on a duplex end, then closes (`close`) or idles.
async fn answer_once(mut io: DuplexStream, close: bool) -> Option<DuplexStream> {
    upstream_read_head(&mut io).await;
    io.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        .await
        .unwrap();
    if close { None } else { Some(io) }
}

/// Reads a request head; returns the bytes read after it.
async fn upstream_read_head(io: &mut DuplexStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    // Bounded: the client sends a finite head.
    loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            return head.split_off(end + 4);
        }
        let n = io.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        head.extend_from_slice(&chunk[..n]);
    }
}

async fn reused_conn(close: bool) -> (Conn<DuplexStream>, Option<DuplexStream>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let up = tokio::spawn(answer_once(server, close));
    let resp = guard(
        "send",
        Conn::new(client, Limits::default()).send(request("GET", Empty::<Bytes>::new())),
    )
    .await
    .unwrap();
    let mut body = resp.into_body();
    let conn = body.take_conn().expect("reusable");
    let server = guard("upstream", up).await.unwrap();
    (conn, server)
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_upstream_gives_the_request_back() {
    let (conn, _) = reused_conn(true).await;
    let req = request("POST", Full::new(Bytes::from("body")));
    let (err, back) = guard("send", conn.send(req)).await.unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
    let back = back.expect("nothing was written: the request comes back");
    assert_eq!(back.method(), Method::POST);
    let body = back.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "body");
}

#[tokio::test]
async fn bytes_on_an_idle_connection_give_the_request_back() {
    let (conn, server) = reused_conn(false).await;
    let mut server = server.unwrap();
    server
        .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        .await
        .unwrap();
    let (err, back) = guard("send", conn.send(request("GET", Empty::<Bytes>::new())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnexpectedData), "{err:?}");
    assert!(back.is_some());
}

#[tokio::test]
async fn an_idle_tcp_connection_closed_by_the_upstream_is_seen_before_writing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        // Closes after one response.
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let resp = guard(
        "send",
        Conn::new(stream, Limits::default()).send(request("GET", Empty::<Bytes>::new())),
    )
    .await
    .unwrap();
    let conn = resp.into_body().take_conn().expect("reusable");
    guard("upstream", up).await.unwrap();
    // The end of file is there to read once the socket reports it.
    guard("readable", conn.get_ref().readable()).await.unwrap();
    let (err, back) = guard("send", conn.send(request("GET", Empty::<Bytes>::new())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
    assert!(back.is_some());
}

#[tokio::test]
async fn a_failed_first_write_gives_back_a_request_whose_body_was_not_polled() {
    /// Every write fails.
    struct Broken;
    impl tokio::io::AsyncRead for Broken {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }
    impl tokio::io::AsyncWrite for Broken {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
    let (err, back) =
        drive(Conn::new(Broken, Limits::default()).send(request("GET", Empty::<Bytes>::new())))
            .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(back.is_some());
    // With a body, its first frame is taken to go out with the head: not given back.
    let (err, back) = drive(
        Conn::new(Broken, Limits::default()).send(request("PUT", Full::new(Bytes::from("x")))),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(back.is_none());
}

#[tokio::test]
async fn the_upstream_closing_after_the_request_is_no_response() {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let up = tokio::spawn(async move {
        upstream_read_head(&mut server).await;
        drop(server);
    });
    let (err, back) = guard(
        "send",
        Conn::new(client, Limits::default()).send(request("GET", Empty::<Bytes>::new())),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NoResponse), "{err:?}");
    assert!(back.is_none(), "written: never given back");
    up.await.unwrap();
}

/// Yields one frame, then never ends (its upload stalls).
#[derive(Debug)]
struct Stalled(Option<Bytes>);

impl Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut().0.take() {
            Some(d) => Poll::Ready(Some(Ok(Frame::data(d)))),
            None => Poll::Pending,
        }
    }
}

#[tokio::test]
async fn an_early_response_stops_the_upload_and_is_not_reused() {
    for (answer, keep) in [
        (&b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 4\r\n\r\nbig!"[..], false),
        (&b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!"[..], true),
    ] {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let up = tokio::spawn(async move {
            upstream_read_head(&mut server).await;
            server.write_all(answer).await.unwrap();
            keep.then_some(server)
        });
        let req = request("POST", Stalled(Some(Bytes::from("first part"))));
        let resp = guard("send", Conn::new(client, Limits::default()).send(req))
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);
        let mut body = resp.into_body();
        let (data, _) = guard("body", collect(&mut body)).await.unwrap();
        assert_eq!(data, b"big!");
        assert!(body.take_conn().is_none(), "the request was cut: never reused");
        drop(up);
    }
}

#[tokio::test]
async fn interim_responses_during_the_upload_are_skipped() {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let up = tokio::spawn(async move {
        let mut rest = upstream_read_head(&mut server).await;
        server
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .unwrap();
        let mut chunk = [0u8; 64];
        while !rest.ends_with(b"0\r\n\r\n") {
            let n = server.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            rest.extend_from_slice(&chunk[..n]);
        }
        server
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        (rest, server)
    });
    // The body arrives in pieces, after the head.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let feeder = tokio::spawn(async move {
        for piece in ["one ", "two ", "three"] {
            tx.send(Ok(Frame::data(Bytes::from(piece)))).await.unwrap();
            tokio::task::yield_now().await;
        }
    });
    let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|f| (f, rx))
    }));
    let resp = guard(
        "send",
        Conn::new(client, Limits::default()).send(request("POST", Box::pin(body))),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(resp.into_body().take_conn().is_some());
    let (rest, _server) = guard("upstream", up).await.unwrap();
    assert_eq!(rest, b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n");
    feeder.await.unwrap();
}

#[test]
fn fuzz_oracle_holds_on_the_table() {
    // Every table case under each request shape and transport cut.
    for c in cases() {
        for flags0 in [0x00u8, 0x01, 0x04, 0x12, 0x1b, 0x2e, 0x53] {
            for flags1 in [0x00u8, 0x01, 0x0a, 0x23, 0x37] {
                let mut input = vec![flags0, flags1];
                input.extend_from_slice(&c.response);
                fuzz::h1_response(&input);
            }
        }
    }
}

#[test]
fn chunk_size_lines_are_lowercase_hex() {
    for (n, s) in [
        (0, "0"),
        (5, "5"),
        (10, "a"),
        (255, "ff"),
        (100_000, "186a0"),
        (usize::MAX, "ffffffffffffffff"),
    ] {
        let mut out = Vec::new();
        super::encode::chunk_size(&mut out, n);
        assert_eq!(out, format!("{s}\r\n").into_bytes());
    }
}

#[test]
fn the_client_types_are_send() {
    fn send<T: Send>() {}
    send::<Conn<tokio::net::TcpStream>>();
    send::<ResponseBody<tokio::net::TcpStream>>();
    send::<Error>();
}
