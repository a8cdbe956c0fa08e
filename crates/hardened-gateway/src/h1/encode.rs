//! The request head and the framing of the request body.

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::request::Parts;
use http::{HeaderMap, Method};

use super::parse::has_token;

/// How the request body is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body and no framing header.
    None,
    /// `Content-Length` with this many bytes (zero: no body, but the header, as for a
    /// POST without a body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

impl Framing {
    /// The framing of a body: nothing to send (`empty`) is no framing header, except
    /// `Content-Length: 0` for the methods that expect content (POST, PUT, PATCH); an
    /// exact size is `Content-Length`; anything else is chunked.
    pub(crate) fn of(method: &Method, empty: bool, exact: Option<u64>) -> Framing {
        if empty || exact == Some(0) {
            if *method == Method::POST || *method == Method::PUT || *method == Method::PATCH {
                Framing::Length(0)
            } else {
                Framing::None
            }
        } else if let Some(n) = exact {
            Framing::Length(n)
        } else {
            Framing::Chunked
        }
    }
}

/// Appends the request head to `out`: request line with the origin-form target, the
/// headers as given (in the map's order, names lowercase) except any `Content-Length` or
/// `Transfer-Encoding`, then the framing header, then the empty line.
pub(crate) fn head(out: &mut Vec<u8>, parts: &Parts, framing: Framing) {
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.reserve(32 + target.len() + parts.headers.len() * 32);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    if !target.starts_with('/') && target != "*" {
        out.push(b'/');
    }
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a chunk-size line (hex, CRLF).
pub(crate) fn chunk_size(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        if let (Some(d), Some(&h)) = (digits.get_mut(at), HEX.get(n % 16)) {
            *d = h;
        }
        n /= 16;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
}

/// The request asks to close the connection after its response.
pub(crate) fn wants_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .any(|v| has_token(v.as_bytes(), "close"))
}
