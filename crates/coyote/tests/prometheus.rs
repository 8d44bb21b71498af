//! End-to-end: `/metrics` scraped as Prometheus scrapes it, parsed by the
//! reference parser (Python's prometheus_client, `scripts/prom_families.py`),
//! in both formats: the 0.0.4 text format by default and OpenMetrics when
//! `Accept` asks for it. The families RoadRunner 2025 exports for an http
//! pool with `http_metrics`, a jobs pool, and a counter PHP declares must
//! exist with RoadRunner's names, types, labels and buckets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{get, http_port, start};
use coyote_test_support::{php, repo_root};

/// RoadRunner's families (name, type, label names), read from its sources:
/// the http plugin's and the jobs plugin's worker exporters, the
/// `http_metrics` middleware (roadrunner-server/prometheus).
const ROADRUNNER: &[(&str, &str, &[&str])] = &[
    ("rr_http_total_workers", "gauge", &[]),
    ("rr_http_workers_memory_bytes", "gauge", &[]),
    ("rr_http_worker_state", "gauge", &["pid", "state"]),
    ("rr_http_worker_memory_bytes", "gauge", &["pid"]),
    ("rr_http_workers_ready", "gauge", &[]),
    ("rr_http_workers_working", "gauge", &[]),
    ("rr_http_workers_invalid", "gauge", &[]),
    ("rr_http_requests_queue", "gauge", &[]),
    ("rr_http_no_free_workers_total", "counter", &[]),
    ("rr_http_request_total", "counter", &["status"]),
    ("rr_http_request_duration_seconds", "histogram", &["status"]),
    ("rr_http_uptime_seconds", "counter", &[]),
    ("rr_jobs_total_workers", "gauge", &[]),
    ("rr_jobs_workers_memory_bytes", "gauge", &[]),
    ("rr_jobs_worker_state", "gauge", &["pid", "state"]),
    ("rr_jobs_worker_memory_bytes", "gauge", &["pid"]),
    ("rr_jobs_jobs_ok", "gauge", &[]),
    ("rr_jobs_jobs_err", "gauge", &[]),
    ("rr_jobs_push_ok", "gauge", &[]),
    ("rr_jobs_push_err", "gauge", &[]),
    // Declared by PHP as `php_hits`: scraped under that very name.
    ("php_hits", "counter", &["route"]),
];

/// client_golang's `DefBuckets`, RoadRunner's request histogram buckets.
const BUCKETS: &[&str] = &[
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf",
];

struct Family {
    kind: String,
    /// Sample name -> label sets.
    samples: BTreeMap<String, Vec<BTreeMap<String, String>>>,
}

/// Parses `text` with the reference parser in `format`.
fn parse(text: &str, format: &str) -> BTreeMap<String, Family> {
    let mut child = Command::new("python3")
        .arg(repo_root().join("scripts/prom_families.py"))
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/deps.sh installs prometheus_client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the reference parser refused the {format} exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut families = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut samples: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for s in v["samples"].as_array().unwrap() {
            let labels = s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            samples
                .entry(s["name"].as_str().unwrap().to_owned())
                .or_default()
                .push(labels);
        }
        families.insert(
            v["name"].as_str().unwrap().to_owned(),
            Family {
                kind: v["type"].as_str().unwrap().to_owned(),
                samples,
            },
        );
    }
    families
}

/// The parsed family of RoadRunner's `name` of `kind`, and the sample name
/// the parser gives its series (the reference parsers name a counter family
/// without `_total` and its samples with it, in both formats).
fn lookup<'a>(
    families: &'a BTreeMap<String, Family>,
    name: &str,
    kind: &str,
) -> Option<(&'a Family, String)> {
    let (family, sample) = match kind {
        "counter" => {
            let f = name.strip_suffix("_total").unwrap_or(name);
            (f.to_owned(), format!("{f}_total"))
        }
        "histogram" => (name.to_owned(), format!("{name}_bucket")),
        _ => (name.to_owned(), name.to_owned()),
    };
    families.get(&family).map(|f| (f, sample))
}

/// Whether the raw exposition has a series named exactly `name`.
fn has_series(text: &str, name: &str) -> bool {
    text.lines().any(|l| {
        l.strip_prefix(name)
            .is_some_and(|r| r.starts_with(['{', ' ']))
    })
}

fn scrape(port: u16, accept: Option<&str>) -> (String, String) {
    let extra = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    let reply = get(port, "/metrics", &extra);
    assert_eq!(reply.status, 200);
    (
        reply.header("content-type").unwrap_or_default().to_owned(),
        reply.text(),
    )
}

#[test]
fn roadrunners_families_parse_in_both_formats_with_its_names_types_labels_and_buckets() {
    let jobs_worker = repo_root().join("php/workers/jobs-driven.php");
    let cfg = format!(
        "{}metrics:\n  address: 127.0.0.1:0\njobs:\n  pool:\n    num_workers: 1\n    command: \"{} {}\"\n  consume: [q]\n  pipelines:\n    q:\n      driver: memory\n",
        common::config(2, ""),
        php(),
        jobs_worker.display()
    );
    let server = start(&cfg);
    let http = http_port(&server);
    let metrics = server.port("metrics", "metrics");
    for _ in 0..3 {
        assert_eq!(get(http, "/status/200", "").status, 200);
    }
    let rpc = server.address("rpc", "rpc").unwrap();
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        script.path(),
        format!(
            "<?php require '{}';\n$m = new Coyote\\RPC\\Metrics(Coyote\\RPC\\RPC::create());\n\
             $m->declare('php_hits', 'counter', 'Hits', ['route']);\n$m->add('php_hits', 2, ['/a']);\necho \"ok\\n\";\n",
            repo_root().join("php/autoload.php").display()
        ),
    )
    .unwrap();
    let out = Command::new(php())
        .arg(script.path())
        .env("RR_RPC", rpc)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{out:?}");

    // The default: the 0.0.4 text format.
    let (content_type, text) = scrape(metrics, None);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(!text.contains("# EOF"), "{text}");
    let families = parse(&text, "text");
    for (name, kind, labels) in ROADRUNNER {
        let (family, sample) = lookup(&families, name, kind)
            .unwrap_or_else(|| panic!("{name} ({kind}) missing from the text exposition:\n{text}"));
        assert_eq!(family.kind, *kind, "{name}");
        let exact = if *kind == "histogram" {
            format!("{name}_bucket")
        } else {
            (*name).to_owned()
        };
        assert!(
            has_series(&text, &exact),
            "no series named exactly {exact}:\n{text}"
        );
        for set in &family.samples[&sample] {
            let mut names: Vec<&str> = set
                .keys()
                .map(String::as_str)
                .filter(|l| *l != "le")
                .collect();
            names.sort_unstable();
            assert_eq!(names, *labels, "{name}: labels of {set:?}");
        }
    }
    // The values behind the names.
    let value = |series: &str| common::series_value(&text, series);
    assert_eq!(value("php_hits{route=\"/a\"}"), 2.0);
    assert_eq!(value("rr_http_request_total{status=\"200\"}"), 3.0);
    assert_eq!(value("rr_http_total_workers"), 2.0);
    assert_eq!(value("rr_http_no_free_workers_total"), 0.0);
    let states = &families["rr_http_worker_state"].samples["rr_http_worker_state"];
    assert_eq!(states.len(), 2, "one series per worker");
    assert!(states.iter().all(|l| l["state"] == "ready"), "{states:?}");
    let buckets: Vec<&str> = families["rr_http_request_duration_seconds"].samples
        ["rr_http_request_duration_seconds_bucket"]
        .iter()
        .filter(|l| l["status"] == "200")
        .map(|l| l["le"].as_str())
        .collect();
    assert_eq!(buckets, BUCKETS);
    assert!(value("rr_http_workers_memory_bytes") > 0.0);

    // OpenMetrics when asked for: the same families, counters with the
    // `_total` samples OpenMetrics requires.
    let (content_type, om) = scrape(
        metrics,
        Some("application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(om.trim_end().ends_with("# EOF"));
    let om_families = parse(&om, "openmetrics");
    for (name, kind, _) in ROADRUNNER {
        let (family, sample) = lookup(&om_families, name, kind)
            .unwrap_or_else(|| panic!("{name} missing from the OpenMetrics exposition:\n{om}"));
        assert_eq!(family.kind, *kind, "{name}");
        assert!(has_series(&om, &sample), "no series {sample}:\n{om}");
    }
}
