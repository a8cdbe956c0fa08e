//! The collector's state: counts by fixed labels, the per-client rate limit and the
//! deduplication window. It is shared by every request (`Arc<Collector>`) and outlives
//! policy reloads; the settings ([`ReportsConfig`]) are passed in with each upload, so
//! a reload that changes them takes effect on the next one.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::Method;

use super::ReportsConfig;
use super::parse::{self, Format, NO_DIRECTIVE, UploadError, Violation};
use crate::service::Escaped;

/// The most clients whose rate is tracked at once; past it, idle clients are forgotten,
/// and if none is idle the newcomers share one allowance.
pub const MAX_CLIENTS: usize = 4096;

/// The most distinct violations whose window is tracked at once; past it, expired ones
/// are forgotten, and if none has expired a new one is counted but not logged.
pub const MAX_DISTINCT: usize = 4096;

/// A client's allowance: `rate_limit` uploads, refilled evenly over a minute.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A distinct violation's current window, and its totals since it was first seen.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    /// Reports of it within the window after the one that was logged.
    repeats: u64,
    /// Reports of it since it was first seen.
    total: u64,
    first_seen: SystemTime,
    last_seen: SystemTime,
}

/// A distinct violation the collector tracks, with how many reports named it and when
/// ([`Collector::tracked`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tracked {
    /// The violation.
    pub violation: Violation,
    /// Reports of it since it was first seen.
    pub count: u64,
    /// The first report of it.
    pub first_seen: SystemTime,
    /// The last report of it.
    pub last_seen: SystemTime,
}

/// Receives reports: see the [module docs](super).
#[derive(Debug)]
pub struct Collector {
    started: SystemTime,
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    rejected: [AtomicU64; UploadError::ALL.len()],
    windows: Mutex<Table<Violation, Window>>,
    clients: Mutex<Table<Option<IpAddr>, Bucket>>,
}

/// A bounded table and when it was last swept of stale entries: a full table is swept
/// at most once a second, so a flood of newcomers costs no full scan per request.
#[derive(Debug)]
struct Table<K, V> {
    map: HashMap<K, V>,
    swept: Option<Instant>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            map: HashMap::new(),
            swept: None,
        }
    }
}

impl<K: std::hash::Hash + Eq, V> Table<K, V> {
    /// Whether a new key fits: when full, stale entries (`stale`) are removed first,
    /// unless the table was swept less than a second ago.
    fn room(&mut self, cap: usize, now: Instant, stale: impl Fn(&V) -> bool) -> bool {
        if self.map.len() < cap {
            return true;
        }
        let recent = self
            .swept
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1));
        if !recent {
            self.swept = Some(now);
            self.map.retain(|_, v| !stale(v));
        }
        self.map.len() < cap
    }
}

/// One log line of a violation: its fields, the repeats of its window, and `message`
/// (the line that opens a window, or the one that closes it with its repeats).
macro_rules! log_violation {
    ($v:expr, $repeats:expr, $message:literal) => {
        tracing::warn!(
            target: "hardened::reports",
            report_type = $v.kind,
            directive = $v.directive,
            disposition = $v.disposition.as_str(),
            blocked = %Escaped(no_spaces(&$v.blocked).as_bytes()),
            document = %Escaped(no_spaces(&$v.document).as_bytes()),
            repeats = $repeats,
            $message
        )
    };
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            started: SystemTime::now(),
            counts: Mutex::default(),
            rejected: Default::default(),
            windows: Mutex::default(),
            clients: Mutex::default(),
        }
    }
}

impl Collector {
    /// An empty collector.
    pub fn new() -> Collector {
        Collector::default()
    }

    /// When it was created.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// The distinct violations tracked now (at most [`MAX_DISTINCT`]), most reported
    /// first: what an admin endpoint shows of a running server.
    pub fn tracked(&self) -> Vec<Tracked> {
        let mut out: Vec<Tracked> = self
            .windows
            .lock()
            .map(|w| {
                w.map
                    .iter()
                    .map(|(v, w)| Tracked {
                        violation: v.clone(),
                        count: w.total,
                        first_seen: w.first_seen,
                        last_seen: w.last_seen,
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|t| std::cmp::Reverse(t.count));
        out
    }

    /// Judges an upload's head, before its body is read: the method, the client's rate,
    /// the `Origin` (same origin as `Host`, when present) and the content type. The
    /// refusal is counted.
    ///
    /// # Errors
    /// [`UploadError::Method`], [`UploadError::RateLimited`],
    /// [`UploadError::CrossOrigin`] or [`UploadError::ContentType`].
    pub fn admit(
        &self,
        settings: &ReportsConfig,
        head: &http::request::Parts,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<Format, UploadError> {
        let verdict = self.judge_head(settings, head, client, now);
        if let Err(e) = verdict {
            self.reject(e);
        }
        verdict
    }

    fn judge_head(
        &self,
        settings: &ReportsConfig,
        head: &http::request::Parts,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<Format, UploadError> {
        if head.method != Method::POST {
            return Err(UploadError::Method);
        }
        if !self.take_token(settings.rate_limit, client, now) {
            return Err(UploadError::RateLimited);
        }
        let headers = &head.headers;
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            // HTTP/2 requests name their authority in the URI, not in `Host`.
            let host = match headers.get(http::header::HOST) {
                Some(h) => h.to_str().ok(),
                None => head.uri.authority().map(|a| a.as_str()),
            };
            if !same_origin(origin.as_bytes(), host) {
                return Err(UploadError::CrossOrigin);
            }
        }
        headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| Format::from_content_type(v.as_bytes()))
            .ok_or(UploadError::ContentType)
    }

    /// Parses an admitted upload's body, counts each report and logs each distinct
    /// violation once per `settings.dedup_window`. Returns how many reports it held.
    ///
    /// # Errors
    /// What [`parse::parse`] refuses, counted.
    pub fn accept(
        &self,
        settings: &ReportsConfig,
        format: Format,
        body: &[u8],
        now: Instant,
    ) -> Result<usize, UploadError> {
        let violations = parse::parse(format, body).inspect_err(|e| self.reject(*e))?;
        for v in &violations {
            self.count(v);
            if v.directive != NO_DIRECTIVE
                && let Some(repeats) = self.first_in_window(v, settings.dedup_window, now)
            {
                log_violation!(v, repeats, "violation report");
            }
        }
        Ok(violations.len())
    }

    /// What it holds now as one JSON object (`hardened.reports.live/v1`): `started`,
    /// `now`, `requests_allowed` (when the caller counts them), `violations` (each
    /// tracked violation's labels, blocked source, page path, `count`, `first_seen`,
    /// `last_seen`), `counts` by type and directive, and `rejected` by reason.
    pub fn snapshot_json(&self, requests_allowed: Option<u64>) -> String {
        use serde_json::{Value, json};
        let violations: Vec<Value> = self
            .tracked()
            .into_iter()
            .map(|t| {
                let v = t.violation;
                json!({
                    "type": v.kind, "directive": v.directive,
                    "disposition": v.disposition.as_str(),
                    "blocked": v.blocked, "document": v.document, "count": t.count,
                    "first_seen": super::rfc3339(t.first_seen),
                    "last_seen": super::rfc3339(t.last_seen),
                })
            })
            .collect();
        let counts: Vec<Value> = self
            .counts()
            .into_iter()
            .map(|((kind, directive), n)| json!({"type": kind, "directive": directive, "count": n}))
            .collect();
        let rejected: serde_json::Map<String, Value> = UploadError::ALL
            .iter()
            .map(|r| (r.as_str().to_owned(), json!(self.rejected(*r))))
            .collect();
        json!({
            "schema": "hardened.reports.live/v1",
            "started": super::rfc3339(self.started),
            "now": super::rfc3339(SystemTime::now()),
            "requests_allowed": requests_allowed,
            "violations": violations,
            "counts": counts,
            "rejected": rejected,
        })
        .to_string()
    }

    /// Logs the repeats not yet logged of every open window (`violation report
    /// repeats`, with `repeats`), and closes the windows: called when a server stops, so
    /// its log accounts for every report it received.
    pub fn flush(&self) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        for (v, w) in windows.map.drain() {
            if w.repeats > 0 {
                log_violation!(v, w.repeats, "violation report repeats");
            }
        }
    }

    /// Counts a refused upload.
    pub fn reject(&self, e: UploadError) {
        if let Some(i) = UploadError::ALL.iter().position(|r| *r == e)
            && let Some(c) = self.rejected.get(i)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The reports received so far by `(type, directive)`.
    pub fn counts(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The uploads refused so far for `reason`.
    pub fn rejected(&self, reason: UploadError) -> u64 {
        UploadError::ALL
            .iter()
            .position(|r| *r == reason)
            .and_then(|i| self.rejected.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// `hardened_reports_total{type,directive}` and
    /// `hardened_reports_rejected_total{reason}` in the Prometheus text format. Every
    /// label value comes from a fixed set ([`parse::TYPES`], the directive sets,
    /// [`UploadError::as_str`]).
    pub fn encode(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str("# HELP hardened_reports_total Violation reports received, by report type and directive.\n");
        out.push_str("# TYPE hardened_reports_total counter\n");
        for ((kind, directive), n) in self.counts() {
            let _ = writeln!(
                out,
                "hardened_reports_total{{type=\"{kind}\",directive=\"{directive}\"}} {n}"
            );
        }
        out.push_str("# HELP hardened_reports_rejected_total Report uploads refused, by reason.\n");
        out.push_str("# TYPE hardened_reports_rejected_total counter\n");
        for r in UploadError::ALL {
            let _ = writeln!(
                out,
                "hardened_reports_rejected_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.rejected(r)
            );
        }
    }

    fn count(&self, v: &Violation) {
        if let Ok(mut c) = self.counts.lock() {
            *c.entry((v.kind, v.directive)).or_insert(0) += 1;
        }
    }

    /// `Some(repeats of the previous window)` when `v` opens a new window (and is
    /// logged), `None` when it repeats one still open.
    fn first_in_window(&self, v: &Violation, window: Duration, now: Instant) -> Option<u64> {
        let Ok(mut windows) = self.windows.lock() else {
            return Some(0);
        };
        let seen = SystemTime::now();
        if let Some(w) = windows.map.get_mut(v) {
            w.total += 1;
            w.last_seen = seen;
            if now.saturating_duration_since(w.start) < window {
                w.repeats += 1;
                return None;
            }
            let repeats = w.repeats;
            w.start = now;
            w.repeats = 0;
            return Some(repeats);
        }
        if !windows.room(MAX_DISTINCT, now, |w| {
            now.saturating_duration_since(w.start) >= window
        }) {
            // The table is full (of one client's junk, maybe): a violation never seen
            // is logged all the same, untracked, so a flood cannot hide a real one
            // (the per-client rate limit bounds how many such lines there can be).
            return Some(0);
        }
        windows.map.insert(
            v.clone(),
            Window {
                start: now,
                repeats: 0,
                total: 1,
                first_seen: seen,
                last_seen: seen,
            },
        );
        Some(0)
    }

    /// Takes one upload from the client's allowance.
    fn take_token(&self, per_minute: u32, client: Option<IpAddr>, now: Instant) -> bool {
        let capacity = f64::from(per_minute.max(1));
        let Ok(mut clients) = self.clients.lock() else {
            return false;
        };
        let refill = |b: &Bucket| {
            let secs = now.saturating_duration_since(b.at).as_secs_f64();
            (b.tokens + secs * capacity / 60.0).min(capacity)
        };
        // Clients whose allowance is full again are idle: forgotten when room is needed.
        let key = if clients.map.contains_key(&client)
            || clients.room(MAX_CLIENTS, now, |b| refill(b) >= capacity)
        {
            client
        } else {
            None
        };
        let bucket = clients.map.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let tokens = refill(bucket);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            true
        } else {
            *bucket = Bucket { tokens, at: now };
            false
        }
    }
}

/// Whether an `Origin` names the same host and port as the `Host` the request came to
/// (`null` and malformed origins never do).
fn same_origin(origin: &[u8], host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return false,
    };
    let strip = |s: &str| -> String {
        let s = s.to_ascii_lowercase();
        s.strip_suffix(default).map(str::to_owned).unwrap_or(s)
    };
    !authority.contains(['/', '@']) && strip(authority) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_compares_host_and_port() {
        assert!(same_origin(b"https://app.test", Some("app.test")));
        assert!(same_origin(b"https://app.test:443", Some("APP.test")));
        assert!(same_origin(
            b"http://127.0.0.1:8080",
            Some("127.0.0.1:8080")
        ));
        assert!(!same_origin(b"https://evil.test", Some("app.test")));
        assert!(!same_origin(b"null", Some("app.test")));
        assert!(!same_origin(b"https://app.test:8443", Some("app.test")));
        assert!(!same_origin(b"https://app.test", None));
        assert!(!same_origin(b"ftp://app.test", Some("app.test")));
    }
}

/// A URL or path from a report with its spaces, quotes and backslashes percent-encoded,
/// as a URL would carry them: in the text log a value with a space could otherwise
/// pass for more fields (`blocked=x directive=script-src`).
fn no_spaces(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains([' ', '"', '\\', '\t']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '"' => out.push_str("%22"),
            '\\' => out.push_str("%5C"),
            '\t' => out.push_str("%09"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod no_spaces_tests {
    use super::no_spaces;

    #[test]
    fn a_value_cannot_pass_for_more_fields() {
        assert_eq!(
            no_spaces("/a b\" directive=script-src"),
            "/a%20b%22%20directive=script-src"
        );
        assert_eq!(no_spaces("https://cdn.example"), "https://cdn.example");
        assert_eq!(no_spaces("a\\b\tc"), "a%5Cb%09c");
    }
}
