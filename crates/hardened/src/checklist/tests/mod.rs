//! Every rule has a failing and a passing case (the table in `cases`): removing a rule
//! fails a test.

mod cases;

use std::collections::BTreeSet;
use std::sync::Arc;

use super::dburl::parse_db_url;
use super::rules::looks_secret;
use super::*;
use crate::config::{
    Config, DatabaseConfig, DockerMode, Environment, HeaderOverride, HstsConfig, Problem,
    ProblemKind, Secret, Source, TrustedProxies,
};
use crate::domain::parse_entry;
use crate::probe::RuntimeProbe;
use cases::CASES;

const GOOD_KEY: &str = "q8Zr-2vN!xT4m@Lp7Ws#9Kd$3Hf%6Jb^1Yc&5Ge*0Ua(8Ro)4Ei_2Ow+7";
const GOOD_DB_PASSWORD: &str = "c7Vt!pQ2#rL9wZx4$mN8";

fn file(line: u64) -> Source {
    Source {
        origin: Arc::from("config.yaml"),
        line,
        from_env: false,
    }
}

fn from_var(line: u64) -> Source {
    Source {
        from_env: true,
        ..file(line)
    }
}

/// Everything a run takes.
struct Setup {
    cfg: Config,
    problems: Vec<Problem>,
    facts: Facts,
    deploy: bool,
}

impl Setup {
    /// A production configuration that passes every rule, with every rule applicable.
    fn clean() -> Setup {
        let mut cfg =
            Config::production(["example.com", "https://api.example.com"]).unwrap_or_default();
        cfg.secret_key = Some(Secret::new(GOOD_KEY));
        cfg.docker = DockerMode::On;
        cfg.ssl_redirect = Some(true);
        cfg.headers.content_security_policy =
            HeaderOverride::Set("default-src 'self'; frame-ancestors 'none'".into());
        cfg.cors_allowed_origin_regexes = vec![r"^https://[a-z0-9-]+\.example\.com$".into()];
        cfg.database = Some(DatabaseConfig {
            url: Some(Secret::new(format!(
                "postgres://app:{GOOD_DB_PASSWORD}@db.internal:5432/app"
            ))),
            host: Some("10.0.0.5".into()),
            password: Some(Secret::new(GOOD_DB_PASSWORD)),
            user: Some("app".into()),
            name: Some("app".into()),
            port: Some(5432),
        });
        cfg.app
            .insert("stripe_api_key".into(), "sk_live_abc123".into());
        cfg.app.insert("cache_key_prefix".into(), "myapp".into());
        cfg.app
            .insert("feature_token_enabled".into(), "true".into());
        for (k, s) in [
            ("environment", file(1)),
            ("debug", file(2)),
            ("secret_key", from_var(3)),
            ("security_domains", file(4)),
            ("ssl_redirect", file(5)),
            ("docker", file(6)),
            ("database", file(7)),
            ("database.url", from_var(8)),
            ("database.password", from_var(9)),
            ("app", file(10)),
            ("app.stripe_api_key", from_var(11)),
            ("app.cache_key_prefix", file(12)),
            ("app.feature_token_enabled", file(13)),
        ] {
            cfg.sources.insert(k.into(), s);
        }
        let facts = Facts::new(RuntimeProbe::none()).with_dotenv(DotenvFacts {
            path: ".env".into(),
            exists: true,
            ignored: Some(true),
            tracked: Some(false),
        });
        Setup {
            cfg,
            problems: Vec::new(),
            facts,
            deploy: true,
        }
    }

    fn run(&self) -> Report {
        run_checks(&self.cfg, &self.problems, &self.facts, self.deploy)
    }
}

fn problem(kind: ProblemKind, key: &str, value: Option<&str>, message: &str, line: u64) -> Problem {
    let p = Problem::new(kind, key, message, "fix it").at(file(line));
    match value {
        Some(v) => p.with_value(v),
        None => p,
    }
}

fn db(s: &mut Setup) -> &mut DatabaseConfig {
    s.cfg.database.get_or_insert_with(DatabaseConfig::default)
}

fn ids(r: &Report) -> Vec<RuleId> {
    r.findings.iter().map(|f| f.id).collect()
}

#[test]
fn clean_config_passes_every_rule() {
    let r = Setup::clean().run();
    assert_eq!(r.findings, Vec::new());
    let all: Vec<RuleId> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(r.passed, all);
    assert_eq!(r.manual, MANUAL.to_vec());
    assert!(!r.has_errors());
}

#[test]
fn every_rule_has_a_case() {
    let cased: BTreeSet<RuleId> = CASES.iter().map(|c| c.0).collect();
    let rules: BTreeSet<RuleId> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(cased, rules);
    assert_eq!(RULES.len(), rules.len(), "duplicate rule ids");
}

#[test]
fn each_rule_fails_and_passes() {
    for (id, severity, fail, pass) in CASES {
        let mut s = Setup::clean();
        fail(&mut s);
        let r = s.run();
        let mine: Vec<&Finding> = r.findings.iter().filter(|f| f.id == *id).collect();
        assert!(!mine.is_empty(), "{id}: no finding; got {:?}", ids(&r));
        assert!(
            mine.iter().all(|f| f.severity == *severity),
            "{id}: {mine:?}"
        );
        assert!(!r.passed.contains(id), "{id} both failed and passed");
        let heading = rule(*id).map(|r| r.heading);
        assert!(mine.iter().all(|f| Some(f.heading) == heading), "{id}");

        let mut s = Setup::clean();
        pass(&mut s);
        let r = s.run();
        assert!(
            !ids(&r).contains(id),
            "{id}: unexpected finding {:?}",
            r.findings
        );
        assert!(r.passed.contains(id), "{id}: not listed as passed");
    }
}

#[test]
fn ids_are_kebab_case_and_documented() {
    let docs = include_str!("../../../../../docs/checks.md");
    for r in RULES {
        assert!(
            r.id.as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{}",
            r.id
        );
        assert!(
            docs.contains(&format!("`{}`", r.id)),
            "docs/checks.md lacks {}",
            r.id
        );
    }
    for m in MANUAL {
        assert!(
            docs.contains(&format!("`{}`", m.id)),
            "docs/checks.md lacks {}",
            m.id
        );
    }
}

#[test]
fn secrets_never_appear_in_findings() {
    let mut s = Setup::clean();
    s.cfg.secret_key = Some(Secret::new("changeme-changeme"));
    db(&mut s).password = Some(Secret::new("Summer2024!"));
    db(&mut s).url = Some(Secret::new("postgres://app:hunter2@203.0.113.9/app"));
    s.cfg.sources.insert("secret_key".into(), file(3));
    s.cfg.sources.insert("database.url".into(), file(8));
    s.cfg.sources.insert("database.password".into(), file(9));
    s.cfg.sources.insert("app.stripe_api_key".into(), file(11));
    let r = s.run();
    let text = format!("{:?}", r.findings);
    for secret in [
        "changeme-changeme",
        "Summer2024!",
        "hunter2",
        "sk_live_abc123",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    for id in [
        "secret-key-short",
        "secret-key-insecure-pattern",
        "secret-key-inline",
        "database-password-weak",
        "database-host-public",
        "database-password-inline",
        "secret-inline",
    ] {
        assert!(ids(&r).iter().any(|f| *f == id), "{id}");
    }
}

#[test]
fn locations_point_at_the_file_line() {
    let mut s = Setup::clean();
    s.cfg.debug = true;
    let r = s.run();
    let f = r.findings.iter().find(|f| f.id == "debug-in-production");
    assert_eq!(
        f.and_then(|f| f.location.as_ref()).map(ToString::to_string),
        Some("config.yaml:2".to_owned())
    );
}

#[test]
fn development_without_deploy_runs_only_general_rules() {
    let cfg = Config::development();
    let r = run_checks(&cfg, &[], &Facts::default(), false);
    assert_eq!(r.findings, Vec::new());
    assert!(r.manual.is_empty());
    assert_eq!(
        r.passed,
        vec![
            "config-invalid",
            "config-unknown-key",
            "config-unset-variable",
            "domains-invalid",
            "cors-regex-any",
            "csrf-exempt-all",
            "health-check-all",
            "csrf-upstream-unverified"
        ]
    );
    // The same config judged for deployment fails.
    let r = run_checks(&cfg, &[], &Facts::default(), true);
    for id in [
        "environment-not-production",
        "debug-in-production",
        "secret-key-missing",
        "domains-empty",
    ] {
        assert!(ids(&r).iter().any(|f| *f == id), "{id}");
    }
    assert_eq!(r.manual.len(), MANUAL.len());
}

#[test]
fn dotenv_severity_follows_strictness() {
    let mut s = Setup::clean();
    s.cfg.environment = Environment::Development;
    s.deploy = false;
    if let Some(d) = &mut s.facts.dotenv {
        d.tracked = Some(true);
    }
    let r = s.run();
    let f = r.findings.iter().find(|f| f.id == "dotenv-tracked");
    assert_eq!(f.map(|f| f.severity), Some(Severity::Warning));
}

#[test]
fn policy_problems_are_not_reported_twice() {
    let mut s = Setup::clean();
    s.cfg.security_domains.clear();
    s.problems = crate::policy::problems(&s.cfg);
    assert_eq!(s.problems.len(), 1);
    let r = s.run();
    assert_eq!(ids(&r), vec!["domains-empty"]);
}

#[test]
fn unknown_nested_sources_are_not_claimed_as_passed() {
    let mut s = Setup::clean();
    s.cfg.sources.remove("database.url");
    s.cfg.sources.remove("database.password");
    s.cfg.sources.remove("app.stripe_api_key");
    let r = s.run();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(!r.passed.iter().any(|p| *p == "database-password-inline"));
    assert!(!r.passed.iter().any(|p| *p == "secret-inline"));
}

#[test]
fn environment_implicit_or_staging() {
    let mut s = Setup::clean();
    s.cfg.sources.remove("environment");
    let r = s.run();
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "environment-not-production");
    assert_eq!(f.map(|f| f.severity), Some(Severity::Info));
    let mut s = Setup::clean();
    s.cfg.environment = Environment::Staging;
    let r = s.run();
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "environment-not-production");
    assert_eq!(f.map(|f| f.severity), Some(Severity::Warning));
}

#[test]
fn hsts_disabled_is_a_warning_behind_a_proxy() {
    let mut s = Setup::clean();
    s.cfg.ssl_redirect = None;
    s.cfg.hsts.seconds = Some(0);
    let r = s.run();
    assert_eq!(ids(&r), vec!["hsts-disabled"]);
    assert_eq!(
        r.findings.first().map(|f| f.severity),
        Some(Severity::Warning)
    );
}

#[test]
fn insecure_key_patterns() {
    for key in [
        "django-insecure-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        "please-CHANGE-ME-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        "your-secret-key-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        "dev-key-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
        "test-key-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
        "mysecret0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
        "your-generated-secret-key-here",
    ] {
        let mut s = Setup::clean();
        s.cfg.secret_key = Some(Secret::new(key));
        let r = s.run();
        assert!(
            ids(&r).iter().any(|f| *f == "secret-key-insecure-pattern"),
            "{key}"
        );
    }
}

#[test]
fn weak_database_passwords() {
    use super::password::weakness;
    let weak = [
        "short",
        "aaaaaaaaaaaaaaaa",
        "abababababababab",
        "password1234",
        "P@ssw0rd2024!",
        "Summer2024!!",
        "qwertyuiop123",
        "1q2w3e4r5t6y",
        "administrator",
        "123456789012",
        "myappuser-secure-1",
    ];
    for pw in weak {
        assert!(
            weakness(pw, Some("myappuser"), Some("app")).is_some(),
            "{pw}"
        );
    }
    for pw in [
        GOOD_DB_PASSWORD,
        "correct horse battery staple",
        "Vq9!rT2#pL8@",
    ] {
        assert_eq!(weakness(pw, Some("myappuser"), Some("app")), None, "{pw}");
    }
}

#[test]
fn common_password_list_is_shipped() {
    assert!(super::password::list_len() >= 400);
}

#[test]
fn database_urls_parse() {
    let u = parse_db_url("postgres://app:p%40ss@[2001:db8::1]:5432/app?sslmode=require");
    assert_eq!(u.user.as_deref(), Some("app"));
    assert_eq!(u.password.as_deref(), Some("p@ss"));
    assert_eq!(u.hosts, vec!["2001:db8::1"]);
    let u = parse_db_url("postgresql://u:pa/ss@h1:5432,h2:5433/db");
    assert_eq!(u.password.as_deref(), Some("pa/ss"));
    assert_eq!(u.hosts, vec!["h1", "h2"]);
    let u = parse_db_url("mysql://db.internal/app");
    assert_eq!((u.user, u.password), (None, None));
    assert_eq!(u.hosts, vec!["db.internal"]);
    for junk in [
        "",
        "://",
        "x",
        "postgres://@",
        "postgres://:@:/",
        "%",
        "a://%4",
        "a://%zz@%",
    ] {
        let _ = parse_db_url(junk);
    }
}

#[test]
fn public_addresses() {
    use super::rules::host_is_public;
    for ip in ["203.0.113.7", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8"] {
        assert!(host_is_public(ip), "{ip}");
    }
    for ip in [
        "10.0.0.5",
        "172.20.0.2",
        "192.168.1.1",
        "127.0.0.1",
        "::1",
        "fd00::1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
    ] {
        assert!(!host_is_public(ip), "{ip}");
    }
    let mut s = Setup::clean();
    db(&mut s).host = Some("0.0.0.0".into());
    assert_eq!(ids(&s.run()), vec!["database-host-public"]);
}

#[test]
fn secret_names() {
    for n in [
        "api_key",
        "STRIPE_SECRET",
        "github_token",
        "smtp_password",
        "sentry_dsn",
        "db_passwd",
        "aws_credentials",
    ] {
        assert!(looks_secret(n), "{n}");
    }
    for n in [
        "public_key",
        "cache_key_prefix",
        "site_name",
        "timeout",
        "token_ttl",
    ] {
        assert!(!looks_secret(n), "{n}");
    }
}

#[test]
fn checks_never_panic_on_odd_values() {
    let mut s = Setup::clean();
    s.cfg.secret_key = Some(Secret::new("\u{0}\u{ffff}é"));
    s.cfg.cors_allowed_origin_regexes = vec!["(".into(), "\\".into(), "[".into()];
    db(&mut s).url = Some(Secret::new("\u{1F600}://@@@:::[[[]]]"));
    db(&mut s).host = Some("[".into());
    s.cfg.app.insert("weird_key".into(), "\u{0}".into());
    let _ = s.run();
}

/// Findings follow the problem's kind: a reworded message stays under its rule.
#[test]
fn loading_problems_are_classified_by_kind() {
    let cases = [
        (ProblemKind::UnknownKey, "tls", RuleId::ConfigUnknownKey),
        (
            ProblemKind::UnsetVariable,
            "secret_key",
            RuleId::ConfigUnsetVariable,
        ),
        (
            ProblemKind::InvalidDomain,
            "security_domains[0]",
            RuleId::DomainsInvalid,
        ),
        (
            ProblemKind::WrongType,
            "security_domains",
            RuleId::DomainsInvalid,
        ),
        (ProblemKind::WrongType, "debug", RuleId::ConfigInvalid),
    ];
    for (kind, key, id) in cases {
        let mut s = Setup::clean();
        s.problems
            .push(problem(kind, key, None, "a message in other words", 3));
        let r = s.run();
        assert_eq!(ids(&r), vec![id], "{kind}");
    }
}

#[test]
fn rule_ids_parse_back() {
    for r in RULES {
        assert_eq!(RuleId::parse(r.id.as_str()), Some(r.id));
    }
    assert_eq!(RuleId::ALL.len(), RULES.len());
}

/// `role: gateway`: a configuration only the gateway reads needs no secret key, and
/// says so in place of the finding; the same file read by an application does.
#[test]
fn gateway_role_needs_no_secret_key() {
    let mut s = Setup::clean();
    s.cfg.secret_key = None;
    s.cfg.sources.remove("secret_key");
    let app = s.run();
    let missing: Vec<&Finding> = app
        .findings
        .iter()
        .filter(|f| f.id == RuleId::SecretKeyMissing)
        .collect();
    assert_eq!(missing.len(), 1, "{:?}", ids(&app));
    assert!(
        missing.iter().all(|f| f.fix.contains("role: gateway")),
        "{missing:?}"
    );
    s.cfg.role = crate::config::Role::Gateway;
    let gateway = s.run();
    assert!(
        !ids(&gateway).contains(&RuleId::SecretKeyMissing),
        "{:?}",
        ids(&gateway)
    );
    assert!(gateway.findings.is_empty(), "{:?}", ids(&gateway));
    // A key set anyway is still judged.
    s.cfg.secret_key = Some(Secret::new("changeme"));
    assert!(ids(&s.run()).contains(&RuleId::SecretKeyShort));
}
