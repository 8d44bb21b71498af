//! The Prometheus text exposition (format 0.0.4), the default answer of
//! `/metrics` as RoadRunner's (client_golang's) is, derived from the
//! OpenMetrics text prometheus-client writes (it writes no other format).
//!
//! What differs, and is rewritten here:
//! - a counter's family is named as declared: OpenMetrics names the family
//!   without `_total` and its sample with it; in 0.0.4 family and sample
//!   carry the declared name (`rr_http_request_total`, or a PHP counter
//!   declared as `php_hits`, which stays `php_hits`);
//! - `_created` samples, `# UNIT` lines, exemplars and `# EOF` do not exist
//!   in 0.0.4;
//! - OpenMetrics-only types map to 0.0.4's (`unknown` is `untyped`).

/// Converts `openmetrics` to the 0.0.4 text format. `bare(family)` says
/// whether the counter family `family` was declared without the `_total`
/// suffix (its samples then drop it).
pub(crate) fn from_openmetrics(openmetrics: &str, bare: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // The family being written: its OpenMetrics name, type and 0.0.4 name.
    let mut family = String::new();
    let mut kind = String::new();
    let mut exposed = String::new();
    let mut help: Option<(String, String)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            // OpenMetrics escapes `"` in HELP; 0.0.4 does not.
            help = Some((name.to_owned(), text.replace("\\\"", "\"")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            family = name.to_owned();
            kind = t.to_owned();
            exposed = if kind == "counter" && !bare(name) {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            if let Some((h, text)) = help.take() {
                if h == family {
                    out.push_str(&format!("# HELP {exposed} {text}\n"));
                }
            }
            let t = match t {
                "counter" | "gauge" | "histogram" | "summary" => t,
                "gaugehistogram" => "histogram",
                "info" | "stateset" => "gauge",
                _ => "untyped",
            };
            out.push_str(&format!("# TYPE {exposed} {t}\n"));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            // `# UNIT`, `# EOF`, comments.
            continue;
        }
        // A sample: `name{labels} value [timestamp] [# exemplar]`.
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels_end = labels_end(line, name_end);
        let sample = match line[labels_end..].find(" # ") {
            Some(at) => &line[..labels_end + at],
            None => line,
        };
        let (name, rest) = sample.split_at(name_end);
        if name.strip_prefix(family.as_str()) == Some("_created") {
            continue;
        }
        if kind == "counter" && name.strip_prefix(family.as_str()) == Some("_total") {
            out.push_str(&exposed);
            out.push_str(rest);
        } else {
            out.push_str(sample);
        }
        out.push('\n');
    }
    out
}

/// Where the label set starting at `at` (if `line[at]` is `{`) ends: past
/// its closing brace, quoted values (with their escapes) skipped.
fn labels_end(line: &str, at: usize) -> usize {
    let bytes = line.as_bytes();
    if bytes.get(at) != Some(&b'{') {
        return at;
    }
    let mut quoted = false;
    let mut i = at + 1;
    while i < bytes.len() {
        match (bytes[i], quoted) {
            (b'\\', true) => i += 1,
            (b'"', _) => quoted = !quoted,
            (b'}', false) => return i + 1,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OM: &str = "# HELP rr_http_request Total number of \\\"handled\\\" requests.\n\
# TYPE rr_http_request counter\n\
rr_http_request_total{status=\"200\"} 3\n\
rr_http_request_created{status=\"200\"} 1700000000.0\n\
# HELP php_hits Hits.\n\
# TYPE php_hits counter\n\
php_hits_total 5 # {trace_id=\"x\"} 1.0\n\
# HELP rr_http_workers_ready Ready.\n\
# TYPE rr_http_workers_ready gauge\n\
rr_http_workers_ready 2\n\
# HELP lat Latency.\n\
# TYPE lat histogram\n\
# UNIT lat seconds\n\
lat_sum 0.5\n\
lat_count 1\n\
lat_bucket{le=\"0.5\"} 1\n\
lat_bucket{le=\"+Inf\"} 1\n\
# TYPE odd unknown\n\
odd 1\n\
# EOF\n";

    #[test]
    fn counters_carry_their_declared_names_and_openmetrics_only_lines_go() {
        let text = from_openmetrics(OM, &|name| name == "php_hits");
        assert_eq!(
            text,
            "# HELP rr_http_request_total Total number of \"handled\" requests.\n\
# TYPE rr_http_request_total counter\n\
rr_http_request_total{status=\"200\"} 3\n\
# HELP php_hits Hits.\n\
# TYPE php_hits counter\n\
php_hits 5\n\
# HELP rr_http_workers_ready Ready.\n\
# TYPE rr_http_workers_ready gauge\n\
rr_http_workers_ready 2\n\
# HELP lat Latency.\n\
# TYPE lat histogram\n\
lat_sum 0.5\n\
lat_count 1\n\
lat_bucket{le=\"0.5\"} 1\n\
lat_bucket{le=\"+Inf\"} 1\n\
# TYPE odd untyped\n\
odd 1\n"
        );
    }

    #[test]
    fn a_label_value_with_an_exemplar_marker_in_it_is_kept() {
        let text = from_openmetrics(
            "# TYPE g gauge\ng{a=\"x # y\",b=\"q\\\"}\"} 1 # {t=\"1\"} 2\n# EOF\n",
            &|_| false,
        );
        assert_eq!(text, "# TYPE g gauge\ng{a=\"x # y\",b=\"q\\\"}\"} 1\n");
    }
}
