//! Derivation and configuration-loading tests, table-driven from the guide
//! (`seed/security-hardening.md`) and DESIGN.md's derivation table.
//!
//! Nothing here reads the real machine: runtime probes are built as values (or detected
//! from a [`FakeSystem`]) and the process environment handed to the [`Loader`] is
//! always an explicit list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt::Display;
use std::path::{Path, PathBuf};

use hardened::config::load::{Loaded, Loader};
use hardened::config::{Config, ConfigErrors, DockerMode, Environment, Problem, TrustedProxies};
use hardened::domain::{Origin, parse_entry};
use hardened::policy::{
    DEV_CSRF_PORT_RANGES, HSTS_ONE_YEAR, Policy, ProxySslHeader, ProxyTrust,
    default_internal_networks, derive,
};
use hardened::probe::{FakeSystem, RuntimeProbe, Signal, detect};
use ipnet::IpNet;

// ---------------------------------------------------------------- helpers

fn strs<T: Display>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// A configuration for `env` with these domains, built in code.
fn config(env: Environment, domains: &[&str]) -> Config {
    let mut cfg = Config::development();
    cfg.environment = env;
    cfg.debug = !env.is_strict();
    cfg.security_domains = domains.iter().map(|d| parse_entry(d).unwrap()).collect();
    cfg
}

fn derive_ok(cfg: &Config, probe: &RuntimeProbe) -> Policy {
    derive(cfg, probe).unwrap_or_else(|e| panic!("derive failed:\n{e}"))
}

/// A directory of config files for the [`Loader`].
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(files: &[(&str, &str)]) -> Files {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A loader for `config.yaml` in the directory, with exactly this environment.
    fn loader(&self, env: &[(&str, &str)]) -> Loader {
        Loader::new()
            .file(self.path("config.yaml"))
            .env(env.iter().map(|(k, v)| (*k, *v)))
    }

    fn load(&self, env: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
        self.loader(env).load()
    }
}

/// Loads one `config.yaml` with an empty environment.
fn load_yaml(text: &str) -> Result<Loaded, ConfigErrors> {
    Files::new(&[("config.yaml", text)]).load(&[])
}

fn load_yaml_ok(text: &str) -> Config {
    load_yaml(text)
        .unwrap_or_else(|e| panic!("config did not load:\n{e}\n---\n{text}"))
        .config
}

/// Problems of a config that must fail to load.
fn problems(text: &str) -> Vec<Problem> {
    match load_yaml(text) {
        Ok(_) => panic!("config loaded but should not:\n{text}"),
        Err(e) => e.0,
    }
}

/// Whether the policy's development CSRF loopback rule trusts `origin`, read from the
/// policy's data (hosts localhost / 127.0.0.1 / [::1], http and https).
fn csrf_loopback_trusts(p: &Policy, origin: &str) -> bool {
    let o = Origin::parse_header(origin).unwrap();
    if !o.host.is_loopback() {
        return false;
    }
    let port = o.effective_port();
    p.csrf
        .loopback_port_ranges
        .iter()
        .any(|(lo, hi)| (*lo..=*hi).contains(&port))
        || p.csrf.loopback_ports.contains(&port)
}

// ------------------------------------------------- the guide's domain examples

/// One of the guide's "Input → ALLOWED_HOSTS / CORS_ALLOWED_ORIGINS / CSRF_TRUSTED_ORIGINS"
/// examples, in production (the strict mode, where the lists are exactly the domains).
struct GuideCase {
    name: &'static str,
    environment: Environment,
    domains: &'static [&'static str],
    allowed_hosts: &'static [&'static str],
    origins: &'static [&'static str],
}

const GUIDE_CASES: &[GuideCase] = &[
    GuideCase {
        name: "automatic normalization: example.com",
        environment: Environment::Production,
        domains: &["example.com"],
        allowed_hosts: &["example.com"],
        origins: &["https://example.com"],
    },
    GuideCase {
        name: "automatic normalization: http://staging.com:8080",
        environment: Environment::Production,
        domains: &["http://staging.com:8080"],
        allowed_hosts: &["staging.com"],
        origins: &["http://staging.com:8080"],
    },
    GuideCase {
        name: "basic configuration",
        environment: Environment::Production,
        domains: &["example.com", "api.example.com", "admin.example.com"],
        allowed_hosts: &["example.com", "api.example.com", "admin.example.com"],
        origins: &[
            "https://example.com",
            "https://api.example.com",
            "https://admin.example.com",
        ],
    },
    GuideCase {
        name: "format support",
        environment: Environment::Production,
        domains: &[
            "example.com",
            "https://api.example.com",
            "http://staging.example.com:8080",
            "192.168.1.10",
        ],
        allowed_hosts: &[
            "example.com",
            "api.example.com",
            "staging.example.com",
            "192.168.1.10",
        ],
        origins: &[
            "https://example.com",
            "https://api.example.com",
            "http://staging.example.com:8080",
            "http://192.168.1.10",
        ],
    },
    GuideCase {
        name: "production mode CORS",
        environment: Environment::Production,
        domains: &["example.com", "api.example.com"],
        allowed_hosts: &["example.com", "api.example.com"],
        origins: &["https://example.com", "https://api.example.com"],
    },
    GuideCase {
        name: "multiple frontends",
        environment: Environment::Production,
        domains: &[
            "api.example.com",
            "app.example.com",
            "admin.example.com",
            "mobile.example.com",
        ],
        allowed_hosts: &[
            "api.example.com",
            "app.example.com",
            "admin.example.com",
            "mobile.example.com",
        ],
        origins: &[
            "https://api.example.com",
            "https://app.example.com",
            "https://admin.example.com",
            "https://mobile.example.com",
        ],
    },
    GuideCase {
        name: "staging with a custom port",
        environment: Environment::Staging,
        domains: &["staging.example.com", "staging-api.example.com:8443"],
        allowed_hosts: &["staging.example.com", "staging-api.example.com"],
        origins: &[
            "https://staging.example.com",
            "https://staging-api.example.com:8443",
        ],
    },
    GuideCase {
        name: "multi-region",
        environment: Environment::Production,
        domains: &[
            "api-us.example.com",
            "api-eu.example.com",
            "api-asia.example.com",
        ],
        allowed_hosts: &[
            "api-us.example.com",
            "api-eu.example.com",
            "api-asia.example.com",
        ],
        origins: &[
            "https://api-us.example.com",
            "https://api-eu.example.com",
            "https://api-asia.example.com",
        ],
    },
    GuideCase {
        name: "troubleshooting: add the frontend domain",
        environment: Environment::Production,
        domains: &["example.com", "app.example.com"],
        allowed_hosts: &["example.com", "app.example.com"],
        origins: &["https://example.com", "https://app.example.com"],
    },
];

#[test]
fn guide_examples_in_code() {
    for case in GUIDE_CASES {
        let cfg = config(case.environment, case.domains);
        let p = derive_ok(&cfg, &RuntimeProbe::none());
        assert_eq!(
            p.allowed_hosts(),
            case.allowed_hosts,
            "{}: ALLOWED_HOSTS",
            case.name
        );
        assert_eq!(strs(&p.cors.origins), case.origins, "{}: CORS", case.name);
        assert_eq!(
            strs(&p.csrf.trusted_origins),
            case.origins,
            "{}: CSRF",
            case.name
        );
        assert!(p.cors.subdomains.is_empty() && p.csrf.subdomains.is_empty());
        assert!(
            !p.cors.loopback_any_port,
            "{}: no loopback in strict mode",
            case.name
        );
        assert!(p.cors.allow_credentials, "{}: credentials", case.name);
        assert!(p.csrf.loopback_port_ranges.is_empty() && p.csrf.loopback_ports.is_empty());
        assert!(p.hosts.networks.is_empty() && !p.hosts.any, "{}", case.name);
    }
}

#[test]
fn guide_examples_through_yaml() {
    for case in GUIDE_CASES {
        let yaml = format!(
            "environment: {}\nsecurity_domains:\n{}",
            case.environment,
            case.domains
                .iter()
                .map(|d| format!("  - {d}\n"))
                .collect::<String>()
        );
        let cfg = load_yaml_ok(&yaml);
        assert_eq!(cfg.environment, case.environment);
        let p = derive_ok(&cfg, &RuntimeProbe::none());
        assert_eq!(p.allowed_hosts(), case.allowed_hosts, "{}", case.name);
        assert_eq!(strs(&p.cors.origins), case.origins, "{}", case.name);
        assert_eq!(strs(&p.csrf.trusted_origins), case.origins, "{}", case.name);
    }
}

#[test]
fn guide_examples_in_development_add_loopback_and_twin_schemes() {
    let cfg = config(
        Environment::Development,
        &["example.com", "http://staging.com:8080"],
    );
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert_eq!(
        p.allowed_hosts(),
        [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "example.com",
            "staging.com",
            ".localhost"
        ]
    );
    // CORS: domains on http and https (DESIGN.md), plus loopback on any port.
    assert_eq!(
        strs(&p.cors.origins),
        [
            "https://example.com",
            "http://example.com",
            "http://staging.com:8080",
            "https://staging.com:8080"
        ]
    );
    assert!(p.cors.loopback_any_port);
    // CSRF: the domains as written, plus the loopback rule.
    assert_eq!(
        strs(&p.csrf.trusted_origins),
        ["https://example.com", "http://staging.com:8080"]
    );
    assert_eq!(p.csrf.loopback_port_ranges, DEV_CSRF_PORT_RANGES);
}

#[test]
fn identical_origins_deduplicated_and_both_schemes_kept() {
    let cfg = config(
        Environment::Production,
        &[
            "example.com",
            "https://EXAMPLE.com:443",
            "example.com.",
            "http://example.com",
        ],
    );
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert_eq!(p.allowed_hosts(), ["example.com"]);
    assert_eq!(
        strs(&p.cors.origins),
        ["https://example.com", "http://example.com"]
    );
}

#[test]
fn api_url_and_site_url_join_the_domains() {
    let cfg = load_yaml_ok(
        "environment: production\nsecurity_domains: [example.com]\n\
         api_url: https://api.example.com/v1\nsite_url: https://example.com/\n",
    );
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert_eq!(p.allowed_hosts(), ["example.com", "api.example.com"]);
    assert_eq!(
        strs(&p.csrf.trusted_origins),
        ["https://example.com", "https://api.example.com"]
    );
    // A URL alone satisfies "production needs a domain".
    let cfg = load_yaml_ok("environment: production\napi_url: https://api.example.com\n");
    assert_eq!(
        derive_ok(&cfg, &RuntimeProbe::none()).allowed_hosts(),
        ["api.example.com"]
    );
}

#[test]
fn subdomain_patterns() {
    let cfg = config(
        Environment::Production,
        &[".example.com", "http://*.internal.example:8080"],
    );
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert_eq!(p.allowed_hosts(), [".example.com", ".internal.example"]);
    assert_eq!(
        strs(&p.cors.subdomains),
        ["https://*.example.com", "http://*.internal.example:8080"]
    );
    assert_eq!(strs(&p.csrf.subdomains), strs(&p.cors.subdomains));
    assert!(p.cors.origins.is_empty());

    let p = derive_ok(
        &config(Environment::Development, &["*.example.com"]),
        &RuntimeProbe::none(),
    );
    assert_eq!(
        strs(&p.cors.subdomains),
        ["https://*.example.com", "http://*.example.com"]
    );
    assert_eq!(strs(&p.csrf.subdomains), ["https://*.example.com"]);
}

#[test]
fn wildcard_only_in_development() {
    let p = derive_ok(
        &config(Environment::Development, &["*"]),
        &RuntimeProbe::none(),
    );
    assert!(p.hosts.any);
    assert_eq!(p.allowed_hosts()[0], "*");
    assert!(
        p.cors.origins.is_empty(),
        "`*` never becomes a CORS wildcard"
    );

    for env in [Environment::Production, Environment::Staging] {
        let err = derive(&config(env, &["example.com", "*"]), &RuntimeProbe::none()).unwrap_err();
        assert!(
            err.to_string().contains("wildcard `*` is not allowed"),
            "{err}"
        );
    }
    let errs = problems("environment: production\nsecurity_domains: [example.com, '*']\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .message()
            .contains("`*` is not allowed in production")
    );
}

// ---------------------------------------------------------- development defaults

#[test]
fn development_defaults_from_the_guide() {
    // The guide's config.dev.yaml.
    let cfg = load_yaml_ok(
        "debug: true\nenvironment: development\n\
         secret_key: \"dev-secret-key-at-least-50-chars-long-xxxxxxxxxxxxxxxxx\"\n\
         security_domains: []  # Auto-configured for localhost\n",
    );
    assert_eq!(cfg.environment, Environment::Development);
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert_eq!(
        p.allowed_hosts(),
        ["localhost", "127.0.0.1", "[::1]", ".localhost"]
    );
    assert!(p.cors.origins.is_empty());
    assert!(
        p.cors.loopback_any_port,
        "React/Vite/Vue dev servers on any port"
    );
    assert!(p.cors.allow_credentials);
    assert!(p.csrf.trusted_origins.is_empty());
    assert_eq!(p.csrf.loopback_port_ranges, [(3000, 5000), (8000, 9000)]);

    // The guide's CSRF list: http://localhost:3000, :3001, ... ports 3000-5000 and 8000-9000.
    for ok in [
        "http://localhost:3000",
        "http://localhost:3001",
        "http://localhost:5000",
        "http://127.0.0.1:8000",
        "https://[::1]:9000",
        "https://localhost:4321",
    ] {
        assert!(csrf_loopback_trusts(&p, ok), "{ok}");
    }
    for no in [
        "http://localhost:2999",
        "http://localhost:5001",
        "http://localhost:7999",
        "http://localhost:9001",
        "http://localhost",
        "https://evil.example:3000",
    ] {
        assert!(!csrf_loopback_trusts(&p, no), "{no}");
    }
}

#[test]
fn builtin_defaults_without_a_file_are_development() {
    let loaded = Loader::new().load().unwrap();
    assert_eq!(loaded.config.environment, Environment::Development);
    assert!(loaded.config.debug);
    assert!(loaded.files.is_empty());
    let p = derive_ok(&loaded.config, &RuntimeProbe::none());
    assert_eq!(
        p.allowed_hosts(),
        ["localhost", "127.0.0.1", "[::1]", ".localhost"]
    );

    // An optional file that does not exist falls back to the same defaults.
    let f = Files::new(&[]);
    let loaded = Loader::new()
        .file_if_exists(f.path("config.yaml"))
        .load()
        .unwrap();
    assert_eq!(loaded.config.environment, Environment::Development);
}

#[test]
fn loopback_ports_named_in_config_join_the_csrf_rule() {
    let cfg = load_yaml_ok(
        "environment: development\nsecurity_domains: [localhost:5173, example.com]\n\
         service_urls: [http://127.0.0.1:7000/api]\n",
    );
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert_eq!(p.csrf.loopback_ports, [5173, 7000]);
    assert!(csrf_loopback_trusts(&p, "http://localhost:7000"));
    assert!(csrf_loopback_trusts(&p, "https://127.0.0.1:5173"));
    // In production a listed loopback origin is just an origin, no extra ports.
    let mut prod = cfg.clone();
    prod.environment = Environment::Production;
    let p = derive_ok(&prod, &RuntimeProbe::none());
    assert!(p.csrf.loopback_ports.is_empty() && p.csrf.loopback_port_ranges.is_empty());
    assert_eq!(
        strs(&p.cors.origins),
        ["http://localhost:5173", "https://example.com"],
        "production: loopback only if listed"
    );
}

// ---------------------------------------------------------------- Docker / K8s

const RFC1918: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

fn contains_ip(nets: &[IpNet], ip: &str) -> bool {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    nets.iter().any(|n| n.contains(&ip))
}

#[test]
fn docker_rows_of_the_derivation_table() {
    struct Row {
        name: &'static str,
        env: Environment,
        probe: RuntimeProbe,
        exact: &'static [&'static str],
        suffixes: &'static [&'static str],
    }
    let rows = [
        Row {
            name: "docker production",
            env: Environment::Production,
            probe: RuntimeProbe::docker(Some("web-1")),
            exact: &["example.com", "api.example.com", "web-1"],
            suffixes: &[".cluster.local", ".svc"],
        },
        Row {
            name: "docker development",
            env: Environment::Development,
            probe: RuntimeProbe::docker(Some("web-1")),
            exact: &[
                "localhost",
                "127.0.0.1",
                "[::1]",
                "example.com",
                "api.example.com",
                "web-1",
            ],
            suffixes: &[".localhost", ".cluster.local", ".svc"],
        },
        Row {
            name: "kubernetes production",
            env: Environment::Production,
            probe: RuntimeProbe::kubernetes(Some("api-7d9f8c-x2x")),
            exact: &["example.com", "api.example.com", "api-7d9f8c-x2x"],
            suffixes: &[".cluster.local", ".svc"],
        },
        Row {
            name: "kubernetes staging",
            env: Environment::Staging,
            probe: RuntimeProbe::kubernetes(None),
            exact: &["example.com", "api.example.com"],
            suffixes: &[".cluster.local", ".svc"],
        },
        Row {
            name: "kubernetes test",
            env: Environment::Test,
            probe: RuntimeProbe::kubernetes(Some("pod")),
            exact: &[
                "localhost",
                "127.0.0.1",
                "[::1]",
                "example.com",
                "api.example.com",
                "pod",
            ],
            suffixes: &[".localhost", ".cluster.local", ".svc"],
        },
    ];
    for row in rows {
        let cfg = config(row.env, &["example.com", "api.example.com"]);
        let p = derive_ok(&cfg, &row.probe);
        assert!(p.runtime.container, "{}", row.name);
        assert_eq!(p.hosts.exact, row.exact, "{}: exact", row.name);
        assert_eq!(p.hosts.suffixes, row.suffixes, "{}: suffixes", row.name);
        assert_eq!(
            p.hosts.networks,
            default_internal_networks(),
            "{}",
            row.name
        );
        for n in RFC1918 {
            assert!(p.hosts.networks.contains(&net(n)), "{}: {n}", row.name);
        }
        // The guide's Docker example: bridge, private networks allowed; public IPs blocked.
        for ip in [
            "172.17.0.5",
            "172.31.255.1",
            "192.168.1.20",
            "10.4.3.2",
            "127.0.0.1",
            "fd12::1",
        ] {
            assert!(contains_ip(&p.hosts.networks, ip), "{}: {ip}", row.name);
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.64.0.1",
            "2001:db8::1",
            "169.254.169.254",
        ] {
            assert!(!contains_ip(&p.hosts.networks, ip), "{}: {ip}", row.name);
        }
        // CORS and CSRF do not change in containers.
        let plain = derive_ok(&cfg, &RuntimeProbe::none());
        assert_eq!(p.cors, plain.cors, "{}", row.name);
        assert_eq!(p.csrf, plain.csrf, "{}", row.name);
        assert!(plain.hosts.networks.is_empty() && !plain.runtime.container);
    }
}

#[test]
fn detected_probes_drive_the_container_rules() {
    let cfg = config(Environment::Production, &["example.com"]);
    let cases = [
        (FakeSystem::default().with_file("/.dockerenv", ""), true),
        (
            FakeSystem::default().with_env("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            true,
        ),
        (FakeSystem::default().with_env("DOCKER", "true"), true),
        (
            FakeSystem::default()
                .with_file("/.dockerenv", "")
                .with_env("DOCKER", "false"),
            false,
        ),
        (FakeSystem::default(), false),
    ];
    for (sys, container) in cases {
        let probe = detect(&sys.clone().with_env("HOSTNAME", "web-1"));
        let p = derive_ok(&cfg, &probe);
        assert_eq!(p.runtime.container, container, "{sys:?}");
        assert_eq!(
            p.hosts.exact.contains(&"web-1".to_owned()),
            container,
            "{sys:?}"
        );
    }
    let probe = detect(&FakeSystem::default().with_env("KUBERNETES_SERVICE_HOST", "10.96.0.1"));
    let p = derive_ok(&cfg, &probe);
    assert!(p.runtime.kubernetes);
    assert_eq!(p.runtime.signals, ["KUBERNETES_SERVICE_HOST is set"]);
    assert_eq!(probe.signals, [Signal::KubernetesServiceHost]);
}

#[test]
fn single_label_service_names_from_config_urls() {
    let yaml = "environment: production\nsecurity_domains: [example.com]\n\
                api_url: http://backend:8000/api\nsite_url: https://example.com\n\
                service_urls: [http://redis-cache:6379, http://worker.internal:9000, http://10.0.0.7:80]\n";
    let cfg = load_yaml_ok(yaml);
    let p = derive_ok(&cfg, &RuntimeProbe::docker(None));
    assert_eq!(p.hosts.exact, ["example.com", "backend", "redis-cache"]);
    // Without a container, the service names of service_urls are not hosts, but api_url
    // is still one of the service's origins.
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert_eq!(p.hosts.exact, ["example.com", "backend"]);
}

#[test]
fn hostname_that_is_not_a_valid_host_is_skipped() {
    let cfg = config(Environment::Production, &["example.com"]);
    for bad in ["web_1", "a b", "123456"] {
        let p = derive_ok(&cfg, &RuntimeProbe::docker(Some(bad)));
        assert_eq!(p.hosts.exact, ["example.com"], "{bad}");
    }
}

#[test]
fn internal_networks_extend_the_defaults() {
    let cfg = load_yaml_ok(
        "environment: production\nsecurity_domains: [example.com]\n\
         internal_networks: [100.64.0.0/10, 10.0.0.0/8, 198.51.100.7]\n",
    );
    assert_eq!(
        cfg.internal_networks,
        [
            net("100.64.0.0/10"),
            net("10.0.0.0/8"),
            net("198.51.100.7/32")
        ]
    );
    let p = derive_ok(&cfg, &RuntimeProbe::kubernetes(None));
    let mut want = default_internal_networks();
    want.push(net("100.64.0.0/10"));
    want.push(net("198.51.100.7/32"));
    assert_eq!(
        p.internal_networks, want,
        "defaults kept, duplicates dropped"
    );
    assert_eq!(p.hosts.networks, want);
    assert!(
        contains_ip(&p.hosts.networks, "100.64.12.1"),
        "kubelet probes (CGNAT range)"
    );
    // The default trusted proxies follow the internal networks.
    let ProxyTrust::Networks(proxies) = &p.tls.trusted_proxies else {
        panic!("expected networks");
    };
    assert!(proxies.contains(&net("100.64.0.0/10")));
}

#[test]
fn docker_setting_overrides_the_probe() {
    let base = "environment: production\nsecurity_domains: [example.com]\n";
    let off = load_yaml_ok(&format!("{base}docker: false\n"));
    assert_eq!(off.docker, DockerMode::Off);
    let p = derive_ok(&off, &RuntimeProbe::kubernetes(Some("web-1")));
    assert!(
        !p.runtime.container && p.runtime.kubernetes,
        "probe reported, rules off"
    );
    assert!(p.hosts.networks.is_empty());
    assert_eq!(p.hosts.exact, ["example.com"]);

    let on = load_yaml_ok(&format!("{base}docker: true\n"));
    assert_eq!(on.docker, DockerMode::On);
    let p = derive_ok(&on, &RuntimeProbe::none());
    assert!(p.runtime.container);
    assert_eq!(p.hosts.suffixes, [".cluster.local", ".svc"]);

    assert_eq!(
        load_yaml_ok(&format!("{base}docker: auto\n")).docker,
        DockerMode::Auto
    );
    assert_eq!(load_yaml_ok(base).docker, DockerMode::Auto);
    let errs = problems(&format!("{base}docker: sometimes\n"));
    assert_eq!(errs[0].key(), "docker");
}

#[test]
fn docker_environment_variable_overrides_the_file() {
    let f = Files::new(&[(
        "config.yaml",
        "environment: production\nsecurity_domains: [example.com]\ndocker: true\n",
    )]);
    for (value, want) in [
        ("false", DockerMode::Off),
        ("0", DockerMode::Off),
        ("true", DockerMode::On),
        ("auto", DockerMode::Auto),
    ] {
        let cfg = f.load(&[("DOCKER", value)]).unwrap().config;
        assert_eq!(cfg.docker, want, "DOCKER={value}");
        assert!(cfg.sources["docker"].from_env);
    }
    let cfg = f.load(&[("DOCKER", "false")]).unwrap().config;
    let p = derive_ok(&cfg, &RuntimeProbe::docker(Some("web-1")));
    assert!(!p.runtime.container);
    // The same variable seen by the probe.
    let probe = detect(
        &FakeSystem::default()
            .with_file("/.dockerenv", "")
            .with_env("DOCKER", "false"),
    );
    assert!(!probe.docker && probe.docker_disabled_by_env);
    let err = f.load(&[("DOCKER", "maybe")]).unwrap_err();
    assert!(
        err.to_string().contains("environment variable DOCKER"),
        "{err}"
    );
}

// ------------------------------------------------------------ trusted proxies

#[test]
fn trusted_proxies_defaults_and_overrides() {
    let base = "environment: production\nsecurity_domains: [example.com]\n";
    let p = derive_ok(&load_yaml_ok(base), &RuntimeProbe::none());
    let ProxyTrust::Networks(nets) = &p.tls.trusted_proxies else {
        panic!("expected networks")
    };
    for n in default_internal_networks() {
        assert!(nets.contains(&n), "{n}");
    }
    for ip in ["127.0.0.1", "::1", "10.1.2.3", "172.20.0.1", "192.168.0.1"] {
        assert!(contains_ip(nets, ip), "{ip}");
    }
    assert!(!contains_ip(nets, "203.0.113.9"));

    let cfg = load_yaml_ok(&format!(
        "{base}trusted_proxies: [10.0.0.0/8, 203.0.113.9]\n"
    ));
    assert_eq!(
        cfg.trusted_proxies,
        Some(TrustedProxies::Networks(vec![
            net("10.0.0.0/8"),
            net("203.0.113.9/32")
        ]))
    );
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert_eq!(
        p.tls.trusted_proxies,
        ProxyTrust::Networks(vec![net("10.0.0.0/8"), net("203.0.113.9/32")])
    );

    for any in ["trusted_proxies: \"*\"\n", "trusted_proxies: ['*']\n"] {
        let p = derive_ok(
            &load_yaml_ok(&format!("{base}{any}")),
            &RuntimeProbe::none(),
        );
        assert_eq!(p.tls.trusted_proxies, ProxyTrust::Any, "{any}");
    }
    let errs = problems(&format!("{base}trusted_proxies: [10.0.0.0/33]\n"));
    assert_eq!(errs[0].key(), "trusted_proxies[0]");
}

#[test]
fn trusted_proxies_default_has_no_redundant_entries() {
    let p = derive_ok(
        &config(Environment::Production, &["example.com"]),
        &RuntimeProbe::none(),
    );
    assert_eq!(
        p.tls.trusted_proxies,
        ProxyTrust::Networks(default_internal_networks())
    );
}

// ------------------------------------------ TLS, HSTS, cookies, headers by environment

#[test]
fn tls_cookie_and_header_rows_by_environment() {
    struct Row {
        env: Environment,
        hsts: Option<&'static str>,
        proxy_header: bool,
        secure_cookies: bool,
        harden_session: bool,
        frame: &'static str,
        referrer: Option<&'static str>,
        coop: Option<&'static str>,
        xss: Option<&'static str>,
    }
    let strict = |env| Row {
        env,
        hsts: Some("max-age=31536000; includeSubDomains; preload"),
        proxy_header: true,
        secure_cookies: true,
        harden_session: true,
        frame: "DENY",
        referrer: Some("same-origin"),
        coop: Some("same-origin"),
        xss: Some("0"),
    };
    let relaxed = |env| Row {
        env,
        hsts: None,
        proxy_header: false,
        secure_cookies: false,
        harden_session: false,
        frame: "SAMEORIGIN",
        referrer: None,
        coop: None,
        xss: None,
    };
    let rows = [
        relaxed(Environment::Development),
        relaxed(Environment::Test),
        strict(Environment::Staging),
        strict(Environment::Production),
    ];
    for row in rows {
        for ssl_redirect in [None, Some(false), Some(true)] {
            let mut cfg = config(row.env, &["example.com"]);
            cfg.ssl_redirect = ssl_redirect;
            let p = derive_ok(&cfg, &RuntimeProbe::none());
            let ctx = format!("{} ssl_redirect={ssl_redirect:?}", row.env);
            assert_eq!(p.environment, row.env);
            assert_eq!(
                p.tls.ssl_redirect,
                row.env.is_strict() && ssl_redirect == Some(true),
                "{ctx}: redirect only when asked, and never in development"
            );
            assert_eq!(
                p.tls.hsts.as_ref().map(|h| h.header_value()).as_deref(),
                row.hsts,
                "{ctx}: HSTS"
            );
            if let Some(h) = &p.tls.hsts {
                assert_eq!(h.seconds, HSTS_ONE_YEAR);
                assert!(h.include_subdomains && h.preload);
            }
            assert_eq!(
                p.tls
                    .proxy_ssl_header
                    .map(|h| (h.name().to_owned(), ProxySslHeader::SECURE_VALUE.to_owned())),
                row.proxy_header
                    .then(|| ("X-Forwarded-Proto".to_owned(), "https".to_owned())),
                "{ctx}: proxy header"
            );
            assert_eq!(p.cookies.secure, row.secure_cookies, "{ctx}: Secure");
            assert_eq!(p.cookies.harden_session_cookie, row.harden_session, "{ctx}");
            assert_eq!(p.cookies.session_cookie_name, "sessionid");
            assert!(p.headers.content_type_nosniff, "{ctx}: nosniff everywhere");
            assert_eq!(
                p.headers.x_frame_options.map(|v| v.as_str()),
                Some(row.frame),
                "{ctx}"
            );
            assert_eq!(
                p.headers.referrer_policy.map(|v| v.as_str()),
                row.referrer,
                "{ctx}"
            );
            assert_eq!(
                p.headers.cross_origin_opener_policy.map(|v| v.as_str()),
                row.coop,
                "{ctx}"
            );
            assert_eq!(
                p.headers.xss_protection.map(|v| v.as_str()),
                row.xss,
                "{ctx}"
            );
            assert_eq!(
                p.cors.allow_headers,
                [
                    "accept",
                    "authorization",
                    "content-type",
                    "x-csrftoken",
                    "x-requested-with"
                ],
                "{ctx}: default CORS headers"
            );
            assert!(p.cors.allow_credentials);
        }
    }
}

#[test]
fn debug_true_never_weakens_production() {
    let mut cfg = config(Environment::Production, &["example.com"]);
    let secure = derive_ok(&cfg, &RuntimeProbe::none());
    cfg.debug = true;
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    assert!(p.debug);
    assert_eq!(p.hosts, secure.hosts);
    assert_eq!(p.cors, secure.cors);
    assert_eq!(p.csrf, secure.csrf);
    assert_eq!(p.tls, secure.tls);
    assert_eq!(p.cookies, secure.cookies);
    assert_eq!(p.headers, secure.headers);
}

#[test]
fn hsts_and_cookie_overrides() {
    let base = "environment: production\nsecurity_domains: [example.com]\n";
    let p = derive_ok(
        &load_yaml_ok(&format!(
            "{base}hsts: {{seconds: 600, include_subdomains: false, preload: false}}\n"
        )),
        &RuntimeProbe::none(),
    );
    assert_eq!(p.tls.hsts.unwrap().header_value(), "max-age=600");
    let p = derive_ok(
        &load_yaml_ok(&format!("{base}hsts:\n  seconds: 0\n")),
        &RuntimeProbe::none(),
    );
    assert!(p.tls.hsts.is_none(), "seconds: 0 disables HSTS");
    let p = derive_ok(
        &load_yaml_ok("environment: development\nsecure_cookies: true\nsession_cookie_name: sid\n"),
        &RuntimeProbe::none(),
    );
    assert!(p.cookies.secure);
    assert_eq!(p.cookies.session_cookie_name, "sid");
}

#[test]
fn derive_is_pure() {
    let cfg = config(Environment::Production, &["example.com", ".example.org"]);
    let probe = RuntimeProbe::kubernetes(Some("web"));
    assert_eq!(derive_ok(&cfg, &probe), derive_ok(&cfg, &probe));
}

// ------------------------------------------------------------ config loading

#[test]
fn layering_precedence() {
    let files = [
        (
            "config.yaml",
            "environment: production\nsecurity_domains: [base.example.com]\nsecret_key: from-yaml-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9\n\
             health_check_paths: [/healthz]\n",
        ),
        (
            "config.production.yaml",
            "security_domains: [overlay.example.com]\nsecret_key: from-overlay-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9\n",
        ),
        (
            ".env",
            "SECURITY_DOMAINS=dotenv.example.com,dotenv2.example.com\n",
        ),
    ];
    let domains = |l: &Loaded| strs(&l.config.origins());

    // config.yaml alone.
    let f = Files::new(&files[..1]);
    let l = f.load(&[]).unwrap();
    assert_eq!(domains(&l), ["https://base.example.com"]);
    assert_eq!(
        l.config.secret_key.as_ref().unwrap().expose(),
        "from-yaml-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9"
    );

    // + overlay.
    let f = Files::new(&files[..2]);
    let l = f.load(&[]).unwrap();
    assert_eq!(domains(&l), ["https://overlay.example.com"]);
    assert_eq!(
        l.config.secret_key.as_ref().unwrap().expose(),
        "from-overlay-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9"
    );
    assert_eq!(
        l.config.health_check_paths,
        ["/healthz"],
        "keys not overlaid are kept"
    );
    assert_eq!(
        l.files,
        [f.path("config.yaml"), f.path("config.production.yaml")]
    );

    // + .env.
    let f = Files::new(&files);
    let l = f.load(&[]).unwrap();
    assert_eq!(
        domains(&l),
        ["https://dotenv.example.com", "https://dotenv2.example.com"]
    );
    assert_eq!(l.dotenv.as_deref(), Some(f.path(".env").as_path()));
    assert!(l.config.sources["security_domains"].from_env);

    // + process environment.
    let l = f
        .load(&[
            ("SECURITY_DOMAINS", "env.example.com"),
            (
                "SECRET_KEY",
                "from-env-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9",
            ),
        ])
        .unwrap();
    assert_eq!(domains(&l), ["https://env.example.com"]);
    assert_eq!(
        l.config.secret_key.as_ref().unwrap().expose(),
        "from-env-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9"
    );
    assert_eq!(
        l.config.sources["secret_key"].to_string(),
        "environment variable SECRET_KEY"
    );
}

#[test]
fn overlay_follows_the_environment_variable() {
    let f = Files::new(&[
        (
            "config.yaml",
            "environment: production\nsecurity_domains: [example.com]\n",
        ),
        (
            "config.dev.yaml",
            "security_domains: [dev.example.com]\ndebug: true\n",
        ),
        (
            "config.staging.yaml",
            "security_domains: [staging.example.com]\n",
        ),
    ]);
    let l = f.load(&[("ENVIRONMENT", "dev")]).unwrap();
    assert_eq!(l.config.environment, Environment::Development);
    assert_eq!(strs(&l.config.origins()), ["https://dev.example.com"]);
    let l = f.load(&[("DJANGO_ENV", "stage")]).unwrap();
    assert_eq!(l.config.environment, Environment::Staging);
    assert_eq!(strs(&l.config.origins()), ["https://staging.example.com"]);
    let l = f.load(&[]).unwrap();
    assert_eq!(l.config.environment, Environment::Production);
    assert_eq!(strs(&l.config.origins()), ["https://example.com"]);
}

#[test]
fn debug_variable_chooses_the_development_overlay() {
    let f = Files::new(&[
        ("config.yaml", "security_domains: [example.com]\n"),
        ("config.dev.yaml", "security_domains: [dev.example.com]\n"),
        (
            "config.production.yaml",
            "security_domains: [prod.example.com]\n",
        ),
    ]);
    let l = f.load(&[("DEBUG", "true")]).unwrap();
    assert_eq!(l.config.environment, Environment::Development);
    assert_eq!(strs(&l.config.origins()), ["https://dev.example.com"]);
}

#[test]
fn environment_aliases() {
    let f = Files::new(&[("config.yaml", "security_domains: [example.com]\n")]);
    let table = [
        ("dev", Environment::Development),
        ("devel", Environment::Development),
        ("develop", Environment::Development),
        ("development", Environment::Development),
        ("local", Environment::Development),
        ("LOCAL", Environment::Development),
        ("prod", Environment::Production),
        ("production", Environment::Production),
        ("stage", Environment::Staging),
        ("staging", Environment::Staging),
        ("test", Environment::Test),
        ("testing", Environment::Test),
        (" Prod ", Environment::Production),
    ];
    for var in ["DJANGO_ENV", "ENVIRONMENT", "ENV"] {
        for (value, want) in table {
            let cfg = f.load(&[(var, value)]).unwrap().config;
            assert_eq!(cfg.environment, want, "{var}={value:?}");
        }
    }
    for (value, want) in table {
        let cfg = load_yaml_ok(&format!(
            "environment: \"{value}\"\nsecurity_domains: [example.com]\n"
        ));
        assert_eq!(cfg.environment, want, "environment: {value:?}");
    }
}

#[test]
fn environment_variable_precedence_and_bad_values() {
    let f = Files::new(&[(
        "config.yaml",
        "environment: development\nsecurity_domains: [example.com]\n",
    )]);
    let env = |vars: &[(&str, &str)]| f.load(vars).unwrap().config.environment;
    assert_eq!(
        env(&[
            ("DJANGO_ENV", "prod"),
            ("ENVIRONMENT", "test"),
            ("ENV", "stage")
        ]),
        Environment::Production
    );
    assert_eq!(
        env(&[("ENVIRONMENT", "test"), ("ENV", "stage")]),
        Environment::Test
    );
    assert_eq!(env(&[("ENV", "stage")]), Environment::Staging);
    // `ENV` is also a shell startup file variable: a non-environment value is ignored.
    assert_eq!(env(&[("ENV", "/etc/shrc")]), Environment::Development);
    assert_eq!(env(&[("DJANGO_ENV", "")]), Environment::Development);
    let err = f.load(&[("ENVIRONMENT", "qa")]).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].key(), "environment");
    assert!(
        err.0[0]
            .message()
            .contains("ENVIRONMENT names no known environment")
    );
    let errs = problems("environment: qa\ndebug: true\n");
    assert_eq!(errs[0].key(), "environment");
    assert!(errs[0].message().contains("unknown environment \"qa\""));
}

#[test]
fn environment_from_debug_and_the_secure_default() {
    let cfg = load_yaml_ok("debug: true\n");
    assert_eq!(cfg.environment, Environment::Development);
    let cfg = load_yaml_ok("debug: true\nsecurity_domains: [example.com]\n");
    assert_eq!(cfg.environment, Environment::Development);
    let cfg = load_yaml_ok("debug: false\nsecurity_domains: [example.com]\n");
    assert_eq!(cfg.environment, Environment::Production);
    let cfg = load_yaml_ok("security_domains: [example.com]\n");
    assert_eq!(
        cfg.environment,
        Environment::Production,
        "nothing said: production"
    );
    assert!(!cfg.debug);

    // An empty file: production, which then needs domains.
    for empty in ["", "\n# only a comment\n", "---\n"] {
        let f = Files::new(&[("config.yaml", empty)]);
        let l = f.loader(&[]).load_lenient().unwrap();
        assert_eq!(l.config.environment, Environment::Production, "{empty:?}");
        assert_eq!(l.problems.len(), 1);
        assert_eq!(l.problems[0].key(), "security_domains");
    }
    // DEBUG from the environment counts too.
    let f = Files::new(&[("config.yaml", "security_domains: [example.com]\n")]);
    let cfg = f.load(&[("DEBUG", "true")]).unwrap().config;
    assert_eq!(cfg.environment, Environment::Development);
}

#[test]
fn production_without_domains_is_refused() {
    let want = "add your domains: security_domains: [example.com, api.example.com]";
    for yaml in [
        "environment: production\n",
        "environment: production\nsecurity_domains: []\n",
        "environment: staging\nsecurity_domains: []\n",
        "debug: false\n",
    ] {
        let errs = problems(yaml);
        assert_eq!(errs.len(), 1, "{yaml}");
        assert_eq!(errs[0].key(), "security_domains");
        assert!(errs[0].fix().contains(want), "{yaml}: {}", errs[0].fix());
        let text = ConfigErrors(errs).to_string();
        assert!(text.contains(want), "{text}");
    }
    let err = Config::production(Vec::<&str>::new()).unwrap_err();
    assert!(err.to_string().contains(want));
    let mut cfg = Config::development();
    cfg.environment = Environment::Production;
    let err = derive(&cfg, &RuntimeProbe::none()).unwrap_err();
    assert!(err.to_string().contains(want));
    // Development and test are fine without domains.
    load_yaml_ok("environment: development\nsecurity_domains: []\n");
    load_yaml_ok("environment: test\n");
}

#[test]
fn interpolation() {
    let f = Files::new(&[
        (
            "config.yaml",
            "environment: production\nsecret_key: ${SECRET_KEY}\n\
             security_domains: [\"${DOMAIN}\", \"api.${DOMAIN}\"]\n\
             site_url: ${SITE_URL:-https://default.example.com}\n\
             app:\n  price: \"$$5\"\n",
        ),
        (".env", "DOMAIN=from-dotenv.example.com\n"),
    ]);
    let l = f
        .load(&[(
            "SECRET_KEY",
            "s3cr3t-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9X",
        )])
        .unwrap();
    let cfg = &l.config;
    assert_eq!(
        cfg.secret_key.as_ref().unwrap().expose(),
        "s3cr3t-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9X"
    );
    assert!(cfg.sources["secret_key"].from_env);
    assert_eq!(
        strs(&cfg.origins()),
        [
            "https://from-dotenv.example.com",
            "https://api.from-dotenv.example.com",
            "https://default.example.com"
        ]
    );
    assert_eq!(cfg.app["price"], "$5");
    // The process environment wins over .env; an empty value takes the default.
    let l = f
        .load(&[
            (
                "SECRET_KEY",
                "s3cr3t-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9X",
            ),
            ("DOMAIN", "env.example.com"),
            ("SITE_URL", ""),
        ])
        .unwrap();
    assert_eq!(
        strs(&l.config.origins()),
        [
            "https://env.example.com",
            "https://api.env.example.com",
            "https://default.example.com"
        ]
    );
    // Unset, no default: an error naming the variable, the key and the line.
    let err = f.load(&[]).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let p = &err.0[0];
    assert_eq!(p.key(), "secret_key");
    assert!(
        p.message()
            .contains("environment variable SECRET_KEY is not set")
    );
    assert_eq!(p.source().as_ref().unwrap().line, 2);
    assert!(p.fix().contains("export SECRET_KEY="));
    let errs = problems("debug: true\nsecret_key: \"${UNCLOSED\"\n");
    assert!(errs[0].message().contains("unclosed"));
}

#[test]
fn unknown_keys() {
    let errs =
        problems("debug: true\nsecrity_domains: [example.com]\nfoo: 1\nhsts: {max_age: 1}\n");
    assert_eq!(errs.len(), 3, "{:#?}", errs);
    let by_key = |k: &str| errs.iter().find(|p| p.key() == k).unwrap();
    let p = by_key("secrity_domains");
    assert_eq!(p.message(), "unknown key");
    assert!(
        p.fix().contains("did you mean `security_domains`"),
        "{}",
        p.fix()
    );
    assert_eq!(p.source().as_ref().unwrap().line, 2);
    let p = by_key("foo");
    assert_eq!(p.message(), "unknown key");
    assert!(
        p.fix().starts_with("did you mean") || p.fix().contains("known keys"),
        "{}",
        p.fix()
    );
    assert_eq!(p.source().as_ref().unwrap().line, 3);
    let p = by_key("hsts.max_age");
    assert!(p.fix().contains("seconds"));
}

#[test]
fn wrong_types() {
    let table: &[(&str, &str, &str)] = &[
        (
            "environment: development\ndebug: maybe\n",
            "debug",
            "expected true or false",
        ),
        (
            "environment: test\ndebug: [1]\n",
            "debug",
            "expected true or false, found a list",
        ),
        (
            "debug: true\nsecurity_domains: example.com\n",
            "security_domains",
            "expected a list of strings, found a string",
        ),
        (
            "debug: true\nsecurity_domains: [example.com, 42]\n",
            "security_domains[1]",
            "expected a string, found an integer",
        ),
        (
            "debug: true\nenvironment: [dev]\n",
            "environment",
            "expected a string",
        ),
        (
            "debug: true\ncors_preflight_max_age: -1\n",
            "cors_preflight_max_age",
            "expected a non-negative integer",
        ),
        (
            "debug: true\nssl_redirect: sure\n",
            "ssl_redirect",
            "expected true, false or null",
        ),
        ("debug: true\nhsts: 5\n", "hsts", "expected a mapping"),
        (
            "debug: true\nhsts: {seconds: soon}\n",
            "hsts.seconds",
            "non-negative integer",
        ),
        (
            "debug: true\napi_url: api.example.com\n",
            "api_url",
            "not a URL",
        ),
        (
            "debug: true\ninternal_networks: [300.0.0.0/8]\n",
            "internal_networks[0]",
            "CIDR",
        ),
        (
            "debug: true\nhealth_check_paths: [healthz]\n",
            "health_check_paths[0]",
            "start with `/`",
        ),
        (
            "debug: true\ncors_allow_headers: [\"bad header\"]\n",
            "cors_allow_headers[0]",
            "header name",
        ),
        (
            "debug: true\ncors_allowed_origin_regexes: [\"(\"]\n",
            "cors_allowed_origin_regexes[0]",
            "invalid regex",
        ),
        (
            "debug: true\nsecret_key: 12\n",
            "secret_key",
            "expected a string",
        ),
    ];
    for (yaml, key, msg) in table {
        let errs = problems(yaml);
        assert_eq!(errs.len(), 1, "{yaml}: {errs:#?}");
        assert_eq!(errs[0].key(), *key, "{yaml}");
        assert!(
            errs[0].message().contains(msg),
            "{yaml}: {}",
            errs[0].message()
        );
        assert!(
            errs[0].source().as_ref().unwrap().line > 0,
            "{yaml}: a line"
        );
        assert!(!errs[0].fix().is_empty());
    }
    // Secrets are never echoed in problems.
    let errs = problems("debug: true\nsecret_key: [hunter2-secret]\n");
    assert_eq!(errs[0].value(), Some("[redacted]"));
    assert!(!ConfigErrors(errs).to_string().contains("hunter2"));
}

#[test]
fn malformed_domains_are_rejected() {
    let table: &[(&str, &str)] = &[
        ("''", "empty domain entry"),
        ("'   '", "empty domain entry"),
        ("ftp://example.com", "unsupported scheme \"ftp\""),
        ("'mailto:admin@example.com'", "unsupported scheme"),
        ("'javascript:alert(1)'", "unsupported scheme"),
        ("https://example.com/api", "must not contain a path"),
        ("example.com/api", "must not contain a path"),
        ("'https://example.com?x=1'", "query string"),
        ("'https://example.com#top'", "fragment"),
        ("'https://user:pw@example.com'", "user information"),
        ("'user@example.com'", "user information"),
        ("'example.com:0'", "invalid port \"0\""),
        ("'example.com:65536'", "invalid port"),
        ("'example.com:'", "invalid port"),
        ("'exa mple.com'", "invalid host"),
        ("example..com", "invalid host"),
        ("-example.com", "invalid host"),
        ("ex_ample.com", "invalid host"),
        ("1.2.3.256", "invalid host"),
        ("'[::1'", "invalid host"),
        ("'[zz::1]'", "invalid host"),
        ("'foo.*.example.com'", "wildcards"),
        ("'*example.com'", "wildcards"),
        ("'*.10.0.0.1'", "subdomain pattern needs a domain name"),
        ("example.123", "must not be numeric"),
    ];
    for (entry, msg) in table {
        let yaml = format!(
            "environment: development\nsecurity_domains:\n  - ok.example.com\n  - {entry}\n"
        );
        let errs = problems(&yaml);
        assert_eq!(errs.len(), 1, "{entry}: {errs:#?}");
        let p = &errs[0];
        assert_eq!(p.key(), "security_domains[1]", "{entry}");
        assert!(p.message().contains(msg), "{entry}: {}", p.message());
        assert_eq!(p.source().as_ref().unwrap().line, 4, "{entry}: line");
        assert!(p.value().is_some());
        assert!(!p.fix().is_empty());
        assert!(
            p.source()
                .as_ref()
                .unwrap()
                .to_string()
                .ends_with("config.yaml:4"),
            "{}",
            p.source().as_ref().unwrap()
        );
    }
}

#[test]
fn all_problems_of_a_file_at_once() {
    let yaml = "\
environment: production
debug: maybe
security_domains:
  - example.com
  - https://example.com/path
  - 'ftp://files.example.com'
cors_preflight_max_age: soon
unknown_thing: 1
internal_networks: [not-a-network]
";
    let f = Files::new(&[("config.yaml", yaml)]);
    let err = f.load(&[]).unwrap_err();
    let got: Vec<(String, u64)> = err
        .0
        .iter()
        .map(|p| (p.key().to_owned(), p.source().map_or(0, |s| s.line)))
        .collect();
    for want in [
        ("debug", 2),
        ("security_domains[1]", 5),
        ("security_domains[2]", 6),
        ("cors_preflight_max_age", 7),
        ("unknown_thing", 8),
        ("internal_networks[0]", 9),
    ] {
        assert!(
            got.contains(&(want.0.to_owned(), want.1)),
            "missing {want:?} in {got:?}"
        );
    }
    assert_eq!(got.len(), 6, "{got:?}");
    let text = err.to_string();
    let path = f.path("config.yaml");
    assert!(text.contains(&format!("{}:5", path.display())), "{text}");
    assert_eq!(text.matches("error: ").count(), 6, "{text}");

    // The lenient load keeps what is valid and lists the same problems.
    let l = f.loader(&[]).load_lenient().unwrap();
    assert_eq!(l.problems.len(), 6);
    assert_eq!(strs(&l.config.origins()), ["https://example.com"]);
}

#[test]
fn invalid_yaml_and_missing_files() {
    let f = Files::new(&[(
        "config.yaml",
        "security_domains: [example.com\ndebug: true\n",
    )]);
    let err = f.load(&[]).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].message().starts_with("invalid YAML"), "{err}");
    assert!(err.0[0].source().unwrap().line > 0);

    let f = Files::new(&[("config.yaml", "- a\n- b\n")]);
    let err = f.load(&[]).unwrap_err();
    assert!(
        err.0[0].message().contains("top level must be a mapping"),
        "{err}"
    );

    let missing = Path::new("/nonexistent/hardened/config.yaml");
    let err = Loader::new().file(missing).load().unwrap_err();
    assert!(
        err.0[0].message().contains("cannot read the config file"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("/nonexistent/hardened/config.yaml")
    );

    let f = Files::new(&[
        ("config.yaml", "debug: true\n"),
        (".env", "this is not a dotenv line\n"),
    ]);
    let err = f.load(&[]).unwrap_err();
    assert!(err.0[0].message().contains("invalid line in .env"), "{err}");
    assert!(
        !err.to_string().contains("this is not"),
        "the line is not echoed"
    );
}

#[test]
fn policy_serializes_without_secrets() {
    let f = Files::new(&[(
        "config.yaml",
        "environment: production\nsecurity_domains: [example.com]\nsecret_key: ${SECRET_KEY}\n\
         database: {url: 'postgres://u:dbpass@db/app'}\n",
    )]);
    let l = f
        .load(&[(
            "SECRET_KEY",
            "super-private-value-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9",
        )])
        .unwrap();
    let p = derive_ok(&l.config, &RuntimeProbe::none());
    let json = serde_json::to_string(&p).unwrap();
    assert!(
        !json.contains("super-private-value-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9")
            && !json.contains("dbpass")
    );
    let dbg = format!("{:?}", l.config);
    assert!(
        !dbg.contains("super-private-value-q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9")
            && !dbg.contains("dbpass"),
        "{dbg}"
    );
}

/// Every loading problem carries the kind of its cause: tools classify by kind, never
/// by message text.
#[test]
fn problem_kinds() {
    use hardened::config::ProblemKind as K;
    let cases: &[(&str, &str, K)] = &[
        (
            "debug: true\nsecrity_domains: [a.com]\n",
            "secrity_domains",
            K::UnknownKey,
        ),
        (
            "debug: true\nhsts: {max_age: 1}\n",
            "hsts.max_age",
            K::UnknownKey,
        ),
        (
            "debug: true\nssl_redirect: [1]\n",
            "ssl_redirect",
            K::WrongType,
        ),
        (
            "debug: true\nsecret_key: ${NOPE}\n",
            "secret_key",
            K::UnsetVariable,
        ),
        (
            "debug: true\nsecret_key: \"${NOPE\"\n",
            "secret_key",
            K::UnclosedVariable,
        ),
        ("environment: qa\n", "environment", K::UnknownEnvironment),
        (
            "debug: true\nsecurity_domains: [\"https://a.com/x\"]\n",
            "security_domains[0]",
            K::InvalidDomain,
        ),
        (
            "environment: production\n",
            "security_domains",
            K::NoDomains,
        ),
        (
            "environment: production\nsecurity_domains: [\"*\"]\n",
            "security_domains",
            K::WildcardDomain,
        ),
        (
            "debug: true\ncors_allow_headers: [\"a b\"]\n",
            "cors_allow_headers[0]",
            K::InvalidHeaderName,
        ),
        (
            "debug: true\ncors_allow_methods: [\"G T\"]\n",
            "cors_allow_methods[0]",
            K::InvalidMethod,
        ),
        (
            "debug: true\ncors_allowed_origin_regexes: [\"(\"]\n",
            "cors_allowed_origin_regexes[0]",
            K::InvalidRegex,
        ),
        ("debug: true\napi_url: nope\n", "api_url", K::InvalidUrl),
        (
            "debug: true\ninternal_networks: [nope]\n",
            "internal_networks[0]",
            K::InvalidNetwork,
        ),
        (
            "debug: true\ninternal_networks: [0.0.0.0/1]\n",
            "internal_networks[0]",
            K::NetworkTooWide,
        ),
        (
            "debug: true\nhealth_check_paths: [healthz]\n",
            "health_check_paths[0]",
            K::InvalidPath,
        ),
        (
            "debug: true\nsession_cookie_name: \"a b\"\n",
            "session_cookie_name",
            K::InvalidCookieName,
        ),
        ("debug: true\n1: x\n", "1", K::NonStringKey),
        ("debug: [\n", "(file)", K::InvalidYaml),
        ("- a\n", "(file)", K::InvalidYaml),
    ];
    for (yaml, key, kind) in cases {
        let errs = problems(yaml);
        let p = errs.iter().find(|p| p.key() == *key);
        assert_eq!(p.map(|p| p.kind()), Some(*kind), "{yaml}: {errs:#?}");
    }
}

/// A `Config` built in code passes the checks a file's values pass, with the same words:
/// a CSRF exemption without its leading `/` would never match.
#[test]
fn config_built_in_code_is_validated_like_a_file() {
    let mut cfg = Config::development();
    cfg.csrf_exempt_paths.push("hooks/{id}".into());
    let err = hardened::Security::from_config(&cfg, &RuntimeProbe::none()).unwrap_err();
    let from_file = load_yaml("debug: true\ncsrf_exempt_paths: ['hooks/{id}']\n").unwrap_err();
    assert_eq!(err.0.len(), 1, "{err:#?}");
    assert_eq!(from_file.0.len(), 1, "{from_file:#?}");
    let (code, file) = (&err.0[0], &from_file.0[0]);
    assert_eq!(code.kind(), file.kind());
    assert_eq!(code.key(), "csrf_exempt_paths[0]");
    assert_eq!(code.key(), file.key());
    assert_eq!(code.value(), file.value());
    assert_eq!(code.message(), file.message());
    assert_eq!(code.fix(), file.fix());
}

/// `headers:` overrides: strings, structured CSPs, `null` removes, bad values are
/// problems naming the key.
#[test]
fn headers_section() {
    let cfg = load_yaml_ok(
        "environment: production\nsecurity_domains: [example.com]\nheaders:\n  content_security_policy:\n    default-src: [\"'self'\"]\n    script-src: [\"'self'\", \"'nonce-{nonce}'\"]\n    upgrade-insecure-requests: []\n  content_security_policy_report_only: \"default-src 'none'\"\n  permissions_policy: \"camera=(), geolocation=()\"\n  cross_origin_resource_policy: Same-Origin\n  cross_origin_embedder_policy: require-corp\n  referrer_policy: null\n  x_frame_options: sameorigin\n",
    );
    let p = derive_ok(&cfg, &RuntimeProbe::none());
    let h = &p.headers;
    assert_eq!(
        h.content_security_policy.as_deref(),
        Some("default-src 'self'; script-src 'self' 'nonce-{nonce}'; upgrade-insecure-requests")
    );
    assert_eq!(
        h.content_security_policy_report_only.as_deref(),
        Some("default-src 'none'")
    );
    assert_eq!(
        h.permissions_policy.as_deref(),
        Some("camera=(), geolocation=()")
    );
    assert_eq!(
        h.cross_origin_resource_policy.map(|v| v.as_str()),
        Some("same-origin")
    );
    assert_eq!(
        h.cross_origin_embedder_policy.map(|v| v.as_str()),
        Some("require-corp")
    );
    assert_eq!(h.referrer_policy, None);
    assert_eq!(h.x_frame_options.map(|v| v.as_str()), Some("SAMEORIGIN"));
    // Untouched defaults stay.
    assert_eq!(
        h.cross_origin_opener_policy.map(|v| v.as_str()),
        Some("same-origin")
    );
    // Development defaults are unchanged by an empty section.
    let dev = derive_ok(
        &load_yaml_ok("debug: true\nheaders: {}\n"),
        &RuntimeProbe::none(),
    );
    assert_eq!(dev.headers.content_security_policy, None);
    assert_eq!(
        dev.headers.x_frame_options.map(|v| v.as_str()),
        Some("SAMEORIGIN")
    );

    // (yaml, key of the problem)
    let bad: &[(&str, &str)] = &[
        (
            "headers: {x_frame_options: ALLOW-FROM x}\n",
            "headers.x_frame_options",
        ),
        (
            "headers: {referrer_policy: never}\n",
            "headers.referrer_policy",
        ),
        (
            "headers: {cross_origin_resource_policy: all}\n",
            "headers.cross_origin_resource_policy",
        ),
        (
            "headers: {content_security_policy: \"a\\nb\"}\n",
            "headers.content_security_policy",
        ),
        (
            "headers: {content_security_policy: {\"default src\": [x]}}\n",
            "headers.content_security_policy.default src",
        ),
        (
            "headers: {content_security_policy: {default-src: [\"a;b\"]}}\n",
            "headers.content_security_policy.default-src",
        ),
        (
            "headers: {permissions_policy: [a]}\n",
            "headers.permissions_policy",
        ),
        (
            "headers: {strict_transport_security: x}\n",
            "headers.strict_transport_security",
        ),
    ];
    for (yaml, key) in bad {
        let ps = problems(&format!("debug: true\n{yaml}"));
        assert!(ps.iter().any(|p| p.key() == *key), "{yaml}: {ps:?}");
    }
}

/// `report_only`: true, false, or a list of checks; anything else names the key.
#[test]
fn report_only_values() {
    use hardened::config::ReportOnly;
    let cases: &[(&str, Vec<&str>)] = &[
        (
            "report_only: true\n",
            vec!["host", "tls", "csrf", "websocket"],
        ),
        ("report_only: false\n", vec![]),
        ("report_only: null\n", vec![]),
        ("report_only: [csrf]\n", vec!["csrf"]),
        ("report_only: [HOST, tls]\n", vec!["host", "tls"]),
    ];
    for (yaml, want) in cases {
        let cfg = load_yaml_ok(&format!("debug: true\n{yaml}"));
        assert_eq!(cfg.report_only.names(), *want, "{yaml}");
        let p = derive_ok(&cfg, &RuntimeProbe::none());
        assert_eq!(p.report_only, cfg.report_only);
    }
    assert_eq!(ReportOnly::default(), ReportOnly::NONE);
    let ps = problems("debug: true\nreport_only: [cors]\n");
    assert_eq!(ps[0].key(), "report_only[0]");
    assert!(ps[0].fix().contains("CORS always enforces"));
}

#[test]
fn role_app_by_default_gateway_when_said() {
    use hardened::config::Role;
    let base = "environment: production\nsecurity_domains: [example.com]\n";
    assert_eq!(load_yaml_ok(base).role, Role::App);
    assert_eq!(
        load_yaml_ok(&format!("{base}role: gateway\n")).role,
        Role::Gateway
    );
    assert_eq!(load_yaml_ok(&format!("{base}role: App\n")).role, Role::App);
    let errs = problems(&format!("{base}role: proxy\n"));
    assert_eq!(errs[0].key(), "role");
    assert!(errs[0].to_string().contains("gateway"), "{}", errs[0]);
}

/// A known-weak secret key never starts in production or staging (the checklist's
/// secret-key rules, enforced where the key is loaded); development keeps any key. The
/// key itself never appears in the error.
#[test]
fn weak_secret_key_refused_in_production_only() {
    for (key, why) in [
        ("changeme", "placeholder"),
        ("${SECRET_KEY:-changeme}", "placeholder"),
        ("password123", "placeholder"),
        ("aB3dE6gH9jK2", "characters long"),
        (&"ab".repeat(30), "distinct characters"),
    ] {
        for env in ["production", "staging"] {
            let errs = problems(&format!(
                "environment: {env}\nsecurity_domains: [example.com]\nsecret_key: \"{key}\"\n"
            ));
            assert_eq!(errs.len(), 1, "{key}: {errs:?}");
            assert_eq!(errs[0].key(), "secret_key");
            let text = errs[0].to_string();
            assert!(
                text.contains(why) || text.contains("common password"),
                "{text}"
            );
            assert!(!text.contains(&"ab".repeat(30)), "the key is shown: {text}");
        }
        let dev = format!("environment: development\nsecret_key: \"{key}\"\n");
        assert!(load_yaml(&dev).is_ok(), "{key}");
    }
    let strong = "environment: production\nsecurity_domains: [example.com]\n\
                  secret_key: q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9Kj8Hg6Fd3Sa1Zx5Cv\n";
    assert!(load_yaml(strong).is_ok());
}

/// A loader's `Debug` names the environment variables it holds, never their values
/// (`SECRET_KEY`, database passwords).
#[test]
fn loader_debug_shows_no_environment_values() {
    let loader = hardened::config::load::Loader::new().env([("SECRET_KEY", "TOPSECRET-KEY-VALUE")]);
    let shown = format!("{loader:?}");
    assert!(shown.contains("SECRET_KEY"), "{shown}");
    assert!(!shown.contains("TOPSECRET"), "{shown}");
}

/// `gateway.csrf: upstream` leaves the CSRF check to the upstream in the gateway only:
/// an application that loads the same file keeps the check.
#[test]
fn csrf_left_to_the_upstream_in_the_gateway_only() {
    let mut cfg = hardened::config::Config::production(["example.com"]).unwrap();
    cfg.role = hardened::config::Role::Gateway;
    cfg.gateway.csrf = Some(hardened::config::GatewayCsrf::Upstream);
    let (parts, ()) = http::Request::post("/transfer")
        .header("host", "example.com")
        .header("origin", "https://evil.test")
        .header("x-forwarded-proto", "https")
        .body(())
        .unwrap()
        .into_parts();
    let probe = RuntimeProbe::none();
    let app = hardened::Security::from_config(&cfg, &probe).unwrap();
    assert_eq!(
        app.decide(&parts).rejection().map(|r| r.code()),
        Some("csrf-bad-origin")
    );
    let gateway = hardened::Security::gateway_from_config(&cfg, &probe).unwrap();
    assert!(gateway.decide(&parts).rejection().is_none());
}
