//! The path sent upstream: dot segments resolved before the upstream's base path is
//! prepended, so no request reaches the upstream outside its base path.
//!
//! Upstream servers resolve `.` and `..` themselves, after percent-decoding: nginx turns
//! `/public/%2e%2e/internal` into `/internal`, Tomcat reads `..;` as `..`, and Windows
//! servers and some frameworks treat `\` (also `%5c`) as `/`. So the gateway resolves
//! `.` and `..` segments, raw or written with `%2e` in any case, and refuses (400) a path
//! that climbs above the root (as nginx does), and a segment that hides a dot segment
//! behind an encoded slash (`%2f`), a backslash (`\`, `%5c`) or a `;` parameter
//! (`..%2f`, `..\`, `..;`): what the upstream would make of those cannot be known.
//!
//! Paths without dot segments (nearly all) are returned as they are, unallocated.

use std::borrow::Cow;

/// Why a request path is not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A `..` segment climbs above `/`.
    AboveRoot,
    /// A segment hides `.` or `..` behind `%2f`, `\`, `%5c` or `;`.
    Ambiguous,
}

impl Refused {
    /// The reason and the fix, for the client's 400 answer.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refused::AboveRoot => {
                "the request path climbs above the root with `..`; \
                 send the path with its dot segments resolved"
            }
            Refused::Ambiguous => {
                "the request path hides a `.` or `..` segment behind an encoded slash, \
                 a backslash or `;`; send the path with its dot segments resolved and \
                 without them"
            }
        }
    }
}

/// What one `/`-separated segment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Segment {
    Plain,
    Dot,
    DotDot,
}

/// How many dots `s` is when it is only `.` and `%2e` (any case): `Some(n)`, else `None`.
fn dots(s: &[u8]) -> Option<usize> {
    let mut n = 0;
    let mut rest = s;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return None,
        };
        n += 1;
    }
    Some(n)
}

/// Whether `piece` (cut at its first `;`) is `.` or `..`.
fn is_dot_piece(piece: &[u8]) -> bool {
    let end = piece.iter().position(|b| *b == b';').unwrap_or(piece.len());
    matches!(piece.get(..end).and_then(dots), Some(1 | 2))
}

/// The length of a separator some upstream may see at the start of `s`: `\`, `%5c` or
/// `%2f` (any case).
fn separator_len(s: &[u8]) -> Option<usize> {
    match s {
        [b'\\', ..] => Some(1),
        [b'%', b'5', b'c' | b'C', ..] | [b'%', b'2', b'f' | b'F', ..] => Some(3),
        _ => None,
    }
}

fn classify(seg: &str) -> Result<Segment, Refused> {
    let b = seg.as_bytes();
    // Without a dot (raw or encoded) no piece can be a dot segment.
    if !b.iter().any(|c| matches!(c, b'.' | b'%')) {
        return Ok(Segment::Plain);
    }
    match dots(b) {
        Some(1) => return Ok(Segment::Dot),
        Some(2) => return Ok(Segment::DotDot),
        _ => {}
    }
    // Split where an upstream might: at `\`, `%5c` and `%2f`.
    let mut start = 0;
    let mut i = 0;
    while let Some(rest) = b.get(i..) {
        if rest.is_empty() {
            break;
        }
        if let Some(len) = separator_len(rest) {
            if b.get(start..i).is_some_and(is_dot_piece) {
                return Err(Refused::Ambiguous);
            }
            i += len;
            start = i;
        } else {
            i += 1;
        }
    }
    if b.get(start..).is_some_and(is_dot_piece) {
        return Err(Refused::Ambiguous);
    }
    Ok(Segment::Plain)
}

/// `path` (origin-form, starting with `/`, without the query) with its dot segments
/// resolved (RFC 3986 §5.2.4), or why it is refused.
pub(crate) fn resolve(path: &str) -> Result<Cow<'_, str>, Refused> {
    let segments = || path.strip_prefix('/').unwrap_or(path).split('/');
    let mut dotted = false;
    for seg in segments() {
        dotted |= classify(seg)? != Segment::Plain;
    }
    if !dotted {
        return Ok(Cow::Borrowed(path));
    }
    let mut out: Vec<&str> = Vec::new();
    let mut it = segments().peekable();
    while let Some(seg) = it.next() {
        let last = it.peek().is_none();
        match classify(seg)? {
            Segment::Plain => out.push(seg),
            Segment::Dot => {
                if last {
                    out.push("");
                }
            }
            Segment::DotDot => {
                if out.pop().is_none() {
                    return Err(Refused::AboveRoot);
                }
                if last {
                    out.push("");
                }
            }
        }
    }
    let mut resolved = String::with_capacity(path.len());
    for seg in out {
        resolved.push('/');
        resolved.push_str(seg);
    }
    if resolved.is_empty() {
        resolved.push('/');
    }
    Ok(Cow::Owned(resolved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_table() {
        use Refused::{AboveRoot, Ambiguous};
        let table: &[(&str, Result<&str, Refused>)] = &[
            // Untouched.
            ("/", Ok("/")),
            ("/a/b", Ok("/a/b")),
            ("/a/b/", Ok("/a/b/")),
            ("/static/app.min.js", Ok("/static/app.min.js")),
            ("/a/.hidden/...", Ok("/a/.hidden/...")),
            ("/a//b", Ok("/a//b")),
            ("/a%20b/c%2Fd", Ok("/a%20b/c%2Fd")),
            ("/matrix;p=1/x", Ok("/matrix;p=1/x")),
            ("/a/.x;y", Ok("/a/.x;y")),
            // Resolved.
            ("/a/./b", Ok("/a/b")),
            ("/a/.", Ok("/a/")),
            ("/a/..", Ok("/")),
            ("/a/../b", Ok("/b")),
            ("/a/b/../../c", Ok("/c")),
            ("/a/%2e/b", Ok("/a/b")),
            ("/a/%2E%2e/b", Ok("/b")),
            ("/a/.%2E/b", Ok("/b")),
            ("/a/%2e./b/", Ok("/b/")),
            ("/a//../b", Ok("/a/b")),
            ("/.", Ok("/")),
            // Above the root.
            ("/..", Err(AboveRoot)),
            ("/../internal/secret", Err(AboveRoot)),
            ("/%2e%2e/internal/secret", Err(AboveRoot)),
            ("/.%2E/internal", Err(AboveRoot)),
            ("/public/../../x", Err(AboveRoot)),
            ("/a/%2E%2E/%2e%2e/x", Err(AboveRoot)),
            // Hidden behind a separator an upstream may see, or a `;` parameter.
            ("/%2E%2e%2finternal", Err(Ambiguous)),
            ("/..%2finternal", Err(Ambiguous)),
            ("/..%2Finternal", Err(Ambiguous)),
            ("/x%2f..%2finternal", Err(Ambiguous)),
            ("/..;/internal", Err(Ambiguous)),
            ("/.;/internal", Err(Ambiguous)),
            ("/a/..;x=1/b", Err(Ambiguous)),
            ("/\\..\\internal", Err(Ambiguous)),
            ("/a\\..", Err(Ambiguous)),
            ("/%5c..%5cinternal", Err(Ambiguous)),
            ("/%5C%2e%2e%5Cinternal", Err(Ambiguous)),
            ("/a%2f.", Err(Ambiguous)),
        ];
        for (path, want) in table {
            let got = resolve(path);
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "{path}");
        }
    }

    #[test]
    fn clean_paths_are_not_copied() {
        for path in ["/", "/a/b", "/static/app.js", "/a%2fb"] {
            assert!(matches!(resolve(path), Ok(Cow::Borrowed(_))), "{path}");
        }
    }
}
