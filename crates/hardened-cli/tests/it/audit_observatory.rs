//! The real MDN HTTP Observatory in the test suite, shared by `hardened audit`'s tests
//! and the grade of the recommended configuration.
//!
//! `observatory/scan.mjs` runs the scanner of the pinned `@mdn/mdn-http-observatory`
//! npm package (installed by `scripts/observatory.sh` with `--ignore-scripts` and an
//! empty HSTS preload list) against `localhost`. The scanner takes no port: it fetches
//! `http://localhost/` and `https://localhost/`, so the sites under test listen on
//! 127.0.0.1:80 and 127.0.0.1:443 (the suite runs as root), one site at a time
//! ([`ports`]). The sites' certificates come from a CA made by the test ([`Pki`]),
//! handed to Node through `NODE_EXTRA_CA_CERTS`.
//!
//! The test here: the guide's recommended production configuration
//! (`examples/config.prod.yaml`), served by `hardened serve` with TLS on 443 and the
//! redirect on 80, is graded A+ by the real Observatory; the same configuration without
//! its `headers:` section (the defaults alone) is not.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;

use http::{HeaderValue, Request, header};
use hyper::body::Incoming;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::Value;

use crate::common::{Served, Upstream, repo_root, text, upstream};

// ---------------------------------------------------------------- ports 80 and 443

static PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Holds ports 80 and 443 of 127.0.0.1 for one test: the Observatory only scans those,
/// so the tests that use them run one after the other. The previous holder's processes
/// may still be dying (nginx's workers outlive the master's reaping by a moment, and
/// keep its listening socket): the guard is handed out once both ports can be bound
/// (waited for, bounded).
pub(crate) async fn ports() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = PORTS.lock().await;
    let start = std::time::Instant::now();
    loop {
        let free = ["127.0.0.1:80", "127.0.0.1:443"]
            .iter()
            .all(|a| std::net::TcpListener::bind(a).is_ok());
        if free {
            return guard;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "127.0.0.1:80 or :443 stays taken by another process"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- certificates

/// A CA made for one test and the `localhost` certificates it signs.
pub(crate) struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    /// Where `ca.pem`, `tls.crt` and `tls.key` are written.
    pub(crate) dir: tempfile::TempDir,
}

impl Pki {
    /// A new CA and a certificate for `localhost` and 127.0.0.1 valid for a year.
    pub(crate) fn new() -> Pki {
        Pki::with_days_left(365)
    }

    /// A new CA and a `localhost` certificate that expires in `days` days.
    pub(crate) fn with_days_left(days: i64) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "hardened test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let now = std::time::SystemTime::now();
        leaf.not_before = (now - std::time::Duration::from_secs(86_400)).into();
        let left = std::time::Duration::from_secs(u64::try_from(days).unwrap() * 86_400 + 3_600);
        leaf.not_after = (now + left).into();
        let cert = leaf.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(
            dir.path().join("tls.crt"),
            format!("{}{}", cert.pem(), ca.pem()),
        )
        .unwrap();
        std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();
        Pki { ca, dir }
    }

    /// The CA certificate (PEM file).
    pub(crate) fn ca(&self) -> PathBuf {
        let _ = &self.ca;
        self.dir.path().join("ca.pem")
    }

    /// The certificate chain (PEM file).
    pub(crate) fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    /// The private key (PEM file).
    pub(crate) fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }
}

// ---------------------------------------------------------------- the scanner

/// The Observatory's verdict on `localhost`: `{algorithmVersion, score, grade, tests:
/// {NAME: {result, scoreModifier, pass}}}`. Panics (the test fails) when Node or the
/// package is missing, or the scanner refuses the site.
pub(crate) fn observatory_scan(ca: &Path) -> Value {
    let dir = repo_root().join("observatory");
    assert!(
        dir.join("node_modules/@mdn/mdn-http-observatory").is_dir(),
        "the MDN HTTP Observatory is not installed: run scripts/observatory.sh"
    );
    let out = Command::new("node")
        .arg(dir.join("scan.mjs"))
        .arg("localhost")
        .current_dir(&dir)
        .env("NODE_EXTRA_CA_CERTS", ca)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (apt-get install nodejs npm): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Observatory failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The grade, the score and each test's result, for messages.
pub(crate) fn summary(scan: &Value) -> String {
    let mut s = format!("{} {}:", scan["grade"], scan["score"]);
    if let Some(tests) = scan["tests"].as_object() {
        for (name, t) in tests {
            s.push_str(&format!(
                "\n  {name}: {} ({})",
                t["result"], t["scoreModifier"]
            ));
        }
    }
    s
}

// ---------------------------------------------------------------- sites

/// A login page the Observatory grades: a session cookie, an anti-CSRF cookie and a
/// preference, none with flags (the policy adds what production needs), and a
/// same-origin script; other paths answer 404 with one more cookie.
pub(crate) async fn login_app() -> Upstream {
    upstream(|req: Request<Incoming>| async move {
        let mut resp = if req.uri().path() == "/" {
            text(
                "<!doctype html><html><head><title>Sign in</title>\
                 <script src=\"/static/app.js\"></script></head>\
                 <body><form method=post action=/login></form></body></html>",
            )
        } else {
            text("not found")
        };
        if req.uri().path() != "/" {
            *resp.status_mut() = http::StatusCode::NOT_FOUND;
            // Graded only when the scanner's second client shares the jar (after a
            // certificate error): a login cookie scripts can read.
            resp.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_static("remember_login=1; Path=/"),
            );
        }
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        for c in [
            "sessionid=abc; Path=/",
            "csrftoken=tok; Path=/",
            "theme=dark; Path=/",
        ] {
            h.append(header::SET_COOKIE, HeaderValue::from_static(c));
        }
        Ok::<_, Infallible>(resp)
    })
    .await
}

/// `hardened serve` in front of `up`, with `config` (its `gateway:` section added: TLS
/// on 127.0.0.1:443 with `pki`'s certificate, plain HTTP on 127.0.0.1:80), in `dir`.
pub(crate) fn serve_on_443(
    dir: &Path,
    config: &str,
    pki: &Pki,
    up: &Upstream,
    env: &[(&str, &str)],
) -> Served {
    let config = format!(
        "{config}\ngateway:\n  listen: 127.0.0.1:443\n  listen_http: 127.0.0.1:80\n  \
         upstream: http://{}\n  tls: {{cert: {}, key: {}}}\n",
        up.addr,
        pki.cert().display(),
        pki.key().display()
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    Served::launch(dir, &["serve"], env, 3)
}

/// `examples/config.prod.yaml` for a site at `localhost` served with direct TLS:
/// `security_domains` and the URLs name `localhost`, `ssl_redirect: true` (the gateway
/// terminates TLS itself), outside a container. With `headers: false`, its `headers:`
/// section is left out.
pub(crate) fn recommended_config(headers: bool) -> String {
    let example =
        std::fs::read_to_string(repo_root().join("examples").join("config.prod.yaml")).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    let mut replaced = 0;
    for line in example.lines() {
        let top = !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty();
        if top {
            skipping = false;
        }
        if skipping {
            continue;
        }
        let key = line.split(':').next().unwrap_or("");
        let new = match key {
            "security_domains" if top => {
                skipping = true;
                Some("security_domains: [\"https://localhost\"]")
            }
            "site_url" if top => Some("site_url: https://localhost"),
            "api_url" if top => Some("api_url: https://localhost"),
            "ssl_redirect" if top => Some("ssl_redirect: true"),
            "docker" if top => Some("docker: false"),
            "headers" if top && !headers => {
                skipping = true;
                Some("")
            }
            _ => None,
        };
        match new {
            Some(n) => {
                replaced += 1;
                out.push_str(n);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    let expected = if headers { 5 } else { 6 };
    assert_eq!(
        replaced, expected,
        "examples/config.prod.yaml changed shape:\n{example}"
    );
    out
}

/// The environment the recommended configuration reads its secrets from.
pub(crate) fn recommended_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "SECRET_KEY",
            "k7#Qz!x9@Lm2$Vb8^Nc4&Rf6*Tg1(Yh3)Uj5_Ik0+Ol9=Pa2".repeat(2),
        ),
        (
            "DATABASE_URL",
            "postgres://app:Xq9#vL2@db:5432/app".to_owned(),
        ),
        ("SENTRY_DSN", "x".to_owned()),
        ("STRIPE_API_KEY", "x".to_owned()),
    ]
}

// ---------------------------------------------------------------- tests

/// The recommended production configuration, served by `hardened serve` with TLS,
/// scores A+ on the real MDN HTTP Observatory; without its `headers:` section it does
/// not (no CSP: -25, so no extra credit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommended_config_scores_a_plus_on_the_observatory() {
    let _ports = ports().await;
    let pki = Pki::new();
    let app = login_app().await;
    let env = recommended_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    for (headers, a_plus) in [(true, true), (false, false)] {
        let dir = tempfile::tempdir().unwrap();
        let config = recommended_config(headers);
        let served = serve_on_443(dir.path(), &config, &pki, &app, &env);
        let scan = tokio::task::spawn_blocking({
            let ca = pki.ca();
            move || observatory_scan(&ca)
        })
        .await
        .unwrap();
        let got = summary(&scan);
        eprintln!("headers: {headers}: {got}");
        assert_eq!(scan["algorithmVersion"], 4, "{got}");
        if a_plus {
            assert_eq!(scan["grade"], "A+", "{got}");
            assert!(scan["score"].as_i64().unwrap() >= 100, "{got}");
            // What the A+ rests on: every test passed, HTTP redirected to HTTPS first.
            for (name, t) in scan["tests"].as_object().unwrap() {
                assert_eq!(t["pass"], true, "{name} failed: {got}");
            }
            assert_eq!(
                scan["tests"]["redirection"]["result"],
                "redirection-to-https"
            );
        } else {
            assert_ne!(scan["grade"], "A+", "{got}");
            assert_eq!(
                scan["tests"]["content-security-policy"]["result"], "csp-not-implemented",
                "{got}"
            );
            assert!(scan["score"].as_i64().unwrap() < 90, "{got}");
        }
        drop(served);
    }
    drop(app);
}
