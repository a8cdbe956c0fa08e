//! Upstream connections: a keep-alive pool of HTTP/1.1 connections shared by every
//! client, a cap on open connections (idle ones included), a cap per client connection,
//! and a bounded queue with a timeout for requests waiting at either cap.
//!
//! Kept cheap: each connection is an [`h1::Conn`] polled by the request that uses it (no
//! task, no channel) and carries one semaphore permit in its transport (so it counts
//! until its socket is really gone); one permit of the client's own semaphore per
//! request in flight, held until the response has been read from the upstream; the
//! idle lists are short `Vec`s under one `Mutex` (last in, first out: the most recently
//! used connection is the one most likely still open). A connection goes back only once
//! its response has been read completely, so a request never waits behind another
//! client's response.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;

use crate::h1;
use crate::{BoxError, GatewayOptions, Upstream};

/// Why a request got no upstream connection (503).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// The client connection's own cap, for the whole wait.
    #[error(
        "this client connection already uses {limit} upstream connections (the per-client limit) and none was freed within {}s",
        .waited.as_secs_f64()
    )]
    ClientLimit {
        /// The per-client cap.
        limit: usize,
        /// How long the request waited.
        waited: Duration,
    },
    /// The queue is full.
    #[error("all {limit} upstream connections are busy and {queued} requests already wait for one")]
    QueueFull {
        /// The global cap.
        limit: usize,
        /// The queue's size.
        queued: usize,
    },
    /// The global cap, for the whole wait.
    #[error("all {limit} upstream connections stayed busy for {}s", .waited.as_secs_f64())]
    Timeout {
        /// The global cap.
        limit: usize,
        /// How long the request waited.
        waited: Duration,
    },
}

/// Why sending a request upstream failed.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Connecting to the upstream failed.
    Connect(std::io::Error),
    /// The exchange with the upstream failed.
    Upstream(h1::Error),
    /// The exchange with the upstream failed (a request streamed on a connection of its
    /// own, see [`Lease::send_streaming`]).
    Http(hyper::Error),
    /// No connection could be had (while replacing one that had closed).
    Refused(Refused),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "connect: {e}"),
            SendError::Upstream(e) => write!(f, "{e}"),
            SendError::Http(e) => write!(f, "{e}"),
            SendError::Refused(e) => write!(f, "{e}"),
        }
    }
}

/// An upstream connection's transport: the socket and its place under the global cap,
/// freed when the socket closes.
#[derive(Debug)]
pub(crate) struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// One upstream connection.
pub(crate) type Conn = h1::Conn<Counted>;

/// The body of an upstream response.
#[derive(Debug)]
// The large variant is the one nearly every response takes: boxing it would cost an
// allocation per request to save memory on the rare streamed upload.
#[allow(clippy::large_enum_variant)]
pub(crate) enum UpstreamBody {
    /// From a pooled connection, which it gives back once read to its end (see
    /// [`Lease::send`]).
    Pooled(h1::ResponseBody<Counted>),
    /// From a connection of its own, closed after it (see [`Lease::send_streaming`]);
    /// holds the client's place until it is done.
    Own {
        body: Incoming,
        _client: OwnedSemaphorePermit,
    },
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            UpstreamBody::Pooled(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            UpstreamBody::Own { body, .. } => Pin::new(body).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Pooled(b) => b.is_end_stream(),
            UpstreamBody::Own { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            UpstreamBody::Pooled(b) => b.size_hint(),
            UpstreamBody::Own { body, .. } => body.size_hint(),
        }
    }
}

/// The upstream connections of a gateway.
pub(crate) struct Pool {
    addr: String,
    connect_timeout: Duration,
    max: usize,
    per_client: usize,
    queue_size: usize,
    queue_timeout: Duration,
    /// One permit per open connection, held by the task driving it.
    open: Arc<Semaphore>,
    /// Requests waiting in the queue.
    waiting: AtomicUsize,
    shared: Mutex<Shared>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("addr", &self.addr)
            .field("max", &self.max)
            .field("per_client", &self.per_client)
            .field("available", &self.open.available_permits())
            .finish_non_exhaustive()
    }
}

struct Shared {
    /// Idle connections of each worker (see `workers`), the most recently used last:
    /// a connection is driven by a task of the worker that opened it, so a request
    /// takes one of its own worker's first and another's only when it has none.
    idle: Vec<Vec<Conn>>,
    /// Requests waiting for a connection to be handed over, oldest first.
    waiters: VecDeque<oneshot::Sender<(Conn, usize)>>,
}

/// The caps of one client connection.
pub(crate) type ClientSlots = Arc<Semaphore>;

/// Decrements the queue count when a waiting request leaves the queue.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a lease has: a connection to reuse, a permit to open one, or a connection in use.
enum Slot {
    /// An idle connection and the worker it belongs to.
    Idle(Conn, usize),
    Fresh(OwnedSemaphorePermit),
}

/// The right to use one upstream connection for one request, under both caps: spent
/// by [`send`](Self::send).
pub(crate) struct Lease {
    pool: Arc<Pool>,
    slot: Slot,
    client: OwnedSemaphorePermit,
}

impl Pool {
    /// The pool of a gateway to `upstream`.
    pub(crate) fn new(upstream: &Upstream, options: &GatewayOptions) -> Pool {
        let max = options.upstream_max_connections.max(1);
        Pool {
            addr: upstream.addr().to_owned(),
            connect_timeout: options.connect_timeout,
            max,
            per_client: options.upstream_max_connections_per_client.max(1),
            queue_size: options.upstream_queue_size,
            queue_timeout: options.upstream_queue_timeout,
            open: Arc::new(Semaphore::new(max)),
            waiting: AtomicUsize::new(0),
            shared: Mutex::new(Shared {
                idle: (0..options.workers.max(1)).map(|_| Vec::new()).collect(),
                waiters: VecDeque::new(),
            }),
        }
    }

    /// The caps of a new client connection.
    pub(crate) fn client(&self) -> ClientSlots {
        Arc::new(Semaphore::new(self.per_client))
    }

    /// Upstream connections open now (idle, in use, or closing).
    #[cfg(test)]
    pub(crate) fn open_connections(&self) -> usize {
        self.max.saturating_sub(self.open.available_permits())
    }

    /// Requests waiting in the queue at the cap now.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle connection, the calling worker's own if it has one, and the worker it
    /// belongs to. Whether the upstream has closed it meanwhile is found out when it is
    /// used (see [`Lease::send`]).
    fn take_idle(shared: &mut Shared) -> Option<(Conn, usize)> {
        let own = crate::workers::current();
        let n = shared.idle.len();
        for k in 0..n {
            let w = (own + k) % n.max(1);
            if let Some(c) = shared.idle.get_mut(w).and_then(Vec::pop) {
                return Some((c, w));
            }
        }
        None
    }

    /// Waits (under both caps, at most the queue timeout) for a connection or the right
    /// to open one.
    pub(crate) async fn acquire(self: &Arc<Self>, client: &ClientSlots) -> Result<Lease, Refused> {
        let start = Instant::now();
        let deadline = start + self.queue_timeout;
        let client_permit = match client.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match tokio::time::timeout_at(deadline, client.clone().acquire_owned()).await
            {
                Ok(Ok(p)) => p,
                _ => {
                    return Err(Refused::ClientLimit {
                        limit: self.per_client,
                        waited: start.elapsed(),
                    });
                }
            },
        };
        let slot = self.slot(start, deadline).await?;
        Ok(Lease {
            pool: self.clone(),
            slot,
            client: client_permit,
        })
    }

    async fn slot(&self, start: Instant, deadline: Instant) -> Result<Slot, Refused> {
        if let Some((c, w)) = Self::take_idle(&mut self.lock()) {
            return Ok(Slot::Idle(c, w));
        }
        if let Ok(p) = self.open.clone().try_acquire_owned() {
            return Ok(Slot::Fresh(p));
        }
        // At the cap: wait in the queue for a connection handed over or a permit.
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.queue_size {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Refused::QueueFull {
                limit: self.max,
                queued: self.queue_size,
            });
        }
        let _waiting = Waiting(&self.waiting);
        let (tx, mut rx) = oneshot::channel();
        {
            let mut s = self.lock();
            if let Some((c, w)) = Self::take_idle(&mut s) {
                return Ok(Slot::Idle(c, w));
            }
            if s.waiters.len() >= self.queue_size.max(16) {
                s.waiters.retain(|w| !w.is_closed());
            }
            s.waiters.push_back(tx);
        }
        let permit = tokio::select! {
            biased;
            handed = &mut rx => return handed.map(|(c, w)| Slot::Idle(c, w)).map_err(|_| Refused::Timeout {
                limit: self.max,
                waited: start.elapsed(),
            }),
            p = self.open.clone().acquire_owned() => p.ok(),
            () = tokio::time::sleep_until(deadline) => None,
        };
        // A connection may have been handed over meanwhile: take it rather than lose it.
        rx.close();
        if let Ok((c, w)) = rx.try_recv() {
            return Ok(Slot::Idle(c, w));
        }
        permit.map(Slot::Fresh).ok_or(Refused::Timeout {
            limit: self.max,
            waited: start.elapsed(),
        })
    }

    /// A permit to open a connection, waiting at most the queue timeout.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, Refused> {
        if let Ok(p) = self.open.clone().try_acquire_owned() {
            return Ok(p);
        }
        let start = Instant::now();
        match tokio::time::timeout(self.queue_timeout, self.open.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(Refused::Timeout {
                limit: self.max,
                waited: start.elapsed(),
            }),
        }
    }

    /// A new connection to the upstream, counted under `permit` until its socket closes.
    async fn dial(&self, permit: OwnedSemaphorePermit) -> Result<Counted, SendError> {
        let stream =
            tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr.as_str()))
                .await
                .map_err(|_| SendError::Connect(std::io::ErrorKind::TimedOut.into()))?
                .map_err(SendError::Connect)?;
        let _ = stream.set_nodelay(true);
        Ok(Counted {
            stream,
            _permit: permit,
        })
    }

    /// A new pooled upstream connection.
    async fn connect(&self, permit: OwnedSemaphorePermit) -> Result<Conn, SendError> {
        Ok(h1::Conn::new(
            self.dial(permit).await?,
            h1::Limits {
                max_head: crate::buffer::CONNECTION_BUFFER,
                ..h1::Limits::default()
            },
        ))
    }

    /// Returns a connection whose exchange is complete: to the oldest waiting request,
    /// else to the idle list of the worker it belongs to.
    fn put(&self, conn: Conn, worker: usize) {
        let mut s = self.lock();
        let mut conn = (conn, worker);
        while let Some(w) = s.waiters.pop_front() {
            match w.send(conn) {
                Ok(()) => return,
                Err(back) => conn = back,
            }
        }
        let (conn, worker) = conn;
        let last = s.idle.len().saturating_sub(1);
        if let Some(list) = s.idle.get_mut(worker.min(last)) {
            list.push(conn);
        }
    }
}

impl Lease {
    /// Sends `req` on the leased connection (or a new one) and returns the response
    /// once its head has arrived. A request the connection could not take (the upstream
    /// had closed it while idle) is sent again on a fresh connection; a request of which
    /// anything was written is never sent again.
    ///
    /// The lease goes with the response body: when the body has been read to its end,
    /// the connection returns to the pool (if it may serve another request) and this
    /// client's place is freed; a body dropped before its end closes the connection.
    pub(crate) async fn send<B>(
        self,
        mut req: Request<B>,
    ) -> Result<Response<UpstreamBody>, SendError>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        // Connecting (boxed) is the rare path: its state would otherwise be part of
        // every request's future, which is moved as a whole as it is polled.
        let Lease { pool, slot, client } = self;
        let (mut conn, mut worker) = match slot {
            Slot::Idle(c, w) => (c, w),
            Slot::Fresh(p) => (Box::pin(pool.connect(p)).await?, crate::workers::current()),
        };
        let mut fresh = false;
        loop {
            match conn.send(req).await {
                Ok(mut resp) => {
                    let pool = pool.clone();
                    resp.body_mut().on_reusable(Box::new(move |conn| {
                        // This client's place first, so a request of its own waiting
                        // at its cap can take the connection.
                        drop(client);
                        pool.put(conn, worker);
                    }));
                    return Ok(resp.map(UpstreamBody::Pooled));
                }
                // Nothing of it was written: the idle connection had been closed.
                Err((e, Some(back))) if !fresh => {
                    tracing::debug!(error = %e, "idle upstream connection closed; opening another");
                    req = back;
                    conn = Box::pin(async {
                        let permit = pool.permit().await.map_err(SendError::Refused)?;
                        pool.connect(permit).await
                    })
                    .await?;
                    worker = crate::workers::current();
                    fresh = true;
                }
                Err((e, _)) => return Err(SendError::Upstream(e)),
            }
        }
    }

    /// Sends `req`, whose body streams from the client as it arrives, on a new
    /// connection of its own that is closed after the response: the upstream may answer
    /// (and stream its answer) while the request body is still coming, both directions
    /// at once, which hyper's client connection does. Under the same caps as pooled
    /// connections (an idle connection taken for it is closed to make room).
    pub(crate) async fn send_streaming<B>(
        self,
        req: Request<B>,
    ) -> Result<Response<UpstreamBody>, SendError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut sender, client) = self.own_sender().await?;
        let resp = sender.send_request(req).await.map_err(SendError::Http)?;
        Ok(resp.map(|body| UpstreamBody::Own {
            body,
            _client: client,
        }))
    }

    /// Sends the upgrade handshake `req` (it has no body) on a new connection of its
    /// own, under the same caps as pooled connections. When the upstream switches
    /// protocols, the connection comes back with the `101` for the tunnel, and counts
    /// under the global cap until the tunnel has closed; any other answer is an
    /// ordinary response, on a connection closed after it.
    pub(crate) async fn send_upgrade(
        self,
        req: Request<http_body_util::Empty<Bytes>>,
    ) -> Result<(Response<UpstreamBody>, Option<hyper::upgrade::Upgraded>), SendError> {
        let (mut sender, client) = self.own_sender().await?;
        let mut resp = sender.send_request(req).await.map_err(SendError::Http)?;
        let upgraded = if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            Some(
                hyper::upgrade::on(&mut resp)
                    .await
                    .map_err(SendError::Http)?,
            )
        } else {
            None
        };
        Ok((
            resp.map(|body| UpstreamBody::Own {
                body,
                _client: client,
            }),
            upgraded,
        ))
    }

    /// hyper's HTTP/1.1 client on a new connection of the lease's own (see
    /// [`own_connection`](Self::own_connection)), its connection driven by a task of its
    /// own (with upgrades: a `101` hands the connection over), and the client's place.
    async fn own_sender<B>(
        self,
    ) -> Result<
        (
            hyper::client::conn::http1::SendRequest<B>,
            OwnedSemaphorePermit,
        ),
        SendError,
    >
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (io, client) = self.own_connection().await?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(crate::buffer::CONNECTION_BUFFER)
            .handshake(TokioIo::new(io))
            .await
            .map_err(SendError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok((sender, client))
    }

    /// A new connection of the lease's own, outside the idle lists (an idle connection
    /// taken for it is closed to make room), and the client's place.
    async fn own_connection(self) -> Result<(Counted, OwnedSemaphorePermit), SendError> {
        let Lease { pool, slot, client } = self;
        let permit = match slot {
            Slot::Fresh(p) => p,
            Slot::Idle(conn, _) => {
                drop(conn);
                pool.permit().await.map_err(SendError::Refused)?
            }
        };
        Ok((pool.dial(permit).await?, client))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
