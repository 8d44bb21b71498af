//! Sections kept raw, decoded later; the whole tree as JSON.

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
    let (jobs, warnings) = loaded.config.unsupported["jobs"]
        .decode::<Jobs>("jobs")
        .unwrap();
    assert_eq!(jobs.num_pollers, 4);
    assert_eq!(jobs.consume, vec!["a", "b"]);
    assert_eq!(jobs.pool.num_workers, 2);
    assert_eq!(warnings, vec!["<string>:9:3: jobs.x: unknown key, ignored"]);

    let bad = ok(&format!("{BASE}jobs:\n  num_pollers: many\n"));
    let e = bad.config.unsupported["jobs"]
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
