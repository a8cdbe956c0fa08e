//! Request bodies: read completely before forwarding ([`collect`]), or streamed under
//! the same limits ([`Streamed`]).

use super::*;

// ---------------------------------------------------------------- request bodies

/// Why a request body was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Larger than `client_max_body_size` (413).
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The client paused longer than `client_body_timeout` (408).
    #[error("the request body did not arrive within {}s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The body itself is broken (bad chunked encoding, connection closed early): 400.
    #[error("the request body is malformed: {0}")]
    Malformed(BoxError),
    /// The temporary file could not be written (507).
    #[error("the request body could not be stored: {0}")]
    Storage(std::io::Error),
}

/// The request-body settings of a gateway.
#[derive(Clone, Debug)]
pub(crate) struct BodyLimits {
    /// Buffer request bodies at all.
    pub(crate) buffering: bool,
    /// Paths whose bodies stream.
    pub(crate) unbuffered: PathList,
    /// In memory up to this many bytes.
    pub(crate) memory: usize,
    /// Largest body; 0 = unlimited.
    pub(crate) max: u64,
    /// Longest pause between reads.
    pub(crate) timeout: Duration,
    /// Where temporary files go.
    pub(crate) temp_dir: PathBuf,
}

impl BodyLimits {
    pub(crate) fn new(options: &GatewayOptions) -> BodyLimits {
        BodyLimits {
            buffering: options.request_buffering,
            unbuffered: PathList::new(&options.unbuffered_request_paths),
            memory: options.client_body_buffer_size,
            max: options.client_max_body_size,
            timeout: options.client_body_timeout,
            temp_dir: options.temp_dir_or_default(),
        }
    }

    /// Whether the body of a request to `path` is buffered.
    pub(crate) fn buffers(&self, path: &str) -> bool {
        self.buffering && !self.unbuffered.matches(path)
    }

    /// Whether a body announcing at least `lower` bytes is refused at once.
    pub(crate) fn too_large(&self, lower: u64) -> bool {
        self.max != 0 && lower > self.max
    }
}

/// A request body read completely.
#[derive(Debug)]
pub(crate) enum Buffered {
    /// In memory, in the chunks it arrived in.
    Memory {
        /// The chunks still to send.
        chunks: VecDeque<Bytes>,
        /// Their total length.
        len: u64,
    },
    /// In an anonymous temporary file.
    File {
        /// The file.
        file: File,
        /// Where the next read starts.
        pos: u64,
        /// The body's length.
        len: u64,
    },
}

impl Buffered {
    /// The body's total length, for `Content-Length`.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Buffered::Memory { len, .. } | Buffered::File { len, .. } => *len,
        }
    }

    fn remaining(&self) -> u64 {
        match self {
            Buffered::Memory { len, .. } => *len,
            Buffered::File { pos, len, .. } => len.saturating_sub(*pos),
        }
    }

    fn next_chunk(&mut self) -> Option<Result<Bytes, BoxError>> {
        match self {
            Buffered::Memory { chunks, len } => {
                let c = chunks.pop_front()?;
                *len = len.saturating_sub(c.len() as u64);
                Some(Ok(c))
            }
            Buffered::File { file, pos, len } => {
                if *pos >= *len {
                    return None;
                }
                match read_chunk(file, *pos, *len - *pos) {
                    Ok(b) => {
                        *pos += b.len() as u64;
                        Some(Ok(b))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading a buffered request body failed");
                        Some(Err(Box::new(e)))
                    }
                }
            }
        }
    }
}

/// Reads a request body completely under `limits`: in memory up to `limits.memory`
/// bytes, the whole body in a temporary file beyond. `Ok(None)`: there is no body.
pub(crate) async fn collect<B>(
    mut body: B,
    limits: &BodyLimits,
) -> Result<Option<Buffered>, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    if body.is_end_stream() {
        return Ok(None);
    }
    if limits.too_large(body.size_hint().lower()) {
        return Err(BodyError::TooLarge { limit: limits.max });
    }
    let mut chunks: VecDeque<Bytes> = VecDeque::new();
    let mut total: u64 = 0;
    let mut file: Option<File> = None;
    loop {
        // What is there already, without arming a timer; else wait at most the timeout.
        let polled = std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(f) => Some(f),
                Poll::Pending => None,
            })
        })
        .await;
        let next = match polled {
            Some(f) => f,
            None => tokio::time::timeout(limits.timeout, body.frame())
                .await
                .map_err(|_| BodyError::Timeout(limits.timeout))?,
        };
        let frame = match next {
            None => break,
            Some(Err(e)) => return Err(BodyError::Malformed(e.into())),
            Some(Ok(frame)) => frame,
        };
        // Trailers cannot follow a body sent with Content-Length: dropped, as nginx does.
        let Ok(data) = frame.into_data() else {
            break;
        };
        let before = total;
        total += data.len() as u64;
        if limits.too_large(total) {
            return Err(BodyError::TooLarge { limit: limits.max });
        }
        match &file {
            Some(f) => write_all_at(f, &data, before).map_err(BodyError::Storage)?,
            None if total <= limits.memory as u64 => chunks.push_back(data),
            None => {
                let f = temp_file(&limits.temp_dir).map_err(BodyError::Storage)?;
                let mut at = 0u64;
                for c in chunks.drain(..).chain(std::iter::once(data)) {
                    write_all_at(&f, &c, at).map_err(BodyError::Storage)?;
                    at += c.len() as u64;
                }
                file = Some(f);
            }
        }
        if body.is_end_stream() {
            break;
        }
    }
    Ok(Some(match file {
        Some(file) => Buffered::File {
            file,
            pos: 0,
            len: total,
        },
        None => Buffered::Memory { chunks, len: total },
    }))
}

/// A request body streamed to the upstream as it arrives, under the same size limit
/// and timeout between reads as a buffered one.
#[derive(Debug)]
pub(crate) struct Streamed<B> {
    inner: B,
    max: u64,
    seen: u64,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> Streamed<B> {
    pub(crate) fn new(inner: B, limits: &BodyLimits) -> Streamed<B> {
        Streamed {
            inner,
            max: limits.max,
            seen: 0,
            timeout: limits.timeout,
            sleep: None,
        }
    }
}

impl<B> Body for Streamed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.seen += d.len() as u64;
                    if this.max != 0 && this.seen > this.max {
                        return Poll::Ready(Some(Err(Box::new(BodyError::TooLarge {
                            limit: this.max,
                        }))));
                    }
                }
                if let Some(s) = this.sleep.as_mut() {
                    s.as_mut().reset(Instant::now() + this.timeout);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyError::Timeout(timeout)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The body of a request sent upstream.
#[derive(Debug)]
pub(crate) enum RequestBody<S = Incoming> {
    /// No body.
    Empty,
    /// Read completely (memory or temporary file).
    Buffered(Buffered),
    /// Streamed as it arrives.
    Streamed(Streamed<S>),
}

impl<S> Body for RequestBody<S>
where
    S: Body<Data = Bytes> + Unpin,
    S::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Buffered(b) => Poll::Ready(b.next_chunk().map(|r| r.map(Frame::data))),
            RequestBody::Streamed(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Buffered(b) => b.remaining() == 0,
            RequestBody::Streamed(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Buffered(b) => SizeHint::with_exact(b.remaining()),
            RequestBody::Streamed(s) => s.size_hint(),
        }
    }
}
