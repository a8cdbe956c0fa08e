//! The audit report: JSON (`hardened.audit/v1`), text and SARIF 2.1.0.
//!
//! JSON schema `hardened.audit/v1` (stable; fields are only ever added):
//! `{schema, url, final_url, chains: {http: [{url, status}], https: [..]}, observatory: {algorithm_version, score, grade, tests:
//! {NAME: {result, score_modifier, pass}}, to_a_plus: [..]} | null, observatory_error,
//! tls: {version, cipher, alpn, verified, verify_error, name, days_left} | null,
//! findings: [{id, severity, title, evidence: {request, response}, fix}], notes: [..],
//! requests: [..]}`. `severity` is one of `critical|high|medium|low|info`; test names
//! and result codes are the MDN HTTP Observatory's.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::observatory::TestResult;
use super::probes::{Finding, IDS, Severity};

/// The schema name of the JSON report.
pub(crate) const SCHEMA: &str = "hardened.audit/v1";

/// The Observatory part of the report.
#[derive(Debug, Serialize)]
pub(crate) struct ObservatoryOut {
    pub(crate) algorithm_version: u32,
    pub(crate) score: i32,
    pub(crate) grade: &'static str,
    pub(crate) tests: Map<String, Value>,
    /// The results keeping the site from A+ (negative modifiers), worst first.
    pub(crate) to_a_plus: Vec<String>,
}

impl ObservatoryOut {
    /// From the tests' results.
    pub(crate) fn new(tests: &[TestResult], score: i32, grade: &'static str) -> ObservatoryOut {
        let mut map = Map::new();
        for t in tests {
            map.insert(
                t.name.to_owned(),
                json!({"result": t.result, "score_modifier": t.modifier, "pass": t.pass}),
            );
        }
        ObservatoryOut {
            algorithm_version: super::observatory::ALGORITHM_VERSION,
            score,
            grade,
            tests: map,
            to_a_plus: super::probes::to_a_plus(tests),
        }
    }
}

/// What the TLS handshake with the site showed.
#[derive(Debug, Serialize)]
pub(crate) struct TlsOut {
    pub(crate) version: String,
    pub(crate) cipher: String,
    pub(crate) alpn: Option<String>,
    pub(crate) verified: bool,
    pub(crate) verify_error: Option<String>,
    pub(crate) name: String,
    pub(crate) days_left: Option<i64>,
}

/// One response of a redirect chain.
#[derive(Debug, Serialize)]
pub(crate) struct HopOut {
    pub(crate) url: String,
    pub(crate) status: u16,
}

/// The redirect chains from `http://HOST/` and `https://HOST/` (empty when the scheme
/// did not answer).
#[derive(Debug, Serialize)]
pub(crate) struct Chains {
    pub(crate) http: Vec<HopOut>,
    pub(crate) https: Vec<HopOut>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) schema: &'static str,
    pub(crate) url: String,
    pub(crate) final_url: Option<String>,
    pub(crate) chains: Chains,
    pub(crate) observatory: Option<ObservatoryOut>,
    pub(crate) observatory_error: Option<String>,
    pub(crate) tls: Option<TlsOut>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) notes: Vec<String>,
    pub(crate) requests: Vec<String>,
}

/// Text from the site made safe for a terminal: control characters and bidirectional
/// overrides are escaped (`\u{1b}`).
pub(crate) fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        // Control characters, and the invisible ones that reorder or hide text.
        if c.is_control()
            || matches!(
                c,
                '\u{061c}'
                    | '\u{180e}'
                    | '\u{200b}'..='\u{200f}'
                    | '\u{202a}'..='\u{202e}'
                    | '\u{2060}'..='\u{2069}'
                    | '\u{feff}'
            )
        {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

const ORDER: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// The report for people: the grade first (and what A+ needs), then findings by
/// severity, each with its evidence and fix.
pub(crate) fn text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "hardened audit {}", clean(&r.url));
    if let Some(f) = &r.final_url {
        let _ = writeln!(s, "  graded page: {}", clean(f));
    }
    for (scheme, chain) in [("http", &r.chains.http), ("https", &r.chains.https)] {
        if chain.len() > 1 {
            let hops: Vec<String> = chain
                .iter()
                .map(|h| format!("{} {}", h.status, clean(&h.url)))
                .collect();
            let _ = writeln!(s, "  {scheme}:// chain: {}", hops.join(" -> "));
        }
    }
    match (&r.observatory, &r.observatory_error) {
        (Some(o), _) => {
            let _ = writeln!(
                s,
                "\nObservatory grade: {} (score {}, MDN HTTP Observatory algorithm v{})",
                o.grade, o.score, o.algorithm_version
            );
            for (name, t) in &o.tests {
                let _ = writeln!(
                    s,
                    "  {:<32} {:<4} {} ({:+})",
                    name,
                    if t["pass"] == true { "pass" } else { "FAIL" },
                    t["result"].as_str().unwrap_or(""),
                    t["score_modifier"].as_i64().unwrap_or(0)
                );
            }
            if o.grade != "A+" {
                if o.to_a_plus.is_empty() {
                    let _ = writeln!(
                        s,
                        "  to reach A+: bonuses (CSP default-src 'none' +10, CORP same-origin \
                         +10, Referrer-Policy +5, frame-ancestors +5, SameSite cookies +5)"
                    );
                } else {
                    let _ = writeln!(s, "  to reach A+, fix: {}", o.to_a_plus.join("; "));
                }
            }
        }
        (None, Some(e)) => {
            let _ = writeln!(s, "\nObservatory grade: none ({})", clean(e));
        }
        (None, None) => {}
    }
    if let Some(t) = &r.tls {
        let _ = writeln!(
            s,
            "\nTLS: {} {}{}; certificate for {} {}{}",
            t.version,
            t.cipher,
            t.alpn
                .as_ref()
                .map(|a| format!(", ALPN {a}"))
                .unwrap_or_default(),
            clean(&t.name),
            if t.verified {
                "verified"
            } else {
                "NOT verified"
            },
            t.days_left
                .map(|d| format!(", expires in {d} days"))
                .unwrap_or_default()
        );
    }
    if r.findings.is_empty() {
        let _ = writeln!(s, "\nNo findings.");
    }
    for sev in ORDER {
        let list: Vec<&Finding> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{} ({})", sev.as_str().to_uppercase(), list.len());
        for f in list {
            let _ = writeln!(s, "  [{}] {}", f.id, clean(&f.title));
            let _ = writeln!(s, "      request:  {}", clean(&f.evidence.request));
            let _ = writeln!(s, "      response: {}", clean(&f.evidence.response));
            let _ = writeln!(s, "      fix: {}", clean(&f.fix));
        }
    }
    for n in &r.notes {
        let _ = writeln!(s, "\nnote: {}", clean(n));
    }
    let _ = writeln!(
        s,
        "\n{} requests sent (--verbose lists them).",
        r.requests.len()
    );
    s
}

/// SARIF 2.1.0, as `hardened check` writes it: one rule per finding id, results at the
/// audited URL.
pub(crate) fn sarif(r: &Report) -> Value {
    let docs = format!(
        "{}/blob/main/README.md#hardened-audit",
        env!("CARGO_PKG_REPOSITORY")
    );
    let rules: Vec<Value> = IDS
        .iter()
        .map(|(id, what)| {
            json!({
                "id": id,
                "shortDescription": {"text": what},
                "helpUri": docs,
                "properties": {"tags": ["security", "audit"]},
            })
        })
        .collect();
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let level = match f.severity {
                Severity::Critical | Severity::High => "error",
                Severity::Medium => "warning",
                Severity::Low | Severity::Info => "note",
            };
            let mut v = json!({
                "ruleId": f.id,
                "level": level,
                // Shown as is by code-scanning views: site text escaped as in the
                // text report, so bidi controls cannot reorder it there.
                "message": {"text": clean(&format!(
                    "{} (evidence: {} -> {}; fix: {})",
                    f.title, f.evidence.request, f.evidence.response, f.fix
                ))},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": r.url}}}],
                "properties": {"severity": f.severity.as_str()},
            });
            if let (Some(i), Some(obj)) = (
                IDS.iter().position(|(id, _)| *id == f.id),
                v.as_object_mut(),
            ) {
                obj.insert("ruleIndex".into(), json!(i));
            }
            v
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "hardened",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": docs,
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    /// The schema's finding ids are the ones the audit emits.
    #[test]
    fn schema_names_every_finding_id() {
        let schema: serde_json::Value = serde_json::from_str(include_str!("schema.json")).unwrap();
        let ids: Vec<&str> = schema["properties"]["findings"]["items"]["properties"]["id"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = super::IDS.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, ours);
        assert_eq!(schema["properties"]["schema"]["const"], super::SCHEMA);
    }

    #[test]
    fn untrusted_text_is_escaped() {
        assert_eq!(
            super::clean("a\u{1b}[31mb\u{202e}c\n"),
            "a\\u{1b}[31mb\\u{202e}c\\u{a}"
        );
    }
}
