//! Password and key strength: the shipped common-password list and simple measures.

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The shipped list: lowercase, one per line, `#` comments.
const LIST: &str = include_str!("common-passwords.txt");

/// Minimum database password length.
pub(super) const MIN_PASSWORD_LEN: usize = 12;

/// Minimum number of distinct characters in a key or password.
pub(super) const MIN_DISTINCT: usize = 5;

fn list() -> &'static BTreeSet<&'static str> {
    static SET: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        LIST.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// How many entries the shipped list has.
#[cfg(test)]
pub(super) fn list_len() -> usize {
    list().len()
}

/// The number of distinct characters.
pub(super) fn distinct_chars(s: &str) -> usize {
    s.chars().collect::<BTreeSet<char>>().len()
}

/// Undoes common character substitutions (`p@ssw0rd` → `password`).
fn unleet(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '$' | '5' => 's',
            '7' => 't',
            c => c,
        })
        .collect()
}

/// Whether the password is on the common list, as written, with digits or symbols
/// around it (`Password123!`), or with common substitutions (`P@ssw0rd`).
pub(super) fn is_common(pw: &str) -> bool {
    let set = list();
    let lower = pw.trim().to_lowercase();
    if set.contains(lower.as_str()) {
        return true;
    }
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    if core.chars().count() >= 4 && set.contains(core) {
        return true;
    }
    let un = unleet(&lower);
    if set.contains(un.as_str()) {
        return true;
    }
    let un_core =
        unleet(lower.trim_end_matches(|c: char| c.is_ascii_digit() || "!?.#*_-".contains(c)));
    un_core.chars().count() >= 4 && set.contains(un_core.as_str())
}

/// Why a database password is weak, or `None`. `user` and `name` are the configured
/// database user and database name (a password containing them is weak).
pub(super) fn weakness(pw: &str, user: Option<&str>, name: Option<&str>) -> Option<String> {
    let len = pw.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Some(format!(
            "it is {len} characters long; at least {MIN_PASSWORD_LEN} are needed"
        ));
    }
    let distinct = distinct_chars(pw);
    if distinct < MIN_DISTINCT {
        return Some(format!(
            "it uses only {distinct} distinct characters; at least {MIN_DISTINCT} are needed"
        ));
    }
    if pw.chars().all(|c| c.is_ascii_digit()) {
        return Some("it is only digits".into());
    }
    if is_common(pw) {
        return Some("it is a well-known common password".into());
    }
    let lower = pw.to_lowercase();
    for (what, v) in [("user name", user), ("database name", name)] {
        if let Some(v) = v.map(str::to_lowercase)
            && v.chars().count() >= 3
            && lower.contains(&v)
        {
            return Some(format!("it contains the {what}"));
        }
    }
    None
}
