//! End-to-end tests of `hardened init`, `hardened completions` and `hardened man`.
//!
//! Every run clears the environment (only `PATH` is kept) and sets `DOCKER=false`, so
//! the machine running the tests never leaks into the output. Each test works in its
//! own temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{Run, command, run};

/// The files `hardened init` may write.
const FILES: [&str; 4] = [
    "config.yaml",
    "config.production.yaml",
    ".env",
    ".gitignore",
];

/// `hardened <args>` in `dir`, with a clean environment, `DOCKER=false` and `vars`.
fn hardened(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut c = command(dir, args);
    c.envs(vars.iter().copied());
    run(c)
}

/// Runs a command that must succeed; returns stdout.
fn ok(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> String {
    let r = hardened(dir, args, vars);
    assert_eq!(
        r.code,
        Some(0),
        "hardened {args:?}\nstderr:\n{}\nstdout:\n{}",
        r.stderr,
        r.stdout
    );
    assert!(r.stderr.is_empty(), "stderr:\n{}", r.stderr);
    r.stdout
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The secret key `init` wrote into `.env`.
fn secret_in(dir: &Path) -> String {
    let env = read(dir.join(".env"));
    let line = env
        .lines()
        .find_map(|l| l.strip_prefix("SECRET_KEY="))
        .expect("SECRET_KEY in .env");
    line.trim_matches('\'').to_owned()
}

/// `check --format json` in `dir`, with its exit code.
fn check_json(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (i32, Value) {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    let r = hardened(dir, &all, vars);
    assert!(matches!(r.code, Some(0 | 1)), "stderr:\n{}", r.stderr);
    (
        r.code.unwrap_or(-1),
        serde_json::from_str(&r.stdout).unwrap(),
    )
}

fn finding_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}[{}]", f["severity"], f["id"]))
        .collect()
}

const PRODUCTION: &[(&str, &str)] = &[("ENVIRONMENT", "production")];

// ---------------------------------------------------------------------------------------
// init

#[test]
fn init_then_check_passes_in_development() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(d.path(), &["init"], &[]);
    for f in FILES {
        assert!(d.path().join(f).is_file(), "{f} missing:\n{out}");
    }
    let (code, report) = check_json(d.path(), &[], &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["environment"], "development");
    // The text format passes too, and so does the library's strict load (`show`).
    ok(d.path(), &["check", "--color", "never"], &[]);
    ok(d.path(), &["show", "--format", "json"], &[]);
}

#[test]
fn init_with_a_domain_passes_the_production_deploy_check() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init", "--domain", "example.com"], &[]);
    let (code, report) = check_json(d.path(), &["--deploy"], PRODUCTION);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["environment"], "production");
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");
    // Development still passes in the same directory.
    let (code, report) = check_json(d.path(), &[], &[]);
    assert_eq!((code, &report["environment"]), (0, &"development".into()));
}

#[test]
fn production_check_fails_until_the_domains_are_filled_in() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"], &[]);
    let (code, report) = check_json(d.path(), &["--deploy"], PRODUCTION);
    assert_eq!(code, 1);
    assert!(
        finding_ids(&report).contains(&r#""error"["domains-empty"]"#.to_owned()),
        "{report:#}"
    );

    let config = d.path().join("config.yaml");
    let filled = read(&config).replace("security_domains: []", "security_domains: [example.com]");
    std::fs::write(&config, filled).unwrap();
    let (code, report) = check_json(d.path(), &["--deploy"], PRODUCTION);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn the_config_file_alone_means_production() {
    // A deployment without .env and without ENVIRONMENT is production, never development.
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init", "-d", "example.com"], &[]);
    let key = secret_in(d.path());
    std::fs::remove_file(d.path().join(".env")).unwrap();
    let (code, report) = check_json(d.path(), &["--deploy"], &[("SECRET_KEY", &key)]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["environment"], "production");
    // A stray DEBUG=true does not turn it into development.
    let (_, report) = check_json(
        d.path(),
        &["--deploy"],
        &[("SECRET_KEY", &key), ("DEBUG", "true")],
    );
    assert_eq!(report["environment"], "production");
}

#[test]
fn init_with_dir_and_config_flag() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(
        d.path(),
        &[
            "init",
            "--dir",
            "svc/app",
            "-d",
            "example.com",
            "-d",
            "*.example.org",
        ],
        &[],
    );
    assert!(
        out.contains("hardened check --config svc/app/config.yaml"),
        "{out}"
    );
    let app = d.path().join("svc/app");
    for f in FILES {
        assert!(app.join(f).is_file(), "{f} missing");
    }
    assert!(read(app.join("config.yaml")).contains("  - '*.example.org'\n"));
    let config = ["--config", "svc/app/config.yaml"];
    let (code, report) = check_json(d.path(), &config, &[]);
    assert_eq!((code, &report["environment"]), (0, &"development".into()));
    let deploy = ["--deploy", "--config", "svc/app/config.yaml"];
    let (code, report) = check_json(d.path(), &deploy, PRODUCTION);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn init_twice_refuses_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"], &[]);
    let before: Vec<String> = FILES.iter().map(|f| read(d.path().join(f))).collect();
    let r = hardened(d.path(), &["init", "-d", "example.com"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.stdout);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("config.yaml already exists"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hardened check"), "{}", r.stderr);
    let after: Vec<String> = FILES.iter().map(|f| read(d.path().join(f))).collect();
    assert_eq!(before, after);
}

#[test]
fn a_bad_domain_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    for bad in ["https://user:hunter2@example.com", "*", "example.com/path"] {
        let r = hardened(d.path(), &["init", "-d", "example.com", "-d", bad], &[]);
        assert_eq!(r.code, Some(2), "{bad}: {}", r.stdout);
        assert!(r.stderr.contains("security_domains"), "{}", r.stderr);
        assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "{bad}");
    }
}

#[test]
fn gitignore_gets_dotenv_once_and_keeps_its_content() {
    let d = tempfile::tempdir().unwrap();
    let gitignore = d.path().join(".gitignore");
    // No newline at the end: the new line must not be glued to the last one.
    std::fs::write(&gitignore, "target/\n*.log").unwrap();
    let out = ok(d.path(), &["init"], &[]);
    assert!(out.contains("appended  .gitignore"), "{out}");
    assert_eq!(read(&gitignore), "target/\n*.log\n.env\n");

    // Already listed: left alone.
    let d = tempfile::tempdir().unwrap();
    let gitignore = d.path().join(".gitignore");
    std::fs::write(&gitignore, "/.env\ntarget/\n").unwrap();
    let out = ok(d.path(), &["init"], &[]);
    assert!(out.contains("skipped   .gitignore"), "{out}");
    assert_eq!(read(&gitignore), "/.env\ntarget/\n");
}

#[test]
fn dockerignore_gets_dotenv_only_when_it_exists() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"], &[]);
    assert!(!d.path().join(".dockerignore").exists());

    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(".dockerignore"), "target\n").unwrap();
    let out = ok(d.path(), &["init"], &[]);
    assert!(out.contains("appended  .dockerignore"), "{out}");
    assert_eq!(read(d.path().join(".dockerignore")), "target\n.env\n");
}

#[cfg(unix)]
#[test]
fn dotenv_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"], &[]);
    let mode = std::fs::metadata(d.path().join(".env"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_secret_key_is_fresh_and_never_printed() {
    let d = tempfile::tempdir().unwrap();
    let r = hardened(d.path(), &["init"], &[]);
    assert_eq!(r.code, Some(0));
    let key = secret_in(d.path());
    assert!(key.len() >= 50, "{} characters", key.len());
    assert!(!r.stdout.contains(&key) && !r.stderr.contains(&key));
    assert!(!read(d.path().join("config.yaml")).contains(&key));

    let other = tempfile::tempdir().unwrap();
    ok(other.path(), &["init"], &[]);
    assert_ne!(key, secret_in(other.path()));
}

#[test]
fn an_existing_dotenv_gets_only_what_it_lacks() {
    let d = tempfile::tempdir().unwrap();
    let env = d.path().join(".env");
    std::fs::write(
        &env,
        "# mine\nDATABASE_URL=postgres://localhost/app\nexport ENVIRONMENT=dev",
    )
    .unwrap();
    let out = ok(d.path(), &["init"], &[]);
    assert!(out.contains("appended  .env"), "{out}");
    assert!(out.contains("a new SECRET_KEY"), "{out}");
    let text = read(&env);
    assert!(
        text.starts_with(
            "# mine\nDATABASE_URL=postgres://localhost/app\nexport ENVIRONMENT=dev\nSECRET_KEY='"
        ),
        "{text}"
    );
    assert_eq!(text.matches("ENVIRONMENT=").count(), 1);
    ok(d.path(), &["check"], &[]);

    // Both defined: left alone.
    let d = tempfile::tempdir().unwrap();
    let env = d.path().join(".env");
    let mine = format!(
        "ENVIRONMENT=development\nSECRET_KEY={}\n",
        "abcdefghij".repeat(6)
    );
    std::fs::write(&env, &mine).unwrap();
    let out = ok(d.path(), &["init"], &[]);
    assert!(out.contains("skipped   .env"), "{out}");
    assert_eq!(read(&env), mine);
}

#[test]
fn an_existing_overlay_is_skipped() {
    let d = tempfile::tempdir().unwrap();
    let overlay = d.path().join("config.production.yaml");
    std::fs::write(&overlay, "ssl_redirect: true\n").unwrap();
    let out = ok(d.path(), &["init"], &[]);
    assert!(out.contains("skipped   config.production.yaml"), "{out}");
    assert_eq!(read(&overlay), "ssl_redirect: true\n");
}

#[test]
fn dotenv_is_ignored_by_git() {
    let d = tempfile::tempdir().unwrap();
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(d.path())
        .status();
    // git is a peer of this test (.ci/run installs it): without it the test fails.
    match git {
        Ok(s) => assert!(s.success(), "`git init` failed: {s}"),
        Err(e) => panic!("cannot run git (install it): {e}"),
    }
    ok(d.path(), &["init", "-d", "example.com"], &[]);
    let (code, report) = check_json(d.path(), &["--deploy"], PRODUCTION);
    assert_eq!(code, 0, "{report:#}");
    let ids = finding_ids(&report);
    assert!(ids.iter().all(|i| !i.contains("dotenv")), "{ids:?}");
    let passed = report["passed"].as_array().unwrap();
    assert!(passed.contains(&"dotenv-not-ignored".into()), "{report:#}");
}

#[test]
fn init_output() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(d.path(), &["init"], &[]);
    assert_named_snapshot!("init", "init_here", out);

    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("project");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join(".gitignore"), "target/\n").unwrap();
    let dir_str = dir.to_str().unwrap();
    let out = ok(
        d.path(),
        &["init", "--dir", dir_str, "--domain", "example.com"],
        &[],
    );
    assert_named_snapshot!(
        "init",
        "init_dir_with_domain",
        out.replace(dir_str, "[DIR]")
    );
}

#[test]
fn generated_files() {
    let d = tempfile::tempdir().unwrap();
    ok(
        d.path(),
        &["init", "-d", "example.com", "-d", "https://api.example.com"],
        &[],
    );
    assert_named_snapshot!("init", "config_yaml", read(d.path().join("config.yaml")));
    assert_named_snapshot!(
        "init",
        "config_production_yaml",
        read(d.path().join("config.production.yaml"))
    );
    let key = secret_in(d.path());
    assert_named_snapshot!(
        "init",
        "dotenv",
        read(d.path().join(".env")).replace(&key, "[KEY]")
    );
}

// ---------------------------------------------------------------------------------------
// completions, man

/// The subcommands `hardened --help` lists (without `help`).
fn subcommands() -> Vec<String> {
    let help = ok(Path::new("."), &["--help"], &[]);
    let names: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_owned)
        .collect();
    for expected in ["show", "check", "init", "completions", "man"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    names
}

#[test]
fn bash_completion_mentions_every_subcommand() {
    let script = ok(Path::new("."), &["completions", "bash"], &[]);
    assert!(script.contains("complete -F _hardened"), "{script}");
    for name in subcommands() {
        assert!(
            script.contains(&name),
            "{name} missing from the bash completion"
        );
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = ok(Path::new("."), &["completions", shell], &[]);
        assert!(script.contains("init"), "{shell}");
    }
    let r = hardened(Path::new("."), &["completions", "tcsh"], &[]);
    assert_eq!(r.code, Some(2));
}

#[test]
fn man_page_lists_every_subcommand() {
    // roff escapes `-` as `\-`.
    let page = ok(Path::new("."), &["man"], &[]).replace(r"\-", "-");
    assert!(page.contains(".TH hardened 1"), "{page}");
    for name in subcommands() {
        assert!(page.contains(&name), "{name} missing from the man page");
    }
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let d = tempfile::tempdir().unwrap();
    let out_dir: PathBuf = d.path().join("man/man1");
    let out = ok(d.path(), &["man", "--dir", "man/man1"], &[]);
    assert!(out.contains("man/man1"), "{out}");
    assert!(read(out_dir.join("hardened.1")).contains(".TH hardened 1"));
    for name in subcommands() {
        let page = read(out_dir.join(format!("hardened-{name}.1")));
        assert!(page.contains(".TH"), "{name}");
    }
}
