//! Turns `HARDENED_SKIP_DJANGO=1` into `#[ignore]` on the tests that need the Django
//! venv, so a skipped test shows as `ignored` (with the reason) in the test summary
//! instead of passing. Refused when `CI` is set: there the tests build as usual and fail
//! on the variable.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HARDENED_SKIP_DJANGO");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rustc-check-cfg=cfg(hardened_skip_django)");
    let skip = std::env::var("HARDENED_SKIP_DJANGO").is_ok_and(|v| v == "1");
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    if skip && !ci {
        println!("cargo:rustc-cfg=hardened_skip_django");
    }
}
