//! The response head: status line and headers (httparse), informational responses
//! skipped, then the body's framing and whether the connection may be kept.

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

use super::{Error, Limits};

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: HEAD, 204, 304, or `Content-Length: 0`.
    Empty,
    /// `Content-Length` (more than zero).
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
    /// Read to the end of the connection (no length, or a final coding other than
    /// `chunked`): the connection cannot be reused.
    Eof,
}

/// A final (non-informational) response head.
#[derive(Debug)]
pub(crate) struct Head {
    /// The status code (never 1xx).
    pub(crate) status: StatusCode,
    /// HTTP/1.1 or HTTP/1.0.
    pub(crate) version: Version,
    /// The headers, names lowercased, duplicates kept in order.
    pub(crate) headers: HeaderMap,
    /// How the body is delimited.
    pub(crate) framing: Framing,
    /// HTTP/1.1 without `Connection: close`.
    pub(crate) keep_alive: bool,
}

/// Header slots on the stack; more (a larger limit) go to the heap.
const STACK_HEADERS: usize = 100;

/// Room left in a response's header map for the headers the gateway adds.
const EXTRA_HEADERS: usize = 8;

/// The largest body length hyper accepts (`u64::MAX` and the next value below are its
/// internal markers); kept for the same answers.
const MAX_LENGTH: u64 = u64::MAX - 2;

/// Where a head parse of the read buffer stands, kept between reads so a head arriving
/// in many small pieces is not parsed again and again before it can be complete.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Bytes of the buffer already searched for the blank line that ends a head.
    searched: usize,
}

/// Parses the final response head at the start of `buf`, consuming it (and the
/// informational responses before it). `Ok(None)`: more bytes are needed (informational
/// responses already read stay consumed). `at_eof`: no more bytes will come, so an
/// incomplete head is an error.
pub(crate) fn parse_head(
    buf: &mut BytesMut,
    method: &Method,
    limits: &Limits,
    scan: &mut Scan,
    at_eof: bool,
) -> Result<Option<Head>, Error> {
    // Bounded: each round consumes at least one byte or returns.
    loop {
        if buf.is_empty() {
            scan.searched = 0;
            return Ok(None);
        }
        // A complete head contains "\n\r\n" or "\n\n": until one arrives, httparse could
        // only say "partial" (or find an error, which can wait for the end of the head).
        // The first look at a response goes straight to httparse (it usually arrives
        // whole in one read); later looks at a head arriving in pieces search only the
        // new bytes for the blank line, so a slow head is not parsed again and again.
        let from = scan.searched.saturating_sub(2);
        if !at_eof && scan.searched > 0 && !has_blank_line(buf.get(from..).unwrap_or_default()) {
            scan.searched = buf.len();
            return too_large(buf, limits).map(|()| None);
        }
        match parse_one(buf, method, limits)? {
            Parsed::Partial => {
                scan.searched = buf.len();
                if at_eof {
                    return Err(Error::IncompleteHead);
                }
                return too_large(buf, limits).map(|()| None);
            }
            Parsed::Informational(len) => {
                scan.searched = 0;
                if len == 0 || len > buf.len() {
                    return Err(Error::Invalid("informational response"));
                }
                buf.advance(len);
            }
            Parsed::Final(head) => {
                scan.searched = 0;
                return Ok(Some(head));
            }
        }
    }
}

fn too_large(buf: &BytesMut, limits: &Limits) -> Result<(), Error> {
    if buf.len() > limits.max_head {
        Err(Error::HeadTooLarge(limits.max_head))
    } else {
        Ok(())
    }
}

fn has_blank_line(bytes: &[u8]) -> bool {
    bytes.windows(2).enumerate().any(|(i, w)| match w {
        [b'\n', b'\n'] => true,
        [b'\n', b'\r'] => bytes.get(i + 2) == Some(&b'\n'),
        _ => false,
    })
}

enum Parsed {
    Partial,
    /// A 1xx response (not 101) of this many bytes, to skip.
    Informational(usize),
    Final(Head),
}

/// Framing headers found in a head.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    transfer_encoding: bool,
    content_length: bool,
}

/// Where one header sits in the head: its name, and its value's byte range.
struct Field {
    name: HeaderName,
    start: usize,
    end: usize,
}

fn parse_one(buf: &mut BytesMut, method: &Method, limits: &Limits) -> Result<Parsed, Error> {
    let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
    let mut heap = Vec::new();
    let slots = match stack.get_mut(..limits.max_headers) {
        Some(s) => s,
        None => {
            heap.resize(limits.max_headers, MaybeUninit::uninit());
            heap.as_mut_slice()
        }
    };
    let bytes: &[u8] = buf;
    let base = bytes.as_ptr().addr();
    let mut res = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut res, bytes, slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(e) => return Err(Error::Head(e)),
    };
    if len > limits.max_head {
        return Err(Error::HeadTooLarge(limits.max_head));
    }
    let code = res.code.ok_or(Error::Invalid("status code"))?;
    let status = StatusCode::from_u16(code).map_err(|_| Error::Invalid("status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(Error::Upgrade);
    }
    if status.is_informational() {
        return Ok(Parsed::Informational(len));
    }
    let version = match res.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Err(Error::Invalid("version")),
    };
    // HTTP/1.0 is never kept (not even with `Connection: keep-alive`).
    let mut keep_alive = version == Version::HTTP_11;
    // Whether framing headers are present, noted on the way (no lookups afterwards for
    // the common response that has only `Content-Length`).
    let mut seen = Seen::default();
    let mut fields = Vec::with_capacity(res.headers.len());
    for h in res.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| Error::Invalid("header name"))?;
        if name == CONNECTION && has_token(h.value, "close") {
            keep_alive = false;
        }
        seen.transfer_encoding |= name == TRANSFER_ENCODING;
        seen.content_length |= name == CONTENT_LENGTH;
        let start = h.value.as_ptr().addr().wrapping_sub(base);
        fields.push(Field {
            name,
            start,
            end: start.wrapping_add(h.value.len()),
        });
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::try_with_capacity(fields.len() + EXTRA_HEADERS)
        .map_err(|_| Error::Invalid("too many headers"))?;
    for f in fields {
        let value = if f.start <= f.end && f.end <= head.len() {
            head.slice(f.start..f.end)
        } else {
            return Err(Error::Invalid("header value"));
        };
        let value =
            HeaderValue::from_maybe_shared(value).map_err(|_| Error::Invalid("header value"))?;
        headers
            .try_append(f.name, value)
            .map_err(|_| Error::Invalid("too many headers"))?;
    }
    let framing = framing(status, version, method, &headers, seen)?;
    Ok(Parsed::Final(Head {
        status,
        version,
        headers,
        framing,
        keep_alive,
    }))
}

/// The body's framing (RFC 9112 §6.3), in hyper's order: no body for HEAD, 204 and 304
/// whatever the headers say; then `Transfer-Encoding`; then `Content-Length`; else the
/// body runs to the end of the connection.
fn framing(
    status: StatusCode,
    version: Version,
    method: &Method,
    headers: &HeaderMap,
    seen: Seen,
) -> Result<Framing, Error> {
    if status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || *method == Method::HEAD
    {
        return Ok(Framing::Empty);
    }
    if *method == Method::CONNECT && status.is_success() {
        return Err(Error::Upgrade);
    }
    if seen.transfer_encoding {
        if version == Version::HTTP_10 {
            return Err(Error::Invalid("transfer-encoding in an HTTP/1.0 response"));
        }
        // Request-smuggling defence (RFC 9112 §6.3 item 3: "ought to be handled as an
        // error"): never choose between the two.
        if seen.content_length {
            return Err(Error::Invalid(
                "both transfer-encoding and content-length in a response",
            ));
        }
        return Ok(if last_coding_is_chunked(headers) {
            Framing::Chunked
        } else {
            Framing::Eof
        });
    }
    if seen.content_length {
        return match content_length(headers) {
            Some(0) => Ok(Framing::Empty),
            Some(n) if n <= MAX_LENGTH => Ok(Framing::Length(n)),
            _ => Err(Error::Invalid("content-length")),
        };
    }
    Ok(Framing::Eof)
}

/// The final coding of the last `Transfer-Encoding` line is `chunked`.
fn last_coding_is_chunked(headers: &HeaderMap) -> bool {
    headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.rsplit(',').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
}

/// The value of every `Content-Length` line and list element, when they are all the same
/// decimal number (`5, 5` is 5, as hyper has it); `None` when any differs or is not a
/// number (no sign, no space inside, no hex).
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    let mut found = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let line = value.to_str().ok()?;
        for item in line.split(',') {
            let n = decimal(item.trim().as_bytes())?;
            if *found.get_or_insert(n) != n {
                return None;
            }
        }
    }
    found
}

fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// A comma-separated header value holds `token` (any case).
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    // As hyper: a value that is not visible ASCII holds no token.
    std::str::from_utf8(value).is_ok_and(|s| {
        s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            && s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}
