//! `logs`: logger mode, level, encoding and outputs, with per-plugin channels.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// The `logs` section, or one of its `channels`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct LogsConfig {
    /// Preset: `development` (default), `production`, `raw`, `off`/`none`.
    pub mode: LogMode,
    /// Minimum level. `debug` by default, whatever the mode (RoadRunner sets
    /// it before looking at the mode).
    pub level: LogLevel,
    /// `console` or `json`; `None` lets the mode decide (json for
    /// production, console otherwise).
    pub encoding: Option<LogEncoding>,
    /// Line ending. `"\n"`.
    pub line_ending: String,
    /// Where logs go: `stderr` (default), `stdout` or file paths.
    pub output: Vec<String>,
    /// Where the logger's own errors go. `stderr`.
    pub err_output: Vec<String>,
    /// Custom line format with `%placeholders%` (newer RoadRunner).
    #[serde(deserialize_with = "crate::fields::de_opt_string")]
    pub format: Option<String>,
    /// Go time layout for `%time%` in `format`.
    #[serde(deserialize_with = "crate::fields::de_opt_string")]
    pub time_format: Option<String>,
    /// Per-plugin settings (`channels.http.level: info`). A channel's unset
    /// keys take the defaults above, not the parent's values (as in RR).
    pub channels: BTreeMap<String, LogsConfig>,
    /// Rotating file output; when set, logs go there as JSON.
    pub file_logger_options: Option<FileLoggerOptions>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            mode: LogMode::Development,
            level: LogLevel::Debug,
            encoding: None,
            line_ending: "\n".to_owned(),
            output: vec!["stderr".to_owned()],
            err_output: vec!["stderr".to_owned()],
            format: None,
            time_format: None,
            channels: BTreeMap::new(),
            file_logger_options: None,
        }
    }
}

impl LogsConfig {
    /// The settings for `plugin`: its channel if it has one, else these.
    pub fn for_plugin(&self, plugin: &str) -> &LogsConfig {
        self.channels.get(plugin).unwrap_or(self)
    }

    pub(crate) fn normalize(&mut self) {
        if self.line_ending.is_empty() {
            self.line_ending = "\n".to_owned();
        }
        if self.output.is_empty() {
            self.output = vec!["stderr".to_owned()];
        }
        if self.err_output.is_empty() {
            self.err_output = vec!["stderr".to_owned()];
        }
        if let Some(file) = &mut self.file_logger_options {
            file.normalize();
        }
        for channel in self.channels.values_mut() {
            channel.normalize();
        }
    }
}

/// `logs.mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogMode {
    /// Human-readable, colored, debug level.
    #[default]
    Development,
    /// JSON, info level.
    Production,
    /// The message only, no decoration.
    Raw,
    /// No logging (`off` or `none`).
    Off,
}

impl<'de> Deserialize<'de> for LogMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LogMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one of development, production, raw, off, none")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LogMode, E> {
                Ok(match v.trim().to_ascii_lowercase().as_str() {
                    "development" | "" => LogMode::Development,
                    "production" => LogMode::Production,
                    "raw" => LogMode::Raw,
                    "off" | "none" => LogMode::Off,
                    _ => {
                        // RoadRunner silently falls back to a development-like
                        // logger; say so.
                        crate::de::note(format!(
                            "unknown log mode {v:?} (development, production, raw, off); \
                             using development"
                        ));
                        LogMode::Development
                    }
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// Log levels (zap's names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `debug` (RoadRunner's default).
    #[default]
    Debug,
    /// `info`.
    Info,
    /// `warn` (also `warning`).
    Warn,
    /// `error`.
    Error,
    /// `dpanic`, `panic`, `fatal`: zap's levels above error.
    Fatal,
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LogLevel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one of debug, info, warn, error")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LogLevel, E> {
                Ok(match v.trim().to_ascii_lowercase().as_str() {
                    "debug" | "" => LogLevel::Debug,
                    "info" => LogLevel::Info,
                    "warn" | "warning" => LogLevel::Warn,
                    "error" => LogLevel::Error,
                    "dpanic" | "panic" | "fatal" => LogLevel::Fatal,
                    _ => {
                        // RoadRunner ignores a level it cannot parse.
                        crate::de::note(format!(
                            "unknown log level {v:?} (debug, info, warn, error); using debug"
                        ));
                        LogLevel::Debug
                    }
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// `logs.encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogEncoding {
    /// Human-readable text.
    Console,
    /// One JSON object per line.
    Json,
}

/// `logs.file_logger_options`: a rotating log file (lumberjack).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileLoggerOptions {
    /// The file; `None` means `<process>-lumberjack.log` in the OS temp dir.
    #[serde(deserialize_with = "crate::fields::de_opt_path")]
    pub log_output: Option<std::path::PathBuf>,
    /// Rotate above this size, in MB. 100.
    pub max_size: u64,
    /// Delete rotated files older than this many days. 24 (RoadRunner's
    /// code; its schema says 1).
    pub max_age: u64,
    /// Keep at most this many rotated files. 10 (code; schema says 5).
    pub max_backups: u64,
    /// Gzip rotated files.
    pub compress: bool,
}

impl Default for FileLoggerOptions {
    fn default() -> Self {
        Self {
            log_output: None,
            max_size: 100,
            max_age: 24,
            max_backups: 10,
            compress: false,
        }
    }
}

impl FileLoggerOptions {
    fn normalize(&mut self) {
        let d = Self::default();
        if self.max_size == 0 {
            self.max_size = d.max_size;
        }
        if self.max_age == 0 {
            self.max_age = d.max_age;
        }
        if self.max_backups == 0 {
            self.max_backups = d.max_backups;
        }
    }
}
