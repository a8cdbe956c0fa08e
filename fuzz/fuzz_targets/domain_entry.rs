//! The `security_domains` entry parser: never panics; a parsed entry displays in a
//! normalized form that parses back to the same entry (normalization is idempotent);
//! an origin entry's display is also a valid `Origin` header naming the same origin.
#![no_main]

use hardened::domain::{DomainEntry, Origin, parse_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let Ok(entry) = parse_entry(data) else {
        return;
    };
    let shown = entry.to_string();
    assert!(shown.is_ascii(), "{data:?} displays as non-ASCII {shown:?}");
    assert_eq!(shown, shown.to_ascii_lowercase(), "{data:?}: not lowercase");
    let again = parse_entry(&shown)
        .unwrap_or_else(|e| panic!("{data:?} -> {shown:?} no longer parses: {e}"));
    assert_eq!(
        again, entry,
        "{data:?} -> {shown:?} parses to another entry"
    );
    assert_eq!(again.to_string(), shown);
    if let DomainEntry::Origin(o) = &entry {
        assert_eq!(
            Origin::parse_header(&shown).as_ref(),
            Some(o),
            "{data:?}: the origin {shown:?} is not read back by Origin::parse_header"
        );
        assert_eq!(
            o.port.map(|p| p == o.scheme.default_port()),
            o.port.map(|_| false)
        );
    }
});
