//! `hardened secret-key`: a new secret key from the OS CSPRNG.
//!
//! Characters are drawn from Django's `get_random_secret_key` alphabet (minus `$` and
//! `#`, which `.env` files interpret) with rejection
//! sampling (no modulo bias), and the key always passes Django's own check
//! (`security.W009`): at least 50 characters, at least 5 distinct ones, and no
//! `django-insecure-` prefix.

use std::io::Write;
use std::process::ExitCode;

use crate::common::CliError;

/// Django's secret key alphabet (`django.core.management.utils.get_random_secret_key`)
/// without `$` and `#`: in a `.env` file `$` starts a variable substitution (even inside
/// double quotes) and `#` a comment, which would silently shorten the key.
pub(crate) const ALPHABET: &[u8; 48] = b"abcdefghijklmnopqrstuvwxyz0123456789!@%^&*(-_=+)";

/// The shortest key Django accepts.
pub(crate) const MIN_LENGTH: usize = 50;

/// The longest key we generate (a sanity bound, not a security one).
pub(crate) const MAX_LENGTH: usize = 4096;

/// Arguments of `hardened secret-key`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Number of characters (50 to 4096).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 64)]
    length: usize,
}

/// Runs `hardened secret-key`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    if args.length < MIN_LENGTH {
        return Err(CliError::Message(format!(
            "--length {} is too short: a secret key needs at least {MIN_LENGTH} characters \
             (Django's minimum); use --length {MIN_LENGTH} or more",
            args.length
        )));
    }
    if args.length > MAX_LENGTH {
        return Err(CliError::Message(format!(
            "--length {} is too long: use at most {MAX_LENGTH} characters",
            args.length
        )));
    }
    let key = generate(args.length)?;
    writeln!(out, "{key}")?;
    Ok(ExitCode::SUCCESS)
}

/// A key of `len` characters that passes Django's secret key check.
pub(crate) fn generate(len: usize) -> Result<String, CliError> {
    // A uniform 50+ character key fails the check with probability below 1e-60; retry a
    // few times rather than loop forever on a broken generator.
    for _ in 0..16 {
        let key = draw(len)?;
        if passes_django_check(&key) {
            return Ok(key);
        }
    }
    Err(CliError::Message(
        "the OS random number generator returned low-entropy output; no key generated".into(),
    ))
}

/// `len` characters drawn uniformly from [`ALPHABET`].
fn draw(len: usize) -> Result<String, CliError> {
    // 240 = 5 * 48: bytes 240..=255 are rejected so every character is equally likely.
    const LIMIT: u8 = 240;
    let mut key = String::with_capacity(len);
    let mut buf = [0u8; 256];
    while key.len() < len {
        getrandom::fill(&mut buf).map_err(|e| {
            CliError::Message(format!("cannot read the OS random number generator: {e}"))
        })?;
        for b in buf {
            if key.len() == len {
                break;
            }
            if b < LIMIT
                && let Some(c) = ALPHABET.get(usize::from(b % 48))
            {
                key.push(char::from(*c));
            }
        }
    }
    Ok(key)
}

/// Django's `check_secret_key` rule: long enough, varied enough, not a placeholder.
pub(crate) fn passes_django_check(key: &str) -> bool {
    let distinct: std::collections::BTreeSet<char> = key.chars().collect();
    key.chars().count() >= MIN_LENGTH && distinct.len() >= 5 && !key.starts_with("django-insecure-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_length_and_alphabet() {
        for len in [50, 64, 100, 1000] {
            let k = generate(len).unwrap_or_default();
            assert_eq!(k.len(), len);
            assert!(k.bytes().all(|b| ALPHABET.contains(&b)));
            assert!(passes_django_check(&k));
        }
        assert_ne!(generate(64).ok(), generate(64).ok());
    }

    #[test]
    fn django_check() {
        assert!(!passes_django_check(&"a".repeat(60)));
        assert!(!passes_django_check("abcde12345"));
        assert!(!passes_django_check(&format!(
            "django-insecure-{}",
            "abcdefghij".repeat(5)
        )));
        assert!(passes_django_check(&"abcde".repeat(10)));
    }

    #[test]
    fn characters_are_roughly_uniform() {
        let k = draw(48_000).unwrap_or_default();
        let mut counts = [0usize; 48];
        for b in k.bytes() {
            if let Some(i) = ALPHABET.iter().position(|a| *a == b)
                && let Some(c) = counts.get_mut(i)
            {
                *c += 1;
            }
        }
        // Expected 1000 each; a 5-sigma band around it.
        for (i, c) in counts.iter().enumerate() {
            assert!((840..=1160).contains(c), "{:?}: {c}", ALPHABET.get(i));
        }
    }
}
