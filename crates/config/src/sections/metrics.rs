//! `metrics`: the Prometheus endpoint and application-declared collectors.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::addr::ListenAddr;

/// The `metrics` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Where `/metrics` is served. Default `127.0.0.1:2112`.
    pub address: ListenAddr,
    /// Collectors declared in the file, by metric name.
    pub collect: BTreeMap<String, Collector>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            address: ListenAddr::tcp("127.0.0.1", 2112),
            collect: BTreeMap::new(),
        }
    }
}

/// One application metric (`metrics.collect.<name>`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Collector {
    /// Collector type (required).
    #[serde(rename = "type")]
    pub kind: CollectorType,
    /// Metric namespace (name prefix).
    #[serde(default)]
    pub namespace: String,
    /// Metric subsystem (second name prefix).
    #[serde(default)]
    pub subsystem: String,
    /// Help text.
    #[serde(default)]
    pub help: String,
    /// Label names; a labelled collector is a vector.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Histogram buckets.
    #[serde(default)]
    pub buckets: Vec<f64>,
    /// Summary objectives as `(quantile, allowed error)` pairs.
    #[serde(default, deserialize_with = "crate::fields::de_objectives")]
    pub objectives: Vec<(f64, f64)>,
}

/// Prometheus collector types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectorType {
    /// Observations in buckets.
    Histogram,
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up.
    Counter,
    /// Observations with quantiles.
    Summary,
}
