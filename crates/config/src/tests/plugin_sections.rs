//! Sections kept raw for plugins ([`LoadOptions::plugin_sections`]) and
//! decoded by them with [`Node::decode`]; the whole tree as JSON.

use std::time::Duration;

use serde::Deserialize;

use super::*;

#[test]
fn raw_sections_decode_later_with_the_same_rules() {
    #[derive(Debug, Deserialize)]
    #[serde(default)]
    struct Jobs {
        num_pollers: u64,
        consume: Vec<String>,
        pool: PoolConfig,
    }
    impl Default for Jobs {
        fn default() -> Self {
            Self {
                num_pollers: 1,
                consume: Vec::new(),
                pool: PoolConfig::default(),
            }
        }
    }
    let loaded = ok(&format!(
        "{BASE}jobs:\n  num_pollers: \"${{P:-4}}\"\n  consume: a,b\n  pool:\n    num_workers: 2\n  x: 1\n"
    ));
    let (jobs, warnings) = loaded.config.sections["jobs"]
        .decode::<Jobs>("jobs")
        .unwrap();
    assert_eq!(jobs.num_pollers, 4);
    assert_eq!(jobs.consume, vec!["a", "b"]);
    assert_eq!(jobs.pool.num_workers, 2);
    assert_eq!(warnings, vec!["<string>:9:3: jobs.x: unknown key, ignored"]);

    let bad = ok(&format!("{BASE}jobs:\n  num_pollers: many\n"));
    let e = bad.config.sections["jobs"]
        .decode::<Jobs>("jobs")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "<string>:5:3: jobs.num_pollers: invalid type: string \"many\", expected an integer"
    );
}

#[test]
fn tree_is_available_as_json() {
    let loaded = ok_with(
        &format!("{BASE}http:\n  address: ${{A}}\n  pool:\n    num_workers: 2\n"),
        &opts_env(&[("A", ":80")]),
    );
    let json = serde_json::to_value(&loaded.tree).unwrap();
    assert_eq!(json["http"]["address"], ":80");
    assert_eq!(json["http"]["pool"]["num_workers"], 2);
}

fn with_plugins(names: &[&str]) -> LoadOptions {
    LoadOptions {
        plugin_sections: names.iter().map(|n| (*n).to_owned()).collect(),
        ..LoadOptions::default()
    }
}

#[test]
fn plugin_sections_are_kept_raw_without_a_warning() {
    let yaml = "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: :80\n\
                jobs:\n  consume: [a]\ngreeter:\n  greeting: hi\nkv:\n  memory: {}\nfoo: 1\n\
                nothing:\n";
    // Without plugins: every untyped section warns.
    let loaded = ok(yaml);
    assert_eq!(
        loaded.warnings,
        vec![
            "<string>:6:1: section jobs is not supported yet by Coyote (kept as raw YAML)",
            "<string>:8:1: unknown section greeter, ignored (kept as raw YAML)",
            "<string>:10:1: section kv is not supported yet by Coyote (kept as raw YAML)",
            "<string>:12:1: unknown section foo, ignored (kept as raw YAML)",
            "<string>:13:1: unknown section nothing, ignored (kept as raw YAML)",
        ]
    );
    // The plugins' sections are theirs: no warning, still raw.
    let loaded = ok_with(yaml, &with_plugins(&["http", "jobs", "greeter", "rpc"]));
    assert_eq!(
        loaded.warnings,
        vec![
            "<string>:10:1: section kv is not supported yet by Coyote (kept as raw YAML)",
            "<string>:12:1: unknown section foo, ignored (kept as raw YAML)",
            "<string>:13:1: unknown section nothing, ignored (kept as raw YAML)",
        ]
    );
    let c = &loaded.config;
    let names: Vec<&str> = c.sections.keys().map(String::as_str).collect();
    assert_eq!(names, ["foo", "greeter", "jobs", "kv", "nothing"]);
    assert_eq!(
        c.sections["greeter"].get("greeting").unwrap().as_str(),
        Some("hi")
    );
    // A listed typed section is still typed (and checked) by the crate.
    assert_eq!(
        c.http.as_ref().unwrap().address,
        Some(ListenAddr::tcp("", 80))
    );
    assert!(c.has_section("greeter") && c.has_section("jobs"));
    assert!(!c.has_section("nothing") && !c.has_section("rpc"));
    let e = err_with(
        "version: \"3\"\nhttp:\n  address: nowhere\n",
        &with_plugins(&["http"]),
    );
    assert!(
        e.to_string().contains("http.address: invalid address"),
        "{e}"
    );
}

/// A plugin's section type, the way a plugin crate writes one.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(default)]
struct Greeter {
    greeting: String,
    times: u32,
    names: Vec<String>,
    #[serde(deserialize_with = "go_duration")]
    every: Duration,
    pool: PoolConfig,
}

impl Default for Greeter {
    fn default() -> Self {
        Self {
            greeting: "hello".to_owned(),
            times: 1,
            names: Vec::new(),
            every: Duration::from_secs(5),
            pool: PoolConfig::default(),
        }
    }
}

fn go_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn greeter(yaml: &str) -> Result<(Greeter, Vec<String>), ConfigError> {
    let loaded = ok_with(yaml, &with_plugins(&["greeter"]));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    loaded.config.sections["greeter"].decode::<Greeter>("greeter")
}

#[test]
fn node_decode_reports_every_problem_with_path_and_position() {
    let (g, warnings) = greeter(
        "version: \"3\"\ngreeter:\n  Greeting: \"${G:-hey}\"\n  times: '3'\n  names: a,b\n  \
         every: 1m30s\n  greting: typo\n  pool:\n    num_workers: 2\n    nmu_workers: 3\n",
    )
    .unwrap();
    assert_eq!(
        g,
        Greeter {
            greeting: "hey".to_owned(),
            times: 3,
            names: vec!["a".to_owned(), "b".to_owned()],
            every: Duration::from_secs(90),
            pool: PoolConfig {
                num_workers: 2,
                ..PoolConfig::default()
            },
        }
    );
    assert_eq!(
        warnings,
        vec![
            "<string>:7:3: greeter.greting: unknown key, ignored; did you mean `greeting`?",
            "<string>:10:5: greeter.pool.nmu_workers: unknown key, ignored; did you mean `num_workers`?",
        ]
    );

    let e = greeter(
        "version: \"3\"\ngreeter:\n  times: many\n  names: [a, [b]]\n  every: 5 minutes\n  \
         pool:\n    num_workers: abc\n    allocate_timeout: 1x\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "<string>:3:3: greeter.times: invalid type: string \"many\", expected an integer\n\
         <string>:4:14: greeter.names[1]: invalid type: sequence, expected a string\n\
         <string>:5:3: greeter.every: invalid duration \"5 minutes\": unknown unit; use ns, us, \
         ms, s, m or h\n\
         <string>:7:5: greeter.pool.num_workers: invalid type: string \"abc\", expected an integer\n\
         <string>:8:5: greeter.pool.allocate_timeout: invalid duration \"1x\": unknown unit; use \
         ns, us, ms, s, m or h"
    );
    assert!(e.problems().iter().all(|p| p.kind == ProblemKind::Invalid));

    // The whole node: reported at its position, under its name.
    let e = greeter("version: \"3\"\ngreeter: [1, 2]\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "<string>:2:10: greeter: invalid type: sequence, expected a mapping"
    );
}

#[test]
fn node_decode_reports_like_a_typed_section() {
    // The same pool body, once under the typed http section, once under a
    // plugin's section: the same problems, under each section's name.
    let body = "\n  address: :80\n  pool:\n    num_workers: abc\n    max_jobs: -1\n    \
                supervisor:\n      exec_ttl: 1x\n      ttl: [1]\n";
    let typed = err(&format!("{BASE}http:{body}"));
    let raw = ok_with(&format!("{BASE}web:{body}"), &with_plugins(&["web"]));
    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Web {
        address: String,
        pool: PoolConfig,
    }
    let decoded = raw.config.sections["web"].decode::<Web>("web").unwrap_err();
    assert_eq!(typed.problems().len(), 4, "{typed}");
    assert_eq!(
        decoded.to_string(),
        typed.to_string().replace("http.", "web.")
    );

    let body = "\n  address: :80\n  pool:\n    num_workrs: 1\n    supervisor:\n      tll: 1s\n";
    let typed = ok(&format!("{BASE}http:{body}"));
    let raw = ok_with(&format!("{BASE}web:{body}"), &with_plugins(&["web"]));
    let (_, warnings) = raw.config.sections["web"].decode::<Web>("web").unwrap();
    assert_eq!(typed.warnings.len(), 2, "{:?}", typed.warnings);
    assert_eq!(
        warnings,
        typed
            .warnings
            .iter()
            .map(|w| w.replace("http.", "web."))
            .collect::<Vec<_>>()
    );
}
