//! `hardened reports`: the summary and verdicts over the JSON log of a real `hardened
//! serve` that received violation reports, served pages and let through requests its
//! report-only CSRF check would have rejected; and its refusals.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::{Served, command, run, text, upstream, workdir};

const CONFIG: &str = "environment: development
headers:
  content_security_policy_report_only: \"default-src 'self'\"
report_only: [csrf]
reports: true
";

/// One request over a fresh connection: the status code.
fn request(addr: SocketAddr, head: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn report(directive: &str, blocked: &str) -> String {
    format!(
        r#"{{"csp-report":{{"document-uri":"http://127.0.0.1/shop?id=7","effective-directive":"{directive}","blocked-uri":"{blocked}","disposition":"report"}}}}"#
    )
}

const UPLOAD: &str =
    "POST /.well-known/hardened/reports HTTP/1.1\r\nContent-Type: application/csp-report";

/// The JSON log of a gateway that saw `pages` pages and, when `violate`, three reports
/// (two alike) and a cross-site POST.
fn served_log(pages: usize, violate: bool) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(upstream(|_req| async {
        Ok::<_, std::convert::Infallible>(text("page"))
    }));
    let target = format!("http://{}", up.addr);
    let mut srv = Served::start(
        Some(CONFIG),
        &[
            "--upstream",
            &target,
            "--log-format",
            "json",
            "--access-log",
        ],
    );
    for _ in 0..pages {
        assert_eq!(request(srv.addr, "GET / HTTP/1.1", ""), 200);
    }
    if violate {
        let img = report("img-src", "https://cdn.example.net/a.png");
        for _ in 0..2 {
            assert_eq!(request(srv.addr, UPLOAD, &img), 204);
        }
        assert_eq!(
            request(srv.addr, UPLOAD, &report("script-src-elem", "inline")),
            204
        );
        let post = "POST /transfer HTTP/1.1\r\nOrigin: https://evil.test\r\nContent-Type: application/x-www-form-urlencoded";
        assert_ne!(
            request(srv.addr, post, "a=1"),
            403,
            "report-only lets it through"
        );
    }
    srv.sigterm();
    srv.wait_exit(Duration::from_secs(10));
    srv.stderr()
}

fn judge(log: &str, extra: &[&str]) -> crate::common::Run {
    let dir = workdir(Some(CONFIG));
    std::fs::write(dir.path().join("gateway.log"), log).unwrap();
    let mut args = vec!["reports"];
    args.extend_from_slice(extra);
    args.push("gateway.log");
    run(command(dir.path(), &args))
}

#[test]
fn a_rollout_that_still_fires_is_not_ready_and_says_what_fires() {
    let log = served_log(3, true);
    let r = judge(&log, &["--config", "config.yaml"]);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    let out = &r.stdout;
    assert!(out.contains("3 pages served"), "{out}");
    assert!(
        out.contains("CSP report-only: 2 directives still fire → not ready"),
        "{out}"
    );
    // The two alike reports are one log line (deduplicated within the window), and the
    // repeat is logged when the gateway stops: counted exactly.
    assert_eq!(log.matches("\"violation report\"").count(), 2, "{log}");
    assert!(
        out.contains("    img-src: https://cdn.example.net (2)"),
        "{out}"
    );
    assert!(out.contains("    script-src-elem: inline (1)"), "{out}");
    assert!(
        out.contains("csrf report-only: 1 code still fires → not ready"),
        "{out}"
    );
    assert!(out.contains("https://evil.test"), "{out}");
    assert!(out.contains("/transfer"), "{out}");
    assert!(!out.contains("id=7"), "never a query: {out}");

    let r = judge(&log, &["--format", "json", "--config", "config.yaml"]);
    assert_eq!(r.code, Some(1));
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["schema"], "hardened.reports/v1");
    assert_eq!(doc["pages"], 3);
    let verdicts = doc["verdicts"].as_array().unwrap();
    let csp = verdicts
        .iter()
        .find(|v| v["policy"] == "CSP report-only")
        .unwrap();
    assert_eq!(csp["ready"], false);
    let firing: Vec<&str> = csp["firing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["item"].as_str().unwrap())
        .collect();
    assert_eq!(firing, ["img-src", "script-src-elem"]);
    let finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["item"] == "img-src")
        .unwrap();
    assert_eq!(finding["path"], "/shop");
    assert!(finding["first_seen"].as_str().unwrap().starts_with("20"));

    // The same log without its access lines and reports: no pages seen, so no CSP
    // violation is not evidence of anything.
    let no_pages: String = log
        .lines()
        .filter(|l| l.contains("report-only: request would be"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = judge(&no_pages, &["--config", "config.yaml"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("CSP report-only: 0 violations, but no pages seen"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_quiet_rollout_is_ready() {
    let log = served_log(4, false);
    let r = judge(&log, &["--config", "config.yaml"]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("CSP report-only: 0 violations in 4 pages over "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("csrf report-only: 0 would-be rejections in 4 pages"),
        "{}",
        r.stdout
    );
}

#[test]
fn logs_that_cannot_be_read_are_usage_errors() {
    let r = judge(
        "hardened: listening on http://127.0.0.1:8000\nplain text\n",
        &[],
    );
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("--log-format json"), "{}", r.stderr);
    let dir = workdir(None);
    let r = run(command(dir.path(), &["reports", "missing.log"]));
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("missing.log"), "{}", r.stderr);
}

#[test]
fn the_demo_app_serves_the_collector_too() {
    let srv = Served::start(Some("environment: development\nreports: true\n"), &[]);
    let report = report("img-src", "inline");
    assert_eq!(request(srv.addr, UPLOAD, &report), 204);
    let text_upload = "POST /.well-known/hardened/reports HTTP/1.1\r\nContent-Type: text/plain";
    assert_eq!(request(srv.addr, text_upload, &report), 415);
    assert_eq!(request(srv.addr, "GET / HTTP/1.1", ""), 200);
}

#[test]
fn a_running_gateway_is_judged_over_its_admin_listener() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(upstream(|_req| async {
        Ok::<_, std::convert::Infallible>(text("page"))
    }));
    let target = format!("http://{}", up.addr);
    let admin = crate::common::free_port().to_string();
    let srv = Served::start(
        Some(CONFIG),
        &["--upstream", &target, "--admin-listen", &admin],
    );
    let admin_url = format!("http://{admin}");
    let dir = workdir(Some(CONFIG));
    let judge = |format: &str| {
        run(command(
            dir.path(),
            &[
                "reports",
                "--config",
                "config.yaml",
                "--admin",
                &admin_url,
                "--format",
                format,
            ],
        ))
    };
    // Pages and no report yet: ready (the CSRF check's would-be rejections are in the
    // log only, so over the admin listener only the CSP is judged).
    for _ in 0..3 {
        assert_eq!(request(srv.addr, "GET / HTTP/1.1", ""), 200);
    }
    let r = judge("human");
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("CSP report-only: 0 violations in 3 requests over"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("csrf"), "{}", r.stdout);

    let img = report("img-src", "https://cdn.example.net/a.png");
    for _ in 0..3 {
        assert_eq!(request(srv.addr, UPLOAD, &img), 204);
    }
    let r = judge("human");
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("CSP report-only: 1 directive still fires → not ready"),
        "{}",
        r.stdout
    );
    // Exact while it runs: the collector counts every report, not only logged lines.
    assert!(
        r.stdout
            .contains("    img-src: https://cdn.example.net (3)"),
        "{}",
        r.stdout
    );
    let r = judge("json");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["unit"], "requests");

    // Not an admin listener: a usage error naming the URL.
    let r = run(command(dir.path(), &["reports", "--admin", &srv.url("/")]));
    assert_eq!(r.code, Some(2), "{}", r.stdout);
    assert!(r.stderr.contains("--admin"), "{}", r.stderr);
}
