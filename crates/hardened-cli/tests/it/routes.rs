//! `routes:` through the binary: `show` (table, JSON, Django), `explain` naming the
//! route that matched, `check --deploy` reporting each weakening route with its line,
//! and a bad entry refused with exit 2 and its line.

use crate::common::{command, run, workdir};

const CONFIG: &str = r#"environment: production
security_domains: [example.com]
secret_key: ${SECRET_KEY}
csrf_exempt_paths: ["/legacy/*"]
routes:
  - path: /embed/*
    headers:
      frame_ancestors: [https://partner.example]
  - path: /hooks/{id}
    methods: [POST]
    csrf: exempt
  - path: /api/public/*
    cors:
      origins: ["*"]
  - path: /status
    ssl_redirect: false
    host_check: skip_allowlist
"#;

const KEY: (&str, &str) = (
    "SECRET_KEY",
    "k7Qz2vN9xR4mW8pL3tY6uB1cE5hJ0aS2dF7gK9qV4nM8bX3zC6",
);

fn hardened(args: &[&str]) -> crate::common::Run {
    let dir = workdir(Some(CONFIG));
    let mut c = command(dir.path(), args);
    c.env(KEY.0, KEY.1);
    run(c)
}

#[test]
fn show_lists_routes_and_their_effective_policy() {
    let r = hardened(&["show"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let table = &r.stdout;
    assert!(
        table.contains("Routes (the most specific pattern wins)"),
        "{table}"
    );
    for needle in [
        "/embed/*",
        "config.yaml:6",
        "frame-ancestors https://partner.example",
        "/hooks/{id}",
        "csrf_exempt_paths[0]",
        "/legacy/*",
    ] {
        assert!(table.contains(needle), "{needle} missing:\n{table}");
    }

    let r = hardened(&["show", "--format", "json"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let routes = v["hardened"]["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 5, "{routes:?}");
    assert_eq!(routes[2]["path"], "/api/public/*");
    assert_eq!(routes[2]["cors"]["origins"][0], "*");
    assert_eq!(routes[2]["cors"]["allow_credentials"], false);
    assert_eq!(routes[4]["defined_at"], "csrf_exempt_paths[0]");

    let r = hardened(&["show", "--format", "django"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let py = &r.stdout;
    for needle in [
        "# /hooks/{id} (",
        "@csrf_exempt",
        "@xframe_options_exempt",
        "@csp_override (Django 6.0)",
        "per-route CORS: django-cors-headers has no per-view origins",
        "SECURE_REDIRECT_EXEMPT = [\n    \"^status$\",",
    ] {
        assert!(py.contains(needle), "{needle} missing:\n{py}");
    }
}

#[test]
fn explain_names_the_route_and_its_overrides() {
    let r = hardened(&[
        "explain",
        "-X",
        "POST",
        "--url",
        "https://example.com/hooks/42",
        "-H",
        "Origin: https://evil.example",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["route"]["name"], "routes[1] /hooks/{id}");
    assert_eq!(v["route"]["defined_at"], "config.yaml:9");
    assert_eq!(v["route"]["overrides"][1][0], "csrf");
    // Another method: no route, the CSRF check stands.
    let r = hardened(&[
        "explain",
        "-X",
        "PUT",
        "--url",
        "https://example.com/hooks/42",
        "-H",
        "Origin: https://evil.example",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(!r.stdout.contains("route:"), "{}", r.stdout);
    let r = hardened(&["explain", "--url", "https://example.com/embed/w"]);
    assert!(
        r.stdout
            .contains("route:    routes[0] /embed/* (config.yaml:6)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("headers.frame_ancestors: https://partner.example"),
        "{}",
        r.stdout
    );
}

#[test]
fn check_deploy_reports_weakening_routes_with_their_lines() {
    let r = hardened(&["check", "--deploy", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mine: Vec<(String, String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "route-weakens")
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_owned(),
                f["location"].as_str().unwrap_or("").to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let got: Vec<(&str, &str)> = mine
        .iter()
        .map(|(s, l, _)| (s.as_str(), l.rsplit('/').next().unwrap_or("")))
        .collect();
    assert_eq!(
        got,
        [
            ("info", "config.yaml:6"),
            ("warning", "config.yaml:9"),
            ("info", "config.yaml:12"),
            ("warning", "config.yaml:15"),
            ("warning", "config.yaml:15"),
        ],
        "{mine:#?}"
    );
    assert!(
        mine[1].2.contains("routes[1] /hooks/{id} (csrf)"),
        "{mine:?}"
    );
}

#[test]
fn bad_routes_exit_2_with_their_line() {
    let dir = workdir(Some(
        "environment: production\nsecurity_domains: [example.com]\nroutes:\n  - path: /*\n    csrf: exempt\n  - path: /a\n    cors: {origins: ['*'], allow_credentials: true}\n",
    ));
    let r = run(command(dir.path(), &["show"]));
    assert_eq!(r.code, Some(2), "{}", r.stdout);
    for needle in [
        "routes[0].csrf",
        "config.yaml:4",
        "matches every path",
        "routes[1].cors",
        "config.yaml:6",
    ] {
        assert!(r.stderr.contains(needle), "{needle} missing:\n{}", r.stderr);
    }
}
