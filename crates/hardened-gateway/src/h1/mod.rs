//! A minimal HTTP/1.1 client connection to the upstream, owned and polled by the task
//! that uses it: no spawned connection task, no channel.
//!
//! # Why it exists
//!
//! hyper's client (`hyper::client::conn::http1`) splits a connection in two: a
//! `SendRequest` handle and a connection future that must be spawned on its own task.
//! Every request then crosses a dispatch channel and a oneshot, its body goes through
//! another channel, the response head is rebuilt in a second header map, and each step
//! wakes the other task, often on another thread. For a proxy that already owns the
//! request, the connection and the response for the whole exchange, that is about a
//! microsecond of pure hand-over per request. No well-kept crate offers an owned,
//! task-less HTTP/1.1 client connection, so this module is one, kept small and strict:
//!
//! - [`Conn::send`] writes the request head (and a small body) in one write, streams the
//!   rest of the body, and reads the response head, all in the caller's task;
//! - [`ResponseBody`] owns the connection while the body is read and hands it back when
//!   the response has been read to its end and the connection may serve another request;
//!   a body dropped early closes the connection;
//! - when the whole response is already in the read buffer with its head (the common
//!   small response), the body is one ready frame and the connection is reusable at once.
//!
//! # Parsing
//!
//! Heads are parsed by `httparse` with its strict defaults (no obs-fold, no space before
//! a colon, no invalid byte in names or values). Framing follows RFC 9112 §6.3 and
//! matches hyper's client, with two deliberate differences that favour refusing over
//! guessing: a response with both `Transfer-Encoding` and `Content-Length` is an error
//! (hyper lets `Transfer-Encoding` win), and an HTTP/1.0 response never leaves its
//! connection reusable (hyper honours `Connection: keep-alive`). A 101 response is an
//! error too (upgrades have their own path); other 1xx responses are skipped. Nothing
//! here indexes or unwraps wire data; limits bound the head, the number of headers,
//! chunk extensions and trailers.
//!
//! - `conn`: the connection and the exchange (idle check, request, response head);
//! - `encode`: the request head and its framing;
//! - `parse`: the response head and its framing;
//! - `chunked`: the chunked body decoder;
//! - `body`: the response body and the hand-back of the connection.

mod body;
mod chunked;
mod conn;
mod encode;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz;
mod parse;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;

pub(crate) use body::ResponseBody;
pub(crate) use conn::Conn;

use crate::BoxError;

/// Limits on what the upstream may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The largest response head, status line and headers (default 64 KiB), each
    /// informational response counted on its own.
    pub(crate) max_head: usize,
    /// The most header lines in a head, or trailer lines after a chunked body
    /// (default 100, as hyper).
    pub(crate) max_headers: usize,
    /// The largest trailer section of a chunked body (default 16 KiB, as hyper).
    pub(crate) max_trailers: usize,
    /// The most bytes of chunk extensions in one body (default 16 KiB, as hyper).
    pub(crate) max_chunk_extensions: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 64 * 1024,
            max_headers: 100,
            max_trailers: 16 * 1024,
            max_chunk_extensions: 16 * 1024,
        }
    }
}

/// Why an exchange with the upstream failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The idle connection had been closed by the upstream (end of file before the
    /// request was written).
    #[error("the upstream closed the idle connection")]
    Closed,
    /// The upstream sent bytes on the idle connection, before any request.
    #[error("the upstream sent unexpected bytes on an idle connection")]
    UnexpectedData,
    /// Reading from or writing to the connection failed.
    #[error("upstream connection: {0}")]
    Io(#[source] std::io::Error),
    /// The connection closed after the request was written (in part or whole) and
    /// before any byte of a response.
    #[error("the upstream closed the connection without a response")]
    NoResponse,
    /// The connection closed in the middle of a response head.
    #[error("the upstream closed the connection in the middle of the response head")]
    IncompleteHead,
    /// The response head is malformed (status line, header syntax, too many headers).
    #[error("invalid response head: {0}")]
    Head(#[source] httparse::Error),
    /// The response head is over [`Limits::max_head`].
    #[error("the response head is over {0} bytes")]
    HeadTooLarge(usize),
    /// The response head is well formed but its meaning is not acceptable (status code,
    /// framing headers).
    #[error("invalid response: {0}")]
    Invalid(&'static str),
    /// A 101 (or a 2xx answer to CONNECT): a protocol switch, which this client does not
    /// do.
    #[error("the upstream switched protocols, which this client does not support")]
    Upgrade,
    /// The connection closed before the end of the response body.
    #[error("the upstream closed the connection before the end of the response body")]
    IncompleteBody,
    /// A malformed chunked response body (chunk size line, chunk end, trailers).
    #[error("invalid chunked response body: {0}")]
    Chunked(&'static str),
    /// The request body failed while it was being sent.
    #[error("the request body failed")]
    RequestBody(#[source] BoxError),
    /// The request body's length differs from its exact size hint (sent as
    /// `Content-Length`).
    #[error("the request body's length differs from its declared length")]
    RequestBodyLength,
}
