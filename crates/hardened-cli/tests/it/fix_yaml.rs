//! Every fix text that shows YAML (a backticked `key: value`) is YAML a user can paste:
//! each snippet of every finding `check --deploy` reports for the broken and example
//! configs of the test suite, placed in a valid production config (at the top level or
//! in the one section that knows its key), loads without a problem. And when one mistake
//! causes another, the cause is listed first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::{command, run, workdir};

/// A strong key and database credentials for `${...}` in snippets.
const ENV: [(&str, &str); 3] = [
    (
        "SECRET_KEY",
        "q7Vx2mPz9Lk4Rt8Wc1Hn6Bj3Fd5Gs0Ya2Ue7Io4Pl9Kj8Hg6Fd3Sa1Zx5Cv",
    ),
    ("DB_PASSWORD", "Tz8#Lq2!Vm5@Rk9$Wn3%Hp6^Bc4&Jd7*"),
    (
        "DATABASE_URL",
        "postgres://app:Tz8Lq2Vm5Rk9Wn3Hp6Bc4Jd7@db.internal:5432/app",
    ),
];

/// The sections a nested snippet may belong to, outermost first.
const SECTIONS: [&str; 8] = [
    "app",
    "gateway",
    "gateway.tls",
    "headers",
    "hsts",
    "database",
    "cookies",
    "report_only",
];

/// Broken and odd configs whose findings carry fix texts, beside the fixture files.
const EXTRA: [&str; 7] = [
    "environment: production\nsecurity_domains: https://app.myapp.test/path\n",
    "environment: production\nsecurity_domains: [example.com]\ncsrf_exempt_paths: ['/*']\n",
    "environment: production\nsecurity_domains: [example.com]\nhealth_check_paths: ['/*']\n",
    "environment: production\nsecurity_domains: [example.com]\ncors_allowed_origin_regexes: ['.*']\n",
    "environment: production\nsecurity_domain: [example.com]\n",
    "environment: production\nsecurity_domains: [example.com]\nsecret_key: changeme\n",
    "environment: production\nsecurity_domains: [example.com]\ngateway:\n  listen: 8000\n",
];

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files: Vec<PathBuf> = ["bad-config", "check-fixtures", "fixtures"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .chain(EXTRA.iter().map(|s| (*s).to_owned()))
        .collect()
}

/// The fix texts of `check --deploy` on `config`.
fn fixes(config: &str) -> Vec<String> {
    let dir = workdir(Some(config));
    let r = run(command(
        dir.path(),
        &["check", "--deploy", "--format", "json"],
    ));
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&r.stdout) else {
        return Vec::new(); // an unreadable file: exit 2, no findings
    };
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fix"].as_str().unwrap().to_owned())
        .collect()
}

/// The backticked `key: value` snippets of a fix text.
fn snippets(fix: &str) -> Vec<String> {
    fix.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            let key = s.split(':').next().unwrap_or("");
            !key.is_empty()
                && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && s.get(key.len()..).is_some_and(|r| r.starts_with(": "))
        })
        .map(str::to_owned)
        .collect()
}

/// Whether `config` loads cleanly (strictly, as `show` loads it). Every `${VAR}` it
/// uses is set (to a strong value); example paths of files that do not exist here
/// (`/etc/tls/tls.crt`) are the only problems forgiven.
fn loads(config: &str) -> Result<(), String> {
    let dir = workdir(Some(config));
    let mut c = command(dir.path(), &["show", "--format", "json"]);
    c.envs(ENV);
    for var in config
        .split("${")
        .skip(1)
        .filter_map(|r| r.split(['}', ':']).next())
    {
        if !ENV.iter().any(|(k, _)| *k == var) {
            c.env(var, ENV[0].1);
        }
    }
    let r = run(c);
    let only_missing_files = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error"))
        .all(|l| l.contains("cannot read"));
    if r.code == Some(0) || only_missing_files {
        Ok(())
    } else {
        Err(r.stderr)
    }
}

/// `snippet` nested under `section` (`gateway.tls`: two levels).
fn nest(section: &str, snippet: &str) -> String {
    let mut out = String::new();
    let mut indent = String::new();
    for part in section.split('.') {
        out.push_str(&format!("{indent}{part}:\n"));
        indent.push_str("  ");
    }
    out.push_str(&format!("{indent}{snippet}\n"));
    out
}

/// Places the snippet in a valid production config: at the top level, else in the
/// section that accepts it. The error of the top-level attempt when none does.
fn validate(snippet: &str) -> Result<(), String> {
    let key = snippet.split(':').next().unwrap_or("");
    let mut base = String::from("docker: false\n");
    if key != "environment" {
        base.push_str("environment: production\n");
    }
    if key != "security_domains" {
        base.push_str("security_domains: [example.com]\n");
    }
    if key != "environment" && key != "debug" {
        base.push_str("debug: false\n");
    }
    let top = loads(&format!("{base}{snippet}\n"));
    if top.is_ok() {
        return top;
    }
    for section in SECTIONS {
        if loads(&format!("{base}{}", nest(section, snippet))).is_ok() {
            return Ok(());
        }
    }
    top
}

#[test]
fn yaml_in_fix_texts_loads_as_written() {
    let all: BTreeSet<String> = corpus()
        .iter()
        .flat_map(|c| fixes(c))
        .flat_map(|f| snippets(&f))
        .collect();
    assert!(all.len() >= 10, "too few snippets found: {all:?}");
    let bad: Vec<String> = all
        .iter()
        .filter_map(|s| validate(s).err().map(|e| format!("`{s}`:\n{e}")))
        .collect();
    assert!(
        bad.is_empty(),
        "fix texts whose YAML does not load:\n{}",
        bad.join("\n")
    );
}

/// A misspelt `security_domains` leaves production without domains: the misspelling is
/// reported first, the missing domains after it.
#[test]
fn the_cause_comes_before_its_consequence() {
    let dir = workdir(Some(
        "environment: production\nsecret_key: ${SECRET_KEY}\nsecurity_domain: [example.com]\n",
    ));
    let mut c = command(dir.path(), &["show"]);
    c.envs(ENV);
    let r = run(c);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let typo = r
        .stderr
        .find("security_domain`")
        .or_else(|| r.stderr.find("security_domain "));
    let none = r.stderr.find("security domain");
    assert!(typo.is_some() && none.is_some(), "{}", r.stderr);
    assert!(typo < none, "the typo must come first:\n{}", r.stderr);
}
