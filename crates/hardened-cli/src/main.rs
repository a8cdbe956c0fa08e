//! The `hardened` command.
fn main() {}
