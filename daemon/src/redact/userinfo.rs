//! The password of `scheme://user:password@host` in a URL of any scheme: the user may be empty
//! (`redis://:pw@cache`), and the password runs to the last `@` before the host, whatever it
//! holds (`/`, `#`, `?`, `@`), so no prefix of it leaks.

use super::patterns::Found;
use super::rules::URL_PASSWORD;

/// Longest scheme name considered (`mongodb+srv`, `clickhouse`, `postgresql`).
const MAX_SCHEME: usize = 16;

/// Bytes that end a URL in text.
fn ends_url(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\')
}

/// Whether `b[at..]` starts with a host (name, IPv4 or `[IPv6]`) followed by the end of the
/// authority.
fn host_at(b: &[u8], at: usize, end: usize) -> bool {
    let mut j = at;
    if b.get(j) == Some(&b'[') {
        while j < end && b[j] != b']' {
            j += 1;
        }
        j += 1;
    } else {
        while j < end && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'.' | b'-' | b'_')) {
            j += 1;
        }
        if j == at {
            return false;
        }
    }
    j >= end
        || matches!(
            b[j],
            b':' | b'/' | b'?' | b'#' | b',' | b';' | b')' | b']' | b'}'
        )
}

/// Appends the password span of every `scheme://user:password@host` in `b`.
pub fn url_passwords(b: &[u8], out: &mut Vec<Found>) {
    let mut from = 0;
    while let Some(p) = memchr::memmem::find(&b[from..], b"://") {
        let sep = from + p;
        from = sep + 3;
        let mut s = sep;
        while s > 0 && sep - s < MAX_SCHEME && is_scheme_byte(b[s - 1]) {
            s -= 1;
        }
        if s == sep || !b[s].is_ascii_alphabetic() {
            continue;
        }
        let auth = sep + 3;
        let end = (auth..b.len()).find(|&i| ends_url(b[i])).unwrap_or(b.len());
        // the user: no `/`, `?`, `#` or `@` before its `:`
        let Some(colon) = (auth..end).find(|&i| matches!(b[i], b':' | b'/' | b'?' | b'#' | b'@'))
        else {
            continue;
        };
        if b[colon] != b':' {
            continue;
        }
        let Some(at) = (colon + 1..end)
            .rev()
            .find(|&i| b[i] == b'@' && host_at(b, i + 1, end))
        else {
            continue;
        };
        // `host.example:8080/path?e=a@b.example` is a host, a port and a path, no password
        let digits = b[colon + 1..at]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let host_like = b[auth..colon].contains(&b'.') || &b[auth..colon] == b"localhost";
        let port = host_like
            && (1..=5).contains(&digits)
            && matches!(b.get(colon + 1 + digits), Some(b'/' | b'?' | b'#'));
        if at > colon + 1 && !port {
            out.push(Found {
                start: colon + 1,
                end: at,
                rule: URL_PASSWORD,
            });
        }
        from = at.max(from);
    }
}

fn is_scheme_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        url_passwords(s.as_bytes(), &mut out);
        out.iter().map(|f| &s[f.start..f.end]).collect()
    }

    #[test]
    fn any_scheme_and_an_empty_user() {
        assert_eq!(pw("redis://:s3cr3tP4ss@cache:6379"), ["s3cr3tP4ss"]);
        assert_eq!(pw("amqps://svc:pw1@mq.internal/vhost"), ["pw1"]);
        assert_eq!(
            pw("x mongodb+srv://app:pa55@c0.example.net/db?w=1"),
            ["pa55"]
        );
    }

    #[test]
    fn passwords_with_delimiters_are_taken_whole() {
        assert_eq!(pw("postgres://u:ab/cd#ef?gh@db:5432/app"), ["ab/cd#ef?gh"]);
        assert_eq!(pw("redis://:p@ss@cache"), ["p@ss"]);
    }

    #[test]
    fn ports_paths_and_plain_urls_stay() {
        assert!(pw("https://example.com:8443/x?email=a@b.example").is_empty());
        assert!(pw("https://example.com/a:b@c").is_empty());
        assert!(pw("see https://example.com/docs").is_empty());
    }
}
