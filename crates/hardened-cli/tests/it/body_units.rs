//! `--client-max-body-size` reads the units people write: `10m`, `10M`, `10MiB` (binary)
//! and `10MB` (decimal), as nginx and Caddy read them.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::common::{Served, text, upstream};

/// The status of a POST of `len` bytes.
async fn post(url: String, len: usize) -> StatusCode {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::post(url)
        .body(Full::new(Bytes::from(vec![b'x'; len])))
        .unwrap();
    let resp = tokio::time::timeout(std::time::Duration::from_secs(20), client.request(req))
        .await
        .unwrap()
        .unwrap();
    resp.status()
}

/// `1kB` is 1000 bytes, `1KiB` and `1k` are 1024: the limit the gateway enforces, at
/// the byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_size_units_decimal_and_binary() {
    let up = upstream(|_req| async { Ok::<_, std::convert::Infallible>(text("ok")) }).await;
    let upstream_url = format!("http://{}", up.addr);
    for (value, limit) in [("1kB", 1000), ("1KiB", 1024), ("1k", 1024), ("1 KB", 1000)] {
        let srv = Served::start(
            None,
            &["--upstream", &upstream_url, "--client-max-body-size", value],
        );
        assert_eq!(post(srv.url("/a"), limit).await, StatusCode::OK, "{value}");
        assert_eq!(
            post(srv.url("/a"), limit + 1).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{value}"
        );
    }
}

/// A unit that is not one of them is a usage error naming the units.
#[test]
fn body_size_unknown_unit_refused() {
    let dir = crate::common::workdir(None);
    let run = crate::common::run(crate::common::command(
        dir.path(),
        &[
            "serve",
            "--upstream",
            "http://127.0.0.1:9",
            "--client-max-body-size",
            "10TB",
        ],
    ));
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("MiB") && run.stderr.contains("10MB"),
        "{}",
        run.stderr
    );
}
