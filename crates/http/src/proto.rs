//! `http.v1` messages of RoadRunner's API (`proto/http/v1/http.proto`),
//! written with prost's derive so no protoc is needed at build time.

use std::collections::HashMap;

/// Values of one header (or cookie, or attribute).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValue {
    /// The values.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub value: Vec<Vec<u8>>,
}

/// The request context sent to workers with `CODEC_PROTO`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// Client IP, no port.
    #[prost(string, tag = "1")]
    pub remote_addr: String,
    /// `HTTP/1.1`, `HTTP/2.0`.
    #[prost(string, tag = "2")]
    pub protocol: String,
    /// Method.
    #[prost(string, tag = "3")]
    pub method: String,
    /// Absolute URI.
    #[prost(string, tag = "4")]
    pub uri: String,
    /// Headers (Host excluded).
    #[prost(map = "string, message", tag = "5")]
    pub header: HashMap<String, HeaderValue>,
    /// Cookies, one value each.
    #[prost(map = "string, message", tag = "6")]
    pub cookies: HashMap<String, HeaderValue>,
    /// Query string without `?`.
    #[prost(string, tag = "7")]
    pub raw_query: String,
    /// The body is the JSON form tree.
    #[prost(bool, tag = "8")]
    pub parsed: bool,
    /// The uploads tree, as JSON.
    #[prost(bytes = "vec", tag = "9")]
    pub uploads: Vec<u8>,
    /// Middleware attributes.
    #[prost(map = "string, message", tag = "10")]
    pub attributes: HashMap<String, HeaderValue>,
}

/// The response context workers send with `CODEC_PROTO`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    /// HTTP status.
    #[prost(int64, tag = "1")]
    pub status: i64,
    /// Headers.
    #[prost(map = "string, message", tag = "2")]
    pub headers: HashMap<String, HeaderValue>,
}
