//! The Origin check of WebSocket handshakes (and of every other HTTP/1.1 `Upgrade` or
//! HTTP/2 extended `CONNECT`): cross-site WebSocket hijacking protection, as Django
//! Channels' `AllowedHostsOriginValidator` gives.
//!
//! A browser opens a WebSocket to any site a page names and sends the site's cookies
//! with the handshake; CORS does not apply and the handshake is a `GET`, so the CSRF
//! check does not either. The only defence is the handshake's `Origin`, which browsers
//! always send and page scripts cannot forge.

use http::Method;

use super::csrf::origin_is_request_origin;
use super::decision::{Rejection, RejectionKind, WEBSOCKET_FOREIGN_FIX};
use super::request::{RequestHead, RequestHost};

/// Whether the request asks to switch protocols: an `Upgrade` header (WebSocket, or any
/// other protocol), or an HTTP/2 extended `CONNECT` (RFC 8441 WebSockets).
pub(crate) fn is_handshake(head: &RequestHead<'_>) -> bool {
    head.parts().method == Method::CONNECT || head.upgrade().is_some()
}

/// Checks a handshake's Origin: the request's own origin, or an allowed CORS origin
/// (`cors_allowed` is the CORS check's verdict on it). A handshake without `Origin`
/// comes from a non-browser client, which holds no victim's cookies, and passes unless
/// `Sec-Fetch-Site` says the browser made it cross-site.
pub(crate) fn check(
    head: &RequestHead<'_>,
    host: Option<&RequestHost<'_>>,
    cors_allowed: impl FnOnce() -> bool,
) -> Result<(), Rejection> {
    if head.duplicate_origin() {
        return Err(Rejection::fixed(
            RejectionKind::WebsocketBadOrigin,
            "WebSocket handshake refused - multiple Origin headers.",
            "send one Origin header",
        ));
    }
    let Some(origin) = head.first_origin() else {
        if head
            .parts()
            .headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err(Rejection::fixed(
                RejectionKind::WebsocketCrossSite,
                "WebSocket handshake refused - cross-site request without Origin (Sec-Fetch-Site: cross-site).",
                WEBSOCKET_FOREIGN_FIX,
            ));
        }
        return Ok(());
    };
    if let Ok(value) = origin.to_str()
        && (origin_is_request_origin(value, head.secure(), host) || cors_allowed())
    {
        return Ok(());
    }
    Err(Rejection::websocket_origin(&String::from_utf8_lossy(
        origin.as_bytes(),
    )))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Expect, expect, from_peer, request, security};
    use crate::config::Config;

    const UPGRADE: (&str, &str) = ("upgrade", "websocket");
    const CONNECTION: (&str, &str) = ("connection", "Upgrade");

    #[test]
    fn handshake_origin_table() {
        let prod = security(Config::production([
            "example.com",
            "https://app.example.com",
        ]));
        let host = ("host", "example.com");
        let proto = ("x-forwarded-proto", "https");
        // (headers besides Host/Upgrade/Connection, expected)
        let cases: &[(&[(&str, &str)], Expect)] = &[
            // The site's own page (secure behind a trusted proxy; a domain is also a
            // CORS origin).
            (
                &[proto, ("origin", "https://example.com")],
                Expect::PassCors("https://example.com"),
            ),
            // An allowed frontend: CORS echoes it.
            (
                &[proto, ("origin", "https://app.example.com")],
                Expect::PassCors("https://app.example.com"),
            ),
            // Foreign pages.
            (
                &[proto, ("origin", "https://evil.test")],
                Expect::Reject("websocket-bad-origin"),
            ),
            (
                &[proto, ("origin", "null")],
                Expect::Reject("websocket-bad-origin"),
            ),
            // The own origin on the wrong scheme is another origin.
            (
                &[proto, ("origin", "http://example.com")],
                Expect::Reject("websocket-bad-origin"),
            ),
            (
                &[
                    proto,
                    ("origin", "https://example.com"),
                    ("origin", "https://evil.test"),
                ],
                Expect::Reject("websocket-bad-origin"),
            ),
            // Non-browser clients send no Origin.
            (&[proto], Expect::Pass),
            (
                &[proto, ("sec-fetch-site", "cross-site")],
                Expect::Reject("websocket-cross-site"),
            ),
        ];
        for (extra, expected) in cases {
            let mut headers = vec![host, UPGRADE, CONNECTION];
            headers.extend_from_slice(extra);
            let parts = from_peer(request("GET", "/ws", &headers), "127.0.0.1");
            expect(&prod, &parts, *expected);
        }
    }

    #[test]
    fn any_upgrade_and_extended_connect_are_handshakes() {
        let prod = security(Config::production(["example.com"]));
        let evil = ("origin", "https://evil.test");
        let host = ("host", "example.com");
        for headers in [
            &[host, ("upgrade", "h2c"), evil][..],
            &[host, ("upgrade", "WebSocket"), evil][..],
            &[host, ("upgrade", "websocket"), CONNECTION, evil][..],
        ] {
            expect(
                &prod,
                &request("GET", "/", headers),
                Expect::Reject("websocket-bad-origin"),
            );
        }
        // RFC 8441: an HTTP/2 WebSocket is a CONNECT with `:protocol`.
        expect(
            &prod,
            &request("CONNECT", "https://example.com/ws", &[host, evil]),
            Expect::Reject("websocket-bad-origin"),
        );
        // The request's own origin passes though CORS does not list it (a port).
        expect(
            &prod,
            &from_peer(
                request(
                    "GET",
                    "/ws",
                    &[
                        ("host", "example.com:8443"),
                        UPGRADE,
                        CONNECTION,
                        ("x-forwarded-proto", "https"),
                        ("origin", "https://example.com:8443"),
                    ],
                ),
                "127.0.0.1",
            ),
            Expect::Pass,
        );
        // An ordinary cross-origin GET is CORS's business, not a handshake.
        expect(&prod, &request("GET", "/", &[host, evil]), Expect::Pass);
    }

    #[test]
    fn development_loopback_pages_may_open_websockets() {
        let dev = security(Ok(Config::development()));
        let parts = request(
            "GET",
            "/ws",
            &[
                ("host", "127.0.0.1:8000"),
                UPGRADE,
                CONNECTION,
                ("origin", "http://localhost:5173"),
            ],
        );
        expect(&dev, &parts, Expect::PassCors("http://localhost:5173"));
        let parts = request(
            "GET",
            "/ws",
            &[
                ("host", "127.0.0.1:8000"),
                UPGRADE,
                CONNECTION,
                ("origin", "http://evil.test:5173"),
            ],
        );
        expect(&dev, &parts, Expect::Reject("websocket-bad-origin"));
    }
}
