//! The violation report collector: real Chromium uploads (captured by the browser
//! suite, `browser/test/reports.test.mjs`), hostile uploads, the metrics' label bounds,
//! deduplication, and the headers that point browsers at the collector.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hardened::Security;
use hardened::config::Config;
use hardened::probe::RuntimeProbe;
use hardened::reports::parse::{
    CSP_DIRECTIVES, FEATURES, ISOLATION_KINDS, NO_DIRECTIVE, OTHER, TYPES,
};
use hardened::reports::{Collector, Format, ReportsConfig, ReportsService, UploadError};
use http::{Method, Request, StatusCode};
use proptest::strategy::Strategy as _;
use tower::ServiceExt as _;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/reports")
}

/// The captured uploads: (file name, format from the file's suffix, body).
fn corpus() -> Vec<(String, Format, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let format = if name.ends_with(".csp-report.json") {
            Format::CspReport
        } else if name.ends_with(".reports.json") {
            Format::Reports
        } else {
            continue;
        };
        out.push((name, format, std::fs::read(&path).unwrap()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn head(content_type: &str) -> http::request::Parts {
    upload_head(Method::POST, content_type, None)
}

fn upload_head(method: Method, content_type: &str, origin: Option<&str>) -> http::request::Parts {
    let mut b = Request::builder()
        .method(method)
        .uri("/.well-known/hardened/reports")
        .header("content-type", content_type)
        .header("host", "app.test");
    if let Some(o) = origin {
        b = b.header("origin", o);
    }
    b.body(()).unwrap().into_parts().0
}

fn ip(n: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)))
}

thread_local! {
    /// The log lines of this thread, while `logs` captures them.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes into this thread's capture, if one is on.
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|c| {
            if let Some(buf) = c.borrow_mut().as_mut() {
                buf.extend_from_slice(b);
            }
        });
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log lines (JSON) written on this thread while `f` runs. One process-wide subscriber
/// writes each thread's events to that thread's capture: a subscriber scoped to one
/// thread would race with the cached interest of callsites other tests hit at the same
/// time.
fn logs(f: impl FnOnce()) -> String {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(|| ThreadWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    f();
    let bytes = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn chromium_uploads_parse_in_both_formats() {
    let corpus = corpus();
    let formats: BTreeSet<_> = corpus.iter().map(|(_, f, _)| format!("{f:?}")).collect();
    assert!(
        corpus.len() >= 2 && formats.contains("CspReport"),
        "the corpus holds Chromium's captured uploads: {:?}",
        corpus.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    let settings = ReportsConfig::default();
    let mut directives = BTreeSet::new();
    for (name, format, body) in &corpus {
        let c = Collector::new();
        let n = c
            .accept(&settings, *format, body, Instant::now())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(n >= 1, "{name}");
        for ((kind, directive), _) in c.counts() {
            assert_eq!(kind, "csp", "{name}");
            directives.insert(directive);
        }
        let parsed = hardened::reports::parse::parse(*format, body).unwrap();
        for v in parsed {
            // Never a query string (the captured document URLs carry one).
            assert!(!v.document.contains('?'), "{name}: {}", v.document);
            assert!(v.document.starts_with("/violate"), "{name}: {}", v.document);
            assert!(!v.blocked.contains("/pixel"), "{name}: {}", v.blocked);
            assert_eq!(v.disposition.as_str(), "report", "{name}");
        }
    }
    // What the page broke on purpose: its image and its inline script.
    assert!(directives.contains("img-src"), "{directives:?}");
    assert!(directives.contains("script-src-elem"), "{directives:?}");
}

#[test]
fn hostile_bodies_are_refused_with_their_reason() {
    let settings = ReportsConfig::default();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let many = format!(
        "[{}]",
        vec![r#"{"type":"deprecation","url":"https://app.test/","body":{}}"#; 101].join(",")
    );
    let cases: Vec<(&str, Format, Vec<u8>, UploadError)> = vec![
        (
            "not json",
            Format::CspReport,
            b"{\"csp-report\":".to_vec(),
            UploadError::Malformed,
        ),
        (
            "binary",
            Format::Reports,
            vec![0xff, 0xfe, 0x00, 0x9c],
            UploadError::Malformed,
        ),
        (
            "wrong shape",
            Format::CspReport,
            b"[1,2,3]".to_vec(),
            UploadError::Malformed,
        ),
        (
            "no directive",
            Format::CspReport,
            br#"{"csp-report":{"blocked-uri":"inline"}}"#.to_vec(),
            UploadError::Malformed,
        ),
        (
            "array of strings",
            Format::Reports,
            br#"["a"]"#.to_vec(),
            UploadError::Malformed,
        ),
        (
            "body not an object",
            Format::Reports,
            br#"[{"type":"coop","body":7}]"#.to_vec(),
            UploadError::Malformed,
        ),
        (
            "deep",
            Format::Reports,
            deep.into_bytes(),
            UploadError::TooDeep,
        ),
        (
            "many",
            Format::Reports,
            many.into_bytes(),
            UploadError::TooMany,
        ),
    ];
    for (what, format, body, want) in cases {
        let c = Collector::new();
        assert_eq!(
            c.accept(&settings, format, &body, Instant::now()),
            Err(want),
            "{what}"
        );
        assert_eq!(c.rejected(want), 1, "{what}");
        assert!(c.counts().is_empty(), "{what}");
    }
}

#[test]
fn heads_are_judged_before_bodies() {
    let settings = ReportsConfig::default();
    let c = Collector::new();
    let now = Instant::now();
    let admit = |h: http::request::Parts, who| c.admit(&settings, &h, who, now);
    assert_eq!(
        admit(head("application/csp-report"), ip(1)),
        Ok(Format::CspReport)
    );
    assert_eq!(
        admit(head("application/reports+json"), ip(1)),
        Ok(Format::Reports)
    );
    assert_eq!(
        admit(head("text/plain"), ip(1)),
        Err(UploadError::ContentType)
    );
    assert_eq!(
        admit(
            upload_head(Method::GET, "application/csp-report", None),
            ip(1)
        ),
        Err(UploadError::Method)
    );
    let foreign = upload_head(
        Method::POST,
        "application/csp-report",
        Some("https://evil.test"),
    );
    assert_eq!(admit(foreign, ip(1)), Err(UploadError::CrossOrigin));
    let own = upload_head(
        Method::POST,
        "application/csp-report",
        Some("https://app.test"),
    );
    assert_eq!(admit(own, ip(1)), Ok(Format::CspReport));
    // HTTP/2: no Host, the authority is in the URI.
    let (mut h2, ()) = Request::post("https://app.test/.well-known/hardened/reports")
        .header("content-type", "application/reports+json")
        .header("origin", "https://app.test")
        .body(())
        .unwrap()
        .into_parts();
    h2.version = http::Version::HTTP_2;
    assert_eq!(admit(h2, ip(1)), Ok(Format::Reports));
    for r in [
        UploadError::ContentType,
        UploadError::Method,
        UploadError::CrossOrigin,
    ] {
        assert_eq!(c.rejected(r), 1, "{r:?}");
    }
}

#[test]
fn a_flood_from_one_client_is_cut_and_others_still_report() {
    let settings = ReportsConfig::default().with_rate_limit(10);
    let c = Collector::new();
    let start = Instant::now();
    let h = head("application/csp-report");
    let accepted = (0..200)
        .filter(|_| c.admit(&settings, &h, ip(66), start).is_ok())
        .count();
    assert_eq!(accepted, 10);
    assert_eq!(c.rejected(UploadError::RateLimited), 190);
    // Another client is not held back by the flood.
    assert!(c.admit(&settings, &h, ip(7), start).is_ok());
    // The flooder's allowance comes back at the configured rate: one per 6 s.
    let later = start + Duration::from_secs(6);
    assert!(c.admit(&settings, &h, ip(66), later).is_ok());
    assert_eq!(
        c.admit(&settings, &h, ip(66), later),
        Err(UploadError::RateLimited)
    );
}

#[test]
fn many_clients_never_grow_the_table_past_its_cap() {
    let settings = ReportsConfig::default().with_rate_limit(1);
    let c = Collector::new();
    let now = Instant::now();
    let h = head("application/csp-report");
    let mut refused = 0;
    for i in 0..(hardened::reports::MAX_CLIENTS as u32 + 500) {
        let who = Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
        if c.admit(&settings, &h, who, now).is_err() {
            refused += 1;
        }
    }
    // Past the cap, newcomers share one allowance of 1: all but one of them are refused.
    assert_eq!(refused, 499);
    // A minute later every allowance is full again: the idle clients are forgotten, and
    // two newcomers each get an allowance of their own.
    let later = now + Duration::from_secs(61);
    for n in [1, 2] {
        let who = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)));
        assert!(c.admit(&settings, &h, who, later).is_ok(), "{n}");
    }
}

#[test]
fn a_violation_is_logged_once_per_window_and_counted_every_time() {
    let settings = ReportsConfig::default().with_dedup_window(Duration::from_secs(60));
    let c = Collector::new();
    let body = br#"{"csp-report":{"document-uri":"https://app.test/pay?card=4111","effective-directive":"script-src-elem","blocked-uri":"https://cdn.evil.test/x.js?t=1","disposition":"report"}}"#;
    let start = Instant::now();
    let out = logs(|| {
        for i in 0..5 {
            c.accept(
                &settings,
                Format::CspReport,
                body,
                start + Duration::from_secs(i),
            )
            .unwrap();
        }
        // After the window: logged again, with the repeats of the window before.
        c.accept(
            &settings,
            Format::CspReport,
            body,
            start + Duration::from_secs(61),
        )
        .unwrap();
    });
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["repeats"], 0);
    assert_eq!(lines[1]["repeats"], 4);
    assert_eq!(lines[0]["directive"], "script-src-elem");
    assert_eq!(lines[0]["blocked"], "https://cdn.evil.test");
    assert_eq!(lines[0]["document"], "/pay");
    assert!(!out.contains("4111") && !out.contains("t=1"), "{out}");
    assert_eq!(c.counts().get(&("csp", "script-src-elem")), Some(&6));
    // Two more in the new window, then the server stops: the repeats are logged.
    let out = logs(|| {
        for i in 62..64 {
            c.accept(
                &settings,
                Format::CspReport,
                body,
                start + Duration::from_secs(i),
            )
            .unwrap();
        }
        c.flush();
        c.flush();
    });
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["message"], "violation report repeats");
    assert_eq!(lines[0]["repeats"], 2);
}

/// A table of distinct violations filled with junk (one client's flood within the
/// window) never hides a new, real one: it is logged all the same.
#[test]
fn a_full_table_never_hides_a_new_violation() {
    let settings = ReportsConfig::default().with_dedup_window(Duration::from_secs(600));
    let c = Collector::new();
    let start = Instant::now();
    let junk = |i: usize| {
        format!(
            r#"{{"csp-report":{{"document-uri":"https://app.test/p{i}","effective-directive":"img-src","blocked-uri":"https://junk{i}.test/x","disposition":"enforce"}}}}"#
        )
    };
    let _ = logs(|| {
        for i in 0..hardened::reports::MAX_DISTINCT + 10 {
            let _ = c.accept(&settings, Format::CspReport, junk(i).as_bytes(), start);
        }
    });
    let real = br#"{"csp-report":{"document-uri":"https://app.test/checkout","effective-directive":"script-src-elem","blocked-uri":"https://cdn.evil.test/x.js","disposition":"report"}}"#;
    let out = logs(|| {
        c.accept(
            &settings,
            Format::CspReport,
            real,
            start + Duration::from_secs(1),
        )
        .unwrap();
    });
    assert!(out.contains("script-src-elem"), "{out}");
    assert!(out.contains("cdn.evil.test"), "{out}");
}

#[test]
fn untrusted_text_is_escaped_in_the_log() {
    let c = Collector::new();
    let body = "{\"csp-report\":{\"document-uri\":\"https://app.test/a\\u001b[31m\\u202e\\nfake line\",\"effective-directive\":\"img-src\",\"blocked-uri\":\"inline\\r\\ninjected=1\"}}";
    let out = logs(|| {
        c.accept(
            &ReportsConfig::default(),
            Format::CspReport,
            body.as_bytes(),
            Instant::now(),
        )
        .unwrap();
    });
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out}"
    );
    assert!(
        out.contains("\\\\u{1b}") || out.contains("\\u{1b}"),
        "{out}"
    );
}

#[test]
fn labels_come_from_fixed_sets_whatever_the_reports_say() {
    let c = Collector::new();
    let settings = ReportsConfig::default();
    let mut reports = Vec::new();
    for i in 0..300 {
        let kind = [
            "csp-violation",
            "coop",
            "coep",
            "permissions-policy-violation",
            "deprecation",
            "intervention",
            "crash",
            "x-made-up",
        ][i % 8];
        reports.push(serde_json::json!({
            "type": kind,
            "url": format!("https://app.test/p{i}?q={i}"),
            "body": {
                "effectiveDirective": format!("directive-{i}"),
                "blockedURL": format!("https://h{i}.test/x"),
                "type": format!("kind-{i}"),
                "featureId": if i % 2 == 0 { "camera".to_owned() } else { format!("feature-{i}") },
            }
        }));
    }
    for chunk in reports.chunks(100) {
        let body = serde_json::to_vec(chunk).unwrap();
        c.accept(&settings, Format::Reports, &body, Instant::now())
            .unwrap();
    }
    let all_directives: BTreeSet<&str> = CSP_DIRECTIVES
        .iter()
        .chain(ISOLATION_KINDS.iter())
        .chain(FEATURES.iter())
        .copied()
        .chain([OTHER, NO_DIRECTIVE])
        .collect();
    let counts = c.counts();
    for (kind, directive) in counts.keys() {
        assert!(TYPES.contains(kind), "{kind}");
        assert!(all_directives.contains(directive), "{directive}");
    }
    assert!(counts.len() <= 10, "{counts:?}");
    let mut text = String::new();
    c.encode(&mut text);
    assert!(
        !text.contains("https://") && !text.contains("h1.test"),
        "{text}"
    );
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(series, counts.len() + UploadError::ALL.len(), "{text}");
}

#[tokio::test]
async fn the_service_answers_each_case_with_its_status() {
    let settings = ReportsConfig::default()
        .with_max_body_size(1024)
        .with_rate_limit(3);
    let svc = ReportsService::new(settings);
    let peer = hardened::PeerAddr("192.0.2.9:5000".parse().unwrap());
    let send = |ct: &str, body: Vec<u8>| {
        let mut req = Request::post("/.well-known/hardened/reports")
            .header("host", "app.test")
            .header("content-type", ct)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        req.extensions_mut().insert(peer);
        svc.clone().oneshot(req)
    };
    let ok = br#"{"csp-report":{"effective-directive":"img-src","blocked-uri":"data:x","document-uri":"https://app.test/"}}"#;
    assert_eq!(
        send("application/csp-report", ok.to_vec())
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send("application/csp-report", vec![b' '; 2048])
            .await
            .unwrap()
            .status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let resp = send("text/html", ok.to_vec()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(resp.body().contains("application/csp-report"));
    // The allowance of 3 is spent: the next is 429, whatever its content.
    let resp = send("application/csp-report", b"{".to_vec()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    let c = svc.collector();
    assert_eq!(c.rejected(UploadError::TooLarge), 1);
    assert_eq!(c.rejected(UploadError::RateLimited), 1);
    assert_eq!(c.counts().get(&("csp", "img-src")), Some(&1));

    let fresh = ReportsService::new(ReportsConfig::default());
    let req = Request::post("/r")
        .header("content-type", "application/reports+json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"[{]")))
        .unwrap();
    assert_eq!(
        fresh.oneshot(req).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn an_app_mounts_the_collector_behind_the_layer_and_its_headers_point_at_it() {
    use tower::Layer as _;
    let mut cfg = Config::production(["app.test"]).unwrap();
    cfg.headers.content_security_policy_report_only =
        hardened::config::HeaderOverride::Set("default-src 'self'".into());
    cfg.headers.cross_origin_embedder_policy =
        hardened::config::HeaderOverride::Set("require-corp".into());
    cfg.reports = Some(ReportsConfig::default());
    let security = Security::from_config(&cfg, &RuntimeProbe::none()).unwrap();
    let reports = ReportsService::for_security(&security).unwrap();
    let collector = reports.collector().clone();
    let path = reports.settings().path.clone();
    let app = tower::service_fn(move |req: Request<http_body_util::Full<bytes::Bytes>>| {
        let reports = reports.clone();
        let path = path.clone();
        async move {
            if req.uri().path() == path {
                reports.oneshot(req).await
            } else {
                Ok(http::Response::new(String::from("page")))
            }
        }
    });
    let svc = security.layer().layer(app);
    let call = |req: Request<http_body_util::Full<bytes::Bytes>>| svc.clone().oneshot(req);
    let page = call(
        Request::get("/")
            .header("host", "app.test")
            .body(Default::default())
            .unwrap(),
    )
    .await
    .unwrap();
    let get = |n: &str| {
        page.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        get("content-security-policy-report-only"),
        "default-src 'self'; report-uri /.well-known/hardened/reports; report-to hardened"
    );
    assert_eq!(
        get("reporting-endpoints"),
        "hardened=\"/.well-known/hardened/reports\""
    );
    assert_eq!(
        get("cross-origin-opener-policy"),
        "same-origin; report-to=\"hardened\""
    );
    assert_eq!(
        get("cross-origin-embedder-policy"),
        "require-corp; report-to=\"hardened\""
    );

    let upload = |origin: Option<&str>| {
        let mut b = Request::post("/.well-known/hardened/reports")
            .header("host", "app.test")
            .header("content-type", "application/csp-report");
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        b.body(http_body_util::Full::new(bytes::Bytes::from_static(
            br#"{"csp-report":{"effective-directive":"img-src","blocked-uri":"inline","document-uri":"http://app.test/"}}"#,
        )))
        .unwrap()
    };
    assert_eq!(
        call(upload(Some("http://app.test")))
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(upload(None)).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    // A foreign page's upload reaches the collector (the path is exempt from CSRF) and
    // is refused there.
    assert_eq!(
        call(upload(Some("https://evil.test")))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(collector.rejected(UploadError::CrossOrigin), 1);
    assert_eq!(collector.counts().get(&("csp", "img-src")), Some(&2));
    assert!(
        security
            .policy()
            .csrf
            .exempt_paths
            .iter()
            .any(|p| p == "/.well-known/hardened/reports")
    );
}

/// Loads `text` as `config.yaml` with an empty environment.
fn load(text: &str) -> Result<hardened::config::load::Loaded, hardened::config::ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    hardened::config::load::Loader::new()
        .file(path)
        .env(std::iter::empty::<(&str, &str)>())
        .load()
}

#[test]
fn the_reports_section_loads_and_every_bad_value_is_named() {
    let base = "environment: development\n";
    let on = load(&format!("{base}reports: true\n")).unwrap().config;
    assert_eq!(on.reports, Some(ReportsConfig::default()));
    for off in ["reports: false\n", "reports: null\n", ""] {
        assert_eq!(
            load(&format!("{base}{off}")).unwrap().config.reports,
            None,
            "{off}"
        );
    }
    let custom = load(&format!(
        "{base}reports:\n  path: /csp-reports\n  max_body_size: 16KiB\n  rate_limit: 5\n  dedup_window: 1h\n"
    ))
    .unwrap()
    .config;
    assert_eq!(
        custom.reports,
        Some(
            ReportsConfig::default()
                .with_path("/csp-reports")
                .with_max_body_size(16 * 1024)
                .with_rate_limit(5)
                .with_dedup_window(Duration::from_secs(3600))
        )
    );
    let cases: &[(&str, &str, &str)] = &[
        ("path: reports", "reports.path", "invalid-path"),
        ("path: \"/a;b\"", "reports.path", "invalid-path"),
        ("max_body_size: 10", "reports.max_body_size", "invalid-size"),
        (
            "max_body_size: 2GiB",
            "reports.max_body_size",
            "invalid-size",
        ),
        ("rate_limit: 0", "reports.rate_limit", "invalid-size"),
        ("rate_limit: many", "reports.rate_limit", "wrong-type"),
        (
            "dedup_window: 0s",
            "reports.dedup_window",
            "invalid-duration",
        ),
        (
            "dedup_window: soon",
            "reports.dedup_window",
            "invalid-duration",
        ),
        ("pth: /x", "reports.pth", "unknown-key"),
    ];
    for (line, key, code) in cases {
        let text = format!("{base}reports:\n  {line}\n");
        let e = load(&text).expect_err(line);
        let p =
            e.0.iter()
                .find(|p| p.key() == *key)
                .unwrap_or_else(|| panic!("{line}: {e}"));
        assert_eq!(p.kind().code(), *code, "{line}");
        assert!(p.source().is_some_and(|s| s.line == 3), "{line}: {p:?}");
    }
}

#[test]
fn a_csp_naming_its_own_collector_is_left_alone() {
    let r = ReportsConfig::default();
    assert_eq!(
        r.csp_with_reports("default-src 'self'; report-uri https://collector.example/csp"),
        "default-src 'self'; report-uri https://collector.example/csp"
    );
    assert_eq!(
        r.csp_with_reports("default-src 'self';"),
        "default-src 'self'; report-uri /.well-known/hardened/reports; report-to hardened"
    );
}

proptest::proptest! {
    /// Whatever the body, the collector answers without panicking, keeps no text past
    /// its bound and no query, and counts under fixed labels only.
    #[test]
    fn any_upload_is_refused_or_counted_under_fixed_labels(
        format in 0u8..3,
        body in proptest::prop_oneof![
            proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            "\\[\\{\"type\":\"(csp-violation|coop|coep|x)\",\"url\":\"[ -~]{0,40}\",\"body\":\\{\"effectiveDirective\":\"[ -~]{0,20}\",\"blockedURL\":\"[ -~]{0,300}\",\"documentURL\":\"[ -~]{0,300}\"\\}\\}\\]"
                .prop_map(String::into_bytes),
            "\\{\"csp-report\":\\{\"violated-directive\":\"[ -~]{0,30}\",\"blocked-uri\":\"[ -~]{0,300}\",\"document-uri\":\"[^\"\\\\]{0,300}\"\\}\\}"
                .prop_map(String::into_bytes),
        ],
    ) {
        let format = [Format::CspReport, Format::Reports, Format::Json][usize::from(format)];
        let c = Collector::new();
        if let Ok(violations) = hardened::reports::parse::parse(format, &body) {
            for v in &violations {
                proptest::prop_assert!(v.blocked.len() <= hardened::reports::parse::MAX_FIELD);
                proptest::prop_assert!(v.document.len() <= hardened::reports::parse::MAX_FIELD);
                proptest::prop_assert!(!v.document.contains('?'));
            }
        }
        let _ = c.accept(&ReportsConfig::default(), format, &body, Instant::now());
        for (kind, directive) in c.counts().keys() {
            proptest::prop_assert!(TYPES.contains(kind));
            proptest::prop_assert!(
                CSP_DIRECTIVES.contains(directive)
                    || ISOLATION_KINDS.contains(directive)
                    || FEATURES.contains(directive)
                    || *directive == OTHER
                    || *directive == NO_DIRECTIVE
            );
        }
    }
}

#[test]
fn timestamps_render_as_the_json_log_writes_them() {
    use std::time::UNIX_EPOCH;
    let cases: &[(u64, u32, &str)] = &[
        (0, 0, "1970-01-01T00:00:00.000000Z"),
        (1_796_657_085, 960_228, "2026-12-07T15:24:45.960228Z"),
        (951_782_400, 0, "2000-02-29T00:00:00.000000Z"),
        (4_107_542_399, 999_999, "2100-02-28T23:59:59.999999Z"),
    ];
    for (secs, micros, want) in cases {
        let t = UNIX_EPOCH + Duration::from_secs(*secs) + Duration::from_micros(u64::from(*micros));
        assert_eq!(hardened::reports::rfc3339(t), *want);
    }
}

#[test]
fn the_snapshot_lists_each_violation_with_its_count() {
    let c = Collector::new();
    let settings = ReportsConfig::default();
    let body = br#"{"csp-report":{"effective-directive":"img-src","blocked-uri":"https://x.test/a?b","document-uri":"https://app.test/p?q"}}"#;
    for _ in 0..3 {
        c.accept(&settings, Format::CspReport, body, Instant::now())
            .unwrap();
    }
    c.reject(UploadError::TooLarge);
    let doc: serde_json::Value = serde_json::from_str(&c.snapshot_json(Some(9))).unwrap();
    assert_eq!(doc["schema"], "hardened.reports.live/v1");
    assert_eq!(doc["requests_allowed"], 9);
    assert_eq!(doc["violations"][0]["count"], 3);
    assert_eq!(doc["violations"][0]["blocked"], "https://x.test");
    assert_eq!(doc["violations"][0]["document"], "/p");
    assert_eq!(doc["rejected"]["too_large"], 1);
    assert_eq!(doc["counts"][0]["count"], 3);
}
