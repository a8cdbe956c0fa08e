//! Database URLs: the parts the checks need, parsed without failing.

/// The parts of a database URL the checks need.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct DbUrl {
    pub(crate) scheme: String,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) hosts: Vec<String>,
}

/// Parses `scheme://user:password@host1:port,host2/name?params`. Never fails: missing
/// parts stay empty.
pub(crate) fn parse_db_url(url: &str) -> DbUrl {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return DbUrl::default();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // A password may hold `/`, `?` or `#` unescaped: the userinfo ends at the last `@`
    // before the path, wherever that is.
    let (userinfo, hostpart) = match rest.get(..end).and_then(|a| a.rfind('@')) {
        Some(at) => (rest.get(..at), rest.get(at + 1..end).unwrap_or("")),
        None => match rest.rfind('@') {
            Some(at) => {
                let after = rest.get(at + 1..).unwrap_or("");
                let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
                (rest.get(..at), after.get(..host_end).unwrap_or(""))
            }
            None => (None, rest.get(..end).unwrap_or("")),
        },
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pw)) => (Some(percent_decode(user)), Some(percent_decode(pw))),
            None => (Some(percent_decode(u)), None),
        },
        None => (None, None),
    };
    let hosts = hostpart
        .split(',')
        .filter_map(|h| {
            let h = h.trim();
            let host = if let Some(r) = h.strip_prefix('[') {
                r.split(']').next().unwrap_or("")
            } else {
                h.rsplit_once(':').map_or(h, |(host, _)| host)
            };
            (!host.is_empty()).then(|| percent_decode(host))
        })
        .collect();
    DbUrl {
        scheme: scheme.to_ascii_lowercase(),
        user: user.filter(|u| !u.is_empty()),
        password: password.filter(|p| !p.is_empty()),
        hosts,
    }
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let mut look = bytes.clone();
            let hex = [look.next(), look.next()];
            if let [Some(h), Some(l)] = hex
                && let (Some(h), Some(l)) = ((h as char).to_digit(16), (l as char).to_digit(16))
            {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                bytes = look;
                continue;
            }
        }
        out.push(b);
    }
    String::from_utf8_lossy(&out).into_owned()
}
