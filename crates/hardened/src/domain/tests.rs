#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn accepted_formats() {
    let table: &[(&str, &str)] = &[
        ("example.com", "https://example.com"),
        ("https://api.example.com", "https://api.example.com"),
        (
            "http://staging.example.com:8080",
            "http://staging.example.com:8080",
        ),
        ("192.168.1.10", "http://192.168.1.10"),
        ("http://staging.com:8080", "http://staging.com:8080"),
        (
            "staging-api.example.com:8443",
            "https://staging-api.example.com:8443",
        ),
        ("EXAMPLE.com.", "https://example.com"),
        ("HTTPS://Example.Com:443", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("https://example.com:80", "https://example.com:80"),
        ("https://example.com/", "https://example.com"),
        ("[::1]", "http://[::1]"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("::1", "http://[::1]"),
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
        ("10.0.0.1:8000", "http://10.0.0.1:8000"),
        ("https://10.0.0.1", "https://10.0.0.1"),
        ("bücher.example", "https://xn--bcher-kva.example"),
        ("localhost:3000", "http://localhost:3000"),
        ("localhost", "http://localhost"),
        ("https://localhost", "https://localhost"),
        ("  example.com  ", "https://example.com"),
        ("*.example.com", "https://*.example.com"),
        (".example.com", "https://*.example.com"),
        ("http://*.example.com:8080", "http://*.example.com:8080"),
        ("*", "*"),
    ];
    for (input, want) in table {
        let got = parse_entry(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got.to_string(), *want, "input {input:?}");
    }
}

#[test]
fn rejected_formats() {
    let table: &[&str] = &[
        "",
        "   ",
        "ftp://example.com",
        "mailto:admin@example.com",
        "javascript:alert(1)",
        "https://example.com/api",
        "example.com/api",
        "https://example.com?x=1",
        "https://example.com#top",
        "https://user:pw@example.com",
        "user@example.com",
        "example.com:0",
        "example.com:65536",
        "example.com:http",
        "example.com:",
        "exa mple.com",
        "example..com",
        "-example.com",
        "example-.com",
        "ex_ample.com",
        "1.2.3.256",
        "1.2.3",
        "[::1",
        "[zz::1]",
        "foo.*.example.com",
        "*example.com",
        "https://",
        "*.10.0.0.1",
        "example.123",
        "a\u{0}b.com",
        ".com",
        "*.com",
        "https://*.org",
    ];
    for input in table {
        assert!(parse_entry(input).is_err(), "accepted {input:?}");
    }
}

#[test]
fn subdomain_patterns_need_a_registered_domain() {
    // (entry, the public suffix it was refused for; None = accepted)
    let table: &[(&str, Option<&str>)] = &[
        ("*.github.io", Some("github.io")),
        (".co.uk", Some("co.uk")),
        ("*.herokuapp.com", Some("herokuapp.com")),
        (".s3.amazonaws.com", Some("s3.amazonaws.com")),
        ("*.com.au", Some("com.au")),
        ("https://*.blogspot.com", Some("blogspot.com")),
        ("http://*.pages.dev:8080", Some("pages.dev")),
        // A registered domain under a public suffix is a pattern's parent.
        ("*.myapp.github.io", None),
        (".example.co.uk", None),
        ("*.example.com.au", None),
        // Unlisted top-level domains follow the default rule.
        (".corp.internal", None),
        (".localhost", None),
        // Exact hosts are not patterns: a site of one's own on a shared suffix.
        ("myapp.github.io", None),
        ("github.io", None),
    ];
    for (entry, refused) in table {
        match (parse_entry(entry), refused) {
            (Err(DomainError::PublicSuffix(s)), Some(want)) => assert_eq!(s, *want, "{entry}"),
            (Ok(_), None) => {}
            (got, _) => panic!("{entry}: {got:?}"),
        }
    }
    let e = DomainError::PublicSuffix("github.io".into());
    assert!(e.hint().contains("exact hosts you own"));
}

#[test]
fn header_origin_parsing() {
    assert_eq!(
        Origin::parse_header("HTTPS://Example.COM:443")
            .unwrap()
            .to_string(),
        "https://example.com"
    );
    assert!(Origin::parse_header("null").is_none());
    assert!(Origin::parse_header("https://a.com/").is_none());
    assert!(Origin::parse_header("https://u@a.com").is_none());
    assert!(Origin::parse_header("ftp://a.com").is_none());
}
