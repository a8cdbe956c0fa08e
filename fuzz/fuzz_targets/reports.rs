//! The violation report parser and collector on arbitrary uploads. The first byte picks
//! the format (`application/csp-report`, `application/reports+json` or
//! `application/json`), the rest is the body. Invariants: no panic; an upload is either
//! refused with a reason or counted, report by report, under labels from the fixed sets
//! only; no kept text is longer than its bound.
#![no_main]

use std::time::Instant;

use hardened::reports::parse::{self, CSP_DIRECTIVES, FEATURES, ISOLATION_KINDS, MAX_FIELD, TYPES};
use hardened::reports::{Collector, Format, ReportsConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let format = match first % 3 {
        0 => Format::CspReport,
        1 => Format::Reports,
        _ => Format::Json,
    };
    let parsed = parse::parse(format, body);
    if let Ok(violations) = &parsed {
        for v in violations {
            assert!(v.blocked.len() <= MAX_FIELD && v.document.len() <= MAX_FIELD);
            assert!(!v.document.contains('?'));
        }
    }
    let c = Collector::new();
    let accepted = c.accept(&ReportsConfig::default(), format, body, Instant::now());
    assert_eq!(accepted.ok(), parsed.as_ref().ok().map(Vec::len));
    for ((kind, directive), _) in c.counts() {
        assert!(TYPES.contains(&kind));
        assert!(
            CSP_DIRECTIVES.contains(&directive)
                || ISOLATION_KINDS.contains(&directive)
                || FEATURES.contains(&directive)
                || directive == parse::OTHER
                || directive == parse::NO_DIRECTIVE
        );
    }
});
