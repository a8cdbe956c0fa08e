//! The integration tests of the `hardened` binary, one test binary (one link) for all,
//! with what they share in `common`:
//!
//! - `cli`: `show`, `env`, `secret-key`, `explain`, the Django settings and messages;
//! - `check`, `init`, `bad_config`: the checklist, project setup and broken configs;
//! - `serve`, `serve_tls`, `ops`, `hostile`, `hardening`: `hardened serve` over loopback (demo app,
//!   gateway, direct TLS, admin listener and reload, hostile requests);
//! - `body_units`: the units of `--client-max-body-size`;
//! - `routes`: `routes:` in `show`, `explain` and `check`;
//! - `reports`: `hardened reports` over the log of a gateway that received reports;
//! - `config_doc`: docs/config.md lists exactly the keys, variables and flags;
//! - `deploy`: the deployment files;
//! - `django_upstream`: the gateway in front of Django with CSRF left to Django;
//! - `examples_doc`: every example has a README and a default address of its own;
//! - `fix_yaml`: the YAML of fix texts loads as written; causes before consequences;
//! - `conformance`: against real Django (`HARDENED_SKIP_DJANGO=1` marks it ignored, refused in CI);
//! - `soak`: a bounded soak, ignored unless asked for (`scripts/soak.sh`);
//! - `audit_observatory`: the real MDN HTTP Observatory (`scripts/observatory.sh`) on
//!   127.0.0.1:80/443, and the grade of the recommended configuration;
//! - `audit`: `hardened audit` against a corpus of loopback sites, graded by the real
//!   Observatory as well.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[macro_use]
mod common;

mod audit;
mod audit_observatory;
mod bad_config;
mod body_units;
mod check;
mod cli;
mod config_doc;
mod conformance;
mod deploy;
mod django_upstream;
mod examples_doc;
mod fix_yaml;
mod hardening;
mod hostile;
mod init;
mod ops;
mod reports;
mod routes;
mod serve;
mod serve_claims;
mod serve_tls;
mod soak;
