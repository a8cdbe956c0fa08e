//! [`GatewayOptions`]: the timeouts, limits, buffering and workers of a gateway or a
//! server.

use std::path::PathBuf;
use std::time::Duration;

use hardened::config::GatewayConfig;

/// Timeouts, limits and buffering of a [`Gateway`](crate::Gateway) or a [`Server`](crate::Server). Start from
/// [`GatewayOptions::default`] and change what you need:
///
/// ```
/// use std::time::Duration;
/// use hardened_gateway::GatewayOptions;
///
/// let options = GatewayOptions::default()
///     .with_upstream_timeout(Duration::from_secs(10))
///     .with_header_read_timeout(Duration::from_secs(5))
///     .with_client_max_body_size(50 * 1024 * 1024)
///     .with_unbuffered_request_paths(["/upload/*"]);
/// assert_eq!(options.upstream_timeout, Duration::from_secs(10));
/// assert_eq!(options.connect_timeout, Duration::from_secs(5));
/// assert_eq!(options.upstream_max_connections, 64);
/// ```
///
/// # Buffering
///
/// With the defaults the gateway behaves like nginx in front of a worker-limited
/// application server (gunicorn sync workers, Puma, PHP-FPM): a request body is read
/// completely before the upstream sees the request ([`request_buffering`]), and a
/// response is read from the upstream as fast as it comes, its connection released, and
/// fed to the client at the client's pace ([`response_buffering`]). Bodies are kept in
/// memory up to [`client_body_buffer_size`] / [`response_buffer_size`] and beyond that in
/// anonymous temporary files in [`temp_dir`] (created with mode 0600 and unlinked at
/// once, gone when the request ends). So a slow or stalled client never holds an
/// upstream worker.
///
/// [`request_buffering`]: Self::request_buffering
/// [`response_buffering`]: Self::response_buffering
/// [`client_body_buffer_size`]: Self::client_body_buffer_size
/// [`response_buffer_size`]: Self::response_buffer_size
/// [`temp_dir`]: Self::temp_dir
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayOptions {
    /// How long the upstream may take to send its response headers before the client is
    /// answered 504, and, while a response is buffered, the longest pause between two
    /// reads of its body (default 30 s).
    pub upstream_timeout: Duration,
    /// How long connecting to the upstream may take (default 5 s); a failure is a 502.
    pub connect_timeout: Duration,
    /// How long a new connection may take to send its first complete request head
    /// (HTTP/1) or to open its first stream (HTTP/2, preface included), counted from
    /// accept, before it is closed: a connection that sends nothing, or only part of a
    /// head or of the HTTP/2 preface, holds a socket no longer than this (slow-loris
    /// protection; default 30 s). Later HTTP/1 request heads get as long once they begin.
    pub header_read_timeout: Duration,
    /// How long a connection with no request in flight (an HTTP/1 keep-alive connection
    /// between requests, an HTTP/2 connection with no open stream) stays open, counted
    /// from the end of its last response (default 75 s, as nginx's
    /// `keepalive_timeout`). Requests in flight are never idle, however long they take.
    pub idle_timeout: Duration,
    /// How long a WebSocket (or any HTTP/1.1 `Upgrade`) tunnel may pass no byte in
    /// either direction before both sides are closed (default 300 s, as a typical
    /// HAProxy `timeout tunnel`).
    pub websocket_idle_timeout: Duration,
    /// Interval of HTTP/2 keep-alive pings to clients (default 60 s).
    pub http2_keep_alive_interval: Duration,
    /// How long open connections may keep running after shutdown is requested before
    /// they are closed (default 10 s).
    pub drain_timeout: Duration,
    /// Read each request body completely before forwarding the request (default `true`).
    /// Off, bodies stream to the upstream as they arrive and a slow client holds an
    /// upstream connection for as long as it takes.
    pub request_buffering: bool,
    /// Paths whose request bodies stream to the upstream even with
    /// [`request_buffering`](Self::request_buffering) on (streaming uploads): exact paths,
    /// `prefix*` / `/prefix/*` prefixes and `{param}` segments (default none). Ambiguous
    /// paths (dot segments, encoded slashes, backslashes, `;`) never match.
    pub unbuffered_request_paths: Vec<String>,
    /// How much of a request body is kept in memory; the rest goes to a temporary file
    /// (default 64 KiB, as nginx's `client_body_buffer_size`).
    pub client_body_buffer_size: usize,
    /// The longest pause between two reads of a request body before the client is
    /// answered 408 (default 60 s, as nginx's `client_body_timeout`). The upstream is
    /// not involved.
    pub client_body_timeout: Duration,
    /// The largest request body accepted, in bytes; larger ones are answered 413, at once
    /// when `Content-Length` says so, else as soon as the body crosses it (default
    /// 10 MiB; `0` = unlimited). Applies to streamed bodies too.
    pub client_max_body_size: u64,
    /// Read each response from the upstream as fast as it comes and release the upstream
    /// connection, then feed the client at its own pace (default `true`). Responses that
    /// must stream are never buffered: `text/event-stream`, those the upstream marks with
    /// `X-Accel-Buffering: no` (a header removed before the client), and protocol
    /// switches (`101`).
    pub response_buffering: bool,
    /// How much of a buffered response is kept in memory; the rest goes to a temporary
    /// file (default 64 KiB, as nginx's `proxy_buffers 8 8k`).
    pub response_buffer_size: usize,
    /// The largest temporary file of one buffered response, in bytes (default 1 GiB, as
    /// nginx's `proxy_max_temp_file_size`). Beyond it the gateway stops reading from the
    /// upstream until the client has caught up: the rest streams. `0` = no temporary
    /// files for responses (memory only, then streaming).
    pub max_temp_file_size: u64,
    /// The longest a client may stall reading a response (a write to it that makes no
    /// progress) before the gateway gives up on it and frees what it buffered (default
    /// 60 s, as nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// Where temporary files of request and response bodies are created (default `None`:
    /// the OS temporary directory, `TMPDIR` on Unix). Files are created with mode 0600,
    /// unlinked at once, and closed when their request ends.
    pub temp_dir: Option<PathBuf>,
    /// The most upstream connections open at once, idle ones included (default 64).
    /// Idle connections are reused by every client; at the cap a request waits in the
    /// queue.
    pub upstream_max_connections: usize,
    /// The most upstream connections one client connection may use at once (default 8),
    /// so HTTP/2 multiplexing cannot fan one client out into hundreds of upstream
    /// connections. At the cap a request waits.
    pub upstream_max_connections_per_client: usize,
    /// The most requests waiting for an upstream connection at once; beyond it a
    /// request is answered 503 at once (default 1024).
    pub upstream_queue_size: usize,
    /// How long a request may wait for an upstream connection (under either cap) before
    /// it is answered 503 (default 10 s).
    pub upstream_queue_timeout: Duration,
    /// The most upstream connections WebSocket (and other upgrade) tunnels hold at once,
    /// pending handshakes included; beyond it a handshake is answered 503 at once. `0`
    /// (the default) means half of [`upstream_max_connections`](Self::upstream_max_connections)
    /// (at least 1), so that clients holding tunnels open can never take every upstream
    /// connection from ordinary requests.
    pub upstream_max_tunnels: usize,
    /// Worker threads (default 1). With `1`, [`Gateway::serve`](crate::Gateway::serve) and [`Server::serve`](crate::Server::serve)
    /// run in the caller's runtime. With more, each worker is a thread of its own with a
    /// single-threaded runtime and its own accept loop on the same listening socket, as
    /// nginx's worker processes: a connection, its requests and its upstream connections
    /// stay on the thread that accepted it (no task woken across threads). The idle
    /// upstream connections are still shared by every client. `hardened serve` uses one
    /// per core.
    pub workers: usize,
    /// The request header that carries the response's CSP nonce to the upstream when
    /// the policy's CSP has `{nonce}` (default `x-csp-nonce`). Any copy the client sent
    /// is removed from every request.
    pub csp_nonce_header: http::HeaderName,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            upstream_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            websocket_idle_timeout: Duration::from_secs(300),
            http2_keep_alive_interval: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
            request_buffering: true,
            unbuffered_request_paths: Vec::new(),
            client_body_buffer_size: 64 * 1024,
            client_body_timeout: Duration::from_secs(60),
            client_max_body_size: 10 * 1024 * 1024,
            response_buffering: true,
            response_buffer_size: 64 * 1024,
            max_temp_file_size: 1024 * 1024 * 1024,
            send_timeout: Duration::from_secs(60),
            temp_dir: None,
            upstream_max_connections: 64,
            upstream_max_connections_per_client: 8,
            upstream_queue_size: 1024,
            upstream_queue_timeout: Duration::from_secs(10),
            upstream_max_tunnels: 0,
            workers: 1,
            csp_nonce_header: http::HeaderName::from_static(
                hardened::config::gateway::DEFAULT_CSP_NONCE_HEADER,
            ),
        }
    }
}

impl GatewayOptions {
    /// The options a `gateway:` section sets (from its file, its `HARDENED_GATEWAY_*`
    /// variables and the `serve` flags, all read and checked by the loader), over the
    /// defaults: a setting left unset keeps its default (`workers` too: one; `hardened
    /// serve` asks for one per core). The listeners, TLS and the upstream are not
    /// options: [`Gateway`](crate::Gateway) and [`Server`](crate::Server) take them.
    /// A loaded configuration has been checked; one built or changed in code is checked
    /// by the same code with [`GatewayConfig::problems`].
    ///
    /// ```
    /// use hardened::config::load::Loader;
    /// use hardened_gateway::GatewayOptions;
    ///
    /// let loaded = Loader::new()
    ///     .gateway_flag("client_max_body_size", "--client-max-body-size", ["1m"])
    ///     .load()?;
    /// let options = GatewayOptions::from_config(&loaded.config.gateway);
    /// assert_eq!(options.client_max_body_size, 1 << 20);
    /// assert_eq!(options.upstream_max_connections, 64);
    /// # Ok::<(), hardened::config::ConfigErrors>(())
    /// ```
    pub fn from_config(g: &GatewayConfig) -> GatewayOptions {
        // Counts and sizes beyond this machine's `usize` are as good as unlimited.
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let d = GatewayOptions::default();
        GatewayOptions {
            upstream_timeout: g.upstream_timeout.unwrap_or(d.upstream_timeout),
            header_read_timeout: g.header_read_timeout.unwrap_or(d.header_read_timeout),
            idle_timeout: g.idle_timeout.unwrap_or(d.idle_timeout),
            request_buffering: g.request_buffering.unwrap_or(d.request_buffering),
            unbuffered_request_paths: g
                .unbuffered_request_paths
                .clone()
                .unwrap_or(d.unbuffered_request_paths),
            client_body_buffer_size: g
                .client_body_buffer_size
                .map_or(d.client_body_buffer_size, size),
            client_body_timeout: g.client_body_timeout.unwrap_or(d.client_body_timeout),
            client_max_body_size: g.client_max_body_size.unwrap_or(d.client_max_body_size),
            response_buffering: g.response_buffering.unwrap_or(d.response_buffering),
            response_buffer_size: g.response_buffer_size.map_or(d.response_buffer_size, size),
            max_temp_file_size: g.max_temp_file_size.unwrap_or(d.max_temp_file_size),
            send_timeout: g.send_timeout.unwrap_or(d.send_timeout),
            temp_dir: g.temp_dir.clone().or(d.temp_dir),
            upstream_max_connections: g
                .upstream_max_connections
                .map_or(d.upstream_max_connections, size)
                .max(1),
            upstream_max_connections_per_client: g
                .upstream_max_connections_per_client
                .map_or(d.upstream_max_connections_per_client, size)
                .max(1),
            upstream_queue_size: g.upstream_queue_size.map_or(d.upstream_queue_size, size),
            upstream_queue_timeout: g.upstream_queue_timeout.unwrap_or(d.upstream_queue_timeout),
            upstream_max_tunnels: g.upstream_max_tunnels.map_or(d.upstream_max_tunnels, size),
            workers: g.workers.map_or(d.workers, size).max(1),
            // Checked by the loader (letters, digits and `-`); a name built in code that
            // is not a header name keeps the default.
            csp_nonce_header: g
                .csp_nonce_header
                .as_deref()
                .and_then(|n| http::HeaderName::from_bytes(n.as_bytes()).ok())
                .unwrap_or(d.csp_nonce_header.clone()),
            ..d
        }
    }

    /// Sets [`workers`](Self::workers) (at least 1).
    #[must_use]
    pub fn with_workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Sets [`upstream_timeout`](Self::upstream_timeout).
    #[must_use]
    pub fn with_upstream_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`header_read_timeout`](Self::header_read_timeout).
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`websocket_idle_timeout`](Self::websocket_idle_timeout).
    #[must_use]
    pub fn with_websocket_idle_timeout(mut self, timeout: Duration) -> Self {
        self.websocket_idle_timeout = timeout;
        self
    }

    /// Sets [`http2_keep_alive_interval`](Self::http2_keep_alive_interval).
    #[must_use]
    pub fn with_http2_keep_alive_interval(mut self, interval: Duration) -> Self {
        self.http2_keep_alive_interval = interval;
        self
    }

    /// Sets [`drain_timeout`](Self::drain_timeout).
    #[must_use]
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Sets [`request_buffering`](Self::request_buffering).
    #[must_use]
    pub fn with_request_buffering(mut self, on: bool) -> Self {
        self.request_buffering = on;
        self
    }

    /// Sets [`unbuffered_request_paths`](Self::unbuffered_request_paths).
    #[must_use]
    pub fn with_unbuffered_request_paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.unbuffered_request_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`client_body_buffer_size`](Self::client_body_buffer_size).
    #[must_use]
    pub fn with_client_body_buffer_size(mut self, bytes: usize) -> Self {
        self.client_body_buffer_size = bytes;
        self
    }

    /// Sets [`client_body_timeout`](Self::client_body_timeout).
    #[must_use]
    pub fn with_client_body_timeout(mut self, timeout: Duration) -> Self {
        self.client_body_timeout = timeout;
        self
    }

    /// Sets [`client_max_body_size`](Self::client_max_body_size) (`0` = unlimited).
    #[must_use]
    pub fn with_client_max_body_size(mut self, bytes: u64) -> Self {
        self.client_max_body_size = bytes;
        self
    }

    /// Sets [`response_buffering`](Self::response_buffering).
    #[must_use]
    pub fn with_response_buffering(mut self, on: bool) -> Self {
        self.response_buffering = on;
        self
    }

    /// Sets [`response_buffer_size`](Self::response_buffer_size).
    #[must_use]
    pub fn with_response_buffer_size(mut self, bytes: usize) -> Self {
        self.response_buffer_size = bytes;
        self
    }

    /// Sets [`max_temp_file_size`](Self::max_temp_file_size) (`0` = no temporary files
    /// for responses).
    #[must_use]
    pub fn with_max_temp_file_size(mut self, bytes: u64) -> Self {
        self.max_temp_file_size = bytes;
        self
    }

    /// Sets [`send_timeout`](Self::send_timeout).
    #[must_use]
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets [`temp_dir`](Self::temp_dir).
    #[must_use]
    pub fn with_temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }

    /// Sets [`upstream_max_connections`](Self::upstream_max_connections) (at least 1).
    #[must_use]
    pub fn with_upstream_max_connections(mut self, n: usize) -> Self {
        self.upstream_max_connections = n.max(1);
        self
    }

    /// Sets [`upstream_max_connections_per_client`](Self::upstream_max_connections_per_client)
    /// (at least 1).
    #[must_use]
    pub fn with_upstream_max_connections_per_client(mut self, n: usize) -> Self {
        self.upstream_max_connections_per_client = n.max(1);
        self
    }

    /// Sets [`upstream_queue_size`](Self::upstream_queue_size) (`0` = no waiting: 503 at
    /// once at the cap).
    #[must_use]
    pub fn with_upstream_queue_size(mut self, n: usize) -> Self {
        self.upstream_queue_size = n;
        self
    }

    /// Sets [`upstream_queue_timeout`](Self::upstream_queue_timeout).
    #[must_use]
    pub fn with_upstream_queue_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_queue_timeout = timeout;
        self
    }

    /// Sets [`upstream_max_tunnels`](Self::upstream_max_tunnels) (`0` = half of the
    /// upstream connections).
    #[must_use]
    pub fn with_upstream_max_tunnels(mut self, n: usize) -> Self {
        self.upstream_max_tunnels = n;
        self
    }

    /// The tunnel cap in force: [`upstream_max_tunnels`](Self::upstream_max_tunnels), or
    /// half of the upstream connections (at least 1) when it is `0`.
    pub(crate) fn tunnel_cap(&self) -> usize {
        match self.upstream_max_tunnels {
            0 => self.upstream_max_connections.max(1).div_ceil(2),
            n => n,
        }
    }

    /// Sets [`csp_nonce_header`](Self::csp_nonce_header).
    #[must_use]
    pub fn with_csp_nonce_header(mut self, name: http::HeaderName) -> Self {
        self.csp_nonce_header = name;
        self
    }

    /// The directory temporary files are created in.
    pub(crate) fn temp_dir_or_default(&self) -> PathBuf {
        self.temp_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use hardened::config::gateway::{Kind, SETTINGS, flags};
    use hardened::config::load::Loader;

    use super::GatewayOptions;

    /// The default each setting documents (in `--help`, `docs/config.md`) is the one
    /// it has: read through the loader as a flag, it gives the default options.
    #[test]
    fn every_documented_default_is_the_default() {
        let mut checked = 0;
        for (setting, path) in flags() {
            let typed = matches!(
                setting.kind,
                Kind::Duration | Kind::Bytes { .. } | Kind::Number { .. } | Kind::Switch
            );
            if !typed || setting.default.contains(' ') {
                continue;
            }
            let loaded = Loader::new()
                .gateway_flag(path.as_str(), "--flag", [setting.default])
                .load()
                .unwrap_or_else(|e| panic!("{}: {e}", setting.key));
            assert_eq!(
                GatewayOptions::from_config(&loaded.config.gateway),
                GatewayOptions::default(),
                "{}: documented default {:?}",
                setting.key,
                setting.default
            );
            checked += 1;
        }
        assert!(checked >= 15, "{checked} of {}", SETTINGS.len());
    }
}
