//! The request context RoadRunner sends to a worker, in JSON or protobuf.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use bytes::{BufMut, Bytes};
use hyper::http::request::Parts;
use hyper::Version;
use serde::Serialize;
use serde_json::Value;

use crate::proto;
use crate::ContextEncoding;

/// What is known about a request before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta<'a> {
    /// Kept as an address: it is formatted straight into the context.
    pub(crate) remote_addr: IpAddr,
    pub(crate) protocol: &'static str,
    /// Standard methods are stored without allocating.
    pub(crate) method: hyper::Method,
    pub(crate) uri: Uri<'a>,
    pub(crate) headers: BTreeMap<String, Vec<String>>,
    pub(crate) cookies: BTreeMap<String, String>,
    pub(crate) raw_query: String,
}

/// The absolute request URI, in the parts it is made of: formatted where
/// it is written, never built as a `String` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uri<'a> {
    scheme: &'a str,
    host: &'a str,
    path_and_query: &'a str,
}

impl std::fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.host, self.path_and_query)
    }
}

/// Go's `CanonicalMIMEHeaderKey`: `content-type` -> `Content-Type`.
pub(crate) fn canonical(name: &str) -> String {
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return name.to_owned();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

fn strip_crlf(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// Go's `url.QueryUnescape` (`+` is a space); `None` on bad escapes.
fn query_unescape(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return None;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let spaced = value.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Parses `Cookie` headers into name -> unescaped value; cookies whose
/// value does not unescape are dropped, as RoadRunner does.
pub(crate) fn cookies(parts: &Parts) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for header in parts.headers.get_all(hyper::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            let value = value.trim_matches('"');
            if name.is_empty() {
                continue;
            }
            if let Some(value) = query_unescape(value) {
                out.insert(name.to_owned(), value);
            }
        }
    }
    out
}

/// Everything but the body (`client`: the peer, or who the
/// `proxy_ip_parser` middleware says it is); `Err` when the request's host is not valid
/// (400). The URI is built from validated parts only: the scheme, the
/// checked authority (`localhost` when the request names none) and the
/// path and query hyper parsed.
pub(crate) fn meta<'a>(
    parts: &'a Parts,
    client: IpAddr,
    scheme: &'a str,
) -> Result<Meta<'a>, crate::host::HostError> {
    let host = crate::host::authority(parts)?.unwrap_or("localhost");
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        if name == hyper::header::HOST {
            continue;
        }
        headers
            .entry(canonical(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let path_and_query = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        // `OPTIONS *` and the like: no path to route on.
        "/"
    };
    let uri = Uri {
        scheme,
        host,
        path_and_query,
    };
    Ok(Meta {
        remote_addr: client,
        protocol: match parts.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP/1.1",
        },
        method: parts.method.clone(),
        uri,
        headers,
        cookies: cookies(parts),
        raw_query: strip_crlf(parts.uri.query().unwrap_or("")),
    })
}

/// Serialises through `Display` without an intermediate `String`.
fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonContext<'a> {
    #[serde(serialize_with = "display")]
    remote_addr: &'a IpAddr,
    protocol: &'a str,
    method: &'a str,
    #[serde(serialize_with = "display")]
    uri: &'a Uri<'a>,
    headers: &'a BTreeMap<String, Vec<String>>,
    cookies: &'a BTreeMap<String, String>,
    raw_query: &'a str,
    parsed: bool,
    uploads: Option<&'a Value>,
    attributes: BTreeMap<String, Vec<String>>,
}

/// Encodes the context; returns the frame codec flag and the bytes, cut
/// from the thread's arena (see `crate::arena`: no allocation of its own).
pub(crate) fn encode(
    meta: &Meta<'_>,
    parsed: bool,
    uploads: Option<&Value>,
    encoding: ContextEncoding,
) -> (u8, Bytes) {
    match encoding {
        ContextEncoding::Json => {
            let context = JsonContext {
                remote_addr: &meta.remote_addr,
                protocol: meta.protocol,
                method: meta.method.as_str(),
                uri: &meta.uri,
                headers: &meta.headers,
                cookies: &meta.cookies,
                raw_query: &meta.raw_query,
                parsed,
                uploads,
                attributes: BTreeMap::new(),
            };
            // Room for a typical context (the fixed keys are ~150 bytes)
            // at once, so the piece rarely grows while it is written.
            let guess = 256
                + meta.uri.scheme.len()
                + meta.uri.host.len()
                + meta.uri.path_and_query.len()
                + meta
                    .headers
                    .iter()
                    .map(|(k, v)| k.len() + 8 + v.iter().map(|s| s.len() + 3).sum::<usize>())
                    .sum::<usize>();
            let (bytes, ()) = crate::arena::cut(guess, |buf| {
                let start = buf.len();
                if serde_json::to_writer(BufMut::writer(&mut *buf), &context).is_err() {
                    buf.truncate(start);
                    buf.put_slice(b"{}");
                }
            });
            (goridge::flags::CODEC_JSON, bytes)
        }
        ContextEncoding::Proto => {
            use prost::Message;
            let values = |v: &[String]| proto::HeaderValue {
                value: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            };
            let request = proto::Request {
                remote_addr: meta.remote_addr.to_string(),
                protocol: meta.protocol.to_owned(),
                method: meta.method.as_str().to_owned(),
                uri: meta.uri.to_string(),
                header: meta
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), values(v)))
                    .collect(),
                cookies: meta
                    .cookies
                    .iter()
                    .map(|(k, v)| (k.clone(), values(std::slice::from_ref(v))))
                    .collect(),
                raw_query: meta.raw_query.clone(),
                parsed,
                uploads: uploads
                    .map(|u| serde_json::to_vec(u).unwrap_or_default())
                    .unwrap_or_default(),
                attributes: HashMap::new(),
            };
            // A BytesMut grows as needed: encoding into it cannot fail.
            let (bytes, _) = crate::arena::cut(request.encoded_len(), |buf| request.encode(buf));
            (goridge::flags::CODEC_PROTO, bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn parts(req: hyper::Request<()>) -> Parts {
        req.into_parts().0
    }

    fn sample() -> Parts {
        parts(
            hyper::Request::builder()
                .method("POST")
                .uri("/path/x?a[]=1&b=2")
                .header("Host", "example.com:8080")
                .header("x-custom-header", "one")
                .header("X-Custom-Header", "two")
                .header("content-type", "application/json")
                .header("Cookie", "theme=dark%20blue; sid=a+b; bad=%zz")
                .body(())
                .unwrap(),
        )
    }

    #[test]
    fn canonical_names_like_go() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-CUSTOM-header"), "X-Custom-Header");
        assert_eq!(canonical("www-authenticate"), "Www-Authenticate");
        assert_eq!(canonical("bad header"), "bad header");
    }

    #[test]
    fn json_context_has_roadrunner_fields() {
        let parts = sample();
        let meta = meta(&parts, "10.1.2.3".parse().unwrap(), "http").unwrap();
        let (codec, bytes) = encode(&meta, false, None, ContextEncoding::Json);
        assert_eq!(codec, goridge::flags::CODEC_JSON);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["remoteAddr"], "10.1.2.3");
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["uri"], "http://example.com:8080/path/x?a[]=1&b=2");
        assert_eq!(v["rawQuery"], "a[]=1&b=2");
        assert_eq!(
            v["headers"]["X-Custom-Header"],
            serde_json::json!(["one", "two"])
        );
        assert!(v["headers"].get("Host").is_none(), "Host is not a header");
        assert_eq!(v["cookies"]["theme"], "dark blue");
        assert_eq!(v["cookies"]["sid"], "a b");
        assert!(v["cookies"].get("bad").is_none(), "bad escapes dropped");
        assert_eq!(v["parsed"], false);
        assert!(v["uploads"].is_null());
        assert_eq!(v["attributes"], serde_json::json!({}));
    }

    #[test]
    fn proto_context_decodes_back() {
        let parts = sample();
        let meta = meta(&parts, "10.1.2.3".parse().unwrap(), "https").unwrap();
        let uploads = serde_json::json!({"f": {"name": "a.txt"}});
        let (codec, bytes) = encode(&meta, true, Some(&uploads), ContextEncoding::Proto);
        assert_eq!(codec, goridge::flags::CODEC_PROTO);
        let req = proto::Request::decode(&bytes[..]).unwrap();
        assert_eq!(req.remote_addr, "10.1.2.3");
        assert_eq!(req.uri, "https://example.com:8080/path/x?a[]=1&b=2");
        assert_eq!(
            req.header["X-Custom-Header"].value,
            [b"one".to_vec(), b"two".to_vec()]
        );
        assert_eq!(req.cookies["theme"].value, [b"dark blue".to_vec()]);
        assert!(req.parsed);
        let back: Value = serde_json::from_slice(&req.uploads).unwrap();
        assert_eq!(back, uploads);
    }
}
