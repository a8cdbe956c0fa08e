//! The gateway's violation report collector: `reports.path` is answered here, never
//! forwarded. The collector ([`hardened::reports::Collector`]) lives as long as the
//! gateway, so its counts, rate limits and windows survive policy reloads; the settings
//! come from the policy in force when each upload arrives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use hardened::reports::{Collector, ReportsConfig, UploadError};

use crate::{BoxBody, GatewayOptions};

/// The collector and how long an upload's body may take.
#[derive(Debug)]
pub(crate) struct Reports {
    collector: Arc<Collector>,
    body_timeout: Duration,
}

impl Reports {
    pub(crate) fn new(options: &GatewayOptions) -> Reports {
        Reports {
            collector: Arc::new(Collector::new()),
            body_timeout: options.client_body_timeout,
        }
    }

    /// The collector, whose counts the metrics encode.
    pub(crate) fn collector(&self) -> &Arc<Collector> {
        &self.collector
    }

    /// Answers one upload: 204, or the refusal's status and text.
    pub(crate) async fn receive(
        &self,
        settings: &ReportsConfig,
        parts: &http::request::Parts,
        body: Incoming,
        peer: Option<std::net::IpAddr>,
    ) -> Response<BoxBody> {
        let c = &self.collector;
        let result = match c.admit(settings, parts, peer, Instant::now()) {
            Err(e) => Err(e),
            Ok(format) => match self.read(settings, parts, body).await {
                Ok(bytes) => c.accept(settings, format, &bytes, Instant::now()),
                Err(e) => {
                    c.reject(e);
                    Err(e)
                }
            },
        };
        let (status, text) = match result {
            Ok(_) => (http::StatusCode::NO_CONTENT, ""),
            Err(e) => (e.status(), e.message()),
        };
        let mut resp = Response::new(
            Full::new(Bytes::from_static(text.as_bytes()))
                .map_err(|e| match e {})
                .boxed_unsync(),
        );
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        if !text.is_empty() {
            h.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        match result {
            Err(UploadError::Method) => {
                h.insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            }
            Err(UploadError::RateLimited) => {
                h.insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
            }
            // The rest of a refused body is not read: the connection is not reused.
            Err(UploadError::TooLarge) => {
                h.insert(
                    header::CONNECTION,
                    header::HeaderValue::from_static("close"),
                );
            }
            _ => {}
        }
        resp
    }

    /// The body, whole: 413 past `max_body_size` (at once when `Content-Length` says
    /// so), 400 when it breaks off or takes longer than the body timeout.
    async fn read(
        &self,
        settings: &ReportsConfig,
        parts: &http::request::Parts,
        body: Incoming,
    ) -> Result<Bytes, UploadError> {
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > settings.max_body_size) {
            return Err(UploadError::TooLarge);
        }
        let limit = usize::try_from(settings.max_body_size).unwrap_or(usize::MAX);
        let read = Limited::new(body, limit).collect();
        match tokio::time::timeout(self.body_timeout, read).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(UploadError::TooLarge),
            Ok(Err(_)) | Err(_) => Err(UploadError::Malformed),
        }
    }
}

/// The address an upload counts against in the rate limit: the peer, or, behind a
/// trusted proxy, the address that proxy saw (the last `X-Forwarded-For` entry, the
/// one it appended), so users behind one proxy do not share one allowance. An IPv6
/// address counts by its /64, the block one host is given.
pub(crate) fn client_address(
    parts: &http::request::Parts,
    client: hardened::Client,
) -> Option<std::net::IpAddr> {
    let forwarded = || {
        parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| {
                // `203.0.113.7`, `203.0.113.7:5123`, `[2001:db8::1]:5123` or `2001:db8::1`.
                let ip = ip.trim();
                ip.parse::<std::net::IpAddr>()
                    .ok()
                    .or_else(|| ip.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
            })
    };
    let ip = match client.trusted_proxy() {
        true => forwarded().or(client.peer()),
        false => client.peer(),
    }?;
    Some(match ip {
        std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4)
        }
        std::net::IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            for s in seg.iter_mut().skip(4) {
                *s = 0;
            }
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(seg))
        }
        v4 => v4,
    })
}
