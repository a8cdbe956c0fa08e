//! `hardened reports [LOG...]`: what a report-only rollout found, from the JSON log of
//! `hardened serve --log-format json` (or an application logging the same events): the
//! violation reports the collector logged (`hardened::reports`), the requests the
//! report-only checks would have rejected (`report-only: ...`), and the pages served
//! (the access log). Then, per policy, whether it is ready to enforce.
//!
//! A collector line stands for itself and the `repeats` of the window before it, and a
//! server that stops logs the repeats of the windows still open, so the counts of a
//! stopped server's log are exact (a running one's lack its open windows' repeats).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::common::CliError;

/// `--format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// A summary and the verdicts, for people.
    #[default]
    Human,
    /// One JSON object (`hardened.reports/v1`).
    Json,
}

/// Arguments of `hardened reports`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// JSON log files of `hardened serve --log-format json` (`-` or none: standard
    /// input). Lines that are not JSON are skipped and counted.
    #[arg(value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Judge the report-only policies of this configuration too (the CSP report-only
    /// header, `report_only` checks), even those no line mentions.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Read a running gateway's collector instead of logs: its admin listener (plain
    /// http, e.g. `http://127.0.0.1:9901`; `/reports` is appended). Pages are then the
    /// requests it let through since it started.
    #[arg(long, value_name = "URL", conflicts_with = "logs")]
    admin: Option<String>,
}

/// One group of findings: how many, and when first and last seen.
#[derive(Debug, Default, Clone)]
struct Seen {
    count: u64,
    first: String,
    last: String,
}

impl Seen {
    fn add(&mut self, n: u64, at: &str) {
        self.count += n;
        if !at.is_empty() {
            if self.first.is_empty() || at < self.first.as_str() {
                self.first = at.to_owned();
            }
            if at > self.last.as_str() {
                self.last = at.to_owned();
            }
        }
    }
}

/// What the logs hold.
#[derive(Debug, Default)]
struct Summary {
    /// What `pages` counts: `pages` (GET answered 2xx, from the access log) or
    /// `requests` (let through, from a running gateway's admin listener).
    unit: &'static str,
    lines: u64,
    skipped: u64,
    /// GET requests answered 2xx (the access log).
    pages: u64,
    access_lines: u64,
    first: String,
    last: String,
    /// (policy, directive or code, source, path) → seen. The policy is `csp`,
    /// `coop`, ... for collector reports (with ` (enforced)` when not report-only), or
    /// the check (`csrf`, `host`, ...) for report-only rejections.
    findings: BTreeMap<(String, String, String, String), Seen>,
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Summary {
    fn line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            self.skipped += 1;
            return;
        };
        if !v.is_object() {
            self.skipped += 1;
            return;
        }
        self.lines += 1;
        let at = field(&v, "timestamp");
        if !at.is_empty() {
            if self.first.is_empty() || at < self.first.as_str() {
                self.first = at.to_owned();
            }
            if at > self.last.as_str() {
                self.last = at.to_owned();
            }
        }
        let target = field(&v, "target");
        let message = field(&v, "message");
        if target == "hardened::access" {
            self.access_lines += 1;
            let status = v.get("status").and_then(Value::as_u64).unwrap_or(0);
            if field(&v, "method") == "GET" && (200..300).contains(&status) {
                self.pages += 1;
            }
        } else if target == "hardened::reports"
            && (message == "violation report" || message == "violation report repeats")
        {
            let mut policy = field(&v, "report_type").to_owned();
            if field(&v, "disposition") != "report" {
                policy.push_str(" (enforced)");
            }
            let repeats = v.get("repeats").and_then(Value::as_u64).unwrap_or(0);
            // A report line stands for itself and the repeats of the window before; a
            // repeats line (written when the server stopped) for its repeats only.
            let own = u64::from(message == "violation report");
            self.findings
                .entry((
                    policy,
                    field(&v, "directive").to_owned(),
                    field(&v, "blocked").to_owned(),
                    field(&v, "document").to_owned(),
                ))
                .or_default()
                .add(own + repeats, at);
        } else if message.starts_with("report-only: request would be") {
            let source = match field(&v, "origin") {
                "" => "(no origin)",
                o => o,
            };
            self.findings
                .entry((
                    format!("{} report_only", field(&v, "check")),
                    field(&v, "code").to_owned(),
                    source.to_owned(),
                    field(&v, "path").to_owned(),
                ))
                .or_default()
                .add(1, at);
        }
    }
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp (`2026-12-07T15:24:45.96Z`).
fn epoch_seconds(ts: &str) -> Option<i64> {
    let num = |a: usize, b: usize| ts.get(a..b).and_then(|s| s.parse::<i64>().ok());
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hh, mm, ss) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// `41 203`: thousands grouped with spaces.
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `6 days`, `3 hours`, `12 minutes`, `40 seconds`.
fn span(first: &str, last: &str) -> String {
    let secs = match (epoch_seconds(first), epoch_seconds(last)) {
        (Some(a), Some(b)) => (b - a).max(0),
        _ => return "an unknown time".into(),
    };
    let (n, unit) = match secs {
        s if s >= 2 * 86_400 => (s / 86_400, "days"),
        s if s >= 2 * 3600 => (s / 3600, "hours"),
        s if s >= 120 => (s / 60, "minutes"),
        s => (s, "seconds"),
    };
    if n == 1 {
        format!("1 {}", unit.trim_end_matches('s'))
    } else {
        format!("{n} {unit}")
    }
}

/// One policy's verdict.
struct Verdict {
    policy: String,
    ready: bool,
    text: String,
    /// The directives (or codes) that still fire, with their sources.
    firing: Vec<(String, Vec<(String, u64)>)>,
}

/// The policies judged: the report-only ones that appear in the log, and those the
/// configuration (if given) puts in report-only mode.
fn verdicts(s: &Summary, configured: &[String]) -> Vec<Verdict> {
    let mut policies: Vec<String> = configured.to_vec();
    for (policy, ..) in s.findings.keys() {
        if !policy.ends_with("(enforced)") && !policies.contains(policy) {
            policies.push(policy.clone());
        }
    }
    let period = span(&s.first, &s.last);
    policies
        .into_iter()
        .map(|policy| {
            let mut firing: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
            for ((p, item, source, _), seen) in &s.findings {
                if *p == policy {
                    *firing
                        .entry(item.clone())
                        .or_default()
                        .entry(source.clone())
                        .or_default() += seen.count;
                }
            }
            let name = label(&policy);
            let what = if policy.ends_with("report_only") {
                "would-be rejections"
            } else {
                "violations"
            };
            let (ready, text) = if !firing.is_empty() {
                let n = firing.len();
                let noun = if policy.ends_with("report_only") {
                    if n == 1 { "code still fires" } else { "codes still fire" }
                } else if n == 1 {
                    "directive still fires"
                } else {
                    "directives still fire"
                };
                (false, format!("{name}: {n} {noun} → not ready"))
            } else if s.pages == 0 {
                (
                    false,
                    format!(
                        "{name}: 0 {what}, but no {} seen (log the requests with --access-log) → not enough evidence",
                        s.unit
                    ),
                )
            } else {
                (
                    true,
                    format!(
                        "{name}: 0 {what} in {} {} over {period} → ready",
                        grouped(s.pages),
                        s.unit
                    ),
                )
            };
            Verdict {
                policy,
                ready,
                text,
                firing: firing
                    .into_iter()
                    .map(|(item, sources)| {
                        let mut v: Vec<_> = sources.into_iter().collect();
                        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                        (item, v)
                    })
                    .collect(),
            }
        })
        .collect()
}

/// `CSP report-only`, `COOP report-only`, `csrf report-only`.
fn label(policy: &str) -> String {
    match policy.strip_suffix(" report_only") {
        Some(check) => format!("{check} report-only"),
        None => match policy {
            "csp" => "CSP report-only".into(),
            "coop" => "COOP report-only".into(),
            "coep" => "COEP report-only".into(),
            other => format!("{other} report-only"),
        },
    }
}

/// The report-only policies of `--config`.
fn configured(path: &std::path::Path) -> Result<Vec<String>, CliError> {
    let loaded = crate::common::load_strict(Some(path))?;
    let cfg = &loaded.config;
    let mut out = Vec::new();
    if matches!(
        cfg.headers.content_security_policy_report_only,
        hardened::config::HeaderOverride::Set(_)
    ) {
        out.push("csp".to_owned());
    }
    for check in cfg.report_only.names() {
        out.push(format!("{check} report_only"));
    }
    Ok(out)
}

/// Runs `hardened reports`: exit 0 when every policy judged is ready, 1 when one is
/// not, 2 when the logs cannot be read or hold no JSON line.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let configured = match &args.config {
        Some(p) => configured(p)?,
        None => Vec::new(),
    };
    let mut summary = Summary {
        unit: "pages",
        ..Summary::default()
    };
    if let Some(url) = &args.admin {
        // Would-be rejections of `report_only` checks are in the log only.
        let configured: Vec<String> = configured
            .into_iter()
            .filter(|p| !p.ends_with("report_only"))
            .collect();
        admin_summary(url, &mut summary)?;
        return finish(args, &summary, &configured, out);
    }
    let stdin_only = args.logs.is_empty() || args.logs.iter().all(|p| p.as_os_str() == "-");
    if stdin_only {
        read_lines(std::io::stdin().lock(), &mut summary, "standard input")?;
    } else {
        for path in &args.logs {
            if path.as_os_str() == "-" {
                read_lines(std::io::stdin().lock(), &mut summary, "standard input")?;
                continue;
            }
            let file = std::fs::File::open(path).map_err(|e| {
                CliError::Message(format!("cannot read log {}: {e}", path.display()))
            })?;
            read_lines(file, &mut summary, &path.display().to_string())?;
        }
    }
    if summary.lines == 0 {
        return Err(CliError::Message(format!(
            "no JSON log lines ({} other lines skipped): run `hardened serve --log-format json --access-log` and pass its log",
            summary.skipped
        )));
    }
    finish(args, &summary, &configured, out)
}

/// Fills `s` from a running gateway's `GET /reports` (admin listener).
fn admin_summary(url: &str, s: &mut Summary) -> Result<(), CliError> {
    let fail = |why: String| CliError::Message(format!("--admin {url:?}: {why}"));
    let uri: http::Uri = url.parse().map_err(|e| fail(format!("{e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(fail(
            "give the admin listener's plain http URL, e.g. http://127.0.0.1:9901".into(),
        ));
    }
    let authority = uri.authority().ok_or_else(|| fail("no host".into()))?;
    let path = match uri.path() {
        "" | "/" => "/reports",
        p => p,
    };
    let body = fetch(authority, path).map_err(|e| fail(e.to_string()))?;
    let doc: Value = serde_json::from_str(&body)
        .map_err(|_| fail(format!("not the collector's JSON: {}", body.trim())))?;
    if doc["schema"] != "hardened.reports.live/v1" {
        return Err(fail(format!("not the collector's JSON: {}", body.trim())));
    }
    s.unit = "requests";
    s.lines = 1;
    s.access_lines = 1;
    s.pages = doc["requests_allowed"].as_u64().unwrap_or(0);
    s.first = field(&doc, "started").to_owned();
    s.last = field(&doc, "now").to_owned();
    for v in doc["violations"].as_array().into_iter().flatten() {
        let mut policy = field(v, "type").to_owned();
        if field(v, "disposition") != "report" {
            policy.push_str(" (enforced)");
        }
        let seen = s
            .findings
            .entry((
                policy,
                field(v, "directive").to_owned(),
                field(v, "blocked").to_owned(),
                field(v, "document").to_owned(),
            ))
            .or_default();
        seen.add(v["count"].as_u64().unwrap_or(0), field(v, "first_seen"));
        seen.add(0, field(v, "last_seen"));
    }
    Ok(())
}

/// The body of `GET path` from `authority` (plain http, bounded in time and size).
fn fetch(authority: &http::uri::Authority, path: &str) -> std::io::Result<String> {
    use std::net::{TcpStream, ToSocketAddrs};
    let timeout = std::time::Duration::from_secs(10);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let addr = (host, authority.port_u16().unwrap_or(80))
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.take(64 << 20).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        return Err(std::io::Error::other(format!(
            "answered {status}: {}",
            body.trim()
        )));
    }
    Ok(body.to_owned())
}

/// Prints the summary and verdicts; the exit code.
fn finish(
    args: &Args,
    summary: &Summary,
    configured: &[String],
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let verdicts = verdicts(summary, configured);
    match args.format {
        Format::Human => human(summary, &verdicts, out)?,
        Format::Json => {
            let findings: Vec<Value> = summary
                .findings
                .iter()
                .map(|((policy, item, source, path), seen)| {
                    json!({
                        "policy": policy, "item": item, "source": source, "path": path,
                        "count": seen.count, "first_seen": seen.first, "last_seen": seen.last,
                    })
                })
                .collect();
            let judged: Vec<Value> = verdicts
                .iter()
                .map(|v| {
                    json!({
                        "policy": label(&v.policy), "ready": v.ready, "verdict": v.text,
                        "firing": v.firing.iter().map(|(item, sources)| json!({
                            "item": item,
                            "sources": sources.iter().map(|(s, n)| json!({"source": s, "count": n})).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let doc = json!({
                "schema": "hardened.reports/v1",
                "lines": summary.lines, "skipped": summary.skipped,
                "pages": summary.pages, "unit": summary.unit, "first_seen": summary.first, "last_seen": summary.last,
                "findings": findings, "verdicts": judged,
            });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )?;
        }
    }
    Ok(if verdicts.iter().all(|v| v.ready) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read_lines(r: impl Read, s: &mut Summary, name: &str) -> Result<(), CliError> {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| CliError::Message(format!("cannot read log {name}: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        s.line(&String::from_utf8_lossy(&buf));
    }
}

fn human(s: &Summary, verdicts: &[Verdict], out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(
        out,
        "{} from {} to {} ({}); {} {}{}",
        if s.unit == "requests" {
            "the collector of a running gateway".to_owned()
        } else {
            format!("{} log lines", grouped(s.lines))
        },
        if s.first.is_empty() { "?" } else { &s.first },
        if s.last.is_empty() { "?" } else { &s.last },
        span(&s.first, &s.last),
        grouped(s.pages),
        if s.unit == "requests" {
            "requests let through"
        } else {
            "pages served"
        },
        if s.access_lines == 0 {
            " (no access log lines: run with --access-log to count pages)"
        } else {
            ""
        }
    )?;
    if s.skipped > 0 {
        writeln!(
            out,
            "{} lines were not JSON and were skipped",
            grouped(s.skipped)
        )?;
    }
    if !s.findings.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "policy, directive or code, source, path: count (first seen .. last seen)"
        )?;
        for ((policy, item, source, path), seen) in &s.findings {
            writeln!(
                out,
                "  {policy}  {item}  {}  {}: {} ({} .. {})",
                if source.is_empty() { "-" } else { source },
                if path.is_empty() { "-" } else { path },
                grouped(seen.count),
                seen.first,
                seen.last
            )?;
        }
    }
    writeln!(out)?;
    if verdicts.is_empty() {
        writeln!(
            out,
            "nothing in report-only mode to judge (no reports, no report-only lines); give --config to judge the configured policies"
        )?;
    }
    for v in verdicts {
        writeln!(out, "{}", v.text)?;
        for (item, sources) in &v.firing {
            let list: Vec<String> = sources
                .iter()
                .map(|(src, n)| {
                    format!(
                        "{} ({})",
                        if src.is_empty() { "-" } else { src },
                        grouped(*n)
                    )
                })
                .collect();
            writeln!(out, "    {item}: {}", list.join(", "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_numbers() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            epoch_seconds("2026-12-07T15:24:45.960228Z"),
            Some(1_796_657_085)
        );
        assert_eq!(epoch_seconds("garbage"), None);
        assert_eq!(grouped(41_203), "41 203");
        assert_eq!(grouped(7), "7");
        assert_eq!(grouped(1_000_000), "1 000 000");
        assert_eq!(
            span("2026-12-01T00:00:00Z", "2026-12-07T01:00:00Z"),
            "6 days"
        );
        assert_eq!(
            span("2026-12-01T00:00:00Z", "2026-12-01T00:00:01Z"),
            "1 second"
        );
    }
}
