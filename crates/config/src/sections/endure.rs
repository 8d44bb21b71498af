//! `endure`: the plugin container (shutdown grace, diagnostics).

use std::time::Duration;

use serde::Deserialize;

use crate::sections::logs::LogLevel;

/// The `endure` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct EndureConfig {
    /// Overall deadline for a graceful stop. 30s.
    #[serde(deserialize_with = "crate::duration::de")]
    pub grace_period: Duration,
    /// Level of the container's own log. `error`.
    pub log_level: LogLevel,
    /// Print the plugin dependency graph at startup.
    pub print_graph: bool,
    /// systemd watchdog interval in seconds; 0 disables it.
    pub watchdog_sec: u64,
}

impl Default for EndureConfig {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(30),
            log_level: LogLevel::Error,
            print_graph: false,
            watchdog_sec: 0,
        }
    }
}

impl EndureConfig {
    pub(crate) fn normalize(&mut self) {
        if self.grace_period.is_zero() {
            self.grace_period = Duration::from_secs(30);
        }
    }
}
