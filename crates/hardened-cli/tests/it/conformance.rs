//! Conformance against real Django: runs `conformance/run.py`, which sends a seeded
//! corpus of requests through `hardened explain --batch` and through a real Django 5.2 +
//! django-cors-headers stack configured by `hardened show --format django`, and fails on
//! any difference that no named, documented exclusion explains (see
//! `conformance/README.md` and `docs/conformance-divergences.md`).
//!
//! Needs the pinned venv of `scripts/django-venv.sh` at `$HARDENED_VENV` or
//! `<repo>/.venv`. `HARDENED_SKIP_DJANGO=1` at build time marks the test ignored (the
//! summary says so, with the reason); it is refused when `CI` is set.

use std::process::Command;

use crate::common::{refuse_django_skip_in_ci, repo_root, venv, venv_python};

/// The corpus must stay at least this large.
const MIN_COMPARED: u64 = 300;

/// `KEY=N` from the harness's last line.
fn total(stdout: &str, key: &str) -> Option<u64> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("conformance: "))?;
    let field = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))?;
    field.parse().ok()
}

#[test]
#[cfg_attr(
    hardened_skip_django,
    ignore = "SKIPPED: HARDENED_SKIP_DJANGO=1 (real Django not run)"
)]
fn django_conformance() {
    refuse_django_skip_in_ci();
    let repo = repo_root();
    let (venv, python) = (venv(), venv_python());
    assert!(
        python.exists(),
        "no Django venv at {}: run scripts/django-venv.sh (or point HARDENED_VENV at one)",
        venv.display()
    );
    let mut cmd = Command::new(&python);
    cmd.arg(repo.join("conformance").join("run.py"))
        .arg("--hardened")
        .arg(env!("CARGO_BIN_EXE_hardened"))
        .current_dir(&repo)
        // Nothing from the developer's environment may change the configs
        // (SECURITY_DOMAINS, DEBUG, ...), and this machine's container probe must not
        // leak in: DOCKER=false.
        .env_clear()
        .env("DOCKER", "false");
    for key in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "conformance/run.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let get = |key: &str| {
        total(&stdout, key)
            .unwrap_or_else(|| panic!("no `{key}=N` on the `conformance:` line of:\n{stdout}"))
    };
    let n = get("compared");
    assert!(
        n >= MIN_COMPARED,
        "only {n} requests compared, expected at least {MIN_COMPARED}"
    );
    // Every config of conformance/configs ran, and had its derived settings checked
    // against the guide's literal values and its verdict mix against the floors.
    let configs = std::fs::read_dir(repo.join("conformance").join("configs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count() as u64;
    assert!(configs >= 5, "only {configs} conformance configs");
    for key in ["configs", "settings_checked", "floors_checked"] {
        assert_eq!(get(key), configs, "{key}:\n{stdout}");
    }
}
