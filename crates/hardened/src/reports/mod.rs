//! The violation report collector: where browsers send what a policy blocked, or in
//! report-only mode would have blocked.
//!
//! With a `reports:` section the policy's headers point at one same-origin path
//! (`/.well-known/hardened/reports` by default): `report-uri` and `report-to` in the
//! CSP (and its report-only twin), `Reporting-Endpoints`, and the `report-to` of COOP
//! and COEP when they are set. [`ReportsService`] answers that path in an application;
//! `hardened serve` answers it in the gateway.
//!
//! Both formats are read, with limits: the legacy `application/csp-report` object and
//! the Reporting API's `application/reports+json` array (CSP, COOP, COEP and
//! Permissions-Policy violations; deprecations, interventions and crashes are counted,
//! not logged). The answers: 204 accepted, 400 malformed (not JSON, nested deeper than
//! [`parse::MAX_DEPTH`], more than [`parse::MAX_ENTRIES`] reports), 413 larger than
//! `max_body_size`, 415 another content type, 429 more than `rate_limit` uploads a
//! minute from one client, 405 not a POST, 403 an `Origin` other than the page's own.
//!
//! Each distinct violation (type, directive, blocked origin, document path) is logged
//! once per `dedup_window` (target `hardened::reports`, every text field escaped, URLs
//! cut to their origin or path), with the number of repeats of the window before.
//! [`Collector::encode`] renders `hardened_reports_total{type,directive}` and
//! `hardened_reports_rejected_total{reason}`, whose labels come from fixed sets.
//!
//! ```
//! use hardened::reports::{Collector, ReportsConfig};
//! use std::time::Instant;
//!
//! let settings = ReportsConfig::default();
//! let collector = Collector::new();
//! let (head, ()) = http::Request::post("/.well-known/hardened/reports")
//!     .header("content-type", "application/csp-report")
//!     .body(())?
//!     .into_parts();
//! let format = collector.admit(&settings, &head, None, Instant::now())?;
//! let body = br#"{"csp-report":{"document-uri":"https://app.test/a?x=1",
//!   "effective-directive":"script-src-elem","blocked-uri":"inline","disposition":"report"}}"#;
//! assert_eq!(collector.accept(&settings, format, body, Instant::now())?, 1);
//! assert_eq!(collector.counts().get(&("csp", "script-src-elem")), Some(&1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod collector;
pub mod parse;
mod service;

use std::time::Duration;

use serde::{Serialize, Serializer};

pub use collector::{Collector, MAX_CLIENTS, MAX_DISTINCT, Tracked};
pub use parse::{Disposition, Format, UploadError, Violation};
pub use service::{ReportsFuture, ReportsService};

/// The default collector path.
pub const DEFAULT_PATH: &str = "/.well-known/hardened/reports";

/// The name of the reporting endpoint in `Reporting-Endpoints` and `report-to`.
pub const ENDPOINT: &str = "hardened";

/// The default `reports.max_body_size`: 64 KiB.
pub const DEFAULT_MAX_BODY_SIZE: u64 = 64 * 1024;

/// The default `reports.rate_limit`: uploads per client per minute.
pub const DEFAULT_RATE_LIMIT: u32 = 60;

/// The default `reports.dedup_window`: ten minutes.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(600);

/// The `reports:` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReportsConfig {
    /// The collector's path (same origin as the pages).
    pub path: String,
    /// The largest upload accepted, bytes.
    pub max_body_size: u64,
    /// Uploads accepted per client (peer address) per minute.
    pub rate_limit: u32,
    /// A distinct violation is logged once per window.
    #[serde(serialize_with = "ser_duration")]
    pub dedup_window: Duration,
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::config::gateway::format_duration(*d))
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            path: DEFAULT_PATH.to_owned(),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            rate_limit: DEFAULT_RATE_LIMIT,
            dedup_window: DEFAULT_DEDUP_WINDOW,
        }
    }
}

impl ReportsConfig {
    /// With the collector at `path` (an absolute path; the loader checks it).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> ReportsConfig {
        self.path = path.into();
        self
    }

    /// With uploads up to `bytes` long.
    #[must_use]
    pub fn with_max_body_size(mut self, bytes: u64) -> ReportsConfig {
        self.max_body_size = bytes;
        self
    }

    /// With `per_minute` uploads per client per minute.
    #[must_use]
    pub fn with_rate_limit(mut self, per_minute: u32) -> ReportsConfig {
        self.rate_limit = per_minute;
        self
    }

    /// With each distinct violation logged once per `window`.
    #[must_use]
    pub fn with_dedup_window(mut self, window: Duration) -> ReportsConfig {
        self.dedup_window = window;
        self
    }

    /// `Reporting-Endpoints: hardened="<path>"`.
    pub fn reporting_endpoints(&self) -> String {
        format!("{ENDPOINT}=\"{}\"", self.path)
    }

    /// A CSP pointing at the collector: `report-uri <path>; report-to hardened`
    /// appended, unless the policy already names its own `report-uri` or `report-to`.
    pub fn csp_with_reports(&self, csp: &str) -> String {
        self.pointed(csp, true)
    }

    /// [`csp_with_reports`](Self::csp_with_reports), with `report-to` or without.
    fn pointed(&self, csp: &str, report_to: bool) -> String {
        let names_own = csp.split(';').any(|d| {
            let name = d.split_ascii_whitespace().next().unwrap_or("");
            name.eq_ignore_ascii_case("report-uri") || name.eq_ignore_ascii_case("report-to")
        });
        if names_own {
            return csp.to_owned();
        }
        let base = csp.trim_end().trim_end_matches(';').trim_end();
        let mut out = format!("{base}; report-uri {}", self.path);
        if report_to {
            out.push_str("; report-to ");
            out.push_str(ENDPOINT);
        }
        out
    }
}

/// The security headers pointed at the collector (`reports` on). In production and
/// staging (https): the CSP and its report-only twin get `report-uri` and `report-to`,
/// `Reporting-Endpoints` names the endpoint, and COOP and COEP (where set) name it in
/// `report-to`. In development and test, usually plain http, where Chromium ignores
/// `Reporting-Endpoints` and, once `report-to` is present, `report-uri` too: the CSP
/// gets `report-uri` only.
pub(crate) fn point_headers(
    mut h: crate::policy::HeaderRules,
    reports: Option<&ReportsConfig>,
    strict: bool,
) -> crate::policy::HeaderRules {
    let Some(r) = reports else { return h };
    for csp in [
        &mut h.content_security_policy,
        &mut h.content_security_policy_report_only,
    ] {
        if let Some(text) = csp.as_mut() {
            *text = r.pointed(text, strict);
        }
    }
    if strict {
        h.reporting_endpoints = Some(r.reporting_endpoints());
        h.isolation_report_to = Some(ENDPOINT.to_owned());
    }
    h
}

/// The CSRF-exempt paths with the collector's path added (`reports` on): browsers
/// send reports without cookies, and the collector checks `Origin` itself.
pub(crate) fn exempt_paths(configured: &[String], reports: Option<&ReportsConfig>) -> Vec<String> {
    let mut out = configured.to_vec();
    if let Some(r) = reports
        && !out.contains(&r.path)
    {
        out.push(r.path.clone());
    }
    out
}

/// `value` of a COOP or COEP header with `; report-to="<endpoint>"` added when the
/// collector is on; any other header unchanged.
pub(crate) fn with_report_to(
    name: &http::HeaderName,
    value: http::HeaderValue,
    endpoint: Option<&str>,
) -> http::HeaderValue {
    let isolation = name == "cross-origin-opener-policy" || name == "cross-origin-embedder-policy";
    match endpoint {
        Some(e) if isolation => {
            let mut v = value.as_bytes().to_vec();
            v.extend_from_slice(format!("; report-to=\"{e}\"").as_bytes());
            http::HeaderValue::from_bytes(&v).unwrap_or(value)
        }
        _ => value,
    }
}

/// `t` as an RFC 3339 UTC timestamp with microseconds (`2026-12-07T15:24:45.960228Z`),
/// as the JSON log writes them.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}
