//! Runs the hyper server of [`example_hyper_server`].
#![allow(clippy::print_stdout, reason = "the example says where it listens")]

use hardened::Security;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Rejections are logged through `tracing`: without a subscriber they are invisible.
    tracing_subscriber::fmt::init();
    // ./config.yaml (or the built-in development defaults) + .env + the environment.
    // A bad config ends here with the readable report, never a panic later.
    let security = Security::load()?;
    let listener = tokio::net::TcpListener::bind(example_hyper_server::listen_addr()?).await?;
    println!(
        "example-hyper-server: listening on http://{} ({})",
        listener.local_addr()?,
        security.policy().environment
    );
    example_hyper_server::serve(listener, security).await?;
    Ok(())
}
