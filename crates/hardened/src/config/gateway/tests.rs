use std::time::Duration;

use super::{format_duration, parse_duration};

#[test]
fn durations() {
    let ok = [
        ("30", 30_000),
        ("30s", 30_000),
        (" 250ms ", 250),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("0", 0),
    ];
    for (s, ms) in ok {
        assert_eq!(parse_duration(s), Some(Duration::from_millis(ms)), "{s}");
    }
    for s in [
        "",
        "-1",
        "1.5",
        "s",
        "5 minutes",
        "1d",
        "99999999999999999999",
    ] {
        assert_eq!(parse_duration(s), None, "{s}");
    }
    for (ms, s) in [
        (30_000, "30s"),
        (250, "250ms"),
        (300_000, "5m"),
        (7_200_000, "2h"),
    ] {
        assert_eq!(format_duration(Duration::from_millis(ms)), s);
        assert_eq!(parse_duration(s), Some(Duration::from_millis(ms)));
    }
}

#[cfg(feature = "config-file")]
mod loading {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::time::Duration;

    use crate::config::gateway::{GatewayTls, LogFormat};
    use crate::config::load::{Loaded, Loader};
    use crate::config::{ConfigErrors, ProblemKind};

    fn load(text: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, Result<Loaded, ConfigErrors>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tls.crt"), "cert").unwrap();
        std::fs::write(dir.path().join("tls.key"), "key").unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let loaded = Loader::new().file(&path).env(env.iter().copied()).load();
        (dir, loaded)
    }

    fn problems(text: &str, env: &[(&str, &str)]) -> Vec<(ProblemKind, String, String)> {
        let (_dir, loaded) = load(text, env);
        loaded
            .unwrap_err()
            .0
            .into_iter()
            .map(|p| (p.kind(), p.key().to_owned(), p.to_string()))
            .collect()
    }

    const BASE: &str = "debug: true\n";

    #[test]
    fn every_key_typed() {
        let text = format!(
            "{BASE}gateway:\n  listen: 0.0.0.0:8443\n  upstream: http://127.0.0.1:9000/api\n  \
             upstream_timeout: 10\n  header_read_timeout: 5s\n  idle_timeout: 2m\n  \
             tls: {{cert: tls.crt, key: tls.key}}\n  listen_http: '[::]:8080'\n  \
             admin_listen: 127.0.0.1:9901\n  log_format: JSON\n"
        );
        let (dir, loaded) = load(&text, &[]);
        let cfg = loaded.unwrap().config;
        let g = &cfg.gateway;
        assert_eq!(g.listen, Some("0.0.0.0:8443".parse().unwrap()));
        assert_eq!(g.upstream.as_deref(), Some("http://127.0.0.1:9000/api"));
        assert_eq!(g.upstream_timeout, Some(Duration::from_secs(10)));
        assert_eq!(g.header_read_timeout, Some(Duration::from_secs(5)));
        assert_eq!(g.idle_timeout, Some(Duration::from_secs(120)));
        // Relative paths start at the config file's directory.
        assert_eq!(
            g.tls,
            Some(GatewayTls::new(
                dir.path().join("tls.crt"),
                dir.path().join("tls.key")
            ))
        );
        assert_eq!(g.listen_http, Some("[::]:8080".parse().unwrap()));
        assert_eq!(g.admin_listen, Some("127.0.0.1:9901".parse().unwrap()));
        assert_eq!(g.log_format, Some(LogFormat::Json));
        assert_eq!(cfg.sources["gateway.listen"].line, 3);
        assert_eq!(cfg.sources["gateway.tls.cert"].line, 8);
        // Absent: all unset.
        let (_dir, loaded) = load(BASE, &[]);
        assert_eq!(
            loaded.unwrap().config.gateway,
            crate::config::gateway::GatewayConfig::default()
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let text = format!("{BASE}gateway:\n  listen: 127.0.0.1:1\n  idle_timeout: 9\n");
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "x").unwrap();
        let cert = cert.display().to_string();
        let env = [
            ("HARDENED_GATEWAY_LISTEN", "127.0.0.1:2"),
            ("HARDENED_GATEWAY_TLS_CERT", cert.as_str()),
            ("HARDENED_GATEWAY_TLS_KEY", cert.as_str()),
            ("HARDENED_GATEWAY_LOG_FORMAT", "text"),
            ("HARDENED_GATEWAY_UPSTREAM_TIMEOUT", "750ms"),
            ("HARDENED_GATEWAY_ADMIN_LISTEN", ""),
        ];
        let (_d, loaded) = load(&text, &env);
        let cfg = loaded.unwrap().config;
        let g = &cfg.gateway;
        assert_eq!(g.listen, Some("127.0.0.1:2".parse().unwrap()));
        assert_eq!(g.idle_timeout, Some(Duration::from_secs(9)));
        assert_eq!(g.upstream_timeout, Some(Duration::from_millis(750)));
        assert_eq!(g.tls.as_ref().unwrap().key.display().to_string(), cert);
        assert_eq!(g.log_format, Some(LogFormat::Text));
        assert_eq!(g.admin_listen, None);
        assert!(cfg.sources["gateway.listen"].from_env);
        // Without a gateway section in the file.
        let (_d, loaded) = load(BASE, &[("HARDENED_GATEWAY_LISTEN", "127.0.0.1:3")]);
        assert_eq!(
            loaded.unwrap().config.gateway.listen,
            Some("127.0.0.1:3".parse().unwrap())
        );
        // A bad value from the environment names the variable.
        let p = problems(BASE, &[("HARDENED_GATEWAY_IDLE_TIMEOUT", "0")]);
        assert_eq!(p[0].0, ProblemKind::InvalidDuration);
        assert!(
            p[0].2.contains("HARDENED_GATEWAY_IDLE_TIMEOUT"),
            "{}",
            p[0].2
        );
    }

    #[test]
    fn bad_values_are_problems() {
        let text = format!(
            "{BASE}gateway:\n  lisen: 127.0.0.1:1\n  listen: 8000\n  listen_http: localhost:80\n  \
             upstream: https://backend\n  upstream_timeout: 0\n  header_read_timeout: -5\n  \
             idle_timeout: soon\n  log_format: xml\n  admin_listen: [1]\n  \
             tls: {{cert: missing.crt, kee: tls.key}}\n"
        );
        let p = problems(&text, &[]);
        let kinds: Vec<(ProblemKind, &str)> =
            p.iter().map(|(k, key, _)| (*k, key.as_str())).collect();
        let want = [
            (ProblemKind::UnknownKey, "gateway.lisen"),
            (ProblemKind::InvalidAddress, "gateway.listen"),
            (ProblemKind::InvalidAddress, "gateway.listen_http"),
            (ProblemKind::InvalidUrl, "gateway.upstream"),
            (ProblemKind::InvalidDuration, "gateway.upstream_timeout"),
            (ProblemKind::InvalidDuration, "gateway.header_read_timeout"),
            (ProblemKind::InvalidDuration, "gateway.idle_timeout"),
            (ProblemKind::WrongType, "gateway.log_format"),
            (ProblemKind::WrongType, "gateway.admin_listen"),
            (ProblemKind::UnreadableFile, "gateway.tls.cert"),
            (ProblemKind::UnknownKey, "gateway.tls.kee"),
            (ProblemKind::MissingValue, "gateway.tls.key"),
        ];
        for w in want {
            assert!(kinds.contains(&w), "{w:?} not in {kinds:?}");
        }
        assert_eq!(kinds.len(), want.len(), "{kinds:?}");
        let text_of = |key: &str| p.iter().find(|x| x.1 == key).unwrap().2.clone();
        assert!(text_of("gateway.lisen").contains("did you mean `listen`"));
        assert!(text_of("gateway.tls.kee").contains("did you mean `key`"));
        assert!(text_of("gateway.tls.cert").contains("missing.crt"));
        assert!(text_of("gateway.upstream").contains("https upstreams"));
        // A misspelled section name.
        let p = problems(&format!("{BASE}gatway: {{}}\n"), &[]);
        assert!(p[0].2.contains("did you mean `gateway`"), "{}", p[0].2);
        // Not a mapping.
        let p = problems(&format!("{BASE}gateway: 1\n"), &[]);
        assert_eq!(
            (p[0].0, p[0].1.as_str()),
            (ProblemKind::WrongType, "gateway")
        );
    }
}

#[cfg(feature = "config-file")]
mod buffering {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::time::Duration;

    use crate::config::ProblemKind;
    use crate::config::gateway::parse_bytes;
    use crate::config::load::Loader;

    #[test]
    fn bytes() {
        for (s, n) in [
            ("0", 0),
            ("65536", 65536),
            ("64k", 65536),
            ("10M", 10 << 20),
            ("10m", 10 << 20),
            ("10MiB", 10 << 20),
            ("10mib", 10 << 20),
            ("10 MiB", 10 << 20),
            ("10MB", 10_000_000),
            ("10mb", 10_000_000),
            ("64kB", 64_000),
            ("64KiB", 65536),
            ("2GB", 2_000_000_000),
            ("1g", 1 << 30),
            ("512b", 512),
        ] {
            assert_eq!(parse_bytes(s), Some(n), "{s}");
        }
        for s in [
            "",
            "k",
            "MB",
            "-1",
            "1.5m",
            "10mbytes",
            "10 M B",
            "10TB",
            "m10",
            "99999999999g",
        ] {
            assert_eq!(parse_bytes(s), None, "{s}");
        }
    }

    #[test]
    fn buffering_keys_typed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        std::fs::write(
            &path,
            "debug: true\ngateway:\n  request_buffering: off\n  unbuffered_request_paths: [/upload/*]\n  \
             client_max_body_size: 0\n  client_body_buffer_size: 64k\n  client_body_timeout: 10\n  \
             response_buffering: true\n  response_buffer_size: 1m\n  max_temp_file_size: 2g\n  \
             send_timeout: 1m\n  temp_dir: tmp\n  upstream_max_connections: 16\n  \
             upstream_max_connections_per_client: 2\n  upstream_queue_size: 0\n  upstream_queue_timeout: 500ms\n",
        )
        .unwrap();
        let env = [("HARDENED_GATEWAY_UNBUFFERED_REQUEST_PATHS", "/a, /b/*")];
        let g = Loader::new()
            .file(&path)
            .env(env)
            .load()
            .unwrap()
            .config
            .gateway;
        assert_eq!(g.request_buffering, Some(false));
        assert_eq!(
            g.unbuffered_request_paths,
            Some(vec!["/a".into(), "/b/*".into()])
        );
        assert_eq!(g.client_max_body_size, Some(0));
        assert_eq!(g.client_body_buffer_size, Some(65536));
        assert_eq!(g.client_body_timeout, Some(Duration::from_secs(10)));
        assert_eq!(g.response_buffering, Some(true));
        assert_eq!(g.response_buffer_size, Some(1 << 20));
        assert_eq!(g.max_temp_file_size, Some(2 << 30));
        assert_eq!(g.send_timeout, Some(Duration::from_secs(60)));
        assert_eq!(g.temp_dir, Some(dir.path().join("tmp")));
        assert_eq!(g.upstream_max_connections, Some(16));
        assert_eq!(g.upstream_max_connections_per_client, Some(2));
        assert_eq!(g.upstream_queue_size, Some(0));
        assert_eq!(g.upstream_queue_timeout, Some(Duration::from_millis(500)));

        std::fs::write(
            &path,
            "debug: true\ngateway:\n  request_buffering: maybe\n  unbuffered_request_paths: [upload]\n  \
             client_max_body_size: -1\n  client_body_buffer_size: 0\n  send_timeout: 0\n  \
             temp_dir: nowhere\n  upstream_max_connections: 0\n  upstream_queue_size: lots\n",
        )
        .unwrap();
        let problems = Loader::new().file(&path).load().unwrap_err().0;
        let got: Vec<(ProblemKind, &str)> = problems.iter().map(|p| (p.kind(), p.key())).collect();
        let want = [
            (ProblemKind::WrongType, "gateway.request_buffering"),
            (
                ProblemKind::InvalidPath,
                "gateway.unbuffered_request_paths[0]",
            ),
            (ProblemKind::InvalidSize, "gateway.client_max_body_size"),
            (ProblemKind::InvalidSize, "gateway.client_body_buffer_size"),
            (ProblemKind::InvalidDuration, "gateway.send_timeout"),
            (ProblemKind::UnreadableFile, "gateway.temp_dir"),
            (ProblemKind::InvalidSize, "gateway.upstream_max_connections"),
            (ProblemKind::InvalidSize, "gateway.upstream_queue_size"),
        ];
        for w in want {
            assert!(got.contains(&w), "{w:?} not in {got:?}");
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
    }

    #[test]
    fn workers_typed_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "debug: true\ngateway:\n  workers: 4\n").unwrap();
        let g = Loader::new().file(&path).load().unwrap().config.gateway;
        assert_eq!(g.workers, Some(4));
        let g = Loader::new()
            .file(&path)
            .env([("HARDENED_GATEWAY_WORKERS", "2")])
            .load()
            .unwrap()
            .config
            .gateway;
        assert_eq!(g.workers, Some(2));
        for bad in ["0", "-1", "many", "1025"] {
            std::fs::write(&path, format!("debug: true\ngateway:\n  workers: {bad}\n")).unwrap();
            let problems = Loader::new().file(&path).load().unwrap_err().0;
            let got: Vec<(ProblemKind, &str)> =
                problems.iter().map(|p| (p.kind(), p.key())).collect();
            assert_eq!(
                got,
                [(ProblemKind::InvalidSize, "gateway.workers")],
                "workers: {bad}"
            );
        }
    }

    /// Every setting set: the typed section reads back, through the loader's own
    /// checks, to itself and without a problem, so what `problems` checks is what the
    /// file said.
    #[test]
    fn every_setting_reads_back_through_its_own_checks() {
        let text = "debug: true\ngateway:\n  listen: 0.0.0.0:8443\n  upstream: http://127.0.0.1:9000/api\n  \
             upstream_timeout: 10\n  header_read_timeout: 250ms\n  idle_timeout: 2m\n  \
             tls: {cert: tls.crt, key: tls.key}\n  listen_http: '[::]:8080'\n  \
             admin_listen: 127.0.0.1:9901\n  log_format: JSON\n  request_buffering: off\n  \
             unbuffered_request_paths: [/upload/*, '/u/{id}/file']\n  \
             client_max_body_size: 10MiB\n  client_body_buffer_size: 1k\n  \
             client_body_timeout: 1h\n  response_buffering: false\n  \
             response_buffer_size: 2k\n  max_temp_file_size: 0\n  send_timeout: 5s\n  \
             temp_dir: .\n  upstream_max_connections: 3\n  \
             upstream_max_connections_per_client: 2\n  upstream_queue_size: 0\n  \
             upstream_queue_timeout: 1s\n  upstream_max_tunnels: 1\n  workers: 1024\n  \
             csrf: enforce\n  django_settings: app/settings.py\n  csp_nonce_header: X-Nonce\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tls.crt"), "cert").unwrap();
        std::fs::write(dir.path().join("tls.key"), "key").unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let g = Loader::new().file(&path).load().unwrap().config.gateway;
        let set: Vec<&str> = g.values().into_iter().map(|(k, _)| k).collect();
        let all: Vec<&str> = crate::config::gateway::keys().collect();
        assert_eq!(set, all, "every setting is set in this test");
        assert!(g.problems().is_empty(), "{:?}", g.problems());

        let source = crate::config::Source::builtin();
        let mut typer = crate::config::Typer {
            problems: Vec::new(),
            vars: std::collections::BTreeMap::new(),
        };
        let again = typer.gateway(&g.to_node(&source), &mut std::collections::BTreeMap::new());
        assert!(typer.problems.is_empty());
        assert_eq!(again, g);

        // And a value changed in code is refused as the file's would be.
        let mut bad = g.clone();
        bad.upstream_max_connections = Some(0);
        bad.temp_dir = Some("/no/such/dir".into());
        let problems: Vec<String> = bad.problems().iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("/no/such/dir"), "{problems:?}");
        assert!(problems[1].contains("must be at least 1"), "{problems:?}");
    }
}

/// `fetch_metadata` and `gateway.csp_nonce_header`, typed and checked.
#[cfg(feature = "config-file")]
mod fetch_metadata_and_nonce_header {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::config::load::{Loaded, Loader};
    use crate::config::{ConfigErrors, FetchMetadata, ProblemKind};

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, format!("debug: true\n{text}")).unwrap();
        Loader::new().file(&path).env(env.iter().copied()).load()
    }

    #[test]
    fn fetch_metadata_modes() {
        let cases: &[(&str, Option<FetchMetadata>)] = &[
            ("fetch_metadata: enforce\n", Some(FetchMetadata::Enforce)),
            ("fetch_metadata: Report\n", Some(FetchMetadata::Report)),
            ("fetch_metadata: \"off\"\n", Some(FetchMetadata::Off)),
            // YAML 1.1 reads a bare `off` as false.
            ("fetch_metadata: off\n", Some(FetchMetadata::Off)),
            ("fetch_metadata: false\n", Some(FetchMetadata::Off)),
            ("fetch_metadata: null\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            let cfg = load(text, &[])
                .unwrap_or_else(|e| panic!("{text}: {e}"))
                .config;
            assert_eq!(cfg.fetch_metadata, *want, "{text}");
        }
        for (text, hint) in [
            (
                "fetch_metadata: enfroce\n",
                "did you mean `fetch_metadata: enforce`?",
            ),
            ("fetch_metadata: true\n", "enforce"),
            ("fetch_metadata: [report]\n", "report"),
        ] {
            let errs = load(text, &[]).expect_err(text);
            let p = errs.0.first().unwrap();
            assert_eq!(
                (p.kind(), p.key()),
                (ProblemKind::WrongType, "fetch_metadata")
            );
            assert!(p.to_string().contains(hint), "{text}: {p}");
        }
    }

    #[test]
    fn nonce_header_names() {
        let cfg = load("gateway:\n  csp_nonce_header: X-Nonce\n", &[])
            .unwrap()
            .config;
        assert_eq!(cfg.gateway.csp_nonce_header.as_deref(), Some("x-nonce"));
        let cfg = load("", &[("HARDENED_GATEWAY_CSP_NONCE_HEADER", "X-Page-Nonce")])
            .unwrap()
            .config;
        assert_eq!(
            cfg.gateway.csp_nonce_header.as_deref(),
            Some("x-page-nonce")
        );
        for bad in [
            "X_Nonce",
            "x nonce",
            "\"\"",
            "Cookie",
            "host",
            "Origin",
            "X-Forwarded-Nonce",
            "Sec-Nonce",
            "Connection",
            "x-request-id",
        ] {
            let text = format!("gateway:\n  csp_nonce_header: {bad}\n");
            let errs = load(&text, &[]).expect_err(bad);
            let p = errs.0.first().unwrap();
            assert_eq!(
                (p.kind(), p.key()),
                (ProblemKind::InvalidHeaderName, "gateway.csp_nonce_header"),
                "{bad}: {p}"
            );
            assert!(p.to_string().contains("X-CSP-Nonce"), "{bad}: {p}");
        }
    }

    /// A wrong value in a file is an error even where a flag or a variable overrides
    /// it; a value the file leaves out and a flag gives completes it.
    #[test]
    fn a_wrong_file_value_is_wrong_whatever_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tls.key"), "key").unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "debug: true\ngateway:\n  listen: localhost\n").unwrap();
        let flagged = Loader::new()
            .file(&path)
            .gateway_flag("listen", "--listen", ["127.0.0.1:0"])
            .load();
        assert!(flagged.unwrap_err().to_string().contains("localhost"));
        let env = Loader::new()
            .file(&path)
            .env([("HARDENED_GATEWAY_LISTEN", "127.0.0.1:0")])
            .load();
        assert!(env.unwrap_err().to_string().contains("localhost"));

        std::fs::write(
            &path,
            "debug: true\ngateway:\n  tls: {key: tls.key}\n  listen_http: 127.0.0.1:0\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("tls.crt"), "cert").unwrap();
        let cert = dir.path().join("tls.crt");
        let loaded = Loader::new()
            .file(&path)
            .gateway_flag("tls.cert", "--tls-cert", [cert.to_str().unwrap()])
            .load()
            .unwrap();
        assert!(loaded.config.gateway.tls.is_some());
    }
}
