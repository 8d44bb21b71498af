//! Which host a request is for, validated as RFC 9112 (section 3.2) and
//! RFC 9113 (section 8.3.1) require before it goes into the URI PHP
//! routes on: exactly one `Host` on HTTP/1.1, authority syntax only
//! (`host[:port]`, IPv6 in brackets, reg-name characters), and on HTTP/2
//! an `:authority` that agrees with any `Host`.

use hyper::header::HOST;
use hyper::http::request::Parts;
use hyper::Version;

/// Marks requests that came through a gateway (FastCGI) rather than from
/// an HTTP client: the front server has already checked the client's
/// Host, and a gateway may leave it out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gateway;

/// Why a request's host was refused: a client fault, answered 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum HostError {
    /// HTTP/1.1 (or HTTP/2 without `:authority`) with no Host.
    #[error("missing required Host header")]
    Missing,
    /// More than one Host header.
    #[error("too many Host headers")]
    Several,
    /// Not `host[:port]`.
    #[error("malformed Host header")]
    Malformed,
    /// HTTP/2 `:authority` and Host name different hosts.
    #[error("Host header differs from :authority")]
    Mismatch,
}

/// The request's authority (`host[:port]`, as sent), or `None` when the
/// request names none (HTTP/1.0 without Host, an empty Host, a gateway
/// request without one).
pub(crate) fn authority(parts: &Parts) -> Result<Option<&str>, HostError> {
    let mut hosts = parts.headers.get_all(HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Several);
    }
    let header = match header {
        Some(value) => {
            let value = value.to_str().map_err(|_| HostError::Malformed)?;
            if !valid(value.as_bytes()) {
                return Err(HostError::Malformed);
            }
            Some(value)
        }
        None => None,
    };
    // An absolute-form target (HTTP/1.1) or `:authority` (HTTP/2).
    let target = match parts.uri.authority() {
        Some(a) if a.as_str().is_empty() => None,
        Some(a) if valid(a.as_str().as_bytes()) => Some(a.as_str()),
        Some(_) => return Err(HostError::Malformed),
        None => None,
    };
    let gateway = parts.extensions.get::<Gateway>().is_some();
    match parts.version {
        Version::HTTP_2 | Version::HTTP_3 => match (target, header) {
            (Some(t), Some(h)) if !t.eq_ignore_ascii_case(h) => Err(HostError::Mismatch),
            (Some(t), _) => Ok(Some(t)),
            (None, Some(h)) => Ok(Some(h).filter(|h| !h.is_empty())),
            (None, None) => Err(HostError::Missing),
        },
        Version::HTTP_09 | Version::HTTP_10 => Ok(target.or(header).filter(|h| !h.is_empty())),
        // HTTP/1.1: the Host header is required even with an
        // absolute-form target, whose authority then wins (RFC 9112,
        // 3.2.2).
        _ => match (target, header) {
            (_, None) if !gateway => Err(HostError::Missing),
            (Some(t), _) => Ok(Some(t)),
            (None, h) => Ok(h.filter(|h| !h.is_empty())),
        },
    }
}

/// `uri-host [ ":" port ]` (RFC 9110, 7.2), or empty: an IPv6 literal in
/// brackets, or a reg-name / IPv4 of unreserved, sub-delims and
/// %-escapes; a port of at most five digits.
pub(crate) fn valid(authority: &[u8]) -> bool {
    if authority.is_empty() {
        return true;
    }
    let (host, port) = if authority[0] == b'[' {
        let Some(end) = authority.iter().position(|b| *b == b']') else {
            return false;
        };
        let literal = &authority[1..end];
        let ipv6 = std::str::from_utf8(literal)
            .ok()
            .and_then(|s| s.parse::<std::net::Ipv6Addr>().ok());
        if ipv6.is_none() {
            return false;
        }
        match &authority[end + 1..] {
            [] => return true,
            [b':', port @ ..] => (None, port),
            _ => return false,
        }
    } else {
        match authority.iter().position(|b| *b == b':') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (Some(authority), &[][..]),
        }
    };
    if let Some(host) = host {
        if host.is_empty() || !reg_name(host) {
            return false;
        }
    }
    port.len() <= 5
        && port.iter().all(u8::is_ascii_digit)
        && (port.is_empty() || std::str::from_utf8(port).is_ok_and(|p| p.parse::<u16>().is_ok()))
}

/// RFC 3986 reg-name: `*( unreserved / pct-encoded / sub-delims )`.
fn reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        let b = host[i];
        if b == b'%' {
            let escaped = host.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && host.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !escaped {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b);
        if !allowed {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(version: Version, uri: &str, hosts: &[&str]) -> Parts {
        let mut req = hyper::Request::builder().version(version).uri(uri);
        for h in hosts {
            req = req.header(HOST, *h);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn authority_syntax() {
        for ok in [
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[2001:db8::1]:443",
            "xn--bcher-kva.example",
            "a_b~c",
            "host:",
            "%41bc",
            "",
        ] {
            assert!(valid(ok.as_bytes()), "{ok:?} is valid");
        }
        for bad in [
            "127.0.0.1/echo?",
            "example.com/path",
            "a b",
            "user@example.com",
            "example.com:80:80",
            "example.com:port",
            "example.com:123456",
            "example.com:65536",
            "[::1",
            "[not-ipv6]",
            "[::1]x",
            "[::1]:x",
            ":80",
            "host?x",
            "host#x",
            "%zz",
            "ex\"ample",
            "ex\\ample",
        ] {
            assert!(!valid(bad.as_bytes()), "{bad:?} is refused");
        }
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        use HostError::*;
        let v11 = Version::HTTP_11;
        assert_eq!(
            authority(&parts(v11, "/", &["a.example"])),
            Ok(Some("a.example"))
        );
        assert_eq!(authority(&parts(v11, "/", &[])), Err(Missing));
        assert_eq!(authority(&parts(v11, "/", &["a", "b"])), Err(Several));
        assert_eq!(authority(&parts(v11, "/", &["a", "a"])), Err(Several));
        assert_eq!(
            authority(&parts(v11, "/", &["127.0.0.1/echo?"])),
            Err(Malformed)
        );
        assert_eq!(authority(&parts(v11, "/", &[""])), Ok(None));
        // Absolute form: the target's authority wins, Host still required.
        assert_eq!(
            authority(&parts(v11, "http://target.example/x", &["other"])),
            Ok(Some("target.example"))
        );
        assert_eq!(
            authority(&parts(v11, "http://target.example/x", &[])),
            Err(Missing)
        );
        assert_eq!(
            authority(&parts(v11, "http://user@target.example/x", &["t"])),
            Err(Malformed)
        );
        // Through FastCGI the front server has checked it already.
        let mut gateway = parts(v11, "/", &[]);
        gateway.extensions.insert(Gateway);
        assert_eq!(authority(&gateway), Ok(None));
    }

    #[test]
    fn http10_may_omit_host_and_http2_uses_authority() {
        use HostError::*;
        assert_eq!(authority(&parts(Version::HTTP_10, "/", &[])), Ok(None));
        assert_eq!(
            authority(&parts(Version::HTTP_10, "/", &["a b"])),
            Err(Malformed)
        );
        let v2 = Version::HTTP_2;
        assert_eq!(
            authority(&parts(v2, "http://h.example/", &[])),
            Ok(Some("h.example"))
        );
        assert_eq!(
            authority(&parts(v2, "http://h.example/", &["H.example"])),
            Ok(Some("h.example"))
        );
        assert_eq!(
            authority(&parts(v2, "http://h.example/", &["other"])),
            Err(Mismatch)
        );
        assert_eq!(
            authority(&parts(v2, "/", &["h.example"])),
            Ok(Some("h.example"))
        );
        assert_eq!(authority(&parts(v2, "/", &[])), Err(Missing));
    }

    proptest::proptest! {
        /// Any bytes: no panic, and what passes never holds a byte that
        /// could change the URI's path, query or fragment.
        #[test]
        fn arbitrary_hosts_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            if valid(&bytes) {
                proptest::prop_assert!(!bytes.iter().any(|b| b"/?#@ \\\r\n".contains(b)));
            }
        }
    }
}
