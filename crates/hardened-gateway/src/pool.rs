//! Upstream connections: a keep-alive pool of HTTP/1.1 connections shared by every
//! client, a cap on open connections (idle ones included), a cap per client connection,
//! and a bounded queue with a timeout for requests waiting at either cap.
//!
//! Kept cheap: one semaphore permit per open connection, held by the task that drives
//! it (so a connection counts until its socket is really gone); one permit of the
//! client's own semaphore per request in flight; the idle list is a short
//! `Mutex<Vec<..>>` (last in, first out: the most recently used connection is the one
//! most likely still open). A connection goes back to the list only once its response
//! has been read completely, so a request never waits behind another client's response.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;

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
    Http(hyper::Error),
    /// No connection could be had (while replacing one that had closed).
    Refused(Refused),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "connect: {e}"),
            SendError::Http(e) => write!(f, "{e}"),
            SendError::Refused(e) => write!(f, "{e}"),
        }
    }
}

/// The upstream connections of a gateway.
pub(crate) struct Pool<B> {
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
    shared: Mutex<Shared<B>>,
}

impl<B> std::fmt::Debug for Pool<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("addr", &self.addr)
            .field("max", &self.max)
            .field("per_client", &self.per_client)
            .field("available", &self.open.available_permits())
            .finish_non_exhaustive()
    }
}

struct Shared<B> {
    /// Idle connections of each worker (see `workers`), the most recently used last:
    /// a connection is driven by a task of the worker that opened it, so a request
    /// takes one of its own worker's first and another's only when it has none.
    idle: Vec<Vec<SendRequest<B>>>,
    /// Requests waiting for a connection to be handed over, oldest first.
    waiters: VecDeque<oneshot::Sender<(SendRequest<B>, usize)>>,
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
enum Slot<B> {
    /// An idle connection and the worker it belongs to.
    Idle(SendRequest<B>, usize),
    Fresh(OwnedSemaphorePermit),
    /// A connection in use and the worker it belongs to.
    Busy(SendRequest<B>, usize),
    Empty,
}

/// The right to use one upstream connection for one request, under both caps.
/// [`release`](Self::release) it once the response has been read completely, so the
/// connection serves the next request; dropped otherwise, the connection closes.
pub(crate) struct Lease<B> {
    pool: Arc<Pool<B>>,
    slot: Slot<B>,
    _client: OwnedSemaphorePermit,
}

impl<B> Pool<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// The pool of a gateway to `upstream`.
    pub(crate) fn new(upstream: &Upstream, options: &GatewayOptions) -> Pool<B> {
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

    fn lock(&self) -> MutexGuard<'_, Shared<B>> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle connection that is still open, the calling worker's own if it has one,
    /// and the worker it belongs to.
    fn take_idle(shared: &mut Shared<B>) -> Option<(SendRequest<B>, usize)> {
        let own = crate::workers::current();
        let n = shared.idle.len();
        for k in 0..n {
            let w = (own + k) % n.max(1);
            if let Some(list) = shared.idle.get_mut(w) {
                while let Some(c) = list.pop() {
                    if !c.is_closed() {
                        return Some((c, w));
                    }
                }
            }
        }
        None
    }

    /// Waits (under both caps, at most the queue timeout) for a connection or the right
    /// to open one.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        client: &ClientSlots,
    ) -> Result<Lease<B>, Refused> {
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
            _client: client_permit,
        })
    }

    async fn slot(&self, start: Instant, deadline: Instant) -> Result<Slot<B>, Refused> {
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

    /// A new upstream connection, driven by its own task, which holds `permit` until
    /// the connection is gone.
    async fn connect(&self, permit: OwnedSemaphorePermit) -> Result<SendRequest<B>, SendError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect(self.addr.as_str()),
        )
        .await
        .map_err(|_| SendError::Connect(std::io::ErrorKind::TimedOut.into()))?
        .map_err(SendError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::Builder::new()
            .max_buf_size(crate::buffer::CONNECTION_BUFFER)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Http)?;
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// Returns a connection whose exchange is complete: to the oldest waiting request,
    /// else to the idle list.
    fn put(&self, conn: SendRequest<B>, worker: usize) {
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

impl<B> Lease<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Sends `req` on the leased connection (or a new one). A request the connection
    /// could not take (it closed while idle) is retried once on a fresh connection; a
    /// request already sent is never retried.
    pub(crate) async fn send(
        &mut self,
        mut req: Request<B>,
    ) -> Result<Response<Incoming>, SendError> {
        for attempt in 0..2 {
            let (mut sender, worker) = match std::mem::replace(&mut self.slot, Slot::Empty) {
                Slot::Idle(mut s, w) => {
                    if s.ready().await.is_ok() {
                        (s, w)
                    } else {
                        drop(s);
                        self.fresh().await?
                    }
                }
                Slot::Fresh(p) => {
                    let mut s = self.pool.connect(p).await?;
                    s.ready().await.map_err(SendError::Http)?;
                    (s, crate::workers::current())
                }
                Slot::Busy(..) | Slot::Empty => self.fresh().await?,
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    self.slot = Slot::Busy(sender, worker);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if attempt == 0 => req = unsent,
                    _ => return Err(SendError::Http(e.into_error())),
                },
            }
        }
        Err(SendError::Connect(
            std::io::ErrorKind::ConnectionReset.into(),
        ))
    }

    /// A new connection, replacing one that closed (its permit is freed as it goes).
    async fn fresh(&self) -> Result<(SendRequest<B>, usize), SendError> {
        let permit = self.pool.permit().await.map_err(SendError::Refused)?;
        let mut s = self.pool.connect(permit).await?;
        s.ready().await.map_err(SendError::Http)?;
        Ok((s, crate::workers::current()))
    }

    /// The response has been read completely: the connection may serve the next
    /// request, of any client.
    pub(crate) fn release(mut self) {
        if let Slot::Busy(s, worker) = std::mem::replace(&mut self.slot, Slot::Empty)
            && !s.is_closed()
        {
            self.pool.put(s, worker);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
