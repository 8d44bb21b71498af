//! Unknown keys: "did you mean `X`?", `strict`, warnings kept beside
//! errors, and a required key left out by a typo reported at the typo
//! (issue 17, item 4).

use super::*;

fn strict() -> LoadOptions {
    LoadOptions {
        strict: true,
        ..LoadOptions::default()
    }
}

const HTTP: &str = "http:\n  address: 127.0.0.1:0\n";

#[test]
fn close_typos_get_a_suggestion_and_far_ones_do_not() {
    let loaded = ok(&format!(
        "{BASE}{HTTP}  pool:\n    num_worker: 2\n    max_jobz: 3\n    flavour: x\n"
    ));
    assert_eq!(
        loaded.warnings,
        vec![
            "<string>:7:5: http.pool.num_worker: unknown key, ignored; did you mean `num_workers`?",
            "<string>:8:5: http.pool.max_jobz: unknown key, ignored; did you mean `max_jobs`?",
            "<string>:9:5: http.pool.flavour: unknown key, ignored",
        ]
    );
}

#[test]
fn unknown_sections_are_matched_against_known_ones() {
    let opts = LoadOptions {
        plugin_sections: vec!["greeter".to_owned()],
        ..LoadOptions::default()
    };
    let loaded = ok_with(
        &format!("{BASE}htpp:\n  address: :80\ngreter: {{}}\nzzz: 1\n"),
        &opts,
    );
    assert_eq!(
        loaded.warnings,
        vec![
            "<string>:4:1: unknown section htpp, ignored (kept as raw YAML); did you mean `http`?",
            "<string>:6:1: unknown section greter, ignored (kept as raw YAML); did you mean `greeter`?",
            "<string>:7:1: unknown section zzz, ignored (kept as raw YAML)",
        ]
    );
}

#[test]
fn a_missing_command_is_reported_at_its_typo() {
    let e = err(&format!(
        "version: \"3\"\nserver:\n  comand: php w.php\n{HTTP}"
    ));
    let shown = e.to_string();
    assert_eq!(
        shown,
        "<string>:3:3: server.comand: unknown key; did you mean `command`? \
         (server.command: required: http runs PHP workers)",
        "one line, at the typo, and no separate warning for it"
    );
    assert_eq!(e.problems()[0].path, "server.comand");
    assert_eq!(e.problems()[0].kind, ProblemKind::Missing);
}

#[test]
fn a_missing_command_without_a_typo_points_at_its_section() {
    let e = err(&format!("version: \"3\"\nserver:\n  relay: pipes\n{HTTP}"));
    assert_eq!(
        e.to_string(),
        "<string>:2:1: server.command: required: http runs PHP workers"
    );
}

#[test]
fn warnings_are_kept_beside_errors() {
    let e = err(&format!(
        "{BASE}{HTTP}  pool:\n    num_workers: lots\n    max_jbos: 1\n"
    ));
    assert_eq!(e.problems().len(), 1, "{e}");
    assert_eq!(
        e.warnings(),
        ["<string>:8:5: http.pool.max_jbos: unknown key, ignored; did you mean `max_jobs`?"]
    );
    assert!(
        e.to_string().ends_with(
            "\nwarning: <string>:8:5: http.pool.max_jbos: unknown key, ignored; did you mean `max_jobs`?"
        ),
        "{e}"
    );
}

#[test]
fn strict_turns_unknown_keys_and_sections_into_errors() {
    let yaml = format!("{BASE}{HTTP}  pool:\n    num_worker: 2\nhtpp: {{}}\njobs: {{}}\n");
    // Without strict: loads, with warnings.
    assert_eq!(ok(&yaml).warnings.len(), 3);
    let e = err_with(&yaml, &strict());
    let shown: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "<string>:7:5: http.pool.num_worker: unknown key; did you mean `num_workers`? (strict mode)",
            "<string>:8:1: unknown section htpp; did you mean `http`? (strict mode)",
        ]
    );
    assert!(e
        .problems()
        .iter()
        .all(|p| p.kind == ProblemKind::UnknownKey));
    // A section RoadRunner has and Coyote does not yet is no typo: it
    // stays a warning.
    assert_eq!(
        e.warnings(),
        ["<string>:9:1: section jobs is not supported yet by Coyote (kept as raw YAML)"]
    );
}

#[test]
fn strict_is_remembered_for_plugin_sections() {
    #[derive(serde::Deserialize, Default, Debug)]
    #[serde(default)]
    #[allow(dead_code)]
    struct Greeter {
        greeting: String,
    }
    let opts = LoadOptions {
        plugin_sections: vec!["greeter".to_owned()],
        strict: true,
        ..LoadOptions::default()
    };
    let loaded = ok_with("version: \"3\"\ngreeter:\n  greting: hi\n", &opts);
    assert!(loaded.strict);
    let node = &loaded.config.sections["greeter"];
    let (_, warnings) = node.decode::<Greeter>("greeter").unwrap();
    assert_eq!(
        warnings,
        ["<string>:3:3: greeter.greting: unknown key, ignored; did you mean `greeting`?"]
    );
    let e = node
        .decode_with::<Greeter>("greeter", loaded.strict)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "<string>:3:3: greeter.greting: unknown key; did you mean `greeting`? (strict mode)"
    );
}
