//! Host header parsing: arbitrary Host bytes through `Security::decide` on a GET, in each
//! fixture. The verdict must be exactly Django's `validate_host` over the fixture's
//! allowed hosts (plus internal networks in the container fixture).
#![no_main]

use hardened::{Decision, Security};
use hardened_fuzz::{Fixture, django_domain, host_allowed};
use http::{HeaderValue, Request, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, host)) = data.split_first() else {
        return;
    };
    let Ok(value) = HeaderValue::from_bytes(host) else {
        return;
    };
    let fixture = Fixture::from_byte(sel);
    let security: &Security = fixture.security();
    let path = if sel & 0x80 != 0 { "/healthz" } else { "/" };
    let (parts, ()) = Request::get(path)
        .header(header::HOST, value.clone())
        .body(())
        .unwrap()
        .into_parts();
    let decision = security.decide(&parts);
    assert_eq!(
        decision,
        security.decide(&parts),
        "decide is not deterministic"
    );
    if path == "/healthz" {
        // Health-check paths are exempt from the allow-list, not from the Host syntax
        // checks: only a Host Django would reject as malformed may be refused there.
        if let Some(r) = decision.rejection() {
            assert_ne!(r.code(), "host-not-allowed", "{decision:?}");
            assert!(
                value.to_str().ok().and_then(django_domain).is_none(),
                "a valid Host refused on a health-check path: {decision:?}"
            );
        }
        return;
    }
    let expected = value
        .to_str()
        .ok()
        .and_then(django_domain)
        .is_some_and(|d| host_allowed(fixture, &d));
    match (&decision, decision.rejection()) {
        (Decision::Pass(_), _) => assert!(
            expected,
            "{fixture:?}: accepted Host {value:?}, which is outside the policy"
        ),
        (_, Some(r)) => {
            assert!(
                !expected,
                "{fixture:?}: rejected allowed Host {value:?}: {r}"
            );
            assert_eq!(r.status(), 400);
        }
        other => panic!("{fixture:?}: unexpected decision on a GET: {other:?}"),
    }
});
