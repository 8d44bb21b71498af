//! `logs` -> a global tracing subscriber.
//!
//! - `mode`: development (human text), production (JSON unless `encoding`
//!   says otherwise), raw (the message only), off.
//! - `level`, and `channels.<plugin>.level` as per-plugin overrides: they
//!   apply to the plugin's log target `coyote::<plugin>`; worker output is
//!   logged under `coyote::worker` with the pool name as a field.
//! - `output`: `stderr` (default), `stdout`, or a file path (appended).

use std::fs::OpenOptions;
use std::sync::Arc;

use coyote_config::{LogEncoding, LogLevel, LogMode, LogsConfig};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::ServerError;

/// Command-line switches that beat the config file.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    /// `-d/--debug`: debug level everywhere.
    pub debug: bool,
    /// `-s/--silent`: no log output at all.
    pub silent: bool,
}

fn level(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        _ => LevelFilter::ERROR,
    }
}

/// The filter directives for `logs` (exposed for tests).
pub fn directives(logs: &LogsConfig, overrides: Overrides) -> String {
    if overrides.silent || logs.mode == LogMode::Off {
        return "off".to_owned();
    }
    let base = if overrides.debug {
        LevelFilter::DEBUG
    } else {
        level(logs.level)
    };
    let mut out = vec![
        format!("{base}").to_lowercase(),
        // Dependencies stay quiet unless something is wrong.
        "hyper=warn".into(),
        "h2=warn".into(),
        "rustls=warn".into(),
    ];
    if !overrides.debug {
        for (plugin, channel) in &logs.channels {
            out.push(format!("coyote::{plugin}={}", level(channel.level)).to_lowercase());
        }
    }
    out.join(",")
}

fn writer(output: &[String]) -> Result<BoxMakeWriter, ServerError> {
    match output.first().map(String::as_str) {
        None | Some("") | Some("stderr") => Ok(BoxMakeWriter::new(std::io::stderr)),
        Some("stdout") => Ok(BoxMakeWriter::new(std::io::stdout)),
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| ServerError::Logging(format!("cannot open log file {path}: {e}")))?;
            Ok(BoxMakeWriter::new(Arc::new(file)))
        }
    }
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(logs: &LogsConfig, overrides: Overrides) -> Result<(), ServerError> {
    let filter = EnvFilter::try_new(directives(logs, overrides))
        .map_err(|e| ServerError::Logging(e.to_string()))?;
    let writer = writer(&logs.output)?;
    let json = match logs.encoding {
        Some(LogEncoding::Json) => true,
        Some(LogEncoding::Console) => false,
        None => logs.mode == LogMode::Production,
    };
    let ansi = logs.output.first().is_none_or(|o| o == "stderr")
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match (logs.mode, json) {
        (LogMode::Raw, _) => builder
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false)
            .try_init(),
        (_, true) => builder.json().flatten_event(true).try_init(),
        (_, false) => builder.with_ansi(ansi).try_init(),
    };
    result.map_err(|e| ServerError::Logging(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_channels_and_switches() {
        let mut logs = LogsConfig {
            level: LogLevel::Warn,
            ..LogsConfig::default()
        };
        logs.channels.insert(
            "http".into(),
            LogsConfig {
                level: LogLevel::Debug,
                ..LogsConfig::default()
            },
        );
        let d = directives(&logs, Overrides::default());
        assert!(d.starts_with("warn,"), "{d}");
        assert!(d.contains("coyote::http=debug"), "{d}");
        assert!(directives(
            &logs,
            Overrides {
                debug: true,
                silent: false
            }
        )
        .starts_with("debug"));
        assert_eq!(
            directives(
                &logs,
                Overrides {
                    debug: false,
                    silent: true
                }
            ),
            "off"
        );
        logs.mode = LogMode::Off;
        assert_eq!(directives(&logs, Overrides::default()), "off");
        assert!(
            EnvFilter::try_new(directives(&LogsConfig::default(), Overrides::default())).is_ok()
        );
    }

    #[test]
    fn unwritable_log_file_is_a_clear_error() {
        let err = writer(&["/no/such/dir/coyote.log".into()]).err().unwrap();
        assert!(err.to_string().contains("/no/such/dir/coyote.log"), "{err}");
    }
}
