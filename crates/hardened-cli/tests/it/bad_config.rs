//! Broken configurations: every file in `tests/bad-config/` must make `hardened show`
//! exit 2 with nothing on stdout and a message on stderr naming the offending key and
//! value, and `hardened serve` exit 2 without starting (no "listening" line).
//!
//! Each file's leading comment says what stderr must hold:
//!
//! - `# expect: TEXT` — a substring of stderr (the key, the value, the problem);
//! - `# absent: TEXT` — must appear nowhere (a secret the message must not repeat);
//! - `# known-bug: TEXT` — a reported bug: the file's failure names it and fails the test
//!   like any other; a known-bug file that passes fails too (remove the marker).
//!
//! Processes run with an empty environment (PATH only) in a temporary directory, so no
//! `./config.yaml`, `.env` or variable of the machine takes part.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Run, command};

const DEADLINE: Duration = Duration::from_secs(20);

struct Expectations {
    expect: Vec<String>,
    absent: Vec<String>,
    known_bug: Option<String>,
}

fn expectations(path: &Path) -> Expectations {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let mut e = Expectations {
        expect: Vec::new(),
        absent: Vec::new(),
        known_bug: None,
    };
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let line = line.trim_start_matches('#').trim();
        if let Some(v) = line.strip_prefix("expect:") {
            e.expect.push(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("absent:") {
            e.absent.push(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("known-bug:") {
            e.known_bug = Some(v.trim().to_owned());
        }
    }
    e
}

/// Runs `hardened ARGS --config CONFIG` with an empty environment, killing it after
/// [`DEADLINE`]: how it ended, and whether it was killed.
fn hardened(args: &[&str], config: &Path) -> (Run, bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path(), args);
    let mut child = cmd
        .arg("--config")
        .arg(config)
        .env_remove("DOCKER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes on threads so a chatty child never blocks.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > DEADLINE {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
    };
    (run, timed_out)
}

fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-config");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

fn check_file(path: &Path) -> Vec<String> {
    let e = expectations(path);
    let mut problems = Vec::new();
    let (show, show_timed_out) = hardened(&["show"], path);
    if show_timed_out {
        problems.push("show did not finish".to_owned());
    }
    if show.code != Some(2) {
        problems.push(format!("show exited {:?}, expected 2", show.code));
    }
    if !show.stdout.is_empty() {
        problems.push(format!("show printed on stdout: {:?}", show.stdout));
    }
    let name = path.file_name().unwrap().to_string_lossy();
    if !show.stderr.contains(name.as_ref()) {
        problems.push(format!("stderr does not name the file {name}"));
    }
    for want in &e.expect {
        if !show.stderr.contains(want.as_str()) {
            problems.push(format!("stderr lacks {want:?}"));
        }
    }
    for secret in &e.absent {
        if show.stderr.contains(secret.as_str()) || show.stdout.contains(secret.as_str()) {
            problems.push(format!("output repeats {secret:?}"));
        }
    }

    let (serve, serve_timed_out) = hardened(&["serve", "--listen", "127.0.0.1:0"], path);
    if serve_timed_out {
        problems.push("serve started and kept running".to_owned());
    }
    if serve.code != Some(2) {
        problems.push(format!("serve exited {:?}, expected 2", serve.code));
    }
    if serve.stdout.contains("listening") {
        problems.push(format!("serve started: {:?}", serve.stdout));
    }
    for secret in &e.absent {
        if serve.stderr.contains(secret.as_str()) {
            problems.push(format!("serve's output repeats {secret:?}"));
        }
    }
    if !problems.is_empty() {
        problems.push(format!("stderr of show:\n{}", show.stderr));
    }
    problems
}

#[test]
fn broken_configs_exit_2_naming_key_and_value() {
    let files = files();
    assert!(files.len() >= 30, "only {} bad configs", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let e = expectations(f);
        assert!(!e.expect.is_empty(), "{}: no `# expect:` line", f.display());
        let problems = check_file(f);
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        match (&e.known_bug, problems.is_empty()) {
            (None, true) => {}
            (Some(bug), true) => failures.push(format!(
                "{name}: known bug no longer shows ({bug}); remove the `# known-bug:` marker"
            )),
            (Some(bug), false) => failures.push(format!(
                "{name}: known bug ({bug}):\n  {}",
                problems.join("\n  ")
            )),
            (None, false) => failures.push(format!("{name}:\n  {}", problems.join("\n  "))),
        }
    }
    println!("{} bad configs: {} failed", files.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} bad config(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
