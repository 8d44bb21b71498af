//! Addresses: where a listener binds, and how workers reach the server.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};

/// Why an address or relay string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct AddrError {
    what: &'static str,
    input: String,
    reason: String,
}

/// Where a listener binds: `host:port` (optionally written `tcp://host:port`)
/// or a unix socket `unix:///path/to.sock`.
///
/// An empty host (`:8080`) means every interface, as in Go. Port 0 is
/// allowed (the OS picks one; tests rely on it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// A TCP listener.
    Tcp {
        /// Host name or IP address (IPv6 without brackets); empty for all
        /// interfaces.
        host: String,
        /// Port number.
        port: u16,
    },
    /// A unix domain socket at this path.
    Unix(PathBuf),
}

impl ListenAddr {
    /// A TCP address.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Self::Tcp {
            host: host.into(),
            port,
        }
    }

    /// `tcp://host:port` or `unix://path`: the form RoadRunner puts in
    /// `RR_RPC` and PHP's relay factory expects.
    pub fn dsn(&self) -> String {
        match self {
            Self::Tcp { .. } => format!("tcp://{self}"),
            Self::Unix(path) => format!("unix://{}", path.display()),
        }
    }
}

impl fmt::Display for ListenAddr {
    /// `host:port` (IPv6 hosts in brackets) or `unix://path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

fn parse_host_port(
    what: &'static str,
    input: &str,
    hostport: &str,
) -> Result<(String, u16), AddrError> {
    let err = |reason: &str| AddrError {
        what,
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return Err(err("expected host:port"));
    };
    let host = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| err("unclosed '[' in IPv6 host"))?,
        None if host.contains(':') => {
            return Err(err(
                "IPv6 hosts must be written in brackets, e.g. [::1]:8080",
            ))
        }
        None => host,
    };
    if host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(err("the host contains spaces or slashes"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| err("the port must be a number from 0 to 65535"))?;
    Ok((host.to_owned(), port))
}

impl FromStr for ListenAddr {
    type Err = AddrError;

    fn from_str(input: &str) -> Result<Self, AddrError> {
        let s = input.trim();
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(AddrError {
                    what: "address",
                    input: input.to_owned(),
                    reason: "the socket path is empty".to_owned(),
                });
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let hostport = s.strip_prefix("tcp://").unwrap_or(s);
        if hostport.contains("://") {
            return Err(AddrError {
                what: "address",
                input: input.to_owned(),
                reason: "expected host:port, tcp://host:port or unix:///path".to_owned(),
            });
        }
        let (host, port) = parse_host_port("address", input, hostport)?;
        Ok(Self::Tcp { host, port })
    }
}

/// How workers exchange frames with the server (`server.relay`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Relay {
    /// The worker's stdin/stdout (`pipes`, the default).
    #[default]
    Pipes,
    /// The server listens on TCP and workers connect (`tcp://host:port`).
    /// The host must be one a worker can connect to.
    Tcp {
        /// Host name or IP (IPv6 without brackets).
        host: String,
        /// Port number.
        port: u16,
    },
    /// The server listens on a unix socket and workers connect
    /// (`unix:///abs/path.sock`, or `unix://relative.sock`).
    Unix(PathBuf),
}

impl fmt::Display for Relay {
    /// The string given to workers in `RR_RELAY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pipes => f.write_str("pipes"),
            Self::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

impl FromStr for Relay {
    type Err = AddrError;

    fn from_str(input: &str) -> Result<Self, AddrError> {
        let s = input.trim();
        let err = |reason: &str| AddrError {
            what: "relay",
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if s.is_empty() || s.eq_ignore_ascii_case("pipes") {
            return Ok(Self::Pipes);
        }
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(err("the socket path is empty"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(hostport) = s.strip_prefix("tcp://") {
            let (host, port) = parse_host_port("relay", input, hostport)?;
            if host.is_empty() {
                return Err(err(
                    "workers need a host to connect to, e.g. tcp://127.0.0.1:6002",
                ));
            }
            return Ok(Self::Tcp { host, port });
        }
        Err(err("expected pipes, tcp://host:port or unix:///path"))
    }
}

struct FromStrVisitor<T>(&'static str, std::marker::PhantomData<T>);

impl<T> Visitor<'_> for FromStrVisitor<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(FromStrVisitor(
            "an address such as 127.0.0.1:8080 or unix:///path.sock",
            std::marker::PhantomData,
        ))
    }
}

impl<'de> serde::Deserialize<'de> for Relay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(FromStrVisitor(
            "pipes, tcp://host:port or unix:///path",
            std::marker::PhantomData,
        ))
    }
}

/// `deserialize_with` for `Option<ListenAddr>`: an empty string is `None`
/// (RoadRunner treats an empty address as "this listener is off").
pub(crate) fn de_opt_listen<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<ListenAddr>, D::Error> {
    let s: String = serde::Deserialize::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_strings() {
        let ok: &[(&str, Relay)] = &[
            ("pipes", Relay::Pipes),
            ("PIPES", Relay::Pipes),
            ("", Relay::Pipes),
            (
                "tcp://127.0.0.1:6002",
                Relay::Tcp {
                    host: "127.0.0.1".into(),
                    port: 6002,
                },
            ),
            (
                "tcp://[::1]:6002",
                Relay::Tcp {
                    host: "::1".into(),
                    port: 6002,
                },
            ),
            (
                "unix:///var/run/rr.sock",
                Relay::Unix("/var/run/rr.sock".into()),
            ),
            ("unix://rr.sock", Relay::Unix("rr.sock".into())),
        ];
        for (input, want) in ok {
            assert_eq!(&input.parse::<Relay>().unwrap(), want, "input {input:?}");
        }
        for bad in [
            "tcp://:6002",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:99999",
            "127.0.0.1:6002",
            "unix://",
            "socket",
            "udp://1.2.3.4:5",
        ] {
            assert!(bad.parse::<Relay>().is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn relay_round_trips_to_rr_relay_string() {
        for s in [
            "pipes",
            "tcp://127.0.0.1:6002",
            "tcp://[::1]:1",
            "unix:///tmp/x.sock",
        ] {
            assert_eq!(s.parse::<Relay>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            "127.0.0.1:8080".parse::<ListenAddr>().unwrap(),
            ListenAddr::tcp("127.0.0.1", 8080)
        );
        assert_eq!(
            ":8080".parse::<ListenAddr>().unwrap(),
            ListenAddr::tcp("", 8080)
        );
        assert_eq!(
            "tcp://0.0.0.0:0".parse::<ListenAddr>().unwrap(),
            ListenAddr::tcp("0.0.0.0", 0)
        );
        assert_eq!(
            "[::]:443".parse::<ListenAddr>().unwrap().to_string(),
            "[::]:443"
        );
        assert_eq!(
            "unix:///run/http.sock".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix("/run/http.sock".into())
        );
        assert_eq!(
            ListenAddr::tcp("127.0.0.1", 6001).dsn(),
            "tcp://127.0.0.1:6001"
        );
        for bad in [
            "8080",
            "localhost",
            "host:port",
            "::1:80",
            "http://x:1",
            "a b:1",
        ] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad:?} should fail");
        }
    }
}
