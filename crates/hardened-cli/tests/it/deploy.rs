//! The deployment files in `deploy/`: the YAML is lint-clean (yamllint), every
//! Kubernetes manifest validates offline against the Kubernetes schemas
//! (kubernetes-validate, strict: unknown fields are errors), the config every manifest
//! mounts is `deploy/config/config.yaml` and passes `hardened check --deploy`, and every
//! command line the Dockerfile, compose file and manifests give the binary parses.
//!
//! yamllint and kubernetes-validate come from the pinned venv of
//! `scripts/django-venv.sh` (`HARDENED_VENV`, default `.venv`). No Docker daemon is
//! needed: the Dockerfile is read, not built.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::{self, repo_root, venv, venv_python};

/// The venv's Python, which must exist.
fn python() -> PathBuf {
    let python = venv_python();
    assert!(
        python.exists(),
        "no venv at {}: run scripts/django-venv.sh (or point HARDENED_VENV at one)",
        venv().display()
    );
    python
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const MANIFESTS: [&str; 2] = [
    "deploy/kubernetes/gateway.yaml",
    "deploy/kubernetes/sidecar.yaml",
];

#[test]
fn yaml_is_lint_clean() {
    run(Command::new(python())
        .args([
            "-m",
            "yamllint",
            "--strict",
            "--config-file",
            "deploy/.yamllint",
            "deploy",
        ])
        .current_dir(repo_root()));
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let out = run(Command::new(python())
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .args(MANIFESTS)
        .current_dir(repo_root()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("ERROR"), "{text}");
}

/// What the deployment files give the binary: each mounted config text, and each
/// command line (args after the binary's name).
const EXTRACT: &str = r#"
import json, re, sys, yaml
configs, commands = [], []
for path in sys.argv[1:3]:
    for doc in yaml.safe_load_all(open(path)):
        if doc["kind"] == "ConfigMap":
            configs.append(doc["data"]["config.yaml"])
        if doc["kind"] == "Deployment":
            for c in doc["spec"]["template"]["spec"]["containers"]:
                if c["name"] == "gateway":
                    commands.append(c["args"])
compose = yaml.safe_load(open(sys.argv[3]))
commands.append(compose["services"]["gateway"]["command"])
docker = open(sys.argv[4]).read().replace("\\\n", " ")
for kind in ("CMD", "HEALTHCHECK"):
    m = re.search(r"^" + kind + r" .*?(\[.*\])\s*$", docker, re.M)
    commands.append(json.loads(m.group(1))[1:] if kind == "HEALTHCHECK" else json.loads(m.group(1)))
print(json.dumps({"configs": configs, "commands": commands}))
"#;

fn extract() -> serde_json::Value {
    let out = run(Command::new(python())
        .arg("-c")
        .arg(EXTRACT)
        .args(MANIFESTS)
        .args(["deploy/compose.yaml", "deploy/Dockerfile"])
        .current_dir(repo_root()));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_mounted_config_passes_check_deploy() {
    let found = extract();
    let file = std::fs::read_to_string(repo_root().join("deploy/config/config.yaml")).unwrap();
    let configs = found["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 2);
    for c in configs {
        assert_eq!(
            c.as_str().unwrap(),
            file,
            "a ConfigMap differs from deploy/config/config.yaml"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), &file).unwrap();
    // No SECRET_KEY: the gateway signs nothing, and the config says so (`role: gateway`).
    let out = common::command(
        dir.path(),
        &["check", "--deploy", "--config", "config.yaml"],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_command_line_parses() {
    let found = extract();
    let commands = found["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 5);
    let dir = tempfile::tempdir().unwrap();
    for c in commands {
        let mut args: Vec<&str> = c
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        // Parsed, not run: `--help` after every flag is reached only if they all parse.
        args.push("--help");
        let out = common::command(dir.path(), &args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The shipped config starts the gateway with no SECRET_KEY in its environment (no
/// Secret to create for a key the gateway never uses).
#[test]
fn the_mounted_config_serves_without_a_secret() {
    let file = std::fs::read_to_string(repo_root().join("deploy/config/config.yaml")).unwrap();
    let served = common::Served::start(Some(&file), &["--upstream", "http://127.0.0.1:9"]);
    assert!(
        served.banner.starts_with("hardened: listening on"),
        "{}",
        served.banner
    );
}
