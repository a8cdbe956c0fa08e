//! One upstream connection and one exchange on it: the idle check, the request written
//! while the read side is watched for an early response, the response head.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Request, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::body::ResponseBody;
use super::encode::{self, Framing};
use super::parse::{self, Head, Scan};
use super::{Error, Limits};
use crate::BoxError;

/// The smallest read: the read buffer gets at least this much room before a read.
const READ_MIN: usize = 8 * 1024;
/// The largest read, reached by doubling while reads fill the room they are given.
const READ_MAX: usize = 64 * 1024;
/// Body data up to this size is copied next to the head (or the previous data) so that
/// one write sends both; larger data is written from its own buffer.
const COALESCE: usize = 16 * 1024;

/// One HTTP/1.1 connection to the upstream: the transport, the read buffer and the
/// write buffer (kept for the next request).
pub(crate) struct Conn<IO> {
    io: IO,
    /// Bytes read and not yet consumed.
    pub(super) read_buf: BytesMut,
    /// The room given to the next read.
    read_size: usize,
    /// Where the search for the end of a response head stands.
    scan: Scan,
    /// The request head and small body data, waiting to be written.
    out: Vec<u8>,
    pub(super) limits: Limits,
}

impl<IO> std::fmt::Debug for Conn<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("buffered", &self.read_buf.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The writing side of one exchange.
struct Sending {
    /// The body's framing and, for a length, how much is left to send.
    framing: Framing,
    /// Bytes of `out` already written.
    written: usize,
    /// Large body data, written after `out`.
    big: Option<Bytes>,
    /// A chunk's CRLF is due after `big`.
    crlf_after_big: bool,
    /// Some bytes went out (the request cannot be given back).
    wrote_any: bool,
    /// The body was polled (the request cannot be given back).
    body_taken: bool,
    /// The body has ended and its end is encoded in `out`.
    body_done: bool,
    /// The whole request is written and flushed.
    complete: bool,
    /// The upstream closed its side.
    read_eof: bool,
}

impl<IO> Conn<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    /// A connection over `io` (connected, with nothing read or written yet).
    pub(crate) fn new(io: IO, limits: Limits) -> Conn<IO> {
        Conn {
            io,
            read_buf: BytesMut::new(),
            read_size: READ_MIN,
            scan: Scan::default(),
            out: Vec::new(),
            limits,
        }
    }

    #[cfg(any(test, feature = "fuzzing"))]
    /// The transport.
    pub(crate) fn get_ref(&self) -> &IO {
        &self.io
    }

    /// Sends `req` and reads the response head.
    ///
    /// The request goes out as: request line (method, the origin-form target of
    /// `req.uri()`, `HTTP/1.1`), the headers as given (the caller has removed hop-by-hop
    /// headers and set `Host`) except `Content-Length` and `Transfer-Encoding`, and the
    /// framing this client chooses: no body is no header (`Content-Length: 0` for POST,
    /// PUT and PATCH), an exact size hint is `Content-Length`, anything else is chunked
    /// (request trailers are not sent). The head and a body frame that is ready at once
    /// leave in one write.
    ///
    /// A final response that arrives while the request is still being written ends the
    /// writing (an upstream refusing a body early); its connection is not reused.
    ///
    /// On error, the request comes back only when nothing of it was written and its
    /// body was not polled, so it can be sent again on another connection: the idle
    /// connection had been closed by the upstream (or sent unexpected bytes), or the very
    /// first write failed before the body was polled.
    pub(crate) async fn send<B>(
        mut self,
        req: Request<B>,
    ) -> Result<Response<ResponseBody<IO>>, (Error, Option<Request<B>>)>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        if let Err(e) = poll_fn(|cx| Poll::Ready(self.check_idle(cx))).await {
            return Err((e, Some(req)));
        }
        let (parts, mut body) = req.into_parts();
        let framing = Framing::of(
            &parts.method,
            body.is_end_stream(),
            body.size_hint().exact(),
        );
        self.out.clear();
        encode::head(&mut self.out, &parts, framing);
        let close = encode::wants_close(&parts.headers);
        let mut send = Sending {
            framing,
            written: 0,
            big: None,
            crlf_after_big: false,
            wrote_any: false,
            body_taken: false,
            body_done: !matches!(framing, Framing::Length(1..) | Framing::Chunked),
            complete: false,
            read_eof: false,
        };
        let method = &parts.method;
        match poll_fn(|cx| self.poll_exchange(cx, &mut body, &mut send, method)).await {
            Ok(head) => {
                let reusable = head.keep_alive && !close && send.complete;
                let Head {
                    status,
                    version,
                    headers,
                    framing,
                    ..
                } = head;
                let mut resp = Response::new(ResponseBody::new(self, framing, reusable));
                *resp.status_mut() = status;
                *resp.version_mut() = version;
                *resp.headers_mut() = headers;
                Ok(resp)
            }
            Err(e) => {
                let back =
                    (!send.wrote_any && !send.body_taken).then(|| Request::from_parts(parts, body));
                Err((e, back))
            }
        }
    }

    /// Before a request: an idle connection must have nothing to read. End of file means
    /// the upstream closed it; bytes mean it is out of step.
    pub(super) fn check_idle(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        if !self.read_buf.is_empty() {
            return Err(Error::UnexpectedData);
        }
        match self.poll_read_more(cx) {
            Poll::Pending => Ok(()),
            Poll::Ready(Ok(0)) => Err(Error::Closed),
            Poll::Ready(Ok(_)) => Err(Error::UnexpectedData),
            Poll::Ready(Err(e)) => Err(Error::Io(e)),
        }
    }

    /// Reads what is available into the read buffer; `Ok(0)` is the end of the stream.
    pub(super) fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let room = self.read_buf.capacity() - self.read_buf.len();
        if room < self.read_size {
            self.read_buf.reserve(self.read_size);
        }
        let room = self.read_buf.capacity() - self.read_buf.len();
        let read = pin!(self.io.read_buf(&mut self.read_buf));
        let n = ready!(read.poll(cx))?;
        if n >= room && self.read_size < READ_MAX {
            self.read_size *= 2;
        }
        Poll::Ready(Ok(n))
    }

    /// Writes the request while watching the read side, then reads the response head.
    fn poll_exchange<B>(
        &mut self,
        cx: &mut Context<'_>,
        body: &mut B,
        send: &mut Sending,
        method: &Method,
    ) -> Poll<Result<Head, Error>>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        // Bounded: every round reads bytes (the head limit ends that), writes bytes,
        // takes a body frame, or returns.
        loop {
            if !send.read_eof {
                match self.poll_read_more(cx) {
                    Poll::Ready(Ok(0)) => send.read_eof = true,
                    Poll::Ready(Ok(_)) => {
                        if let Some(head) = self.parse_head(method, false)? {
                            return Poll::Ready(Ok(head));
                        }
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                    Poll::Pending => {}
                }
            }
            if send.read_eof {
                return Poll::Ready(Err(self.at_eof(method, send)));
            }
            if send.complete {
                return Poll::Pending;
            }
            match self.poll_write_request(cx, body, send) {
                Poll::Ready(Ok(())) => send.complete = true,
                Poll::Ready(Err(e)) => return Poll::Ready(self.after_write_error(cx, e, method)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The end of the stream before a complete response head.
    fn at_eof(&mut self, method: &Method, send: &Sending) -> Error {
        if self.read_buf.is_empty() {
            return if send.wrote_any {
                Error::NoResponse
            } else {
                Error::Closed
            };
        }
        match self.parse_head(method, true) {
            Err(e) => e,
            // Informational responses only, then the end.
            Ok(None) => Error::NoResponse,
            // Unreachable (a complete head is parsed as it arrives), kept total.
            Ok(Some(_)) => Error::IncompleteHead,
        }
    }

    /// A write failed: the upstream may have answered and closed before reading the whole
    /// request (a response already here wins); else the write's error.
    fn after_write_error(
        &mut self,
        cx: &mut Context<'_>,
        e: Error,
        method: &Method,
    ) -> Result<Head, Error> {
        // Bounded by the head limit: each round reads bytes or stops.
        loop {
            match self.poll_read_more(cx) {
                Poll::Ready(Ok(n)) if n > 0 => match self.parse_head(method, false) {
                    Ok(Some(head)) => return Ok(head),
                    Ok(None) => {}
                    Err(_) => return Err(e),
                },
                _ => return Err(e),
            }
        }
    }

    fn parse_head(&mut self, method: &Method, at_eof: bool) -> Result<Option<Head>, Error> {
        parse::parse_head(
            &mut self.read_buf,
            method,
            &self.limits,
            &mut self.scan,
            at_eof,
        )
    }

    /// Writes the head and the body, coalescing small frames, then flushes.
    fn poll_write_request<B>(
        &mut self,
        cx: &mut Context<'_>,
        body: &mut B,
        send: &mut Sending,
    ) -> Poll<Result<(), Error>>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        // Bounded: every round takes a frame or writes bytes or returns.
        loop {
            let buffered = self.out.len() - send.written.min(self.out.len());
            if !send.body_done && send.big.is_none() && buffered < COALESCE {
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        send.body_taken = true;
                        if let Ok(data) = frame.into_data() {
                            self.encode_data(send, data)?;
                        }
                        continue;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        send.body_taken = true;
                        return Poll::Ready(Err(Error::RequestBody(e.into())));
                    }
                    Poll::Ready(None) => {
                        send.body_taken = true;
                        self.encode_end(send)?;
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            if buffered > 0 || send.big.is_some() {
                ready!(self.poll_write_out(cx, send)).map_err(Error::Io)?;
                continue;
            }
            ready!(Pin::new(&mut self.io).poll_flush(cx)).map_err(Error::Io)?;
            return if send.body_done {
                Poll::Ready(Ok(()))
            } else {
                // The body has nothing yet; its waker is registered.
                Poll::Pending
            };
        }
    }

    fn encode_data(&mut self, send: &mut Sending, data: Bytes) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        let len = data.len();
        match &mut send.framing {
            Framing::Length(left) => {
                *left = left
                    .checked_sub(len as u64)
                    .ok_or(Error::RequestBodyLength)?;
            }
            Framing::Chunked => encode::chunk_size(&mut self.out, len),
            Framing::None => return Err(Error::RequestBodyLength),
        }
        let chunked = send.framing == Framing::Chunked;
        if len <= COALESCE {
            self.out.extend_from_slice(&data);
            if chunked {
                self.out.extend_from_slice(b"\r\n");
            }
        } else {
            send.big = Some(data);
            send.crlf_after_big = chunked;
        }
        Ok(())
    }

    fn encode_end(&mut self, send: &mut Sending) -> Result<(), Error> {
        match send.framing {
            Framing::Length(0) | Framing::None => {}
            Framing::Length(_) => return Err(Error::RequestBodyLength),
            Framing::Chunked => self.out.extend_from_slice(b"0\r\n\r\n"),
        }
        send.body_done = true;
        Ok(())
    }

    /// Writes `out` then `big` (in one vectored write when the transport has them).
    fn poll_write_out(&mut self, cx: &mut Context<'_>, send: &mut Sending) -> Poll<io::Result<()>> {
        // Bounded: every round writes at least one byte or returns.
        loop {
            let head = self.out.get(send.written..).unwrap_or_default();
            let tail = send.big.as_deref().unwrap_or_default();
            if head.is_empty() && tail.is_empty() {
                self.out.clear();
                send.written = 0;
                send.big = None;
                if std::mem::take(&mut send.crlf_after_big) {
                    self.out.extend_from_slice(b"\r\n");
                }
                return Poll::Ready(Ok(()));
            }
            let io = Pin::new(&mut self.io);
            let n = if !head.is_empty() && !tail.is_empty() && io.is_write_vectored() {
                ready!(io.poll_write_vectored(cx, &[IoSlice::new(head), IoSlice::new(tail)]))?
            } else if !head.is_empty() {
                ready!(io.poll_write(cx, head))?
            } else {
                ready!(io.poll_write(cx, tail))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            send.wrote_any = true;
            let from_head = n.min(head.len());
            send.written += from_head;
            if let Some(big) = &mut send.big {
                big.advance((n - from_head).min(big.len()));
            }
        }
    }
}
