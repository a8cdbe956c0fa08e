//! Generates the `greeter` client and server from `proto/greeter.proto`: protox parses
//! the file in pure Rust (no `protoc` to install), tonic-prost-build writes the code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/greeter.proto");
    let descriptors = protox::compile(["greeter.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
