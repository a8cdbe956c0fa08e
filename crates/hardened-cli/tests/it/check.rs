//! `hardened check`: exit codes, output formats, the shipped production example, and
//! `.env` facts from git. The binary runs with a cleared environment and `DOCKER` set,
//! so the real machine's container probe never matters.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Run, command};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

const SECRET_KEY: &str = "Zq8-rV2!mX4@pL7#wN9$kD3%hF6^jB1&yC5*gE0(uA8)oR4_eI2+wO7";
const DATABASE_URL: &str = "postgres://app:c7Vt!pQ2rL9wZx4mN8@db:5432/app";

/// Runs `hardened check ARGS` in `dir` with only PATH, DOCKER=false and `env` set.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(dir, &["check"]);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(cmd)
}

/// Runs from the crate directory, so fixture paths in the output are stable.
fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    run_in(Path::new(MANIFEST), args, env)
}

fn fixture(name: &str) -> String {
    format!("tests/check-fixtures/{name}")
}

fn example() -> PathBuf {
    Path::new(MANIFEST).join("../../examples/config.prod.yaml")
}

fn example_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SECRET_KEY", SECRET_KEY),
        ("DATABASE_URL", DATABASE_URL),
        (
            "SENTRY_DSN",
            "https://0123456789abcdef@o1.ingest.sentry.io/1",
        ),
        ("STRIPE_API_KEY", "sk_live_0123456789abcdef"),
    ]
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn finding_ids(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "../check-fixtures/snapshots",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

// ---------------------------------------------------------------------------------------
// Exit codes

#[test]
fn passing_config_exits_0() {
    let r = run(
        &[
            "--deploy",
            "--config",
            &fixture("prod-ok.yaml"),
            "--color",
            "never",
        ],
        &[("SECRET_KEY", SECRET_KEY), ("DATABASE_URL", DATABASE_URL)],
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("\n0 errors, 0 warnings, "),
        "{}",
        r.stdout
    );
}

#[test]
fn failing_config_exits_1() {
    let r = run(
        &["--deploy", "--config", &fixture("prod-bad.yaml")],
        &[("DOCKER", "true")],
    );
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
}

#[test]
fn unparsable_or_missing_config_exits_2() {
    for name in ["broken.yaml", "does-not-exist.yaml"] {
        for format in ["text", "json", "sarif"] {
            let r = run(&["--config", &fixture(name), "--format", format], &[]);
            assert_eq!(r.code, Some(2), "{name} {format}: {}{}", r.stdout, r.stderr);
            assert!(r.stdout.is_empty(), "{}", r.stdout);
            assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
        }
    }
}

#[test]
fn warnings_and_infos_do_not_fail() {
    // Staging under --deploy: a warning (environment-not-production), exit 0.
    let r = run(
        &[
            "--deploy",
            "--config",
            &fixture("prod-ok.yaml"),
            "--format",
            "json",
        ],
        &[
            ("SECRET_KEY", SECRET_KEY),
            ("DATABASE_URL", DATABASE_URL),
            ("ENVIRONMENT", "staging"),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let v = json(&r);
    assert_eq!(finding_ids(&v), vec!["environment-not-production"]);
    assert_eq!(v["findings"][0]["severity"], "warning");
}

#[test]
fn development_passes_until_judged_for_deployment() {
    let r = run(&["--config", &fixture("dev.yaml")], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let r = run(
        &[
            "--deploy",
            "--config",
            &fixture("dev.yaml"),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    let ids = finding_ids(&json(&r));
    for id in [
        "debug-in-production",
        "environment-not-production",
        "secret-key-insecure-pattern",
        "domains-empty",
        "secret-key-inline",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }
}

#[test]
fn no_config_uses_development_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_in(dir.path(), &["--color", "never"], &[]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("development configuration from built-in defaults")
    );
}

// ---------------------------------------------------------------------------------------
// Every problem in one run, and the output formats

#[test]
fn config_problems_are_findings() {
    let r = run(
        &["--config", &fixture("problems.yaml"), "--format", "json"],
        &[],
    );
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    let ids = finding_ids(&json(&r));
    assert_eq!(
        ids,
        vec![
            "config-invalid",
            "config-unknown-key",
            "config-unset-variable",
            "secret-key-missing",
            "domains-invalid",
            "domains-empty",
        ]
    );
}

#[test]
fn text_output() {
    let r = run(
        &[
            "--deploy",
            "--config",
            &fixture("prod-bad.yaml"),
            "--color",
            "never",
        ],
        &[("DOCKER", "true")],
    );
    assert!(!r.stdout.contains('\x1b'));
    snapshot("prod_bad_text", &r.stdout);
}

#[test]
fn json_output() {
    let r = run(
        &[
            "--deploy",
            "--config",
            &fixture("prod-bad.yaml"),
            "--format",
            "json",
        ],
        &[("DOCKER", "true")],
    );
    let v = json(&r);
    assert_eq!(v["schema"], "hardened.check/v1");
    snapshot("prod_bad_json", &r.stdout);
}

#[test]
fn secrets_never_printed() {
    for format in ["text", "json", "sarif"] {
        for (name, secrets) in [
            ("prod-bad.yaml", &["4f9a17", "postgres\n"][..]),
            (
                "inline-secrets.yaml",
                &["sk_live_123456789", "c7Vt!pQ2rL9wZx4mN8"][..],
            ),
        ] {
            let r = run(
                &["--deploy", "--config", &fixture(name), "--format", format],
                &[("DOCKER", "true"), ("SECRET_KEY", SECRET_KEY)],
            );
            for secret in secrets {
                assert!(!r.stdout.contains(secret), "{name} {format}: {secret}");
            }
        }
    }
}

#[test]
fn sarif_output() {
    let r = run(
        &[
            "--deploy",
            "--config",
            &fixture("prod-bad.yaml"),
            "--format",
            "sarif",
        ],
        &[("DOCKER", "true")],
    );
    assert_eq!(r.code, Some(1));
    let v = json(&r);
    assert_eq!(v["version"], "2.1.0");
    // Valid SARIF 2.1.0 by the OASIS schema, not only by the fields read here.
    crate::audit::assert_valid_against(&v, &crate::audit::sarif_schema());
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "hardened");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    // Each rule is described by what it looks for, not by its pass message.
    let debug = &run["tool"]["driver"]["rules"][rules
        .iter()
        .position(|r| *r == "debug-in-production")
        .unwrap()];
    assert_eq!(
        debug["shortDescription"]["text"],
        "`debug: true` in a production deployment"
    );
    assert_eq!(
        debug["fullDescription"]["text"],
        "`debug: true` in a production deployment. Passes when debug is false."
    );
    let results = run["results"].as_array().unwrap();
    let j = json(&run_json_bad());
    assert_eq!(results.len(), j["findings"].as_array().unwrap().len());
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        let index = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index], id);
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap()));
        let uri = &res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        assert_eq!(uri, "tests/check-fixtures/prod-bad.yaml", "{res}");
    }
}

fn run_json_bad() -> Run {
    run(
        &[
            "--deploy",
            "--config",
            &fixture("prod-bad.yaml"),
            "--format",
            "json",
        ],
        &[("DOCKER", "true")],
    )
}

#[test]
fn color_choice() {
    let args = |c: &'static str| -> Vec<String> {
        vec![
            "--deploy".into(),
            "--config".into(),
            fixture("prod-bad.yaml"),
            "--color".into(),
            c.into(),
        ]
    };
    let has_color = |args: &[String], env: &[(&str, &str)]| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&a, env).stdout.contains("\x1b[")
    };
    assert!(has_color(&args("always"), &[]));
    assert!(has_color(&args("always"), &[("NO_COLOR", "1")]));
    assert!(!has_color(&args("never"), &[]));
    // stdout is a pipe here: auto means no colour.
    assert!(!has_color(&args("auto"), &[]));
}

// ---------------------------------------------------------------------------------------
// The shipped production example

#[test]
fn example_config_passes_with_zero_findings() {
    let example = example();
    let example = example.to_str().unwrap();
    let env = example_env();
    let r = run(&["--deploy", "--config", example, "--format", "json"], &env);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    assert_eq!(v["findings"], serde_json::json!([]), "{}", r.stdout);
    assert_eq!(v["summary"]["errors"], 0);
    assert_eq!(v["summary"]["manual"], 4);
    assert!(v["passed"].as_array().unwrap().len() >= 25);
}

#[test]
fn example_config_needs_its_environment() {
    let example = example();
    let r = run(
        &[
            "--deploy",
            "--config",
            example.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, Some(1));
    let ids = finding_ids(&json(&r));
    assert!(ids.iter().any(|i| i == "config-unset-variable"), "{ids:?}");
    assert!(ids.iter().any(|i| i == "secret-key-missing"), "{ids:?}");
}

// ---------------------------------------------------------------------------------------
// .env facts from git, in throw-away repositories

fn git_available() -> bool {
    Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

/// A temp dir holding the production example and a `.env` with its variables.
fn project(git_init: bool, gitignore: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(example(), dir.path().join("config.yaml")).unwrap();
    let dotenv: String = example_env()
        .iter()
        .map(|(k, v)| format!("{k}='{v}'\n"))
        .collect();
    std::fs::write(dir.path().join(".env"), dotenv).unwrap();
    if git_init {
        git(dir.path(), &["init", "-q"]);
    }
    if let Some(ignore) = gitignore {
        std::fs::write(dir.path().join(".gitignore"), ignore).unwrap();
    }
    dir
}

fn check_project(dir: &Path) -> (Option<i32>, Vec<String>) {
    let r = run_in(
        dir,
        &["--deploy", "--config", "config.yaml", "--format", "json"],
        &[],
    );
    let ids = finding_ids(&json(&r));
    (r.code, ids)
}

#[test]
fn dotenv_ignored_passes() {
    if !git_available() {
        return;
    }
    let dir = project(true, Some(".env\n"));
    assert_eq!(check_project(dir.path()), (Some(0), vec![]));
}

#[test]
fn dotenv_not_ignored_fails() {
    if !git_available() {
        return;
    }
    let dir = project(true, Some("target/\n"));
    assert_eq!(
        check_project(dir.path()),
        (Some(1), vec!["dotenv-not-ignored".to_owned()])
    );
}

#[test]
fn dotenv_tracked_fails() {
    if !git_available() {
        return;
    }
    let dir = project(true, Some(".env\n"));
    git(dir.path(), &["add", "-f", ".env"]);
    let (code, ids) = check_project(dir.path());
    assert_eq!(code, Some(1));
    assert!(ids.contains(&"dotenv-tracked".to_owned()), "{ids:?}");
}

#[test]
fn dotenv_outside_git_is_an_info() {
    let dir = project(false, None);
    let r = run_in(
        dir.path(),
        &["--deploy", "--config", "config.yaml", "--format", "json"],
        // Do not let git find a repository above the temp dir.
        &[(
            "GIT_CEILING_DIRECTORIES",
            dir.path().parent().unwrap().to_str().unwrap(),
        )],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let v = json(&r);
    assert_eq!(finding_ids(&v), vec!["dotenv-unverified"]);
    assert_eq!(v["findings"][0]["severity"], "info");
}

// ---------------------------------------------------------------------------------------
// Needs the loader to record where nested values (`database.url`, `app.*`) come from.

#[test]
fn inline_database_and_app_secrets() {
    let r = run(
        &[
            "--deploy",
            "--config",
            &fixture("inline-secrets.yaml"),
            "--format",
            "json",
        ],
        &[("SECRET_KEY", SECRET_KEY)],
    );
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    let ids = finding_ids(&json(&r));
    assert_eq!(ids, vec!["database-password-inline", "secret-inline"]);
    // The same settings through the environment pass.
    let example = example();
    let r = run(
        &[
            "--deploy",
            "--config",
            example.to_str().unwrap(),
            "--format",
            "json",
        ],
        &example_env(),
    );
    let passed = json(&r)["passed"].to_string();
    assert!(passed.contains("database-password-inline"), "{passed}");
    assert!(passed.contains("secret-inline"), "{passed}");
}

#[test]
fn inline_secrets_are_not_claimed_as_passed_when_unverifiable() {
    // Until the loader records nested sources, the two rules do not apply; they must
    // never be listed as passed without having been verified.
    let r = run(
        &[
            "--deploy",
            "--config",
            &fixture("inline-secrets.yaml"),
            "--format",
            "json",
        ],
        &[("SECRET_KEY", SECRET_KEY)],
    );
    let passed = json(&r)["passed"].to_string();
    for id in ["database-password-inline", "secret-inline"] {
        assert!(!passed.contains(id), "{id} in {passed}");
    }
}

// ---------------------------------------------------------------------------------------
// Locations

/// A finding about one `security_domains` entry points at that entry's line, not the
/// list's first item.
#[test]
fn findings_about_a_domain_point_at_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "environment: production\nsecurity_domains:\n  - example.com\n  - example.com\n  - http://staging.example.com:8080\n  - 192.168.1.10\n  - localhost\n",
    )
    .unwrap();
    let r = run_in(dir.path(), &["--format", "json"], &[]);
    let v = json(&r);
    let mut got: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("domains-"))
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["location"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    got.sort();
    let want = [
        ("domains-http", "config.yaml:5"),
        ("domains-http", "config.yaml:6"),
        ("domains-ip-literal", "config.yaml:6"),
        ("domains-localhost", "config.yaml:7"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(got, want, "{}", r.stdout);
}

/// `-q` prints the findings and the summary: no passed rules, no manual reminders.
#[test]
fn problems_only_prints_only_the_findings() {
    let args = |q: bool| {
        let mut a = vec![
            "--deploy",
            "--config",
            "tests/check-fixtures/prod-bad.yaml",
            "--color",
            "never",
        ];
        if q {
            a.push("-q");
        }
        run(&a, &[("DOCKER", "true")])
    };
    let full = args(false);
    let quiet = args(true);
    assert_eq!(full.code, quiet.code);
    assert!(full.stdout.contains("✓ "), "{}", full.stdout);
    assert!(!quiet.stdout.contains("✓ "), "{}", quiet.stdout);
    assert!(!quiet.stdout.contains("☐ "), "{}", quiet.stdout);
    let findings = |s: &str| {
        s.lines()
            .filter(|l| l.trim_start().starts_with(['✗', '!', 'i']))
            .count()
    };
    assert_eq!(findings(&full.stdout), findings(&quiet.stdout));
    assert!(findings(&quiet.stdout) > 0);
    assert_eq!(full.stdout.lines().last(), quiet.stdout.lines().last());
}
