//! `status`: health and readiness endpoints.

use std::time::Duration;

use serde::Deserialize;

use crate::addr::ListenAddr;
use crate::error::ProblemKind;
use crate::validate::Validator;

/// The `status` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct StatusConfig {
    /// Where `/health` and `/ready` are served (required).
    pub address: ListenAddr,
    /// Status answered when a plugin is not healthy/ready. 503.
    #[serde(default = "default_unavailable")]
    pub unavailable_status_code: u16,
    /// How long a check may take. 60s. RoadRunner stores this key as whole
    /// seconds, so a bare integer here is **seconds** (`check_timeout: 60`),
    /// unlike other durations; strings such as `2s` work too.
    #[serde(
        default = "default_check_timeout",
        deserialize_with = "crate::duration::de_secs"
    )]
    pub check_timeout: Duration,
    /// The live dashboard at `/dashboard` (a Coyote extension).
    #[serde(default)]
    pub dashboard: DashboardConfig,
}

/// `status.dashboard`: the live page at `/dashboard` and its actions.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct DashboardConfig {
    /// Serve `/dashboard` and `/dashboard/events`. `true`: the page is
    /// read-only unless `token` is set.
    pub enabled: bool,
    /// Bearer token the reset / pause / resume actions require; empty
    /// (the default) turns the actions off (their endpoints answer 403).
    pub token: String,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token: String::new(),
        }
    }
}

fn default_unavailable() -> u16 {
    503
}

fn default_check_timeout() -> Duration {
    Duration::from_secs(60)
}

impl StatusConfig {
    pub(crate) fn check(&mut self, v: &mut Validator<'_>) {
        if self.unavailable_status_code == 0 {
            self.unavailable_status_code = default_unavailable();
        }
        if !(100..=599).contains(&self.unavailable_status_code) {
            v.error(
                ProblemKind::Invalid,
                "status.unavailable_status_code",
                format!(
                    "{} is not an HTTP status code (100-599)",
                    self.unavailable_status_code
                ),
            );
        }
        if self.check_timeout.is_zero() {
            self.check_timeout = default_check_timeout();
        }
    }
}
