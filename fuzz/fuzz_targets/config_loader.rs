//! The config loader on arbitrary YAML and environment values. `Loader` reads files
//! (the YAML parser is crate-private), so each input is written to `config.yaml` in a
//! temporary directory made once per process. The input is the YAML text, then
//! optionally a NUL byte and `NAME=value` lines for the process environment the loader
//! sees (so seeds are plain YAML files). Invariants: no panic; a config that
//! `load()` accepts compiles into a `Security` (what `show` accepts, `serve` runs).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hardened::Security;
use hardened::config::load::Loader;
use hardened::probe::RuntimeProbe;
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static (tempfile::TempDir, PathBuf) {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.yaml");
        (d, p)
    })
}

fuzz_target!(|data: &[u8]| {
    let (yaml, env) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (_, path) = dir();
    std::fs::write(path, yaml).unwrap();
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .take(8)
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let loader = Loader::new().file(path).env(env);
    match loader.load() {
        Ok(loaded) => {
            let security = Security::from_config(&loaded.config, &RuntimeProbe::none())
                .unwrap_or_else(|e| panic!("load() accepted a config Security rejects:\n{e}"));
            let _ = format!("{:?}", security.policy());
        }
        Err(e) => {
            assert!(!e.0.is_empty());
            let _ = e.to_string();
        }
    }
    if let Ok(l) = loader.load_lenient() {
        for p in &l.problems {
            let _ = p.to_string();
        }
    }
});
