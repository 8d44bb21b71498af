use std::io::Write;

use bytes::Bytes;
use prost::Message;

use super::{decode_arg, encode_result};
use crate::{RpcError, Service, ServiceFuture};

/// `app`: the application logger PHP code writes through, so its messages
/// land in the server's log with the server's format and levels.
pub struct AppLogger;

/// `applogger.v1.LogEntry`.
#[derive(Clone, PartialEq, Message)]
pub struct LogEntry {
    /// The message.
    #[prost(string, tag = "1")]
    pub message: String,
    /// Context as key / value pairs.
    #[prost(message, repeated, tag = "2")]
    pub log_attrs: Vec<LogAttrs>,
}

/// `applogger.v1.LogAttrs`.
#[derive(Clone, PartialEq, Message)]
pub struct LogAttrs {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value (JSON text for structured values).
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy)]
enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

fn emit(level: Level, message: &str, context: &str) {
    macro_rules! at {
        ($lvl:ident) => {
            if context.is_empty() {
                tracing::$lvl!(target: "coyote::app", "{message}")
            } else {
                tracing::$lvl!(target: "coyote::app", context, "{message}")
            }
        };
    }
    match level {
        Level::Error => at!(error),
        Level::Warning => at!(warn),
        Level::Info => at!(info),
        Level::Debug => at!(debug),
    }
}

fn context_text(attrs: &[LogAttrs]) -> String {
    attrs
        .iter()
        .map(|a| format!("{}:{}", a.key, a.value))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_entry(method: &str, codec: u8, body: &Bytes) -> Result<LogEntry, RpcError> {
    if codec & goridge::flags::CODEC_PROTO == 0 {
        return Err(RpcError::Codec {
            method: method.to_owned(),
            codec,
        });
    }
    LogEntry::decode(body.as_ref()).map_err(|e| RpcError::BadArgument {
        method: method.to_owned(),
        reason: e.to_string(),
    })
}

/// Writes raw text to stderr, as RoadRunner's `app.Log` does.
fn raw(text: &str) -> Result<(), RpcError> {
    std::io::stderr()
        .write_all(text.as_bytes())
        .map_err(|e| RpcError::Failed(format!("cannot write to stderr: {e}")))
}

impl Service for AppLogger {
    fn name(&self) -> &'static str {
        "app"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            let full = format!("app.{method}");
            let level = match method.trim_end_matches("WithContext") {
                "Error" => Some(Level::Error),
                "Warning" => Some(Level::Warning),
                "Info" => Some(Level::Info),
                "Debug" => Some(Level::Debug),
                "Log" => None,
                _ => return Err(RpcError::UnknownMethod(full)),
            };
            if method.ends_with("WithContext") {
                let entry = decode_entry(&full, codec, &body)?;
                let context = context_text(&entry.log_attrs);
                match level {
                    Some(level) => emit(level, &entry.message, &context),
                    None if context.is_empty() => raw(&entry.message)?,
                    None => raw(&format!("{} {context}", entry.message))?,
                }
                // `applogger.v1.Response` has no fields: its encoding is empty.
                Ok(Vec::new())
            } else {
                let message: String = decode_arg(&full, codec, &body)?;
                match level {
                    Some(level) => emit(level, &message, ""),
                    None => raw(&message)?,
                }
                encode_result(codec, &true)
            }
        })
    }
}
