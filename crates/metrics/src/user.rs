//! Collectors declared at run time (by PHP over RPC, or `metrics.collect`),
//! keyed by name, with fixed label names.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use serde::Deserialize;

type Labels = Vec<(String, String)>;

/// The kinds of collector RoadRunner's metrics plugin accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CollectorType {
    /// Only goes up.
    #[default]
    Counter,
    /// Goes up and down, or is set.
    Gauge,
    /// Observations in buckets.
    Histogram,
    /// Observations with quantiles.
    Summary,
}

/// A collector declaration (`metrics.Declare`'s `collector`, or a
/// `metrics.collect` entry).
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(default)]
pub struct CollectorSpec {
    /// Prefix of the exposed name.
    pub namespace: String,
    /// Second prefix of the exposed name.
    pub subsystem: String,
    /// The kind.
    #[serde(rename = "type")]
    pub kind: CollectorType,
    /// Help text.
    pub help: String,
    /// Label names, in the order values are given.
    pub labels: Vec<String>,
    /// Histogram buckets (Prometheus' defaults when empty).
    pub buckets: Vec<f64>,
    /// Summary quantiles -> allowed error (`{"0.5": 0.05}`).
    pub objectives: BTreeMap<String, f64>,
}

/// Why a metrics call failed; texts are what PHP sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// No collector with that name.
    #[error("undefined collector {0}")]
    Undefined(String),
    /// Wrong number of label values.
    #[error("inconsistent label cardinality for {name}: expected {expected} values, got {got}")]
    Labels {
        /// Collector.
        name: String,
        /// Declared labels.
        expected: usize,
        /// Given values.
        got: usize,
    },
    /// The operation does not apply to that kind (e.g. Set on a counter).
    #[error("{operation} is not supported by the {kind:?} collector {name}")]
    Operation {
        /// Collector.
        name: String,
        /// Its kind.
        kind: CollectorType,
        /// What was asked.
        operation: &'static str,
    },
    /// A counter cannot go down.
    #[error("counter {0} cannot decrease")]
    Negative(String),
    /// A bad declaration.
    #[error("invalid collector {name}: {reason}")]
    Invalid {
        /// Collector.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Builds histograms with the declared buckets.
#[derive(Clone, Debug)]
struct Buckets(Vec<f64>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// The most recent observations a summary keeps for its quantiles.
const SUMMARY_WINDOW: usize = 1024;

#[derive(Default, Debug)]
struct SummaryData {
    recent: VecDeque<f64>,
    sum: f64,
    count: u64,
}

#[derive(Debug)]
enum Metric {
    Counter(Family<Labels, Counter<f64, AtomicU64>>),
    Gauge(Family<Labels, Gauge<f64, AtomicU64>>),
    Histogram(Family<Labels, Histogram, Buckets>),
    /// Hand-made: prometheus-client has no summary type. Quantiles are
    /// exact over the last [`SUMMARY_WINDOW`] observations.
    Summary(Mutex<HashMap<Labels, SummaryData>>, Vec<f64>),
}

#[derive(Debug)]
struct Entry {
    exposed: String,
    help: String,
    labels: Vec<String>,
    kind: CollectorType,
    metric: Metric,
}

/// Run-time collectors, by declared name.
#[derive(Debug, Default)]
pub struct UserMetrics {
    entries: RwLock<BTreeMap<String, Entry>>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl UserMetrics {
    /// Declares a collector; declaring an existing name again is a no-op,
    /// as in RoadRunner.
    pub fn declare(&self, name: &str, spec: &CollectorSpec) -> Result<(), MetricsError> {
        let invalid = |reason: String| MetricsError::Invalid {
            name: name.to_owned(),
            reason,
        };
        let exposed = [spec.namespace.as_str(), spec.subsystem.as_str(), name]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("_");
        if !valid_name(&exposed) {
            return Err(invalid(format!("{exposed:?} is not a valid metric name")));
        }
        if let Some(bad) = spec.labels.iter().find(|l| !valid_name(l)) {
            return Err(invalid(format!("{bad:?} is not a valid label name")));
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.contains_key(name) {
            return Ok(());
        }
        let metric = match spec.kind {
            CollectorType::Counter => Metric::Counter(Family::default()),
            CollectorType::Gauge => Metric::Gauge(Family::default()),
            CollectorType::Histogram => {
                let buckets = if spec.buckets.is_empty() {
                    vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ]
                } else {
                    spec.buckets.clone()
                };
                Metric::Histogram(Family::new_with_constructor(Buckets(buckets)))
            }
            CollectorType::Summary => {
                let mut quantiles = Vec::new();
                for q in spec.objectives.keys() {
                    let q: f64 = q
                        .parse()
                        .map_err(|_| invalid(format!("objective {q:?} is not a number")))?;
                    if !(0.0..=1.0).contains(&q) {
                        return Err(invalid(format!("quantile {q} is outside 0..1")));
                    }
                    quantiles.push(q);
                }
                quantiles.sort_by(f64::total_cmp);
                Metric::Summary(Mutex::default(), quantiles)
            }
        };
        entries.insert(
            name.to_owned(),
            Entry {
                exposed,
                help: spec.help.clone(),
                labels: spec.labels.clone(),
                kind: spec.kind,
                metric,
            },
        );
        Ok(())
    }

    /// Removes a collector.
    pub fn unregister(&self, name: &str) -> Result<(), MetricsError> {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| MetricsError::Undefined(name.to_owned()))
    }

    fn with<T>(
        &self,
        name: &str,
        values: &[String],
        operation: &'static str,
        f: impl FnOnce(&Metric, &Labels) -> Option<T>,
    ) -> Result<T, MetricsError> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries
            .get(name)
            .ok_or_else(|| MetricsError::Undefined(name.to_owned()))?;
        if values.len() != entry.labels.len() {
            return Err(MetricsError::Labels {
                name: name.to_owned(),
                expected: entry.labels.len(),
                got: values.len(),
            });
        }
        let labels: Labels = entry
            .labels
            .iter()
            .cloned()
            .zip(values.iter().cloned())
            .collect();
        f(&entry.metric, &labels).ok_or(MetricsError::Operation {
            name: name.to_owned(),
            kind: entry.kind,
            operation,
        })
    }

    /// `metrics.Add`: counters and gauges.
    pub fn add(&self, name: &str, value: f64, labels: &[String]) -> Result<(), MetricsError> {
        if value < 0.0 && self.kind(name) == Some(CollectorType::Counter) {
            return Err(MetricsError::Negative(name.to_owned()));
        }
        self.with(name, labels, "Add", |m, l| match m {
            Metric::Counter(f) => {
                f.get_or_create(l).inc_by(value);
                Some(())
            }
            Metric::Gauge(f) => {
                f.get_or_create(l).inc_by(value);
                Some(())
            }
            _ => None,
        })
    }

    /// `metrics.Sub`: gauges.
    pub fn sub(&self, name: &str, value: f64, labels: &[String]) -> Result<(), MetricsError> {
        self.with(name, labels, "Sub", |m, l| match m {
            Metric::Gauge(f) => {
                f.get_or_create(l).dec_by(value);
                Some(())
            }
            _ => None,
        })
    }

    /// `metrics.Set`: gauges.
    pub fn set(&self, name: &str, value: f64, labels: &[String]) -> Result<(), MetricsError> {
        self.with(name, labels, "Set", |m, l| match m {
            Metric::Gauge(f) => {
                f.get_or_create(l).set(value);
                Some(())
            }
            _ => None,
        })
    }

    /// `metrics.Observe`: histograms and summaries.
    pub fn observe(&self, name: &str, value: f64, labels: &[String]) -> Result<(), MetricsError> {
        self.with(name, labels, "Observe", |m, l| match m {
            Metric::Histogram(f) => {
                f.get_or_create(l).observe(value);
                Some(())
            }
            Metric::Summary(data, _) => {
                let mut data = data
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let d = data.entry(l.clone()).or_default();
                if d.recent.len() == SUMMARY_WINDOW {
                    d.recent.pop_front();
                }
                d.recent.push_back(value);
                d.sum += value;
                d.count += 1;
                Some(())
            }
            _ => None,
        })
    }

    fn kind(&self, name: &str) -> Option<CollectorType> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .map(|e| e.kind)
    }

    /// Summaries in the text format (prometheus-client cannot encode them).
    /// Whether `family` is a counter declared without the `_total` suffix
    /// (scraped in the 0.0.4 format under that very name).
    pub(crate) fn is_bare_counter(&self, family: &str) -> bool {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .any(|e| matches!(e.metric, Metric::Counter(_)) && e.exposed == family)
    }

    pub(crate) fn render_summaries(&self) -> String {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        for entry in entries.values() {
            let Metric::Summary(data, quantiles) = &entry.metric else {
                continue;
            };
            let _ = writeln!(out, "# HELP {} {}", entry.exposed, escape_help(&entry.help));
            let _ = writeln!(out, "# TYPE {} summary", entry.exposed);
            let data = data
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (labels, d) in data.iter() {
                let mut sorted: Vec<f64> = d.recent.iter().copied().collect();
                sorted.sort_by(f64::total_cmp);
                for q in quantiles {
                    let value = if sorted.is_empty() {
                        f64::NAN
                    } else {
                        let i = ((sorted.len() - 1) as f64 * q).round() as usize;
                        sorted[i.min(sorted.len() - 1)]
                    };
                    let mut with_q = labels.clone();
                    with_q.push(("quantile".to_owned(), q.to_string()));
                    let _ = writeln!(out, "{}{} {}", entry.exposed, label_text(&with_q), value);
                }
                let _ = writeln!(out, "{}_sum{} {}", entry.exposed, label_text(labels), d.sum);
                let _ = writeln!(
                    out,
                    "{}_count{} {}",
                    entry.exposed,
                    label_text(labels),
                    d.count
                );
            }
        }
        out
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn label_text(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Collector for UserMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let none: Labels = Vec::new();
        for entry in entries.values() {
            let kind = match &entry.metric {
                Metric::Counter(_) => MetricType::Counter,
                Metric::Gauge(_) => MetricType::Gauge,
                Metric::Histogram(_) => MetricType::Histogram,
                Metric::Summary(..) => continue,
            };
            // A counter's family is named without `_total` (the encoder
            // adds it to the samples): `hits_total` declared is `hits_total`
            // scraped, not `hits_total_total`.
            let family = match &entry.metric {
                Metric::Counter(_) => entry
                    .exposed
                    .strip_suffix("_total")
                    .unwrap_or(&entry.exposed),
                _ => &entry.exposed,
            };
            let m = encoder.encode_descriptor(family, &entry.help, None, kind)?;
            // A collector without labels is one series (shown from the
            // moment it is declared, as Go's client does), not a family.
            match (&entry.metric, entry.labels.is_empty()) {
                (Metric::Counter(f), true) => f.get_or_create(&none).encode(m)?,
                (Metric::Gauge(f), true) => f.get_or_create(&none).encode(m)?,
                (Metric::Histogram(f), true) => f.get_or_create(&none).encode(m)?,
                (Metric::Counter(f), false) => f.encode(m)?,
                (Metric::Gauge(f), false) => f.encode(m)?,
                (Metric::Histogram(f), false) => f.encode(m)?,
                (Metric::Summary(..), _) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: CollectorType, labels: &[&str]) -> CollectorSpec {
        CollectorSpec {
            kind,
            help: "help".into(),
            labels: labels.iter().map(|s| (*s).to_owned()).collect(),
            ..CollectorSpec::default()
        }
    }

    #[test]
    fn operations_by_kind_and_errors() {
        let m = UserMetrics::default();
        m.declare("hits", &spec(CollectorType::Counter, &["route"]))
            .unwrap();
        m.declare("hits", &spec(CollectorType::Gauge, &[])).unwrap();
        m.add("hits", 2.0, &["/a".into()]).unwrap();
        assert!(matches!(
            m.add("hits", -1.0, &["/a".into()]),
            Err(MetricsError::Negative(_))
        ));
        assert!(matches!(
            m.set("hits", 1.0, &["/a".into()]),
            Err(MetricsError::Operation { .. })
        ));
        assert!(matches!(
            m.add("hits", 1.0, &[]),
            Err(MetricsError::Labels { .. })
        ));
        assert!(matches!(
            m.add("nope", 1.0, &[]),
            Err(MetricsError::Undefined(_))
        ));
        m.declare("temp", &spec(CollectorType::Gauge, &[])).unwrap();
        m.set("temp", 10.0, &[]).unwrap();
        m.sub("temp", 2.5, &[]).unwrap();
        m.unregister("temp").unwrap();
        assert!(m.unregister("temp").is_err());
        assert!(m
            .declare("bad name", &spec(CollectorType::Gauge, &[]))
            .is_err());
        assert!(m
            .declare("x", &spec(CollectorType::Gauge, &["bad-label"]))
            .is_err());
    }

    #[test]
    fn summaries_render_quantiles() {
        let m = UserMetrics::default();
        let mut s = spec(CollectorType::Summary, &["job"]);
        s.namespace = "app".into();
        s.objectives = BTreeMap::from([("0.5".into(), 0.05), ("0.99".into(), 0.001)]);
        m.declare("latency", &s).unwrap();
        for v in 1..=100 {
            m.observe("latency", f64::from(v), &["mail".into()])
                .unwrap();
        }
        let text = m.render_summaries();
        assert!(text.contains("# TYPE app_latency summary"), "{text}");
        assert!(
            text.contains("app_latency{job=\"mail\",quantile=\"0.5\"} 51"),
            "{text}"
        );
        assert!(
            text.contains("app_latency{job=\"mail\",quantile=\"0.99\"} 99"),
            "{text}"
        );
        assert!(
            text.contains("app_latency_sum{job=\"mail\"} 5050"),
            "{text}"
        );
        assert!(
            text.contains("app_latency_count{job=\"mail\"} 100"),
            "{text}"
        );
    }
}
