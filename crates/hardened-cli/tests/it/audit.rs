//! `hardened audit` against a corpus of sites built here, each on 127.0.0.1:443/80 as
//! `localhost` and graded by the real MDN HTTP Observatory as well
//! (`audit_observatory`): the audit must agree with it on the score, the grade and
//! every test's result and modifier, and produce the findings each site must produce
//! (and none it must not).
//!
//! The sites: nginx with a careless configuration and nginx done right, `hardened
//! serve` with the production defaults and with the recommended configuration, Django
//! under gunicorn with `DEBUG = True` and with the settings of `hardened show --format
//! django`, a site whose certificate expires in 5 days, and a site that writes any Host
//! back into its pages. Peers come from the system (nginx) and the pinned venv
//! (Django, gunicorn); a missing one fails the test. Every process is started in its own
//! process group and killed with it, by id, when its guard is dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::audit_observatory::{
    Pki, login_app, observatory_scan, ports, recommended_config, recommended_env, serve_on_443,
    summary,
};
use crate::common::{command, run, venv_python};

const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- processes

/// A peer process in its own process group, killed with its group when dropped.
struct Proc {
    child: Child,
    what: &'static str,
    log: PathBuf,
}

impl Proc {
    fn spawn(what: &'static str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{what}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        Proc { child, what, log }
    }

    /// Waits until 127.0.0.1:`port` accepts connections.
    fn wait_listening(&mut self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before listening on {addr}:\n{}",
                    self.what,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "{} not listening on {addr}:\n{}",
                self.what,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        crate::common::kill_group(&mut self.child);
    }
}

// ---------------------------------------------------------------- auditing

/// Runs `hardened audit URL --ca CA --format json <extra>`: its exit code and report.
async fn audit(url: &str, ca: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["audit", url, "--format", "json", "--ca"];
    let ca = ca.display().to_string();
    args.push(&ca);
    args.extend_from_slice(extra);
    let mut cmd = command(dir.path(), &args);
    cmd.envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || {
        let out = run(cmd);
        drop(dir);
        out
    })
    .await
    .unwrap();
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    (out.code, report)
}

/// The Observatory's verdict, off the async threads.
async fn observatory(ca: &Path) -> Value {
    let ca = ca.to_path_buf();
    tokio::task::spawn_blocking(move || observatory_scan(&ca))
        .await
        .unwrap()
}

/// Asserts the audit's Observatory part equals the real Observatory's verdict.
fn assert_agrees(site: &str, report: &Value, scan: &Value) {
    let ours = &report["observatory"];
    let theirs = summary(scan);
    assert_eq!(
        ours["algorithm_version"], scan["algorithmVersion"],
        "{site}"
    );
    let tests = scan["tests"].as_object().unwrap();
    assert_eq!(tests.len(), 10, "{site}: {theirs}");
    for (name, t) in tests {
        assert_eq!(
            ours["tests"][name]["result"], t["result"],
            "{site}: {name} differs from the Observatory: {theirs}\nours: {ours:#}"
        );
        assert_eq!(
            ours["tests"][name]["score_modifier"], t["scoreModifier"],
            "{site}: {name}"
        );
        assert_eq!(ours["tests"][name]["pass"], t["pass"], "{site}: {name}");
    }
    assert_eq!(ours["score"], scan["score"], "{site}: {theirs}");
    assert_eq!(ours["grade"], scan["grade"], "{site}: {theirs}");
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The severity of the first finding `id`.
fn severity<'a>(report: &'a Value, id: &str) -> &'a str {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .and_then(|f| f["severity"].as_str())
        .unwrap_or_else(|| panic!("no {id} in {report:#}"))
}

/// Audits `url`, compares with the Observatory, checks the findings: each of `must`
/// is present, none of `must_not`. The report.
async fn check_site(
    site: &str,
    url: &str,
    pki: &Pki,
    extra: &[&str],
    env: &[(&str, &str)],
    must: &[&str],
    must_not: &[&str],
) -> (Option<i32>, Value) {
    let (code, report) = audit(url, &pki.ca(), extra, env).await;
    let scan = observatory(&pki.ca()).await;
    eprintln!("{site}: {}\nfindings: {:?}", summary(&scan), ids(&report));
    assert_agrees(site, &report, &scan);
    let found = ids(&report);
    for id in must {
        assert!(
            found.iter().any(|f| f == id),
            "{site}: no {id} in {report:#}"
        );
    }
    for id in must_not {
        assert!(!found.iter().any(|f| f == id), "{site}: {id} in {report:#}");
    }
    (code, report)
}

/// Validates `report` against `src/audit/schema.json` with the venv's jsonschema.
fn assert_valid_json(report: &Value) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/audit/schema.json");
    assert_valid_against(report, &schema);
}

/// The OASIS SARIF 2.1.0 schema, from the pinned `@microsoft/sarif-multitool-linux`
/// package of the Observatory harness (`scripts/observatory.sh` installs it).
pub(crate) fn sarif_schema() -> std::path::PathBuf {
    let schema = crate::common::repo_root()
        .join("observatory/node_modules/@microsoft/sarif-multitool-linux/sarif-2.1.0.json");
    assert!(
        schema.is_file(),
        "{} is missing: run scripts/observatory.sh",
        schema.display()
    );
    schema
}

/// Validates `doc` against the JSON schema at `schema` with the venv's jsonschema.
pub(crate) fn assert_valid_against(doc: &Value, schema: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new(venv_python())
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))",
        ])
        .arg(schema)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the report does not validate against {}:\n{}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same audit as text and as SARIF: the grade first and each finding with its fix;
/// SARIF 2.1.0 whose results name rules the driver lists.
async fn check_text_and_sarif(url: &str, pki: &Pki, extra: &[&str], report: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for format in ["text", "sarif"] {
        let mut c = command(dir.path(), &["audit", url, "--format", format, "--ca"]);
        c.arg(pki.ca()).args(extra);
        outs.push(tokio::task::spawn_blocking(move || run(c)).await.unwrap());
    }
    // The sites' session cookie value (`abc123`) is never shown.
    for out in outs.iter().map(|o| &o.stdout).chain([&report.to_string()]) {
        assert!(
            !out.contains("abc123"),
            "a cookie value in the report: {out}"
        );
    }
    let text = &outs[0].stdout;
    let grade = text.find("Observatory grade:").expect(text);
    let first_finding = text.find("  [").expect(text);
    assert!(grade < first_finding, "{text}");
    let n = report["findings"].as_array().unwrap().len();
    assert_eq!(text.matches("      fix: ").count(), n, "{text}");
    if report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["severity"] == "critical")
    {
        assert!(text.contains("\nCRITICAL ("), "{text}");
    }
    let sarif: Value = serde_json::from_str(&outs[1].stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_valid_against(&sarif, &sarif_schema());
    let rules: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), n);
    for r in results {
        let i = usize::try_from(r["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[i], r["ruleId"]);
        assert!(matches!(
            r["level"].as_str(),
            Some("error" | "warning" | "note")
        ));
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            url
        );
    }
}

/// No finding above `low`.
fn at_most_low(site: &str, report: &Value) {
    for f in report["findings"].as_array().unwrap() {
        assert!(
            matches!(f["severity"].as_str(), Some("low" | "info")),
            "{site}: {f:#}"
        );
    }
}

const PEER_FINDINGS: &[&str] = &[
    "cors-origin-reflected",
    "cors-null-origin-allowed",
    "host-header-trusted",
    "django-debug-page",
    "cookie-missing-secure",
    "cookie-missing-httponly",
    "cookie-missing-samesite",
    "cookie-prefix-broken",
    "hsts-missing",
    "no-https-redirect",
    "tls-certificate-expiring",
    "tls-certificate-invalid",
];

// ---------------------------------------------------------------- hardened serve

/// `hardened serve` with the production defaults (no CSP): B at most, and nothing the
/// policy prevents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardened_serve_with_the_production_defaults() {
    let _ports = ports().await;
    let pki = Pki::new();
    let app = login_app().await;
    let dir = tempfile::tempdir().unwrap();
    let config = "environment: production\nsecurity_domains: [\"https://localhost\"]\n\
                  ssl_redirect: true\nsecret_key: ${SECRET_KEY}\ndocker: false\n";
    let env = recommended_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let served = serve_on_443(dir.path(), config, &pki, &app, &env);
    let cfg = dir.path().join("config.yaml").display().to_string();
    let (code, report) = check_site(
        "hardened defaults",
        "https://localhost/",
        &pki,
        &["--config", &cfg, "--csrf-probe", "/login"],
        &env,
        &[],
        &[
            PEER_FINDINGS,
            &["policy-drift", "csrf-cross-site-post-accepted"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["observatory"]["tests"]["content-security-policy"]["result"],
        "csp-not-implemented"
    );
    assert!(
        report["observatory"]["to_a_plus"][0]
            .as_str()
            .unwrap()
            .starts_with("content-security-policy")
    );
    // --min-grade turns the missing CSP into a failure.
    let (code, _) = audit("https://localhost/", &pki.ca(), &["--min-grade", "A"], &[]).await;
    assert_eq!(code, Some(1));
    drop(served);
}

/// The guide's recommended production configuration with TLS: A+, no finding above
/// low, no drift from its own configuration; the certificate verified, TLS 1.3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardened_serve_with_the_recommended_config_audits_a_plus() {
    let _ports = ports().await;
    let pki = Pki::new();
    let app = login_app().await;
    let dir = tempfile::tempdir().unwrap();
    let env = recommended_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let served = serve_on_443(dir.path(), &recommended_config(true), &pki, &app, &env);
    let cfg = dir.path().join("config.yaml").display().to_string();
    // The audit reads the configuration with the same environment.
    let (code, report) = {
        let mut c = command(
            dir.path(),
            &[
                "audit",
                "https://localhost/",
                "--format",
                "json",
                "--min-grade",
                "A+",
                "--config",
                &cfg,
                "--ca",
            ],
        );
        c.arg(pki.ca()).envs(env.iter().copied());
        let out = tokio::task::spawn_blocking(move || run(c)).await.unwrap();
        let report: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
        (out.code, report)
    };
    let scan = observatory(&pki.ca()).await;
    assert_agrees("hardened recommended", &report, &scan);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["observatory"]["grade"], "A+");
    at_most_low("hardened recommended", &report);
    assert!(
        !ids(&report).contains(&"policy-drift".to_owned()),
        "{report:#}"
    );
    assert_eq!(report["tls"]["verified"], true);
    assert_eq!(report["tls"]["version"], "TLSv1_3");
    assert_eq!(report["tls"]["alpn"], "h2");
    assert_eq!(report["chains"]["http"][0]["status"], 301);
    assert_eq!(report["chains"]["http"][1]["url"], "https://localhost/");
    assert!(report["tls"]["days_left"].as_i64().unwrap() > 300);

    // Drift: the same site audited against a policy it does not serve (longer HSTS, a
    // CORS origin the site refuses is fine, a header it does not send is not).
    let strict = dir.path().join("strict.yaml");
    std::fs::write(
        &strict,
        format!(
            "{}\nhsts:\n  seconds: 126144000\n",
            recommended_config(true).replace(
                "  permissions_policy:",
                "  cross_origin_embedder_policy: require-corp\n  permissions_policy:"
            )
        ),
    )
    .unwrap();
    let mut c = command(
        dir.path(),
        &[
            "audit",
            "https://localhost/",
            "--format",
            "json",
            "--config",
        ],
    );
    c.arg(&strict)
        .arg("--ca")
        .arg(pki.ca())
        .envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || run(c)).await.unwrap();
    let drifted: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    let titles: Vec<&str> = drifted["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "policy-drift")
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("HSTS is weaker")),
        "{titles:?}"
    );
    assert!(
        titles
            .iter()
            .any(|t| t.contains("cross-origin-embedder-policy")),
        "{titles:?}"
    );
    assert_eq!(titles.len(), 2, "{titles:?}");
    drop(served);
}

/// A certificate that expires in 5 days: still valid for the Observatory, a high
/// finding for the audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_expiring_in_five_days() {
    let _ports = ports().await;
    let pki = Pki::with_days_left(5);
    let app = login_app().await;
    let dir = tempfile::tempdir().unwrap();
    let env = recommended_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let served = serve_on_443(dir.path(), &recommended_config(true), &pki, &app, &env);
    let (code, report) = check_site(
        "expiring certificate",
        "https://localhost/",
        &pki,
        &[],
        &[],
        &["tls-certificate-expiring"],
        &["tls-certificate-invalid", "hsts-missing"],
    )
    .await;
    assert_eq!(code, Some(0));
    assert_eq!(severity(&report, "tls-certificate-expiring"), "high");
    assert_eq!(report["tls"]["days_left"], 5);

    // A CA the audit is not told about: exit 2 with the reason; --insecure goes on and
    // reports it.
    let other = Pki::new();
    let dir2 = tempfile::tempdir().unwrap();
    let mut c = command(dir2.path(), &["audit", "https://localhost/", "--ca"]);
    c.arg(other.ca());
    let out = tokio::task::spawn_blocking(move || run(c)).await.unwrap();
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(
        out.stderr.contains("TLS verification of localhost failed"),
        "{}",
        out.stderr
    );
    let (code, report) = audit("https://localhost/", &other.ca(), &["--insecure"], &[]).await;
    assert_eq!(code, Some(1));
    assert_eq!(severity(&report, "tls-certificate-invalid"), "critical");
    assert_eq!(
        report["observatory"]["tests"]["strict-transport-security"]["result"],
        "hsts-invalid-cert"
    );
    // The Observatory, not trusting that CA either, agrees.
    let scan = observatory(&other.ca()).await;
    assert_agrees("unverified certificate", &report, &scan);
    // robots.txt's login cookie counts once the jar is shared.
    assert_eq!(
        scan["tests"]["cookies"]["result"],
        "cookies-session-without-httponly-flag"
    );
    drop(served);
}

// ---------------------------------------------------------------- nginx

fn nginx_bin() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx not found at /usr/sbin/nginx: install it (apt-get install nginx)")
}

/// nginx, one process, with `servers` inside `http {}`.
fn nginx(dir: &Path, servers: &str) -> Proc {
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  default_type text/html;\n\
         {servers}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new(nginx_bin());
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(dir.join("error.log"));
    let mut p = Proc::spawn("nginx", cmd, dir);
    p.wait_listening(443);
    p.wait_listening(80);
    p
}

const PAGE: &str = "<!doctype html><html><head><title>Sign in</title>\
                    <script src=\\\"/static/app.js\\\"></script></head><body></body></html>";

/// nginx done carelessly: the page on http and https alike, the request's Origin
/// echoed with credentials, a session cookie without flags, no HSTS, its version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_careless() {
    let _ports = ports().await;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let servers = format!(
        "  server {{\n    listen 127.0.0.1:80;\n    listen 127.0.0.1:443 ssl;\n    \
         ssl_certificate {};\n    ssl_certificate_key {};\n    server_tokens on;\n    \
         location / {{\n      add_header Access-Control-Allow-Origin $http_origin;\n      \
         add_header Access-Control-Allow-Credentials true;\n      \
         add_header Set-Cookie \"sessionid=abc123; Path=/\";\n      \
         return 200 \"{PAGE}\";\n    }}\n  }}",
        pki.cert().display(),
        pki.key().display()
    );
    let _nginx = nginx(dir.path(), &servers);
    let (code, report) = check_site(
        "nginx careless",
        "https://localhost/",
        &pki,
        &["--csrf-probe", "/login"],
        &[],
        &[
            "cors-origin-reflected",
            "cors-null-origin-allowed",
            "hsts-missing",
            "no-https-redirect",
            "cookie-missing-secure",
            "cookie-missing-httponly",
            "cookie-missing-samesite",
            "version-disclosed",
            "host-header-trusted",
            "csrf-cross-site-post-accepted",
        ],
        &[
            "django-debug-page",
            "tls-certificate-expiring",
            "tls-certificate-invalid",
        ],
    )
    .await;
    assert_eq!(code, Some(1), "critical findings exit 1");
    assert_eq!(severity(&report, "cors-origin-reflected"), "critical");
    assert_valid_json(&report);
    check_text_and_sarif(
        "https://localhost/",
        &pki,
        &["--csrf-probe", "/login"],
        &report,
    )
    .await;
    assert_eq!(
        report["observatory"]["tests"]["redirection"]["result"],
        "redirection-missing"
    );

    // Against the policy it should serve: every departure is drift.
    let cfg = dir.path().join("policy.yaml");
    std::fs::write(
        &cfg,
        "environment: production\nsecurity_domains: [\"https://localhost\"]\n\
         ssl_redirect: true\nsecret_key: ${SECRET_KEY}\ndocker: false\n",
    )
    .unwrap();
    let env = recommended_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cfg = cfg.display().to_string();
    let (_, drifted) = audit("https://localhost/", &pki.ca(), &["--config", &cfg], &env).await;
    let titles: Vec<&str> = drifted["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "policy-drift")
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    for want in [
        "allows the origin https://evil.test",
        "allows the origin null",
        "allows the origin http://localhost",
        "Host: evil.test was answered 200",
        "HSTS is weaker than the policy's: missing",
        "the policy sets x-content-type-options",
        "the policy sets x-frame-options",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "{want}: {titles:#?}"
        );
    }
    // With a configuration, fixes name its keys.
    let fix = drifted["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "hsts-missing")
        .unwrap()["fix"]
        .as_str()
        .unwrap();
    assert!(fix.contains("hsts.seconds"), "{fix}");
    // Every reflected origin is named, the look-alikes and the http downgrade included.
    let title = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "cors-origin-reflected")
        .unwrap()["title"]
        .as_str()
        .unwrap()
        .to_owned();
    for o in [
        "https://evil.test",
        "https://localhost.evil.test",
        "https://evillocalhost",
        "http://localhost",
    ] {
        assert!(title.contains(o), "{title}");
    }
}

/// nginx done right: http redirected to https on the same host, HSTS, CSP, flags on the
/// cookie, other Hosts refused, no version: A+, nothing above low.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_done_right() {
    let _ports = ports().await;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (
        pki.cert().display().to_string(),
        pki.key().display().to_string(),
    );
    // add_header in a location drops the server's: the page's location repeats them.
    let headers = "add_header Strict-Transport-Security \"max-age=63072000; includeSubDomains; preload\" always;\n    \
         add_header Content-Security-Policy \"default-src 'none'; script-src 'self'; style-src 'self'; \
         img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'\" always;\n    \
         add_header X-Content-Type-Options nosniff always;\n    \
         add_header X-Frame-Options DENY always;\n    \
         add_header Referrer-Policy strict-origin-when-cross-origin always;\n    \
         add_header Cross-Origin-Resource-Policy same-origin always;\n";
    let servers = format!(
        "  server_tokens off;\n  ssl_certificate {cert};\n  ssl_certificate_key {key};\n\
         server {{ listen 127.0.0.1:80 default_server; return 400; }}\n\
         server {{ listen 127.0.0.1:443 ssl default_server; return 400; }}\n\
         server {{ listen 127.0.0.1:80; server_name localhost; \
           return 301 https://localhost$request_uri; }}\n\
         server {{\n    listen 127.0.0.1:443 ssl;\n    server_name localhost;\n    {headers}\
         location = / {{\n      {headers}\
         add_header Set-Cookie \"sessionid=abc123; Path=/; Secure; HttpOnly; SameSite=Lax\";\n      \
         return 200 \"{PAGE}\";\n    }}\n    \
         location / {{ if ($request_method = POST) {{ return 403; }} return 404; }}\n  }}"
    );
    let _nginx = nginx(dir.path(), &servers);
    let (code, report) = check_site(
        "nginx right",
        "https://localhost/",
        &pki,
        &["--csrf-probe", "/login"],
        &[],
        &["hsts-not-preload-eligible"],
        &[
            PEER_FINDINGS,
            &["version-disclosed", "csrf-cross-site-post-accepted"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(code, Some(0));
    assert_eq!(report["observatory"]["grade"], "A+");
    at_most_low("nginx right", &report);
}

// ---------------------------------------------------------------- Django

/// A Django project under gunicorn: `settings` appended to a minimal project; TLS on
/// 443 (and plain HTTP on 80 with `http: true`).
fn django(dir: &Path, pki: &Pki, settings: &str, http: bool) -> Vec<Proc> {
    std::fs::write(
        dir.join("audit_settings.py"),
        format!(
            "SECRET_KEY = 'audit-' + 'x' * 60\nROOT_URLCONF = 'audit_urls'\nUSE_TZ = True\n\
             ALLOWED_HOSTS = []\nDATABASES = {{}}\n\
             INSTALLED_APPS = ['django.contrib.sessions', 'corsheaders']\n\
             SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'\n\
             MIDDLEWARE = ['django.middleware.security.SecurityMiddleware', \
             'corsheaders.middleware.CorsMiddleware', \
             'django.contrib.sessions.middleware.SessionMiddleware', \
             'django.middleware.common.CommonMiddleware', \
             'django.middleware.csrf.CsrfViewMiddleware', \
             'django.middleware.clickjacking.XFrameOptionsMiddleware']\n{settings}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("audit_urls.py"),
        "from django.http import HttpResponse\nfrom django.middleware.csrf import get_token\n\
         from django.urls import path\n\n\
         def index(request):\n    request.session['seen'] = True\n    \
         return HttpResponse('<!doctype html><html><head><title>Sign in</title></head><body>'\n        \
         '<form method=post action=/login><input type=hidden name=csrfmiddlewaretoken value=%s>'\n        \
         '</form></body></html>' % get_token(request))\n\n\
         def login(request):\n    return HttpResponse('signed in')\n\n\
         urlpatterns = [path('', index), path('login', login)]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("audit_wsgi.py"),
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'audit_settings')\n\
         from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
    )
    .unwrap();
    let python = venv_python();
    assert!(
        python.exists(),
        "no Django venv at {}: run scripts/django-venv.sh",
        python.display()
    );
    let gunicorn = |bind: &str, tls: bool, what: &'static str| {
        let mut cmd = Command::new(&python);
        cmd.args([
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--bind",
            bind,
            "--chdir",
        ])
        .arg(dir);
        if tls {
            cmd.arg("--certfile")
                .arg(pki.cert())
                .arg("--keyfile")
                .arg(pki.key());
        }
        cmd.arg("audit_wsgi:application").current_dir(dir);
        Proc::spawn(what, cmd, dir)
    };
    let mut procs = vec![gunicorn("127.0.0.1:443", true, "gunicorn-tls")];
    procs[0].wait_listening(443);
    if http {
        let mut p = gunicorn("127.0.0.1:80", false, "gunicorn-http");
        p.wait_listening(80);
        procs.push(p);
    }
    procs
}

/// Django with `DEBUG = True` under gunicorn (TLS only): its technical 404 page, cookies
/// without Secure, no HSTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_with_debug_true() {
    let _ports = ports().await;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let _django = django(dir.path(), &pki, "DEBUG = True\n", false);
    let (code, report) = check_site(
        "django DEBUG",
        "https://localhost/",
        &pki,
        &[],
        &[],
        &["django-debug-page", "hsts-missing", "cookie-missing-secure"],
        &[
            "cors-origin-reflected",
            "host-header-trusted",
            "cookie-missing-httponly",
            "no-https-redirect",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "no critical finding: {report:#}");
    assert_eq!(severity(&report, "django-debug-page"), "high");
    assert_valid_json(&report);
    let fix = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "cookie-missing-secure")
        .unwrap()["fix"]
        .as_str()
        .unwrap();
    assert!(fix.contains("_COOKIE_SECURE = True"), "{fix}");
}

/// Django with the guide's production settings (`hardened show --format django`):
/// redirect, HSTS, secure cookies, foreign Hosts refused; no finding above low except
/// what Django cannot do (a CSP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_with_the_guides_production_settings() {
    let _ports = ports().await;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = "environment: production\nsecurity_domains: [\"https://localhost\"]\n\
               ssl_redirect: true\nsecret_key: ${SECRET_KEY}\ndocker: false\n";
    std::fs::write(dir.path().join("config.yaml"), cfg).unwrap();
    let env = recommended_env();
    let mut show = command(dir.path(), &["show", "--format", "django"]);
    show.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let out = run(show);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let _django = django(dir.path(), &pki, &out.stdout, true);
    let (code, report) = check_site(
        "django production",
        "https://localhost/",
        &pki,
        &["--csrf-probe", "/login"],
        &[],
        &["hsts-not-preload-eligible"],
        &[
            PEER_FINDINGS,
            &["csrf-cross-site-post-accepted", "version-disclosed"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(code, Some(0), "{report:#}");
    at_most_low("django production", &report);
    assert_eq!(
        report["observatory"]["tests"]["redirection"]["result"],
        "redirection-to-https"
    );
    assert_eq!(
        report["observatory"]["tests"]["strict-transport-security"]["result"],
        "hsts-implemented-max-age-at-least-six-months"
    );
}

// ---------------------------------------------------------------- a site trusting any Host

/// A plain-HTTP site on 127.0.0.1:80 that writes the request's Host into its links:
/// the password-reset poisoning case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_trusting_any_host() {
    let _ports = ports().await;
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:80")
        .await
        .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:80 (run as root): {e}"));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                let host = req
                    .headers()
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let body = format!(
                    "<!doctype html><p>Reset your password: \
                     <a href=\"http://{host}/reset?token=1\">link</a></p>"
                );
                let mut resp = Response::new(Full::new(Bytes::from(body)));
                resp.headers_mut()
                    .insert("content-type", http::HeaderValue::from_static("text/html"));
                Ok::<_, Infallible>(resp)
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let (code, report) = check_site(
        "any host",
        "http://localhost/",
        &pki,
        &[],
        &[],
        &["host-header-trusted"],
        &[
            "cors-origin-reflected",
            "hsts-missing",
            "no-https-redirect",
            "django-debug-page",
        ],
    )
    .await;
    assert_eq!(code, Some(1));
    assert_eq!(severity(&report, "host-header-trusted"), "critical");
    assert_eq!(report["tls"], Value::Null);
    task.abort();
}

// ---------------------------------------------------------------- the Observatory's rules, one by one

/// What the scripted site answers on https (and on http: a redirect to `http_location`,
/// or the same page when `None`).
#[derive(Clone, Default)]
struct Variant {
    name: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
    http_location: Option<&'static str>,
}

fn variant(
    name: &'static str,
    headers: &[(&'static str, &'static str)],
    body: &'static str,
) -> Variant {
    Variant {
        name,
        headers: headers.to_vec(),
        body,
        http_location: Some("https://localhost/"),
    }
}

/// Serves the current variant on 127.0.0.1:443 (TLS, HTTP/1.1) and 127.0.0.1:80.
async fn scripted_site(
    pki: &Pki,
    current: std::sync::Arc<std::sync::Mutex<Variant>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(pki.cert())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(pki.key()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let mut tasks = Vec::new();
    for tls in [true, false] {
        let port = if tls { 443 } else { 80 };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port} (run as root): {e}"));
        let (acceptor, current) = (acceptor.clone(), current.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, current) = (acceptor.clone(), current.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let v = current.lock().unwrap().clone();
                        async move {
                            let mut resp = Response::new(Full::new(Bytes::from(v.body)));
                            let h = resp.headers_mut();
                            h.insert("content-type", http::HeaderValue::from_static("text/html"));
                            match (tls, v.http_location) {
                                (false, Some(loc)) => {
                                    *resp.status_mut() = http::StatusCode::MOVED_PERMANENTLY;
                                    resp.headers_mut()
                                        .insert("location", http::HeaderValue::from_static(loc));
                                }
                                _ if req.uri().path() != "/" => {
                                    *resp.status_mut() = http::StatusCode::NOT_FOUND;
                                }
                                _ => {
                                    for (n, val) in &v.headers {
                                        resp.headers_mut()
                                            .append(*n, http::HeaderValue::from_static(val));
                                    }
                                }
                            }
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let b = hyper::server::conn::http1::Builder::new();
                    if tls {
                        if let Ok(s) = acceptor.accept(stream).await {
                            let _ = b.serve_connection(TokioIo::new(s), svc).await;
                        }
                    } else {
                        let _ = b.serve_connection(TokioIo::new(stream), svc).await;
                    }
                });
            }
        }));
    }
    tasks
}

const HTML: &str = "<!doctype html><html><head><title>t</title></head><body></body></html>";

/// Each rule of the Observatory's tests, one response at a time: the audit agrees with
/// the package on every test's result, the score and the grade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agrees_with_the_observatory_rule_by_rule() {
    let _ports = ports().await;
    let pki = Pki::new();
    let good: &[(&str, &str)] = &[
        ("strict-transport-security", "max-age=31536000"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut h = good.to_vec();
        h.extend_from_slice(extra);
        h
    };
    let variants = vec![
        variant(
            "csp unsafe-inline",
            &with(&[(
                "content-security-policy",
                "script-src 'self' 'unsafe-inline'",
            )]),
            HTML,
        ),
        variant(
            "csp nonce drops unsafe-inline",
            &with(&[(
                "content-security-policy",
                "default-src 'none'; script-src 'nonce-abc' 'unsafe-inline'; object-src 'none'",
            )]),
            HTML,
        ),
        variant(
            "csp strict-dynamic",
            &with(&[(
                "content-security-policy",
                "script-src 'nonce-abc' 'strict-dynamic' https: 'unsafe-inline'; object-src 'none'; base-uri 'none'",
            )]),
            HTML,
        ),
        variant(
            "csp strict-dynamic without nonce",
            &with(&[(
                "content-security-policy",
                "script-src 'strict-dynamic'; object-src 'none'",
            )]),
            HTML,
        ),
        variant(
            "csp report-only alone",
            &with(&[("content-security-policy-report-only", "default-src 'none'")]),
            HTML,
        ),
        variant(
            "csp passive http",
            &with(&[(
                "content-security-policy",
                "default-src 'self'; img-src http://img.test; object-src 'none'",
            )]),
            HTML,
        ),
        variant(
            "csp active http",
            &with(&[(
                "content-security-policy",
                "default-src 'self'; connect-src http://api.test",
            )]),
            HTML,
        ),
        variant(
            "csp unsafe-eval",
            &with(&[(
                "content-security-policy",
                "default-src 'self' 'unsafe-eval'",
            )]),
            HTML,
        ),
        variant(
            "csp style unsafe-inline",
            &with(&[(
                "content-security-policy",
                "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            )]),
            HTML,
        ),
        variant(
            "csp object-src open",
            &with(&[("content-security-policy", "script-src 'self'")]),
            HTML,
        ),
        variant(
            "csp data: in scripts",
            &with(&[(
                "content-security-policy",
                "default-src 'none'; script-src data:",
            )]),
            HTML,
        ),
        variant(
            "csp duplicate directive",
            &with(&[(
                "content-security-policy",
                "default-src 'none'; default-src 'self'",
            )]),
            HTML,
        ),
        variant(
            "csp duplicate report-uri",
            &with(&[(
                "content-security-policy",
                "default-src 'none'; report-uri /a; report-uri /b",
            )]),
            HTML,
        ),
        variant(
            "csp two policies",
            &with(&[
                (
                    "content-security-policy",
                    "default-src 'self' https://a.test/",
                ),
                ("content-security-policy", "default-src 'none'"),
            ]),
            HTML,
        ),
        variant(
            "csp in a meta tag",
            &with(&[]),
            "<!doctype html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; frame-ancestors 'none'\"><meta name=referrer content=unsafe-url></head></html>",
        ),
        variant(
            "hsts short, referrer list",
            &[
                ("strict-transport-security", "max-age=300"),
                ("referrer-policy", "no-referrer, unsafe-url"),
            ],
            HTML,
        ),
        variant(
            "hsts twice",
            &[
                ("strict-transport-security", "max-age=31536000"),
                ("strict-transport-security", "max-age=1"),
            ],
            HTML,
        ),
        variant(
            "hsts max-age not a number",
            &[
                ("strict-transport-security", "max-age=forever"),
                ("x-frame-options", "ALLOW-FROM https://a.test"),
            ],
            HTML,
        ),
        variant(
            "cookies samesite none without secure",
            &with(&[
                ("set-cookie", "pref=1; SameSite=None"),
                ("set-cookie", "sessionid=2; Secure; HttpOnly; SameSite=Lax"),
            ]),
            HTML,
        ),
        variant(
            "cookies invalid samesite",
            &with(&[(
                "set-cookie",
                "sessionid=2; Secure; HttpOnly; SameSite=Sometimes",
            )]),
            HTML,
        ),
        variant(
            "cookies csrf without samesite, broken prefix",
            &with(&[
                ("set-cookie", "csrftoken=t; Secure"),
                (
                    "set-cookie",
                    "__Host-sid=1; Secure; Path=/; Domain=localhost",
                ),
            ]),
            HTML,
        ),
        variant(
            "cookies login without httponly",
            &with(&[("set-cookie", "login=1; Secure; SameSite=Strict")]),
            HTML,
        ),
        variant(
            "sri external without integrity",
            &with(&[]),
            "<!doctype html><script src=\"https://cdn.example.net/a.js\"></script>",
        ),
        variant(
            "sri external with integrity",
            &with(&[]),
            "<!doctype html><script src=\"https://cdn.example.net/a.js\" integrity=\"sha384-abc\" crossorigin=anonymous></script><script src=/b.js></script>",
        ),
        variant(
            "sri external over http",
            &with(&[]),
            "<!doctype html><!-- <script src=http://x.test/no.js></script> --><script src=\"http://cdn.example.net/a.js\"></script>",
        ),
        variant(
            "sri protocol-relative",
            &with(&[]),
            "<!doctype html><script src=\"//cdn.example.net/a.js\" integrity=\"sha384-abc\"></script>",
        ),
        variant(
            "invalid xcto, xfo, corp, referrer",
            &[
                ("strict-transport-security", "max-age=31536000"),
                ("x-content-type-options", "sniff"),
                ("x-frame-options", "NEVER"),
                ("cross-origin-resource-policy", "nobody"),
                ("referrer-policy", "everywhere"),
            ],
            HTML,
        ),
        variant(
            "cors public",
            &with(&[("access-control-allow-origin", "*")]),
            HTML,
        ),
        variant(
            "cors reflected",
            &with(&[
                (
                    "access-control-allow-origin",
                    "https://http-observatory.security.mozilla.org",
                ),
                ("access-control-allow-credentials", "true"),
            ]),
            HTML,
        ),
        Variant {
            http_location: None,
            ..variant("no redirect", &with(&[]), HTML)
        },
        Variant {
            http_location: Some("http://localhost/elsewhere"),
            ..variant("http first", &with(&[]), HTML)
        },
        Variant {
            http_location: Some("https://127.0.0.1/"),
            ..variant("off host", &with(&[]), HTML)
        },
    ];
    // Findings the audit must report beside the grade.
    let must: &[(&str, &[&str])] = &[
        (
            "cookies csrf without samesite, broken prefix",
            &["cookie-prefix-broken", "cookie-missing-samesite"],
        ),
        (
            "cookies login without httponly",
            &["cookie-missing-httponly"],
        ),
        ("hsts short, referrer list", &["hsts-not-preload-eligible"]),
        ("hsts twice", &["hsts-not-preload-eligible"]),
        ("no redirect", &["no-https-redirect"]),
        ("http first", &["no-https-redirect"]),
        ("off host", &["no-https-redirect"]),
    ];
    let current = std::sync::Arc::new(std::sync::Mutex::new(variants[0].clone()));
    let tasks = scripted_site(&pki, current.clone()).await;
    let mut grades = std::collections::BTreeSet::new();
    for v in &variants {
        *current.lock().unwrap() = v.clone();
        let (_, report) = audit("https://localhost/", &pki.ca(), &[], &[]).await;
        let scan = observatory(&pki.ca()).await;
        assert_agrees(v.name, &report, &scan);
        let found = ids(&report);
        for (_, ids) in must.iter().filter(|(n, _)| *n == v.name) {
            for id in *ids {
                assert!(
                    found.iter().any(|f| f == id),
                    "{}: no {id} in {report:#}",
                    v.name
                );
            }
        }
        grades.insert(scan["grade"].as_str().unwrap().to_owned());
    }
    // The variants cover the range of grades, not one verdict.
    assert!(grades.len() >= 5, "{grades:?}");
    for t in tasks {
        t.abort();
    }
}

/// Bad arguments and unreachable sites exit 2 with the cause; nothing on stdout.
#[test]
fn usage_and_connection_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let closed = crate::common::free_port();
    let refused = format!("http://127.0.0.1:{}/", closed.port());
    for (args, cause) in [
        (
            vec!["audit", "ftp://example.com/"],
            "is not an http:// or https:// URL",
        ),
        (
            vec!["audit", "https://localhost/", "--min-grade", "Z"],
            "is not a grade",
        ),
        (
            vec!["audit", "https://localhost/", "--resolve", "localhost:443"],
            "HOST:PORT:ADDR",
        ),
        (
            vec!["audit", "https://localhost/", "-H", "no colon"],
            "is not `Name: value`",
        ),
        (
            vec!["audit", "https://localhost/", "--ca", "missing.pem"],
            "--ca missing.pem",
        ),
        (vec!["audit", &refused], "refused"),
        // RFC 6761: `.invalid` never resolves.
        (
            vec!["audit", "https://no-such-host.invalid/"],
            "cannot resolve no-such-host.invalid",
        ),
    ] {
        let r = run(command(dir.path(), &args));
        assert_eq!(r.code, Some(2), "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains(cause), "{args:?}: {}", r.stderr);
    }
}

/// A plain listener on `addr` answering every request with `answer`, recording each
/// request head; stopped when dropped (a connection to it ends its accept loop).
struct HeadRecorder {
    addr: std::net::SocketAddr,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HeadRecorder {
    fn start(ip: &str, answer: String) -> HeadRecorder {
        use std::io::Write;
        let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (h, st) = (heads.clone(), stop.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                if st.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
                let Ok(mut s) = s else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match crate::common::read_some(&mut s, &mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                h.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let _ = s.write_all(answer.as_bytes());
            }
        });
        HeadRecorder { addr, heads, stop }
    }
}

impl Drop for HeadRecorder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// The user's `-H` headers (credentials, often) go to the origin named on the command
/// line only, as curl sends them: never to the host a redirect leads to.
#[test]
fn user_headers_go_to_the_named_origin_only() {
    let other = HeadRecorder::start(
        "127.0.0.2",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned(),
    );
    let first = HeadRecorder::start(
        "127.0.0.1",
        format!(
            "HTTP/1.1 302 Found\r\nLocation: http://{}/landing\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            other.addr
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", first.addr);
    let args = [
        "audit",
        url.as_str(),
        "-H",
        "Authorization: Bearer SECRET-TOKEN-123",
        "--timeout",
        "5",
    ];
    let r = run(command(dir.path(), &args));
    let named = first.heads.lock().unwrap().clone();
    let elsewhere = other.heads.lock().unwrap().clone();
    assert!(
        named.iter().any(|h| h.contains("SECRET-TOKEN-123")),
        "the named origin gets the header: {named:?}\n{}{}",
        r.stdout,
        r.stderr
    );
    assert!(
        !elsewhere.is_empty(),
        "the redirect was followed: {}",
        r.stderr
    );
    assert!(
        !elsewhere
            .iter()
            .any(|h| h.to_ascii_lowercase().contains("authorization")),
        "a credential went to another host: {elsewhere:?}"
    );
}
