//! `tcp.v1` messages (roadrunner-server/api `tcp/v1/service.proto`, the
//! form RoadRunner's tcp plugin takes over goridge RPC since v2023), our
//! own statement of the field numbers: `CloseRequest{uuid=1}`,
//! `Response{ok=1}`.

/// The argument of `tcp.Close` in the protobuf codec.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CloseRequest {
    /// The connection's uuid.
    #[prost(string, tag = "1")]
    pub uuid: String,
}

/// The answer of `tcp.Close` in the protobuf codec.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    /// Always true (an unknown uuid is not an error, as in RoadRunner).
    #[prost(bool, tag = "1")]
    pub ok: bool,
}
