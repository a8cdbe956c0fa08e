//! Every example crate has a README saying what it shows, how to run it and on which
//! address, and the examples listen on distinct addresses, none of them `hardened
//! serve`'s `127.0.0.1:8000`, so they run side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::repo_root;

/// The `"127.0.0.1:PORT"` string literals of a crate's sources: its default address.
fn addresses(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for piece in text.split("\"127.0.0.1:").skip(1) {
                    let port: String = piece.chars().take_while(char::is_ascii_digit).collect();
                    if piece[port.len()..].starts_with('"') && !port.is_empty() {
                        out.push(format!("127.0.0.1:{port}"));
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn each_example_has_a_readme_and_a_port_of_its_own() {
    let examples = repo_root().join("examples");
    let crates: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    assert!(crates.len() >= 4, "{crates:?}");
    let index = std::fs::read_to_string(examples.join("README.md")).unwrap();
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    taken.insert("127.0.0.1:8000".into(), "hardened serve".into());
    for dir in crates {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let package = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap();
        let readme = std::fs::read_to_string(dir.join("README.md"))
            .unwrap_or_else(|e| panic!("examples/{name} has no README.md: {e}"));
        assert!(
            readme.contains(&format!("cargo run -p {package}")),
            "examples/{name}/README.md does not say how to run it"
        );
        let addrs = addresses(&dir);
        assert_eq!(
            addrs.len(),
            1,
            "examples/{name}: one default address, found {addrs:?}"
        );
        let addr = &addrs[0];
        assert!(
            readme.contains(addr.as_str()),
            "examples/{name}/README.md does not name {addr}"
        );
        assert!(
            index.contains(&format!("[`{name}`]")),
            "examples/README.md lacks {name}"
        );
        assert!(
            index.contains(addr.as_str()),
            "examples/README.md lacks {addr}"
        );
        if let Some(other) = taken.insert(addr.clone(), name.clone()) {
            panic!("examples/{name} and {other} both default to {addr}");
        }
    }
}
