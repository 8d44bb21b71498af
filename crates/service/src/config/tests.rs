//! Planning the `service` section through the host, as `coyote serve` does.

use std::sync::{Arc, Mutex};

use coyote_config::{Config, ConfigError, LoadOptions};
use coyote_host::{BoxFuture, Host, Planned, Plugin, Running, Start, StartError};

use super::*;

/// Records what [`plan_services`] returned.
struct Probe(Arc<Mutex<Option<Vec<ServiceSpec>>>>);

struct Nothing;

impl Planned for Nothing {
    fn start(
        self: Box<Self>,
        _: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async { Err("not started in tests".into()) })
    }
}

impl Plugin for Probe {
    fn name(&self) -> &'static str {
        "service"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let specs = plan_services(plan);
        let found = specs.is_some();
        *self.0.lock().unwrap() = specs;
        found.then(|| Box::new(Nothing) as Box<dyn Planned>)
    }
}

/// The specs, or every problem as `file:line:col: path: message`; and the
/// warnings.
fn plan(yaml: &str) -> (Result<Vec<ServiceSpec>, Vec<String>>, Vec<String>) {
    let loaded = Config::from_str(yaml, &LoadOptions::default()).unwrap();
    let seen = Arc::new(Mutex::new(None));
    let host = Host::new().with(Probe(seen.clone()));
    match host.plan(&loaded, Path::new("/srv")) {
        Ok(planned) => {
            let specs = seen.lock().unwrap().take().unwrap_or_default();
            (Ok(specs), planned.warnings)
        }
        Err(ConfigError::Invalid { problems, warnings }) => (
            Err(problems.iter().map(ToString::to_string).collect()),
            warnings,
        ),
        Err(other) => panic!("{other}"),
    }
}

fn specs(yaml: &str) -> Vec<ServiceSpec> {
    plan(yaml).0.unwrap_or_else(|p| panic!("{p:#?}"))
}

fn problems(yaml: &str) -> Vec<String> {
    plan(yaml).0.expect_err("expected problems")
}

#[test]
fn roadrunner_defaults() {
    let s = specs("version: \"3\"\nservice:\n  cron:\n    command: \"sh run.sh\"\n");
    assert_eq!(
        s,
        vec![ServiceSpec {
            name: "cron".into(),
            command: "sh run.sh".into(),
            argv: vec!["sh".into(), "run.sh".into()],
            process_num: 1,
            exec_timeout: None,
            remain_after_exit: false,
            restart: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(5),
            name_in_log: false,
            env: BTreeMap::new(),
            user: None,
            dir: PathBuf::from("/srv"),
        }]
    );
}

#[test]
fn every_key() {
    let s = specs(
        "version: \"3\"\nservice:\n  a:\n    command: php loop.php\n    process_num: 3\n    exec_timeout: 1m30s\n    remain_after_exit: true\n    restart_sec: 2\n    timeout_stop_sec: 10\n    service_name_in_log: true\n    env:\n      foo: BAR\n      n: 1\n  b:\n    command: ./bin/daemon --flag\n    exec_timeout: 7\n    restart_sec: 500ms\n    env:\n      - one: \"1\"\n      - two: \"2\"\n",
    );
    let (a, b) = (&s[0], &s[1]);
    assert_eq!(a.process_num, 3);
    assert_eq!(a.exec_timeout, Some(Duration::from_secs(90)));
    assert!(a.remain_after_exit && a.name_in_log);
    assert_eq!(a.restart, Duration::from_secs(2));
    assert_eq!(a.stop_timeout, Duration::from_secs(10));
    assert_eq!(
        a.env,
        BTreeMap::from([("FOO".into(), "BAR".into()), ("N".into(), "1".into())])
    );
    // A bare exec_timeout counts seconds; a duration string is accepted
    // where RoadRunner takes whole seconds.
    assert_eq!(b.exec_timeout, Some(Duration::from_secs(7)));
    assert_eq!(b.restart, Duration::from_millis(500));
    assert_eq!(b.argv, vec!["./bin/daemon", "--flag"]);
    assert_eq!(
        b.env,
        BTreeMap::from([("ONE".into(), "1".into()), ("TWO".into(), "2".into())])
    );
}

#[test]
fn zero_and_negative_counts_take_the_defaults() {
    let s = specs("version: \"3\"\nservice:\n  a:\n    command: x\n    process_num: 0\n    restart_sec: 0\n    timeout_stop_sec: 0\n  b:\n    command: x\n    process_num: -4\n");
    assert_eq!(s[0].process_num, 1);
    assert_eq!(s[0].restart, DEFAULT_RESTART);
    assert_eq!(s[0].stop_timeout, DEFAULT_STOP_TIMEOUT);
    assert_eq!(s[1].process_num, 1);
}

#[test]
fn bad_keys_are_reported_at_their_path() {
    let p = problems(
        "version: \"3\"\nservice:\n  a:\n    process_num: 2\n  b:\n    command: x\n    process_num: lots\n  c:\n    command: x\n    exec_timeout: soon\n  d:\n    command: x\n    restart_sec: -1\n  e:\n    command: x\n    process_num: 100000\n  f:\n    command: x\n    env: [1, 2]\n  g:\n    command: x\n    user: no-such-user-coyote\n  h.i:\n    command: x\n  j:\n",
    );
    let has = |needle: &str| {
        assert!(
            p.iter().any(|l| l.contains(needle)),
            "no {needle:?} in {p:#?}"
        );
    };
    has("<string>:3:3: service.a.command: required key command is missing or empty");
    has("<string>:7:5: service.b.process_num: invalid type");
    has("<string>:10:5: service.c.exec_timeout: invalid duration");
    has("<string>:13:5: service.d.restart_sec: negative");
    has("<string>:16:5: service.e.process_num: 100000 is above the limit of 1024");
    has("<string>:19:11: service.f.env[0]: invalid type");
    has("<string>:22:5: service.g.user: unknown user \"no-such-user-coyote\"");
    has("service.h.i: a service name is letters, digits, '_' and '-' only");
    has("service.j: empty service; give it a command");
}

#[test]
fn unknown_keys_and_missing_programs_are_warnings() {
    let (s, warnings) = plan(
        "version: \"3\"\nservice:\n  a:\n    command: no-such-program-coyote --x\n    colour: green\n",
    );
    assert_eq!(s.unwrap().len(), 1);
    let all = warnings.join("\n");
    assert!(
        all.contains("service.a.colour: unknown key, ignored"),
        "{all}"
    );
    assert!(
        all.contains("\"no-such-program-coyote\" is not an executable file"),
        "{all}"
    );
}

#[test]
fn no_section_no_plugin_and_an_empty_one_is_fine() {
    let (none, _) = plan("version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\n");
    assert!(
        none.is_err(),
        "without the section the plugin is not planned"
    );
    assert_eq!(specs("version: \"3\"\nservice: {}\n"), Vec::new());
    assert!(problems("version: \"3\"\nservice: [a]\n")[0].contains("service: must be a map"));
}

#[test]
fn commands_split_on_spaces_without_quoting() {
    assert_eq!(
        split_command("php  worker.php -v"),
        vec!["php", "worker.php", "-v"]
    );
    assert_eq!(
        split_command("sh -c \"echo hi\""),
        vec!["sh", "-c", "\"echo", "hi\""]
    );
    assert!(split_command("   ").is_empty());
}

#[test]
fn programs_are_found_in_path_or_relative_to_the_directory() {
    assert!(find_program("sh", Path::new("/")).is_some());
    assert!(find_program("bin/sh", Path::new("/")).is_some());
    assert!(find_program("no-such-program-coyote", Path::new("/")).is_none());
    assert!(
        find_program("./etc/passwd", Path::new("/")).is_none(),
        "not executable"
    );
}
