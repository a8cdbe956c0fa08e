//! Just enough HTML tokenizing for the audit: the attributes of every `<meta>` or
//! `<script>` start tag, outside comments and outside the raw text of `script`,
//! `style`, `textarea` and `title` elements. Attribute names are lowercase, values
//! are unquoted and the common character references decoded.

/// The attributes of each `<name ...>` start tag, in document order.
pub(crate) fn tags(html: &str, name: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while let Some(off) = lower.get(i..).and_then(|s| s.find('<')) {
        let start = i + off;
        let rest = lower.get(start..).unwrap_or("");
        if rest.starts_with("<!--") {
            i = match lower.get(start + 4..).and_then(|s| s.find("-->")) {
                Some(e) => start + 4 + e + 3,
                None => return out,
            };
            continue;
        }
        let tag_name: String = rest
            .get(1..)
            .unwrap_or("")
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if tag_name.is_empty() {
            i = start + 1;
            continue;
        }
        let (attrs, end) = attributes(html, start + 1 + tag_name.len());
        if tag_name == name {
            out.push(attrs);
        }
        i = end;
        if matches!(tag_name.as_str(), "script" | "style" | "textarea" | "title") {
            let close = format!("</{tag_name}");
            i = match lower.get(i..).and_then(|s| s.find(&close)) {
                Some(e) => i + e,
                None => return out,
            };
        }
    }
    out
}

/// Parses attributes from byte `at` to the tag's `>`: the attributes and the index
/// after the tag.
fn attributes(html: &str, at: usize) -> (Vec<(String, String)>, usize) {
    let bytes = html.as_bytes();
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut i = at;
    let at_ws = |i: usize| {
        bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/')
    };
    loop {
        while at_ws(i) {
            i += 1;
        }
        match bytes.get(i) {
            None => return (attrs, i),
            Some(b'>') => return (attrs, i + 1),
            _ => {}
        }
        let name_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'/'))
        {
            i += 1;
        }
        let name = html.get(name_start..i).unwrap_or("").to_ascii_lowercase();
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            match bytes.get(i) {
                Some(q @ (b'"' | b'\'')) => {
                    let q = *q;
                    let vs = i + 1;
                    let mut j = vs;
                    while bytes.get(j).is_some_and(|b| *b != q) {
                        j += 1;
                    }
                    value = html.get(vs..j).unwrap_or("").to_owned();
                    i = j + 1;
                }
                _ => {
                    let vs = i;
                    while bytes
                        .get(i)
                        .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'>')
                    {
                        i += 1;
                    }
                    value = html.get(vs..i).unwrap_or("").to_owned();
                }
            }
        }
        if name.is_empty() {
            i += 1;
            continue;
        }
        if !attrs.iter().any(|(n, _)| *n == name) {
            attrs.push((name, decode(&value)));
        }
    }
}

fn decode(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::tags;

    #[test]
    fn finds_tags_outside_comments_and_raw_text() {
        let html = r#"<html><head><!-- <script src="no.js"></script> -->
            <META HTTP-EQUIV="Content-Security-Policy" content="default-src 'none'">
            <script>var s = "<script src='nope.js'>";</script>
            <script src=/a.js integrity='sha384-x' defer></script>
            <title><script src=x></title><meta name=referrer content=no-referrer/>"#;
        let scripts = tags(html, "script");
        assert_eq!(scripts.len(), 2);
        assert_eq!(scripts[1][0], ("src".to_owned(), "/a.js".to_owned()));
        assert_eq!(scripts[1][1].1, "sha384-x");
        let metas = tags(html, "meta");
        assert_eq!(metas[0][0].0, "http-equiv");
        assert_eq!(metas[0][1].1, "default-src 'none'");
        assert_eq!(metas[1][1].1, "no-referrer/");
    }
}
