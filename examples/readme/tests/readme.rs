//! The README's axum example is this crate: `src/main.rs` is the README's `rust` block
//! and the `[dependencies]` of Cargo.toml are the README's `toml` block (plus the `path`
//! of `hardened` inside this repository). Building the crate compiles the README.

use std::path::Path;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The first fenced block of `lang` after the heading `heading`.
fn block(readme: &str, heading: &str, lang: &str) -> String {
    let section = readme
        .split_once(heading)
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let fence = format!("```{lang}\n");
    let start = section
        .find(&fence)
        .unwrap_or_else(|| panic!("no ```{lang} block under {heading:?}"))
        + fence.len();
    let len = section[start..].find("```").unwrap_or(0);
    section[start..start + len].to_owned()
}

const HEADING: &str = "## Use it in an axum app";

#[test]
fn main_rs_is_the_readmes_code() {
    let readme = read("../../README.md");
    assert_eq!(
        read("src/main.rs"),
        block(&readme, HEADING, "rust,no_run"),
        "examples/readme/src/main.rs and the README's axum example differ: copy one onto the other"
    );
}

#[test]
fn dependencies_are_the_readmes_block() {
    let readme = read("../../README.md");
    let manifest = read("Cargo.toml");
    let deps = manifest
        .split_once("[dependencies]\n")
        .map(|(_, rest)| rest.split("\n[").next().unwrap_or(rest))
        .unwrap_or_default()
        .replace("path = \"../../crates/hardened\", ", "");
    assert_eq!(
        format!("[dependencies]\n{}\n", deps.trim_end()),
        block(&readme, HEADING, "toml"),
        "the README's [dependencies] block and examples/readme/Cargo.toml differ"
    );
}
