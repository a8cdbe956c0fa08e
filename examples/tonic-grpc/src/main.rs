//! Runs the greeter of `example-tonic-grpc` behind `hardened`.
//!
//! ```text
//! cargo run -p example-tonic-grpc     # ./config.yaml, else development defaults
//! LISTEN=0.0.0.0:50051 cargo run -p example-tonic-grpc
//! ```
//!
//! Rejections are logged through `tracing` (`RUST_LOG=warn` by default).
#![allow(clippy::print_stdout, reason = "the example says where it listens")]

use std::process::ExitCode;

use hardened::Security;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt::init();
    // ./config.yaml (or the built-in development defaults) + .env + the environment.
    let security = match Security::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:50051".to_owned());
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    let local = listener.local_addr().map_or(listen, |a| a.to_string());
    println!(
        "example-tonic-grpc: gRPC on http://{local} ({})",
        security.policy().environment
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match example_tonic_grpc::serve(listener, &security, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}
