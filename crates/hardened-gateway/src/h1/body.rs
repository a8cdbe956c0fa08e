//! The response body: reads the connection to the end of the response, then hands the
//! connection back when it may serve another request.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Error;
use super::chunked::{Chunked, Decoded};
use super::conn::Conn;
use super::parse::Framing;

/// Receives a connection whose response has been read completely and that may serve
/// another request.
pub(crate) type OnReusable<IO> = Box<dyn FnOnce(Conn<IO>) + Send>;

/// What is left to read.
#[derive(Debug)]
enum Reading {
    /// This many bytes of a `Content-Length` body.
    Length(u64),
    /// A chunked body.
    Chunked(Chunked),
    /// Up to the end of the connection.
    Eof,
    /// Nothing: the response has been read (or failed).
    Done,
}

/// The body of a response from [`Conn::send`]. It owns the connection: once the
/// response has been read to its end and the connection may serve another request, the
/// connection goes to the [`on_reusable`](Self::on_reusable) callback (or waits for
/// [`take_conn`](Self::take_conn)); a connection that may not (close-delimited body,
/// `Connection: close`, HTTP/1.0, an early response, bytes after the response) is closed
/// as soon as its response ends, and a body dropped before its end closes it too.
pub(crate) struct ResponseBody<IO> {
    /// The connection while the response is read, then only if it is reusable.
    conn: Option<Conn<IO>>,
    reading: Reading,
    /// A data frame read already (the whole body, when it came with the head).
    ready: Option<Bytes>,
    /// The connection may serve another request once this response is read.
    reusable: bool,
    on_reusable: Option<OnReusable<IO>>,
}

impl<IO> std::fmt::Debug for ResponseBody<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("reading", &self.reading)
            .field("ready", &self.ready.as_ref().map(Bytes::len))
            .field("reusable", &self.reusable)
            .field("holds_conn", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl<IO> ResponseBody<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    /// The body of a response whose head has just been read from `conn`.
    pub(super) fn new(mut conn: Conn<IO>, framing: Framing, reusable: bool) -> ResponseBody<IO> {
        let mut ready = None;
        let reading = match framing {
            Framing::Empty => Reading::Done,
            Framing::Length(n) => {
                if conn.read_buf.len() as u64 >= n {
                    // The whole body is here: one frame, no more I/O.
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    ready = Some(conn.read_buf.split_to(n).freeze());
                    Reading::Done
                } else {
                    Reading::Length(n)
                }
            }
            Framing::Chunked => Reading::Chunked(Chunked::new()),
            Framing::Eof => Reading::Eof,
        };
        let mut body = ResponseBody {
            conn: Some(conn),
            reading,
            ready,
            reusable: reusable && framing != Framing::Eof,
            on_reusable: None,
        };
        if matches!(body.reading, Reading::Done) {
            body.finish();
        }
        body
    }

    /// Hands the connection to `f` once the response has been read completely, if the
    /// connection may serve another request: at once when that is already so (the body
    /// may still hold its last frame), else from the poll that reads the end. `f` is
    /// dropped unused when the connection is not reusable.
    pub(crate) fn on_reusable(&mut self, f: OnReusable<IO>) {
        match (&self.reading, self.conn.take()) {
            (Reading::Done, Some(conn)) => f(conn),
            (Reading::Done, None) => {}
            (_, conn) => {
                self.conn = conn;
                self.on_reusable = Some(f);
            }
        }
    }

    #[cfg(any(test, feature = "fuzzing"))]
    /// The connection, if the response has been read from it completely and it may serve
    /// another request (the body may still hold its last frame, which stays readable).
    pub(crate) fn take_conn(&mut self) -> Option<Conn<IO>> {
        match self.reading {
            Reading::Done => self.conn.take(),
            _ => None,
        }
    }

    /// The response has been read from the connection: keep it (or hand it over) if it
    /// may serve another request, else close it now.
    fn finish(&mut self) {
        self.reading = Reading::Done;
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Bytes after the response: the upstream is out of step.
        if !self.reusable || !conn.read_buf.is_empty() {
            return;
        }
        match self.on_reusable.take() {
            Some(f) => f(conn),
            None => self.conn = Some(conn),
        }
    }

    /// The read failed: close the connection.
    fn fail(&mut self, e: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.reading = Reading::Done;
        self.conn = None;
        self.on_reusable = None;
        Poll::Ready(Some(Err(e)))
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(data) = self.ready.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        // Bounded: every round reads bytes or returns.
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut self.reading {
                Reading::Done => return Poll::Ready(None),
                Reading::Length(left) => {
                    if !conn.read_buf.is_empty() {
                        let n = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(conn.read_buf.len());
                        let data = conn.read_buf.split_to(n).freeze();
                        *left = left.saturating_sub(n as u64);
                        if *left == 0 {
                            self.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Reading::Chunked(decoder) => {
                    match decoder.decode(&mut conn.read_buf, &conn.limits) {
                        Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                        Ok(Decoded::Trailers(trailers)) => {
                            self.finish();
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        Ok(Decoded::End) => {
                            self.finish();
                            return Poll::Ready(None);
                        }
                        Ok(Decoded::NeedMore) => {}
                        Err(e) => return self.fail(e),
                    }
                }
                Reading::Eof => {
                    if !conn.read_buf.is_empty() {
                        let data = conn.read_buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
            }
            match conn.poll_read_more(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return if matches!(self.reading, Reading::Eof) {
                        self.reading = Reading::Done;
                        self.conn = None;
                        Poll::Ready(None)
                    } else {
                        self.fail(Error::IncompleteBody)
                    };
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return self.fail(Error::Io(e)),
            }
        }
    }
}

impl<IO> Body for ResponseBody<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.get_mut().poll_next(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_none() && matches!(self.reading, Reading::Done)
    }

    fn size_hint(&self) -> SizeHint {
        let ready = self.ready.as_ref().map_or(0, |b| b.len() as u64);
        match self.reading {
            Reading::Done => SizeHint::with_exact(ready),
            Reading::Length(left) => SizeHint::with_exact(ready.saturating_add(left)),
            Reading::Chunked(_) | Reading::Eof => {
                let mut hint = SizeHint::new();
                hint.set_lower(ready);
                hint
            }
        }
    }
}
