//! Responses: read from the upstream as fast as it sends them ([`buffer_response`]),
//! fed to the client at its own pace ([`SpoolBody`]), or passed through as it comes (streamed).

use super::*;

// ---------------------------------------------------------------- responses

/// The response-buffering settings of a gateway.
#[derive(Clone, Debug)]
pub(crate) struct ResponseBuffering {
    /// Buffer responses at all.
    pub(crate) enabled: bool,
    /// In memory up to this many bytes per response.
    pub(crate) memory: usize,
    /// Largest temporary file per response; 0 = none.
    pub(crate) max_file: u64,
    /// Longest pause between two reads from the upstream.
    pub(crate) read_timeout: Duration,
    /// Longest a client may go without taking data while some waits for it.
    pub(crate) send_timeout: Duration,
    /// Where temporary files go.
    pub(crate) temp_dir: PathBuf,
}

impl ResponseBuffering {
    pub(crate) fn new(options: &GatewayOptions) -> ResponseBuffering {
        ResponseBuffering {
            enabled: options.response_buffering,
            memory: options.response_buffer_size.max(1),
            max_file: options.max_temp_file_size,
            read_timeout: options.upstream_timeout,
            send_timeout: options.send_timeout,
            temp_dir: options.temp_dir_or_default(),
        }
    }
}

/// Whether a response must stream rather than be buffered: protocol switches, server-sent
/// events, and what the upstream marks `X-Accel-Buffering: no`.
/// The upstream's instruction not to buffer a response.
pub(crate) const X_ACCEL_BUFFERING: http::HeaderName =
    http::HeaderName::from_static("x-accel-buffering");

pub(crate) fn must_stream(status: http::StatusCode, headers: &HeaderMap) -> bool {
    status == http::StatusCode::SWITCHING_PROTOCOLS
        || headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"))
            })
        || headers
            .get(X_ACCEL_BUFFERING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no"))
}

/// What to do when the upstream's part of a response is done: release its connection.
pub(crate) type OnComplete = Box<dyn FnOnce() + Send>;

/// A response body that arrived whole: its chunks (usually one, kept without
/// allocating) and trailers.
#[derive(Debug, Default)]
struct Whole {
    first: Option<Bytes>,
    rest: VecDeque<Bytes>,
    len: u64,
    trailers: Option<HeaderMap>,
}

impl Whole {
    fn push(&mut self, data: Bytes) {
        self.len += data.len() as u64;
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(data);
        } else {
            self.rest.push_back(data);
        }
    }

    fn into_chunks(self) -> impl Iterator<Item = Bytes> {
        self.first.into_iter().chain(self.rest)
    }
}

impl Body for Whole {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(c) = self.first.take().or_else(|| self.rest.pop_front()) {
            self.len = self.len.saturating_sub(c.len() as u64);
            return Poll::Ready(Some(Ok(Frame::data(c))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// Buffers an upstream response body under `cfg`, calling `on_complete` once the
/// upstream has sent all of it.
///
/// A body already complete (or, with a `Content-Length` that fits the memory buffer,
/// complete after awaiting it here) is returned as it is, without a task. Anything else
/// is pumped by a task of its own into a [`SpoolBody`]. An error before anything was
/// handed over is returned (a 502 for the caller).
pub(crate) async fn buffer_response<B>(
    mut body: B,
    on_complete: OnComplete,
    cfg: &Arc<ResponseBuffering>,
) -> Result<BoxBody, BoxError>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut whole = Whole::default();
    if body.is_end_stream() {
        on_complete();
        return Ok(whole.boxed_unsync());
    }
    let exact = body.size_hint().exact();
    // A small body of known length is awaited here: the upstream is sending it now.
    let small = exact.is_some_and(|n| n <= cfg.memory as u64);
    loop {
        // What is there already (usually all of it), without arming a timer.
        let polled = std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(f) => Some(f),
                Poll::Pending => None,
            })
        })
        .await;
        let next = match polled {
            Some(f) => f,
            // Never wait before handing over the headers, unless the rest is small.
            None if !small => break,
            None => match tokio::time::timeout(cfg.read_timeout, body.frame()).await {
                Ok(f) => f,
                Err(_) => return Err("the upstream stalled while sending a response".into()),
            },
        };
        match next {
            None => {
                on_complete();
                return Ok(whole.boxed_unsync());
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(d) => {
                    whole.push(d);
                }
                Err(frame) => {
                    whole.trailers = frame.into_trailers().ok();
                    on_complete();
                    return Ok(whole.boxed_unsync());
                }
            },
        }
        if body.is_end_stream() {
            on_complete();
            return Ok(whole.boxed_unsync());
        }
        if whole.len >= cfg.memory as u64 {
            break;
        }
    }
    Ok(spool(body, whole, on_complete, cfg.clone(), exact).boxed_unsync())
}

/// Starts the task that pumps `body` (after the chunks of `head`) into a spool, and
/// returns the client's end of it.
fn spool<B>(
    body: B,
    head: Whole,
    on_complete: OnComplete,
    cfg: Arc<ResponseBuffering>,
    exact: Option<u64>,
) -> SpoolBody
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    let shared = Arc::new(Spool {
        state: Mutex::new(SpoolState {
            mem: VecDeque::new(),
            mem_len: 0,
            file: None,
            file_usable: cfg.max_file > 0,
            write_pos: 0,
            read_pos: 0,
            end: None,
            finished: false,
            consumer: None,
            consumer_gone: false,
            progress: Instant::now(),
            aborted: false,
        }),
        room: Notify::new(),
    });
    {
        let mut s = shared.lock();
        for c in head.into_chunks() {
            // The head fits the memory buffer, or goes to the file like any other data.
            if let Some(rest) = s.push(c, &cfg) {
                s.mem_len += rest.len();
                s.mem.push_back(Bytes::copy_from_slice(&rest));
            }
        }
    }
    let consumer = SpoolBody {
        shared: shared.clone(),
        remaining: exact,
    };
    tokio::spawn(pump(shared, body, on_complete, cfg));
    consumer
}

/// What the pump task and the client's body share.
struct Spool {
    state: Mutex<SpoolState>,
    /// Signalled by the consumer: room was freed, it finished, or it went away.
    room: Notify,
}

struct SpoolState {
    /// Data in memory, in order; all of it precedes the file's unread data.
    mem: VecDeque<Bytes>,
    mem_len: usize,
    /// The temporary file, once made.
    file: Option<File>,
    /// Whether data may still go to a file (allowed and no write failed).
    file_usable: bool,
    /// The file's unread data is `read_pos..write_pos`; both go back to 0 when it is
    /// all read.
    write_pos: u64,
    read_pos: u64,
    /// How the upstream's part ended, once it has.
    end: Option<Result<Option<HeaderMap>, String>>,
    /// The consumer has seen the end.
    finished: bool,
    consumer: Option<Waker>,
    consumer_gone: bool,
    /// When the consumer last took data.
    progress: Instant,
    /// Given up on a client that stopped reading.
    aborted: bool,
}

impl Spool {
    fn lock(&self) -> MutexGuard<'_, SpoolState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SpoolState {
    fn file_unread(&self) -> u64 {
        self.write_pos - self.read_pos
    }

    /// Whether buffered data waits for the consumer.
    fn data_waits(&self) -> bool {
        self.mem_len > 0 || self.file_unread() > 0
    }

    /// Whether some data could be stored now.
    fn has_room(&self, cfg: &ResponseBuffering) -> bool {
        (self.file_unread() == 0 && self.mem_len < cfg.memory)
            || (self.file_usable && self.write_pos < cfg.max_file)
    }

    /// Stores what fits of `data` (memory while the file is empty, else the file) and
    /// returns the rest.
    fn push(&mut self, mut data: Bytes, cfg: &ResponseBuffering) -> Option<Bytes> {
        if self.file_unread() == 0 && self.mem_len < cfg.memory {
            let take = data.len().min(cfg.memory - self.mem_len);
            let head = data.split_to(take);
            if !head.is_empty() {
                self.mem_len += head.len();
                // A copy: a slice would keep the upstream connection's whole read
                // buffer (up to hundreds of KiB) alive for as long as the client
                // takes to read it.
                self.mem.push_back(Bytes::copy_from_slice(&head));
            }
        }
        if !data.is_empty() && self.file_usable && self.write_pos < cfg.max_file {
            if self.file.is_none() {
                match temp_file(&cfg.temp_dir) {
                    Ok(f) => self.file = Some(f),
                    Err(e) => {
                        tracing::warn!(dir = %cfg.temp_dir.display(), error = %e,
                            "cannot create a temporary file for a response; streaming the rest");
                        self.file_usable = false;
                    }
                }
            }
            if let Some(f) = &self.file {
                let room = usize::try_from(cfg.max_file - self.write_pos).unwrap_or(usize::MAX);
                let take = data.len().min(room);
                match write_all_at(f, data.get(..take).unwrap_or_default(), self.write_pos) {
                    Ok(()) => {
                        self.write_pos += take as u64;
                        data.advance(take);
                    }
                    Err(e) => {
                        tracing::warn!(dir = %cfg.temp_dir.display(), error = %e,
                            "cannot write a response to its temporary file; streaming the rest");
                        self.file_usable = false;
                    }
                }
            }
        }
        self.wake_consumer();
        (!data.is_empty()).then_some(data)
    }

    fn wake_consumer(&mut self) {
        if let Some(w) = self.consumer.take() {
            w.wake();
        }
    }

    /// Frees everything buffered.
    fn clear(&mut self) {
        self.mem.clear();
        self.mem_len = 0;
        self.file = None;
        self.file_usable = false;
        self.write_pos = 0;
        self.read_pos = 0;
    }
}

/// The pump: reads the upstream body into the spool as fast as the upstream sends it
/// (while there is room), releases the upstream once it is done, then watches the
/// client: one that takes nothing for `send_timeout` while data waits is given up on.
async fn pump<B>(
    shared: Arc<Spool>,
    mut body: B,
    on_complete: OnComplete,
    cfg: Arc<ResponseBuffering>,
) where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut pending: Option<Bytes> = None;
    let end = loop {
        // Store what is left of the last frame, waiting for room as needed.
        while let Some(data) = pending.take() {
            if !wait_for(&shared, &cfg, |s| s.has_room(&cfg)).await {
                return;
            }
            pending = shared.lock().push(data, &cfg);
        }
        if !wait_for(&shared, &cfg, |s| s.has_room(&cfg)).await {
            return;
        }
        let read = tokio::select! {
            read = tokio::time::timeout(cfg.read_timeout, body.frame()) => read,
            () = consumer_gone(&shared) => return,
        };
        let frame = match read {
            Err(_) => break Err("the upstream stalled while sending a response".to_owned()),
            Ok(None) => break Ok(None),
            Ok(Some(Err(e))) => break Err(e.into().to_string()),
            Ok(Some(Ok(frame))) => frame,
        };
        match frame.into_data() {
            Ok(d) => pending = shared.lock().push(d, &cfg),
            Err(frame) => break Ok(frame.into_trailers().ok()),
        }
        if pending.is_none() && body.is_end_stream() {
            break Ok(None);
        }
    };
    drop(body);
    let failed = end.is_err();
    if let Err(e) = &end {
        tracing::warn!(error = %e, "upstream response body failed");
    }
    {
        let mut s = shared.lock();
        s.end = Some(end);
        s.wake_consumer();
    }
    if failed {
        drop(on_complete);
    } else {
        on_complete();
    }
    // The client still reads what is buffered: give up on it if it stops.
    let _ = wait_for(&shared, &cfg, |s| s.finished).await;
}

/// Completes once the consumer is gone (or was given up on).
async fn consumer_gone(shared: &Spool) {
    loop {
        {
            let s = shared.lock();
            if s.consumer_gone || s.aborted {
                return;
            }
        }
        shared.room.notified().await;
    }
}

/// Waits until `ready(state)` holds (true), or the consumer is gone (false). While data
/// waits for the consumer and it takes nothing for `send_timeout`, the spool is cleared
/// and marked aborted (false).
async fn wait_for(
    shared: &Spool,
    cfg: &ResponseBuffering,
    ready: impl Fn(&SpoolState) -> bool,
) -> bool {
    loop {
        let deadline = {
            let s = shared.lock();
            if s.consumer_gone || s.aborted {
                return false;
            }
            if ready(&s) {
                return true;
            }
            s.data_waits().then(|| s.progress + cfg.send_timeout)
        };
        let Some(deadline) = deadline else {
            shared.room.notified().await;
            continue;
        };
        tokio::select! {
            () = shared.room.notified() => {}
            () = tokio::time::sleep_until(deadline) => {
                let mut s = shared.lock();
                if s.data_waits() && s.progress + cfg.send_timeout <= Instant::now() && !ready(&s) {
                    tracing::info!(
                        "client took no response data for {}s; giving up on it",
                        cfg.send_timeout.as_secs_f64()
                    );
                    s.clear();
                    s.aborted = true;
                    s.wake_consumer();
                    return false;
                }
            }
        }
    }
}

/// The client's end of a buffered response.
pub(crate) struct SpoolBody {
    shared: Arc<Spool>,
    /// Bytes still to come, when the upstream said.
    remaining: Option<u64>,
}

impl Body for SpoolBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let mut s = this.shared.lock();
        if s.aborted {
            return Poll::Ready(Some(Err("the client stopped reading the response".into())));
        }
        let data = if let Some(d) = s.mem.pop_front() {
            s.mem_len -= d.len();
            Some(Ok(d))
        } else if s.file_unread() > 0 {
            let read = match &s.file {
                Some(f) => read_chunk(f, s.read_pos, s.file_unread()),
                None => Err(std::io::ErrorKind::NotFound.into()),
            };
            match read {
                Ok(d) => {
                    s.read_pos += d.len() as u64;
                    if s.read_pos == s.write_pos {
                        s.read_pos = 0;
                        s.write_pos = 0;
                    }
                    Some(Ok(d))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading a buffered response failed");
                    s.clear();
                    Some(Err(e))
                }
            }
        } else {
            None
        };
        if let Some(d) = data {
            s.progress = Instant::now();
            drop(s);
            this.shared.room.notify_one();
            return Poll::Ready(Some(match d {
                Ok(d) => {
                    if let Some(r) = this.remaining.as_mut() {
                        *r = r.saturating_sub(d.len() as u64);
                    }
                    Ok(Frame::data(d))
                }
                Err(e) => Err(Box::new(e) as BoxError),
            }));
        }
        if s.finished {
            return Poll::Ready(None);
        }
        let out = match s.end.take() {
            None => {
                s.consumer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Some(Ok(Some(trailers))) => Some(Ok(Frame::trailers(trailers))),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some(Err(e.into())),
        };
        s.finished = true;
        drop(s);
        this.shared.room.notify_one();
        Poll::Ready(out)
    }

    fn is_end_stream(&self) -> bool {
        self.shared.lock().finished
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl Drop for SpoolBody {
    fn drop(&mut self) {
        {
            let mut s = self.shared.lock();
            s.consumer_gone = true;
            s.clear();
        }
        self.shared.room.notify_one();
    }
}
