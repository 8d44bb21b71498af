//! The `proxy_ip_parser` middleware: the client address a trusted proxy
//! reports replaces the peer's, as RoadRunner's middleware of that name
//! does. Nothing is rewritten unless the middleware is listed in
//! `http.middleware`, the peer is inside `http.trusted_subnets`, and the
//! header is one of `http.trusted_headers`.
//!
//! RoadRunner's rules, kept: the headers are consulted in the configured
//! order (default: Forwarded, X-Forwarded-For, X-Real-Ip, True-Client-Ip,
//! CF-Connecting-Ip) and the first one present decides; of a header sent
//! several times only the first line counts; `Forwarded` gives its first
//! `for=`, `X-Forwarded-For` its leftmost element, the others their whole
//! value. Stricter: the value must be an IP address (a port and IPv6
//! brackets are taken off); anything else (`for=_hidden`, a host name,
//! garbage) leaves the peer's address, where RoadRunner passes the text on.

use std::net::{IpAddr, SocketAddr};

use hyper::header::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// `http.trusted_headers` when the list is empty: RoadRunner's order.
pub(crate) const DEFAULT_HEADERS: &[&str] = &[
    "Forwarded",
    "X-Forwarded-For",
    "X-Real-Ip",
    "True-Client-Ip",
    "Cf-Connecting-Ip",
];

/// How one trusted header carries the client address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardingHeader {
    /// RFC 7239 `Forwarded`: the first `for=` parameter.
    Forwarded,
    /// `X-Forwarded-For`: the leftmost element of the list.
    XForwardedFor,
    /// Any other header (`X-Real-Ip`, `True-Client-Ip`,
    /// `CF-Connecting-Ip`, ...): the whole value is one address.
    Single(HeaderName),
}

impl ForwardingHeader {
    /// The header named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Result<Self, hyper::header::InvalidHeaderName> {
        let name = HeaderName::from_bytes(name.trim().as_bytes())?;
        Ok(if name == hyper::header::FORWARDED {
            Self::Forwarded
        } else if name.as_str() == "x-forwarded-for" {
            Self::XForwardedFor
        } else {
            Self::Single(name)
        })
    }

    fn name(&self) -> &str {
        match self {
            Self::Forwarded => "forwarded",
            Self::XForwardedFor => "x-forwarded-for",
            Self::Single(name) => name.as_str(),
        }
    }

    /// The address this header's value names, if it names one.
    fn address(&self, value: &str) -> Option<IpAddr> {
        match self {
            Self::Forwarded => forwarded_for(value).and_then(ip),
            Self::XForwardedFor => value.split(',').next().and_then(ip),
            Self::Single(_) => ip(value),
        }
    }
}

/// Settings of the `proxy_ip_parser` middleware.
#[derive(Clone, Debug)]
pub struct ProxyOptions {
    /// Peers whose forwarding headers are believed (`http.trusted_subnets`).
    pub trusted_subnets: Vec<IpNet>,
    /// Headers consulted, in order (`http.trusted_headers`).
    pub headers: Vec<ForwardingHeader>,
}

impl ProxyOptions {
    /// The client address for a request from `peer`: what the first
    /// trusted header present says, when the peer is trusted; otherwise
    /// (or when that header names no address) the peer.
    pub(crate) fn client(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let canonical = peer.to_canonical();
        if !self
            .trusted_subnets
            .iter()
            .any(|net| net.contains(&canonical))
        {
            return peer;
        }
        for header in &self.headers {
            let Some(value) = headers.get(header.name()) else {
                continue;
            };
            let value = value.to_str().unwrap_or("").trim();
            if value.is_empty() {
                continue;
            }
            return header.address(value).unwrap_or(peer);
        }
        peer
    }
}

/// RoadRunner's `(?i)for=([^;, ]+)`: the first `for=` anywhere in the
/// value, up to a `;`, `,` or space, without its quotes.
fn forwarded_for(value: &str) -> Option<&str> {
    let bytes = value.as_bytes();
    let start = bytes
        .windows(4)
        .position(|w| w.eq_ignore_ascii_case(b"for="))?
        + 4;
    let rest = &value[start..];
    let end = rest.find([';', ',', ' ']).unwrap_or(rest.len());
    let token = rest[..end].trim_matches('"');
    (!token.is_empty()).then_some(token)
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `::1`,
/// `[::1]`, `[::1]:5678`.
fn ip(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn defaults() -> Vec<ForwardingHeader> {
        DEFAULT_HEADERS
            .iter()
            .map(|n| ForwardingHeader::from_name(n).unwrap())
            .collect()
    }

    fn proxy(headers: Vec<ForwardingHeader>) -> ProxyOptions {
        ProxyOptions {
            trusted_subnets: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            headers,
        }
    }

    fn client(p: &ProxyOptions, peer: &str, headers: &[(&str, &str)]) -> String {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        p.client(&map, peer.parse().unwrap()).to_string()
    }

    #[test]
    fn values_as_roadrunner_reads_them() {
        let p = proxy(defaults());
        let proxy = "10.0.0.1";
        for (header, value, expected) in [
            ("X-Forwarded-For", "8.8.8.8", "8.8.8.8"),
            ("X-Forwarded-For", "8.8.8.8, 8.8.4.4", "8.8.8.8"),
            ("X-Forwarded-For", "8.8.8.8,8.8.4.4", "8.8.8.8"),
            (
                "X-Forwarded-For",
                "[2001:db8:cafe::17]:4711",
                "2001:db8:cafe::17",
            ),
            ("X-Forwarded-For", "foo.workstation", proxy),
            ("X-Real-Ip", "8.8.8.8", "8.8.8.8"),
            ("X-Real-Ip", "8.8.8.8, 8.8.4.4", proxy),
            ("X-Real-Ip", "8.8.8.8:1234", "8.8.8.8"),
            ("Cf-Connecting-Ip", "8.8.8.8", "8.8.8.8"),
            ("True-Client-Ip", "8.8.8.8", "8.8.8.8"),
            ("Forwarded", r#"for="_foo""#, proxy),
            (
                "Forwarded",
                r#"For="[2001:db8:cafe::17]:4711""#,
                "2001:db8:cafe::17",
            ),
            (
                "Forwarded",
                "for=192.0.2.60;proto=http;by=203.0.113.43",
                "192.0.2.60",
            ),
            (
                "Forwarded",
                "for=192.0.2.43, for=198.51.100.17",
                "192.0.2.43",
            ),
            (
                "Forwarded",
                "by=foo;for=3.11.0.1;host=foo.workstation",
                "3.11.0.1",
            ),
            ("Forwarded", "foo.workstation", proxy),
        ] {
            assert_eq!(
                client(&p, proxy, &[(header, value)]),
                expected,
                "{header}: {value}"
            );
        }
    }

    #[test]
    fn only_trusted_peers_and_the_first_header_present_count() {
        let p = proxy(defaults());
        let spoof = [
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Real-Ip", "198.51.100.1"),
        ];
        assert_eq!(
            client(&p, "192.168.1.9", &spoof),
            "192.168.1.9",
            "untrusted peer"
        );
        assert_eq!(
            client(&p, "10.1.2.3", &spoof),
            "203.0.113.7",
            "XFF before X-Real-Ip"
        );
        assert_eq!(
            client(
                &p,
                "10.1.2.3",
                &[("Forwarded", "for=1.1.1.1"), ("X-Forwarded-For", "2.2.2.2")]
            ),
            "1.1.1.1"
        );
        // Only the first line of a repeated header, as Go's Header.Get.
        assert_eq!(
            client(
                &p,
                "10.1.2.3",
                &[
                    ("X-Forwarded-For", "1.1.1.1"),
                    ("X-Forwarded-For", "2.2.2.2")
                ]
            ),
            "1.1.1.1"
        );
        // An empty header is absent.
        assert_eq!(
            client(
                &p,
                "10.1.2.3",
                &[("X-Forwarded-For", ""), ("X-Real-Ip", "3.3.3.3")]
            ),
            "3.3.3.3"
        );
        // An IPv4 peer seen as IPv4-mapped IPv6 is still that peer.
        assert_eq!(client(&p, "::ffff:10.1.2.3", &spoof), "203.0.113.7");
        assert_eq!(client(&p, "::1", &spoof), "203.0.113.7");
    }

    #[test]
    fn trusted_headers_limit_and_order_what_is_read() {
        let only_real = proxy(vec![ForwardingHeader::from_name("X-Real-Ip").unwrap()]);
        let both = [("X-Forwarded-For", "5.6.7.8"), ("Forwarded", "for=5.6.7.8")];
        assert_eq!(client(&only_real, "10.0.0.1", &both), "10.0.0.1");
        assert_eq!(
            client(&only_real, "10.0.0.1", &[("X-Real-Ip", "5.6.7.8")]),
            "5.6.7.8"
        );
        let reversed = proxy(vec![
            ForwardingHeader::from_name("x-real-ip").unwrap(),
            ForwardingHeader::from_name("X-FORWARDED-FOR").unwrap(),
        ]);
        assert_eq!(
            client(
                &reversed,
                "10.0.0.1",
                &[("X-Forwarded-For", "1.1.1.1"), ("X-Real-Ip", "2.2.2.2")]
            ),
            "2.2.2.2"
        );
        assert_eq!(
            ForwardingHeader::from_name("X-Forwarded-For").unwrap(),
            ForwardingHeader::XForwardedFor
        );
        assert!(ForwardingHeader::from_name("bad header").is_err());
    }
}
