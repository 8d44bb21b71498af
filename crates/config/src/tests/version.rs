//! The `version` key.

use super::*;

#[test]
fn version_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "",
            "<string>:1:1: version: missing: the configuration is empty",
        ),
        (
            "rpc:\n  listen: tcp://127.0.0.1:1\n",
            "version: missing: add version: \"3\"",
        ),
        (
            "version: 3\n",
            "<string>:1:1: version: must be a string: write version: \"3\" (quoted)",
        ),
        (
            "version: \"2.7\"\n",
            "version \"2.7\" files are not supported",
        ),
        ("version: '4'\n", "unsupported version \"4\""),
        ("version: [3]\n", "must be the string \"3\""),
        ("- a\n- b\n", "must be a mapping of sections"),
    ];
    for (yaml, want) in cases {
        let e = err(yaml);
        assert!(e.to_string().contains(want), "{yaml:?}: {e}");
        assert_eq!(e.problems().len(), 1, "{yaml:?}");
    }
}

#[test]
fn version_accepts_single_quotes() {
    assert_eq!(ok("version: '3'\n").config.version, "3");
}
