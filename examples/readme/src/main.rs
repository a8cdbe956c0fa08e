use axum::{Router, ServiceExt as _, response::IntoResponse, routing::get};
use hardened::Security;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every rejection is logged through `tracing` (reason and fix, at WARN): without a
    // subscriber nothing shows why a request got 400 or 403.
    tracing_subscriber::fmt::init();
    // ./config.yaml (or the built-in development defaults) + .env + the environment,
    // probed for Docker/Kubernetes. A bad config is an error here, never a panic later.
    let security = Security::load()?;
    let router = Router::new().route("/", get(|| async { "hello" }));
    // Around the whole router rather than `Router::layer`: axum adds `Allow` to the
    // responses of a route's method fallback, so a 403 for `POST /` would carry
    // `allow: GET,HEAD`.
    let app = tower::ServiceBuilder::new()
        .map_response(IntoResponse::into_response) // back to axum's response type
        .layer(security.layer())
        .service(router.into_service::<axum::body::Body>());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8003").await?;
    // The peer address lets the layer believe X-Forwarded-Proto from trusted proxies
    // only (enable the `axum` feature, or insert `hardened::PeerAddr` yourself).
    // `into_make_service_with_connect_info` is `axum::ServiceExt`'s, for any service.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}
