//! Close matches for misspelt keys and values, and the fixes that name them.

use super::KNOWN_KEYS;

/// The fix for an unknown environment name.
pub(crate) const ENVIRONMENT_FIX: &str = "use development, test, staging or production (aliases: dev, devel, develop, local, testing, stage, prod)";

/// What Django-style settings that `security_domains` derives are called, for keys
/// such as `allowed_hosts`.
pub(super) fn derived_setting(key: &str) -> Option<&'static str> {
    match key.to_ascii_lowercase().as_str() {
        "allowed_hosts" | "hosts" => Some("allowed hosts"),
        "cors_allowed_origins" | "cors_origins" | "cors_origin_whitelist" => {
            Some("CORS allowed origins")
        }
        "csrf_trusted_origins" | "csrf_origins" => Some("CSRF trusted origins"),
        _ => None,
    }
}

/// The known top-level key closest to a misspelt one.
pub(super) fn closest_key(key: &str) -> Option<&'static str> {
    KNOWN_KEYS
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The Levenshtein distance of two strings, in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}
