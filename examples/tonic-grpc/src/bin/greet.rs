//! A client of the greeter, with the generated `GreeterClient`.
//!
//! ```text
//! cargo run -p example-tonic-grpc --bin greet -- ada
//! SERVER=http://127.0.0.1:50051 cargo run -p example-tonic-grpc --bin greet -- ada
//! ```
#![allow(clippy::print_stdout, reason = "the client prints the reply")]

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::var("SERVER").unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "world".to_owned());
    let channel = tonic::transport::Endpoint::from_shared(server)?
        .connect()
        .await?;
    println!("{}", example_tonic_grpc::say_hello(channel, &name).await?);
    Ok(())
}
