//! HTTP/1.1 upgrades (WebSockets, and any other protocol but `h2c`) the policy allowed.
//! A handshake is an ordinary request until the upstream answers `101`: the same body
//! limits (it may have no body), the same caps on upstream connections (see `pool`:
//! its connection is one of the pool's, of its own, and counts until the tunnel
//! closes), the same timeout and the same response buffering for any other answer
//! (see `forward`). When the upstream switches protocols, so does the client's
//! connection, and bytes are copied both ways until either side closes or the tunnel
//! is idle for [`GatewayOptions::websocket_idle_timeout`].
//!
//! What qualifies is decided by the library's [`hardened::Upgrade`], the same reading
//! the policy's WebSocket Origin check used: `GET` over HTTP/1.1 with `Connection:
//! upgrade` and one well-formed `Upgrade` header; a WebSocket handshake also needs one
//! valid `Sec-WebSocket-Key`, and the upstream's `101` must carry its
//! `Sec-WebSocket-Accept` (else 502): an upstream that says `101` and goes on speaking
//! HTTP would otherwise get every later request on the connection unchecked. `Upgrade: h2c` never does: a cleartext HTTP/2 connection to the upstream,
//! opened by the client past the policy, would smuggle every later request by it. HTTP/2
//! extended CONNECT (RFC 8441) is refused like any CONNECT.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::reply::text_response;
use crate::scrub::strip_hop_by_hop;
use crate::{BoxBody, BoxError, GatewayOptions};

/// The tunnels of one gateway: their settings, how many are open, and the shutdown
/// signal. Their upstream connections count against the pool's cap (see `pool`).
#[derive(Debug)]
pub(crate) struct Tunnels {
    idle_timeout: Duration,
    drain_timeout: Duration,
    open: AtomicUsize,
    /// One permit per tunnel or pending handshake, at most the tunnel cap
    /// ([`GatewayOptions::upstream_max_tunnels`]).
    slots: Arc<tokio::sync::Semaphore>,
    cap: usize,
    /// When open tunnels must be closed, once shutdown has begun.
    closing: watch::Sender<Option<Instant>>,
}

impl Tunnels {
    pub(crate) fn new(options: &GatewayOptions) -> Arc<Tunnels> {
        Arc::new(Tunnels {
            idle_timeout: options.websocket_idle_timeout,
            drain_timeout: options.drain_timeout,
            open: AtomicUsize::new(0),
            slots: Arc::new(tokio::sync::Semaphore::new(options.tunnel_cap())),
            cap: options.tunnel_cap(),
            closing: watch::Sender::new(None),
        })
    }

    /// A place for one more handshake and its tunnel, held until the tunnel closes
    /// (or the handshake ends without one); `None` at the tunnel cap.
    pub(crate) fn slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// The tunnel cap.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Shutdown has begun: open tunnels may run for the drain timeout, then close.
    pub(crate) fn shutdown(&self) {
        let at = Instant::now() + self.drain_timeout;
        self.closing.send_replace(Some(at));
    }

    /// Waits until no tunnel is open, or the drain timeout after [`shutdown`] passed.
    ///
    /// [`shutdown`]: Self::shutdown
    pub(crate) async fn closed(&self) {
        let until = (*self.closing.borrow()).unwrap_or_else(Instant::now);
        while self.open.load(Ordering::Acquire) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One open tunnel, counted while it lives, and its place under the tunnel cap
/// (given back when it is dropped).
struct Open {
    tunnels: Arc<Tunnels>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Open {
    fn new(tunnels: &Arc<Tunnels>, slot: tokio::sync::OwnedSemaphorePermit) -> Open {
        tunnels.open.fetch_add(1, Ordering::AcqRel);
        Open {
            tunnels: tunnels.clone(),
            _slot: slot,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.tunnels.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A client request that qualifies as an HTTP/1.1 upgrade, taken apart before its
/// hop-by-hop headers are removed.
pub(crate) struct Upgrade {
    /// The client connection, once the gateway answered 101.
    client: OnUpgrade,
    /// The client's `Upgrade` header.
    protocol: HeaderValue,
    /// For a WebSocket handshake, the `Sec-WebSocket-Accept` the upstream must answer
    /// with (RFC 6455 §4.2.2): proof that it speaks WebSocket, not HTTP behind a `101`.
    accept: Option<String>,
}

/// `Sec-WebSocket-Key`.
const SEC_WEBSOCKET_KEY: &str = "sec-websocket-key";
/// `Sec-WebSocket-Accept`.
const SEC_WEBSOCKET_ACCEPT: &str = "sec-websocket-accept";

/// The `Sec-WebSocket-Accept` of a key: base64 of the SHA-1 of the key and the
/// protocol's GUID (RFC 6455 §4.2.2).
fn accept_of(key: &[u8]) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut sha = sha1::Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// The client's `Sec-WebSocket-Key` when it is the one the protocol asks for: exactly
/// one, the base64 of 16 bytes (RFC 6455 §4.1).
fn websocket_key(parts: &Parts) -> Option<&[u8]> {
    use base64::Engine as _;
    let mut keys = parts.headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return None;
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key.as_bytes())
        .ok()?;
    (decoded.len() == 16).then_some(key.as_bytes())
}

/// The upgrade `parts` asks for, if it may be tunnelled: the library's one reading of
/// `Connection` and `Upgrade` ([`hardened::Upgrade::tunnel`]), which is also what the
/// policy's WebSocket Origin check judged. Anything else is forwarded as a plain
/// request (its `Upgrade` removed as hop-by-hop).
///
/// A WebSocket handshake also needs its one valid `Sec-WebSocket-Key`, whose accept
/// value the upstream's `101` must carry.
pub(crate) fn take(parts: &mut Parts) -> Option<Upgrade> {
    let upgrade = hardened::Upgrade::parse(parts).filter(|u| u.tunnel())?;
    let accept = if upgrade.is_websocket() {
        Some(accept_of(websocket_key(parts)?))
    } else {
        None
    };
    let protocol = parts.headers.get(header::UPGRADE)?.clone();
    let client = parts.extensions.remove::<OnUpgrade>()?;
    Some(Upgrade {
        client,
        protocol,
        accept,
    })
}

impl Upgrade {
    /// Puts the upgrade back on the handshake `headers` (already scrubbed like any
    /// request's): `Connection: upgrade` and the client's `Upgrade`.
    pub(crate) fn restore(&self, headers: &mut http::HeaderMap) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, self.protocol.clone());
    }

    /// Joins the client's connection with the upstream's once the upstream answered
    /// `101` (`parts`, its head, `upstream`, its connection): the 101 for the client, or
    /// a 502 when the upstream switched without naming a protocol, or to `h2c`.
    pub(crate) fn switch(
        self,
        tunnels: &Arc<Tunnels>,
        slot: tokio::sync::OwnedSemaphorePermit,
        mut parts: http::response::Parts,
        upstream: hyper::upgrade::Upgraded,
        client_version: Version,
    ) -> Response<BoxBody> {
        let upstream_protocol = parts.headers.get(header::UPGRADE).cloned();
        if let Some(accept) = &self.accept {
            let mut answers = parts.headers.get_all(SEC_WEBSOCKET_ACCEPT).iter();
            let proves = matches!(
                (answers.next(), answers.next()),
                (Some(a), None) if a.as_bytes() == accept.as_bytes()
            );
            if !proves {
                tracing::warn!(
                    "upstream switched to WebSocket without the Sec-WebSocket-Accept of the client's key"
                );
                return text_response(
                    StatusCode::BAD_GATEWAY,
                    "the upstream service is unavailable",
                );
            }
        }
        strip_hop_by_hop(&mut parts.headers);
        parts.version = client_version;
        // The upstream may only switch to a protocol the gateway forwards: never h2c.
        let Some(protocol) = upstream_protocol.filter(|p| {
            !p.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"h2c"))
        }) else {
            tracing::warn!("upstream switched protocols without an Upgrade header, or to h2c");
            return text_response(
                StatusCode::BAD_GATEWAY,
                "the upstream service is unavailable",
            );
        };
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol);
        let open = Open::new(tunnels, slot);
        tokio::spawn(tunnel(open, self.client, upstream));
        Response::from_parts(
            parts,
            http_body_util::Empty::new()
                .map_err(|e| match e {})
                .boxed_unsync(),
        )
    }
}

/// Joins the client's upgraded connection (once the 101 is written) with the
/// upstream's, until either side closes both ways, the tunnel is idle too long, or
/// shutdown's drain timeout passes.
async fn tunnel(open: Open, client: OnUpgrade, upstream: hyper::upgrade::Upgraded) {
    let tunnels = open.tunnels.clone();
    let start = Instant::now();
    // When a byte last went either way, in nanoseconds after `start`.
    let last = AtomicU64::new(0);
    let copy = async {
        let client = client.await?;
        let mut client = Seen::new(TokioIo::new(client), &last, start);
        let mut upstream = Seen::new(TokioIo::new(upstream), &last, start);
        let (up, down) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        Ok::<_, BoxError>((up, down))
    };
    let idle = async {
        loop {
            let at =
                start + Duration::from_nanos(last.load(Ordering::Relaxed)) + tunnels.idle_timeout;
            if Instant::now() >= at {
                return;
            }
            tokio::time::sleep_until(at).await;
        }
    };
    let mut closing = tunnels.closing.subscribe();
    let shutdown = async {
        let Ok(at) = closing.wait_for(Option::is_some).await.map(|at| *at) else {
            return std::future::pending().await;
        };
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
        }
    };
    tokio::select! {
        copied = copy => match copied {
            Ok((up, down)) => tracing::debug!(up, down, "tunnel closed"),
            Err(e) => tracing::debug!(error = %e, "tunnel ended with an error"),
        },
        () = idle => tracing::debug!(
            "tunnel idle for {} s; closing",
            tunnels.idle_timeout.as_secs_f64()
        ),
        () = shutdown => tracing::debug!("tunnel still open at shutdown; closing"),
    }
    drop(open);
}

/// A tunnel's side, noting when it last read a byte.
struct Seen<'a, T> {
    io: T,
    last: &'a AtomicU64,
    start: Instant,
}

impl<'a, T> Seen<'a, T> {
    fn new(io: T, last: &'a AtomicU64, start: Instant) -> Self {
        Seen { io, last, start }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Seen<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.last.store(nanos, Ordering::Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Seen<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
