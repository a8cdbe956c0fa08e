//! The gateway in front of Django with CSRF left to Django (`role: gateway`,
//! `gateway.csrf: upstream`): a view marked `@csrf_exempt` in Django is reachable
//! through the gateway without repeating its path in `csrf_exempt_paths`, other views
//! stay protected by Django, and `check --deploy` verifies that Django imports the
//! settings the config derives (`gateway.django_settings`).
//!
//! Django and gunicorn come from the pinned venv of `scripts/django-venv.sh`
//! (`HARDENED_VENV`); gunicorn runs in its own process group on 127.0.0.1 and is killed
//! with it (by id) when the test ends.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Served, command, free_port, run, venv_python, workdir};

/// The Django project of tests/django_upstream.
fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/django_upstream/csrf_app.py")
}

/// gunicorn serving the fixture from `dir` (which holds `security_settings.py`), killed
/// with its process group when dropped.
struct Gunicorn {
    child: Child,
    addr: SocketAddr,
}

impl Gunicorn {
    fn start(dir: &Path) -> Gunicorn {
        std::fs::copy(fixture(), dir.join("csrf_app.py")).unwrap();
        let addr = free_port();
        let log = std::fs::File::create(dir.join("gunicorn.log")).unwrap();
        let mut child = Command::new(venv_python())
            .args(["-m", "gunicorn", "--workers", "1", "--bind"])
            .arg(addr.to_string())
            .arg("--chdir")
            .arg(dir)
            .arg("csrf_app:application")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("gunicorn from the venv (scripts/django-venv.sh)");
        let start = Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let log = || std::fs::read_to_string(dir.join("gunicorn.log")).unwrap_or_default();
            if let Ok(Some(status)) = child.try_wait() {
                panic!("gunicorn exited ({status}):\n{}", log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "gunicorn not listening:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Gunicorn { child, addr }
    }
}

impl Drop for Gunicorn {
    fn drop(&mut self) {
        crate::common::kill_group(&mut self.child);
    }
}

/// A production, gateway-only config in front of `upstream`; `extra` is appended.
fn config(upstream: Option<SocketAddr>, extra: &str) -> String {
    let upstream = upstream.map_or_else(String::new, |a| format!("  upstream: http://{a}\n"));
    format!(
        "environment: production\nrole: gateway\ndocker: false\nsecurity_domains: [example.com]\n\
         headers:\n  content_security_policy: \"default-src 'self'\"\n\
         gateway:\n{upstream}{extra}"
    )
}

/// Writes `config` and the Django fragment it derives (`show --format django`) into
/// `dir`, as an operator does.
fn generate(dir: &Path, config: &str) {
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let show = run(command(dir, &["show", "--format", "django"]));
    assert_eq!(show.code, Some(0), "{}", show.stderr);
    std::fs::write(dir.join("security_settings.py"), show.stdout).unwrap();
}

/// A raw HTTP/1.1 POST from a foreign origin; the status and the body as sent (chunked
/// or not).
fn post(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: example.com\r\nOrigin: https://evil.example\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\
         Connection: close\r\n\r\na=1"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

const UPSTREAM_CSRF: &str = "  csrf: upstream\n  django_settings: security_settings.py\n";

#[test]
fn csrf_left_to_django_honours_its_exemptions() {
    let dir = workdir(None);
    // The fragment does not depend on the upstream's address: generate it first.
    generate(dir.path(), &config(None, UPSTREAM_CSRF));
    let django = Gunicorn::start(dir.path());

    // The gateway checks CSRF itself (the default): Django's @csrf_exempt view is
    // refused by the gateway unless its path is repeated in csrf_exempt_paths.
    let enforcing = Served::start(Some(&config(Some(django.addr), "")), &[]);
    let (status, body) = post(enforcing.addr, "/hooks/1");
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("django-csrf-failure"), "{body}");
    drop(enforcing);

    // CSRF left to Django: the exempt view answers, the others are still refused, by
    // Django, with the origins of the fragment.
    let upstream = Served::start(Some(&config(Some(django.addr), UPSTREAM_CSRF)), &[]);
    let (status, body) = post(upstream.addr, "/hooks/1");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hook 1"), "{body}");
    let (status, body) = post(upstream.addr, "/form");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("django-csrf-failure: Origin checking failed"),
        "{body}"
    );
}

#[test]
fn check_deploy_verifies_the_django_settings() {
    let dir = workdir(None);
    let upstream = "http://127.0.0.1:9".parse().ok();
    let cfg = config(upstream, UPSTREAM_CSRF);
    generate(dir.path(), &cfg);
    let check = || {
        run(command(
            dir.path(),
            &["check", "--deploy", "--format", "json"],
        ))
    };
    let c = check();
    assert_eq!(c.code, Some(0), "{}{}", c.stdout, c.stderr);

    // The config gains a domain, the fragment Django imports does not: refused.
    let grown = cfg.replace("[example.com]", "[example.com, shop.example.com]");
    std::fs::write(dir.path().join("config.yaml"), &grown).unwrap();
    let c = check();
    assert_eq!(c.code, Some(1), "{}", c.stdout);
    assert!(
        c.stdout.contains("csrf-upstream-unverified"),
        "{}",
        c.stdout
    );
    assert!(c.stdout.contains("line "), "{}", c.stdout);

    // Regenerated: passes again. No fragment named at all: refused.
    generate(dir.path(), &grown);
    assert_eq!(check().code, Some(0));
    let unnamed = grown.replace("  django_settings: security_settings.py\n", "");
    std::fs::write(dir.path().join("config.yaml"), unnamed).unwrap();
    let c = check();
    assert_eq!(c.code, Some(1), "{}", c.stdout);
    assert!(
        c.stdout.contains("csrf-upstream-unverified"),
        "{}",
        c.stdout
    );

    // Exemptions declared twice: a warning that names the Django way.
    let twice = format!("{grown}csrf_exempt_paths: [\"/hooks/{{id}}\"]\n");
    generate(dir.path(), &twice);
    let c = check();
    assert_eq!(c.code, Some(0), "{}", c.stdout);
    assert!(c.stdout.contains("@csrf_exempt"), "{}", c.stdout);

    // Without `role: gateway` the key is a configuration error (an application
    // reading the file would lose its CSRF check).
    let app = grown.replace("role: gateway\n", "");
    std::fs::write(dir.path().join("config.yaml"), app).unwrap();
    let s = run(command(dir.path(), &["show"]));
    assert_eq!(s.code, Some(2), "{}", s.stderr);
    assert!(s.stderr.contains("role: gateway"), "{}", s.stderr);
}
