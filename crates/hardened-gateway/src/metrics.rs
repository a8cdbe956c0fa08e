//! The gateway's metrics, served by the admin listener in the Prometheus text format.
//!
//! Every series of a fixed label set is created up front and kept as a handle, so the
//! request path only increments atomics: no label hashing, no lock. The request
//! duration histogram is the gateway's own (atomic buckets) for the same reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hardened::Rejection;
use hardened::enforce::RejectionKind;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// What became of a request, the `outcome` label of `hardened_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The policy allowed it and it was answered (by the upstream or the service).
    Allowed,
    /// A CORS preflight answered by the policy.
    Preflight,
    /// Redirected to https by the policy.
    Redirect,
    /// Rejected by the policy (400/403).
    Rejected,
    /// Allowed, but the upstream failed or no connection to it could be had (the
    /// gateway answered 502, 503 or 504).
    UpstreamError,
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Outcome::Allowed,
        Outcome::Preflight,
        Outcome::Redirect,
        Outcome::Rejected,
        Outcome::UpstreamError,
    ];

    /// The label value: `allow`, `preflight`, `redirect`, `reject`, `upstream_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allow",
            Outcome::Preflight => "preflight",
            Outcome::Redirect => "redirect",
            Outcome::Rejected => "reject",
            Outcome::UpstreamError => "upstream_error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why the upstream failed, the `kind` label of `hardened_upstream_errors_total`.
/// The proxy attaches it to the extensions of its own 502/503/504 answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamFailure {
    /// Connecting failed or timed out (502).
    Connect,
    /// No response headers within the upstream timeout (504).
    Timeout,
    /// The connection broke or the upstream spoke invalid HTTP (502).
    Protocol,
    /// No upstream connection could be had within the gateway's connection caps (503).
    Refused,
}

impl UpstreamFailure {
    const ALL: [UpstreamFailure; 4] = [
        UpstreamFailure::Connect,
        UpstreamFailure::Timeout,
        UpstreamFailure::Protocol,
        UpstreamFailure::Refused,
    ];

    /// The label value: `connect`, `timeout`, `protocol`, `refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Protocol => "protocol",
            UpstreamFailure::Refused => "refused",
        }
    }
}

/// The time the upstream took to send its response headers, attached by the proxy to
/// the extensions of the upstream's responses (for the access log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamTime(pub Duration);

/// The rejection kinds known when the metrics are created; their series exist (at 0)
/// from the start. A kind added later gets its series on first use.
const KNOWN_REJECTIONS: [RejectionKind; 14] = [
    RejectionKind::HostNotAllowed,
    RejectionKind::HostMalformed,
    RejectionKind::HostDuplicate,
    RejectionKind::HostConflict,
    RejectionKind::HostMissing,
    RejectionKind::CsrfBadOrigin,
    RejectionKind::CsrfCrossSite,
    RejectionKind::CsrfNoReferer,
    RejectionKind::CsrfMalformedReferer,
    RejectionKind::CsrfInsecureReferer,
    RejectionKind::CsrfBadReferer,
    RejectionKind::WebsocketBadOrigin,
    RejectionKind::WebsocketCrossSite,
    RejectionKind::FetchMetadataCrossSite,
];

type Labels = Vec<(&'static str, &'static str)>;

/// The gateway's metrics. Share one `Arc<Metrics>` between the gateway (or server), the
/// reloader and the admin listener.
///
/// | metric | labels |
/// | --- | --- |
/// | `hardened_requests_total` | `outcome`: `allow`, `preflight`, `redirect`, `reject`, `upstream_error` |
/// | `hardened_rejections_total` | `check` (`host`, `csrf`, `websocket`, `fetch-metadata`), `code` (`host-not-allowed`, ...) |
/// | `hardened_upstream_errors_total` | `kind`: `connect`, `timeout`, `protocol`, `refused` |
/// | `hardened_request_duration_seconds` | histogram, accept of the head to the end of the response body |
/// | `hardened_open_connections` | client connections open now |
/// | `hardened_config_reloads_total` | `result`: `success`, `failure` |
/// | `hardened_config_generation` | the policy in force: 1 at start, +1 per applied reload |
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: [Counter; 5],
    rejections: Family<Labels, Counter>,
    known_rejections: [(RejectionKind, Counter); KNOWN_REJECTIONS.len()],
    upstream_errors: [Counter; 4],
    duration: Arc<DurationHistogram>,
    open_connections: Gauge,
    reloads: [Counter; 2],
    generation: Gauge,
    /// The violation report collector, once a gateway serving reports is attached.
    reports: std::sync::OnceLock<Arc<hardened::reports::Collector>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every series, at zero (generation 1).
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests_family = Family::<Labels, Counter>::default();
        let requests = Outcome::ALL.map(|o| {
            requests_family
                .get_or_create(&vec![("outcome", o.as_str())])
                .clone()
        });
        registry.register("hardened_requests", "Requests by outcome", requests_family);
        let rejections = Family::<Labels, Counter>::default();
        let known_rejections = KNOWN_REJECTIONS.map(|k| {
            let c = rejections
                .get_or_create(&vec![("check", k.check().as_str()), ("code", k.code())])
                .clone();
            (k, c)
        });
        registry.register(
            "hardened_rejections",
            "Requests rejected by the policy, by check and code",
            rejections.clone(),
        );
        let upstream_family = Family::<Labels, Counter>::default();
        let upstream_errors = UpstreamFailure::ALL.map(|k| {
            upstream_family
                .get_or_create(&vec![("kind", k.as_str())])
                .clone()
        });
        registry.register(
            "hardened_upstream_errors",
            "Upstream failures answered 502, 503 or 504, by kind",
            upstream_family,
        );
        let duration = Arc::new(DurationHistogram::default());
        registry.register(
            "hardened_request_duration_seconds",
            "Time from a request head to the end of its response body",
            SharedHistogram(duration.clone()),
        );
        let open_connections = Gauge::default();
        registry.register(
            "hardened_open_connections",
            "Client connections open",
            open_connections.clone(),
        );
        let reload_family = Family::<Labels, Counter>::default();
        let reloads = ["success", "failure"]
            .map(|r| reload_family.get_or_create(&vec![("result", r)]).clone());
        registry.register(
            "hardened_config_reloads",
            "Configuration reloads, by result",
            reload_family,
        );
        let generation = Gauge::default();
        generation.set(1);
        registry.register(
            "hardened_config_generation",
            "Generation of the policy in force (1 at start, +1 per applied reload)",
            generation.clone(),
        );
        Metrics {
            registry,
            requests,
            rejections,
            known_rejections,
            upstream_errors,
            duration,
            open_connections,
            reloads,
            generation,
            reports: std::sync::OnceLock::new(),
        }
    }

    /// Adds the report collector's `hardened_reports_total` and
    /// `hardened_reports_rejected_total` to [`encode`](Metrics::encode) (the first
    /// collector attached is kept).
    pub fn attach_reports(&self, collector: Arc<hardened::reports::Collector>) {
        let _ = self.reports.set(collector);
    }

    /// The Prometheus text format (version 0.0.4) of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        if let Some(reports) = self.reports.get() {
            // Before the end marker, when the encoder wrote one.
            let eof = out.ends_with("# EOF\n");
            if eof {
                out.truncate(out.len() - "# EOF\n".len());
            }
            reports.encode(&mut out);
            if eof {
                out.push_str("# EOF\n");
            }
        }
        out
    }

    /// The report collector attached, if any.
    pub fn reports(&self) -> Option<&Arc<hardened::reports::Collector>> {
        self.reports.get()
    }

    /// Requests counted with `outcome`.
    pub fn requests(&self, outcome: Outcome) -> u64 {
        self.requests.get(outcome.index()).map_or(0, Counter::get)
    }

    /// Counts a request.
    pub fn request(&self, outcome: Outcome) {
        if let Some(c) = self.requests.get(outcome.index()) {
            c.inc();
        }
    }

    /// Counts a rejection.
    pub fn rejection(&self, r: &Rejection) {
        let kind = r.kind();
        match self.known_rejections.iter().find(|(k, _)| *k == kind) {
            Some((_, c)) => {
                c.inc();
            }
            None => {
                self.rejections
                    .get_or_create(&vec![("check", r.check().as_str()), ("code", r.code())])
                    .inc();
            }
        }
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, kind: UpstreamFailure) {
        let i = match kind {
            UpstreamFailure::Connect => 0,
            UpstreamFailure::Timeout => 1,
            UpstreamFailure::Protocol => 2,
            UpstreamFailure::Refused => 3,
        };
        if let Some(c) = self.upstream_errors.get(i) {
            c.inc();
        }
    }

    /// Records a request's duration.
    pub fn duration(&self, d: Duration) {
        self.duration.observe(d);
    }

    /// Counts a configuration reload and, when applied, sets the generation.
    pub fn reload(&self, applied_generation: Option<u64>) {
        match applied_generation {
            Some(g) => {
                if let Some(c) = self.reloads.first() {
                    c.inc();
                }
                self.generation.set(i64::try_from(g).unwrap_or(i64::MAX));
            }
            None => {
                if let Some(c) = self.reloads.get(1) {
                    c.inc();
                }
            }
        }
    }

    /// Counts an open connection until the returned guard is dropped.
    pub fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.open_connections.inc();
        ConnectionGuard(self.clone())
    }
}

/// Decrements `hardened_open_connections` when dropped.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.dec();
    }
}

/// Upper bounds of the duration buckets, in seconds (Prometheus' defaults).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram of durations on atomics: one bucket increment, the count and the sum
/// (in nanoseconds) per observation.
#[derive(Debug, Default)]
pub(crate) struct DurationHistogram {
    /// Observations per bucket (not cumulative); the last is above every bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

#[derive(Debug)]
struct SharedHistogram(Arc<DurationHistogram>);

impl TypedMetric for SharedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for SharedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let h = &self.0;
        let buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .zip(h.buckets.iter())
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        // The count is read after the buckets, so `+Inf` is never below their sum
        // (observations racing with a scrape show up in the next one).
        let finite: u64 = buckets.iter().map(|(_, c)| c).sum();
        let count = h.count.load(Ordering::Relaxed).max(finite);
        #[allow(clippy::cast_precision_loss)]
        let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_exists_from_the_start() {
        let m = Metrics::new();
        let text = m.encode();
        for line in [
            "hardened_requests_total{outcome=\"allow\"} 0",
            "hardened_requests_total{outcome=\"upstream_error\"} 0",
            "hardened_rejections_total{check=\"host\",code=\"host-not-allowed\"} 0",
            "hardened_rejections_total{check=\"csrf\",code=\"csrf-bad-origin\"} 0",
            "hardened_upstream_errors_total{kind=\"timeout\"} 0",
            "hardened_request_duration_seconds_bucket{le=\"+Inf\"} 0",
            "hardened_request_duration_seconds_count 0",
            "hardened_open_connections 0",
            "hardened_config_reloads_total{result=\"failure\"} 0",
            "hardened_config_generation 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn counts_land_in_their_series() {
        let m = Arc::new(Metrics::new());
        m.request(Outcome::Rejected);
        m.upstream_error(UpstreamFailure::Connect);
        m.duration(Duration::from_millis(30));
        m.duration(Duration::from_secs(60));
        m.reload(Some(2));
        m.reload(None);
        let guard = m.connection();
        let text = m.encode();
        drop(guard);
        for line in [
            "hardened_requests_total{outcome=\"reject\"} 1",
            "hardened_upstream_errors_total{kind=\"connect\"} 1",
            "hardened_request_duration_seconds_bucket{le=\"0.025\"} 0",
            "hardened_request_duration_seconds_bucket{le=\"0.05\"} 1",
            "hardened_request_duration_seconds_bucket{le=\"10\"} 1",
            "hardened_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "hardened_request_duration_seconds_count 2",
            "hardened_open_connections 1",
            "hardened_config_reloads_total{result=\"success\"} 1",
            "hardened_config_reloads_total{result=\"failure\"} 1",
            "hardened_config_generation 2",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(m.encode().contains("hardened_open_connections 0"));
    }
}
