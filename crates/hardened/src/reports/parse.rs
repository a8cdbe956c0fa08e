//! Parsing report uploads, with limits: the legacy `application/csp-report` object and
//! the Reporting API's `application/reports+json` array. Nothing here panics on input:
//! every malformed upload is an [`UploadError`] with a fixed reason.
//!
//! The labels a violation carries ([`Violation::kind`], [`Violation::directive`]) come
//! from fixed sets, never from the upload, so metrics built on them stay bounded.

use serde_json::Value;

/// The most nested arrays and objects an upload may have (a real report has 3).
pub const MAX_DEPTH: usize = 8;

/// The most reports one `application/reports+json` upload may carry.
pub const MAX_ENTRIES: usize = 100;

/// The longest blocked source or document path kept of a report, in bytes.
pub const MAX_FIELD: usize = 256;

/// What a report is about: the `type` label of `hardened_reports_total`.
pub const TYPES: [&str; 8] = [
    "csp",
    "coop",
    "coep",
    "permissions-policy",
    "deprecation",
    "intervention",
    "crash",
    "other",
];

/// The CSP directives a violation may name; anything else is `other`.
pub const CSP_DIRECTIVES: [&str; 29] = [
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "prefetch-src",
    "fenced-frame-src",
    "frame-ancestors",
    "form-action",
    "base-uri",
    "sandbox",
    "upgrade-insecure-requests",
    "require-trusted-types-for",
    "trusted-types",
    "webrtc",
    "report-to",
    "report-uri",
    "navigate-to",
];

/// The kinds of COOP and COEP reports (their body's `type`); anything else is `other`.
pub const ISOLATION_KINDS: [&str; 11] = [
    "navigation-from-response",
    "navigation-to-response",
    "access-from-coop-page-to-opener",
    "access-from-coop-page-to-openee",
    "access-from-coop-page-to-other",
    "access-to-coop-page-from-opener",
    "access-to-coop-page-from-openee",
    "access-to-coop-page-from-other",
    "corp",
    "navigation",
    "worker initialization",
];

/// The Permissions-Policy features a violation may name; anything else is `other`.
pub const FEATURES: [&str; 16] = [
    "accelerometer",
    "autoplay",
    "camera",
    "clipboard-read",
    "clipboard-write",
    "display-capture",
    "fullscreen",
    "geolocation",
    "gyroscope",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "picture-in-picture",
    "publickey-credentials-get",
    "usb",
];

/// The `directive` label of reports that name none (deprecations, interventions,
/// crashes).
pub const NO_DIRECTIVE: &str = "none";

/// The `directive` label of a name outside the fixed sets.
pub const OTHER: &str = "other";

/// The two upload formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `application/csp-report`: one `{"csp-report": {...}}` object (`report-uri`).
    CspReport,
    /// `application/reports+json`: an array of reports (`report-to`,
    /// `Reporting-Endpoints`).
    Reports,
    /// `application/json`: either, told apart by its shape.
    Json,
}

impl Format {
    /// The format of a `Content-Type` value (its media type, case-insensitive,
    /// parameters ignored); `None` for any other type.
    pub fn from_content_type(value: &[u8]) -> Option<Format> {
        let text = std::str::from_utf8(value).ok()?;
        let media = text.split(';').next().unwrap_or("").trim();
        [
            ("application/csp-report", Format::CspReport),
            ("application/reports+json", Format::Reports),
            ("application/json", Format::Json),
        ]
        .into_iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(media))
        .map(|(_, f)| f)
    }
}

/// Why an upload was refused: the `reason` label of `hardened_reports_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UploadError {
    /// Not JSON, or not the shape of a report (400).
    Malformed,
    /// Nested deeper than [`MAX_DEPTH`] (400).
    TooDeep,
    /// More than [`MAX_ENTRIES`] reports (400).
    TooMany,
    /// Larger than `reports.max_body_size` (413).
    TooLarge,
    /// Neither report content type (415).
    ContentType,
    /// The client sent more than `reports.rate_limit` uploads a minute (429).
    RateLimited,
    /// Not a POST (405).
    Method,
    /// An `Origin` other than the collector's own (403).
    CrossOrigin,
}

impl UploadError {
    /// Every reason, in label order.
    pub const ALL: [UploadError; 8] = [
        UploadError::Malformed,
        UploadError::TooDeep,
        UploadError::TooMany,
        UploadError::TooLarge,
        UploadError::ContentType,
        UploadError::RateLimited,
        UploadError::Method,
        UploadError::CrossOrigin,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadError::Malformed => "malformed",
            UploadError::TooDeep => "too_deep",
            UploadError::TooMany => "too_many",
            UploadError::TooLarge => "too_large",
            UploadError::ContentType => "content_type",
            UploadError::RateLimited => "rate_limited",
            UploadError::Method => "method",
            UploadError::CrossOrigin => "cross_origin",
        }
    }

    /// The HTTP status of the answer.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            UploadError::Malformed | UploadError::TooDeep | UploadError::TooMany => S::BAD_REQUEST,
            UploadError::TooLarge => S::PAYLOAD_TOO_LARGE,
            UploadError::ContentType => S::UNSUPPORTED_MEDIA_TYPE,
            UploadError::RateLimited => S::TOO_MANY_REQUESTS,
            UploadError::Method => S::METHOD_NOT_ALLOWED,
            UploadError::CrossOrigin => S::FORBIDDEN,
        }
    }

    /// The answer's text: what was wrong and how a sender gets it right.
    pub fn message(self) -> &'static str {
        match self {
            UploadError::Malformed => {
                "malformed report: send a CSP report object or a Reporting API array\n"
            }
            UploadError::TooDeep => {
                "report nested too deeply: send the report objects browsers send\n"
            }
            UploadError::TooMany => {
                "too many reports in one upload: send at most 100 per request\n"
            }
            UploadError::TooLarge => {
                "report too large: raise reports.max_body_size if the reports are genuine\n"
            }
            UploadError::ContentType => {
                "send Content-Type: application/csp-report or application/reports+json\n"
            }
            UploadError::RateLimited => "too many reports from this client; retry later\n",
            UploadError::Method => "reports are sent with POST\n",
            UploadError::CrossOrigin => "reports are accepted from this site's own pages only\n",
        }
    }
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message().trim_end())
    }
}

impl std::error::Error for UploadError {}

/// Whether the policy was enforced or only reported when the browser saw the violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disposition {
    /// Enforced: the browser blocked it.
    Enforce,
    /// Report-only: it would have been blocked.
    Report,
}

impl Disposition {
    /// `enforce` or `report`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Enforce => "enforce",
            Disposition::Report => "report",
        }
    }
}

/// One report, reduced to what the collector keeps: fixed labels, and short,
/// URL-free text (an origin or keyword, a path without its query).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Violation {
    /// The report type, one of [`TYPES`].
    pub kind: &'static str,
    /// The directive, feature or kind, from the fixed sets (or [`OTHER`],
    /// [`NO_DIRECTIVE`]).
    pub directive: &'static str,
    /// What was blocked: an origin (`https://cdn.example.com`), a scheme (`data:`) or
    /// a keyword (`inline`, `eval`); empty when the report names none.
    pub blocked: String,
    /// The path of the page (no query, no fragment).
    pub document: String,
    /// Enforced or report-only.
    pub disposition: Disposition,
}

/// The deepest nesting of arrays and objects in `body`, stopping once it passes
/// `limit` (strings, with their escapes, are skipped).
fn too_deep(body: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses one upload of `format`.
///
/// # Errors
/// [`UploadError::TooDeep`], [`UploadError::Malformed`] or [`UploadError::TooMany`].
pub fn parse(format: Format, body: &[u8]) -> Result<Vec<Violation>, UploadError> {
    if too_deep(body, MAX_DEPTH) {
        return Err(UploadError::TooDeep);
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| UploadError::Malformed)?;
    match (format, &value) {
        (Format::CspReport | Format::Json, Value::Object(o)) => {
            let body = o.get("csp-report").ok_or(UploadError::Malformed)?;
            legacy(body).map(|v| vec![v])
        }
        (Format::Reports | Format::Json, Value::Array(items)) => {
            if items.len() > MAX_ENTRIES {
                return Err(UploadError::TooMany);
            }
            items.iter().map(reporting).collect()
        }
        _ => Err(UploadError::Malformed),
    }
}

fn text<'a>(o: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    o.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A legacy `csp-report` body.
fn legacy(body: &Value) -> Result<Violation, UploadError> {
    let o = body.as_object().ok_or(UploadError::Malformed)?;
    let directive = match text(o, "effective-directive") {
        "" => text(o, "violated-directive"),
        d => d,
    };
    if directive.is_empty() {
        return Err(UploadError::Malformed);
    }
    Ok(Violation {
        kind: "csp",
        directive: csp_directive(directive),
        blocked: blocked_source(text(o, "blocked-uri")),
        document: document_path(text(o, "document-uri")),
        disposition: disposition(text(o, "disposition")),
    })
}

/// One report of a Reporting API array.
fn reporting(item: &Value) -> Result<Violation, UploadError> {
    let o = item.as_object().ok_or(UploadError::Malformed)?;
    let kind = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or(UploadError::Malformed)?;
    let empty = serde_json::Map::new();
    let body = match o.get("body") {
        Some(Value::Object(b)) => b,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(UploadError::Malformed),
    };
    let url = text(o, "url");
    let (kind, directive, blocked, document) = match kind {
        "csp-violation" => {
            let d = text(body, "effectiveDirective");
            if d.is_empty() {
                return Err(UploadError::Malformed);
            }
            let doc = match text(body, "documentURL") {
                "" => url,
                d => d,
            };
            ("csp", csp_directive(d), text(body, "blockedURL"), doc)
        }
        "coop" => (
            "coop",
            one_of(&ISOLATION_KINDS, text(body, "type")),
            text(body, "otherDocumentURL"),
            url,
        ),
        "coep" => (
            "coep",
            one_of(&ISOLATION_KINDS, text(body, "type")),
            text(body, "blockedURL"),
            url,
        ),
        "permissions-policy-violation" => (
            "permissions-policy",
            one_of(&FEATURES, text(body, "featureId")),
            "",
            url,
        ),
        "deprecation" => ("deprecation", NO_DIRECTIVE, "", url),
        "intervention" => ("intervention", NO_DIRECTIVE, "", url),
        "crash" => ("crash", NO_DIRECTIVE, "", url),
        _ => ("other", NO_DIRECTIVE, "", url),
    };
    Ok(Violation {
        kind,
        directive,
        blocked: blocked_source(blocked),
        document: document_path(document),
        disposition: disposition(text(body, "disposition")),
    })
}

fn disposition(s: &str) -> Disposition {
    if s.eq_ignore_ascii_case("report") || s.eq_ignore_ascii_case("reporting") {
        Disposition::Report
    } else {
        Disposition::Enforce
    }
}

/// The label of `name` in `set` (ASCII case-insensitive), or [`OTHER`].
fn one_of(set: &'static [&'static str], name: &str) -> &'static str {
    set.iter()
        .find(|d| d.eq_ignore_ascii_case(name.trim()))
        .copied()
        .unwrap_or(OTHER)
}

/// A CSP directive's label. Old browsers put the whole directive in
/// `violated-directive` (`script-src 'self'`): its first word names it.
pub fn csp_directive(s: &str) -> &'static str {
    one_of(
        &CSP_DIRECTIVES,
        s.split_ascii_whitespace().next().unwrap_or(""),
    )
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_owned()
}

/// What was blocked, without its path or query: `scheme://host[:port]` for a URL,
/// `scheme:` for `data:`/`blob:` and the like, else the keyword (`inline`, `eval`).
pub fn blocked_source(s: &str) -> String {
    let s = s.trim();
    let scheme = s.split_once(':').filter(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    });
    match scheme {
        Some((scheme, rest)) => match rest.strip_prefix("//") {
            Some(rest) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                // Credentials never reach the log.
                let authority = rest.get(..end).unwrap_or("");
                let host = authority.rsplit('@').next().unwrap_or("");
                cut(
                    &format!("{}://{host}", scheme.to_ascii_lowercase()),
                    MAX_FIELD,
                )
            }
            None => cut(&format!("{}:", scheme.to_ascii_lowercase()), MAX_FIELD),
        },
        None => cut(s, MAX_FIELD),
    }
}

/// The path of a document URL, without query or fragment (which may hold tokens).
pub fn document_path(s: &str) -> String {
    let s = s.trim();
    let rest = match s.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => rest.get(i..).unwrap_or("/"),
            None => "/",
        },
        None => s,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    cut(rest.get(..end).unwrap_or(""), MAX_FIELD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let cases: &[(&str, Option<Format>)] = &[
            ("application/csp-report", Some(Format::CspReport)),
            (
                "Application/CSP-Report; charset=utf-8",
                Some(Format::CspReport),
            ),
            ("application/reports+json", Some(Format::Reports)),
            ("application/json", Some(Format::Json)),
            ("text/plain", None),
            ("application/x-www-form-urlencoded", None),
            ("", None),
        ];
        for (ct, want) in cases {
            assert_eq!(Format::from_content_type(ct.as_bytes()), *want, "{ct}");
        }
        assert_eq!(Format::from_content_type(b"\xff\xfe"), None);
    }

    #[test]
    fn sources_and_paths_lose_everything_but_the_origin() {
        let cases: &[(&str, &str)] = &[
            (
                "https://cdn.example.com/lib.js?token=x",
                "https://cdn.example.com",
            ),
            ("HTTPS://user:pw@evil.test:8443/a", "https://evil.test:8443"),
            ("inline", "inline"),
            ("eval", "eval"),
            ("data:image/png;base64,AAAA", "data:"),
            ("blob:https://a.test/uuid", "blob:"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(blocked_source(input), *want, "{input}");
        }
        let paths: &[(&str, &str)] = &[
            ("https://app.test/account?session=secret#x", "/account"),
            ("https://app.test", "/"),
            ("/relative?q=1", "/relative"),
        ];
        for (input, want) in paths {
            assert_eq!(document_path(input), *want, "{input}");
        }
        let long = format!("https://a.test/{}", "é".repeat(400));
        assert!(document_path(&long).len() <= MAX_FIELD);
    }

    #[test]
    fn depth_is_counted_outside_strings_only() {
        assert!(!too_deep(br#"{"a":"[[[[[[[[[[[[[[[[[["}"#, 2));
        assert!(too_deep(b"[[[", 2));
        assert!(!too_deep(br#"[{"a":"\"["}]"#, 2));
    }

    #[test]
    fn directives_are_labels_from_the_fixed_set() {
        assert_eq!(csp_directive("script-src 'self'"), "script-src");
        assert_eq!(csp_directive("IMG-SRC"), "img-src");
        assert_eq!(csp_directive("x-made-up-directive"), OTHER);
        assert_eq!(csp_directive(""), OTHER);
    }
}
