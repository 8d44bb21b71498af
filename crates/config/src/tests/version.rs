//! The `version` key: required, a string; other versions than "3" warn.

use super::*;

#[test]
fn version_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "",
            "<string>:1:1: version: missing: the configuration is empty",
        ),
        (
            "# only a comment\n",
            "<string>:1:1: version: missing: the configuration is empty",
        ),
        (
            "rpc:\n  listen: tcp://127.0.0.1:1\n",
            "version: missing: add version: \"3\" at the top of the file (or pass -o version=3)",
        ),
        (
            "version: 3\n",
            "<string>:1:1: version: must be a string: write version: \"3\" (quoted)",
        ),
        (
            "version: 2.7\n",
            "<string>:1:1: version: must be a string: write version: \"2.7\" (quoted)",
        ),
        ("version: [3]\n", "must be the string \"3\""),
        ("version:\n", "must be the string \"3\""),
        ("- a\n- b\n", "must be a mapping of sections"),
    ];
    for (yaml, want) in cases {
        let e = err(yaml);
        assert!(e.to_string().contains(want), "{yaml:?}: {e}");
        assert_eq!(e.problems().len(), 1, "{yaml:?}");
        assert!(
            matches!(
                e.problems()[0].kind,
                ProblemKind::Version | ProblemKind::Syntax
            ),
            "{yaml:?}"
        );
    }
}

#[test]
fn version_accepts_single_quotes() {
    assert_eq!(ok("version: '3'\n").config.version, "3");
}

#[test]
fn old_versions_warn_and_are_read_as_version_3() {
    let loaded = ok("rpc:\n  listen: tcp://127.0.0.1:6001\nversion: \"2.7\"\n\
         server:\n  command: php w.php\nhttp:\n  address: :80\n  pool:\n    num_workers: 2\n");
    assert_eq!(
        loaded.warnings,
        vec![
            "<string>:3:1: version: version \"2.7\" is not \"3\": Coyote reads it as version 3 \
             (update the file to version: \"3\"; see RoadRunner's v3.0 configuration notes)"
        ]
    );
    let c = loaded.config;
    assert_eq!(c.version, "3");
    assert_eq!(c.http.unwrap().pool.num_workers, 2, "decoded as v3");
    assert_eq!(c.rpc.unwrap().listen, ListenAddr::tcp("127.0.0.1", 6001));

    let loaded = ok("version: '4'\n");
    assert_eq!(
        loaded.warnings,
        vec!["<string>:1:1: version: version \"4\" is not \"3\": Coyote reads it as version 3"]
    );
    // Decoding errors are still errors in an old file; the version warning
    // comes with them.
    let e = err("version: \"2.7\"\nrpc:\n  listen: nowhere\n");
    assert_eq!(
        e.problems()[0].to_string(),
        "<string>:3:3: rpc.listen: invalid address \"nowhere\": expected host:port"
    );
    assert_eq!(e.problems().len(), 1);
    assert_eq!(e.warnings().len(), 1);
    assert!(e.warnings()[0].contains("version \"2.7\" is not \"3\""));
}

#[test]
fn version_from_an_override() {
    let with = |overrides: &[&str], yaml: &str| {
        let opts = LoadOptions {
            overrides: overrides.iter().map(|o| (*o).to_owned()).collect(),
            ..LoadOptions::default()
        };
        Config::from_str(yaml, &opts)
    };

    // Supplies a missing version.
    let loaded = with(&["version=3"], "rpc:\n  listen: tcp://127.0.0.1:1\n").unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // Wins over the file's, old ones warn at the flag.
    let loaded = with(&["version=2.7"], "version: \"3\"\n").unwrap();
    assert_eq!(
        loaded.warnings,
        vec![
            "-o version=2.7: version: version \"2.7\" is not \"3\": Coyote reads it as version 3 \
             (update the file to version: \"3\"; see RoadRunner's v3.0 configuration notes)"
        ]
    );
    let loaded = with(&["version=3"], "version: \"2.7\"\n").unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // A version turned into a mapping is not a version.
    let e = with(&["version.x=3"], "version: \"3\"\n").unwrap_err();
    assert!(e.to_string().contains("must be the string \"3\""), "{e}");
    // A malformed override does not supply one, and is reported with the
    // missing version (the typo is likely the cause).
    let e = with(&["version"], "").unwrap_err();
    assert_eq!(
        e.to_string(),
        "<string>:1:1: version: missing: the configuration is empty; it must start with \
         version: \"3\" (or pass -o version=3)\n\
         -o version: invalid override: expected dotted.key=value"
    );
    // So is one next to a YAML syntax error.
    let e = with(&["http.address"], "http: [\n").unwrap_err();
    assert_eq!(e.problems().len(), 2, "{e}");
    assert_eq!(e.problems()[0].kind, ProblemKind::Syntax);
    assert_eq!(e.problems()[1].kind, ProblemKind::Override);
}

#[test]
fn included_files_must_match_the_root_version() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.yaml"), "version: \"2.7\"\n").unwrap();
    std::fs::write(
        dir.path().join("new.yaml"),
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:7\n",
    )
    .unwrap();
    let opts = LoadOptions {
        working_dir: Some(dir.path().to_owned()),
        ..LoadOptions::default()
    };
    // An old root with old includes loads (with one warning, for the root).
    let loaded = ok_with("version: \"2.7\"\ninclude: [old.yaml]\n", &opts);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    // A mismatch is an error at the included file's version.
    let e = err_with("version: \"2.7\"\ninclude: [new.yaml]\n", &opts);
    assert_eq!(e.problems().len(), 1, "{e}");
    let p = &e.problems()[0];
    assert_eq!((p.kind, p.path.as_str()), (ProblemKind::Include, "version"));
    assert!(
        p.location
            .as_ref()
            .unwrap()
            .to_string()
            .ends_with("new.yaml:1:1"),
        "{e}"
    );
    assert!(
        p.message
            .starts_with("version \"3\" differs from the root's \"2.7\" (set at <string>:1:1)"),
        "{e}"
    );
}
