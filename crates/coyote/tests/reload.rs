//! End-to-end: the `reload` section. A PHP worker whose answer comes from
//! a file it includes at boot; the test edits that file while the server
//! runs and the answer changes (the pool was reset by the watcher), while a
//! file that matches no pattern changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{get, http_port, start, wait_for_output, worker_pids};
use coyote_test_support::{php, repo_root, wait_until};

const WORKER: &str = r#"<?php
declare(strict_types=1);
require '@SDK@';
$answer = require __DIR__ . '/src/answer.php';
$http = new Coyote\Http\HttpWorker(Coyote\Worker\Worker::create());
while ($req = $http->waitRequest()) {
    $http->respond(200, $answer);
}
"#;

#[test]
fn editing_a_php_file_resets_the_workers_and_other_files_do_not() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app.path().join("src")).unwrap();
    std::fs::create_dir_all(app.path().join("vendor")).unwrap();
    let sdk = repo_root().join("php/autoload.php");
    std::fs::write(
        app.path().join("worker.php"),
        WORKER.replace("@SDK@", &sdk.display().to_string()),
    )
    .unwrap();
    let answer = app.path().join("src/answer.php");
    std::fs::write(&answer, "<?php return 'one';\n").unwrap();
    let cfg = format!(
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nserver:\n  command: \"{php} {worker}\"\n\
         http:\n  address: 127.0.0.1:0\n  pool:\n    num_workers: 2\nstatus:\n  address: 127.0.0.1:0\n\
         reload:\n  interval: 200ms\n  patterns: [\".php\"]\n  plugins:\n    http:\n      dirs: [\"{dir}\"]\n      \
         recursive: true\n      ignore: [\"vendor\"]\n",
        php = php(),
        worker = app.path().join("worker.php").display(),
        dir = app.path().display(),
    );
    let server = start(&cfg);
    assert!(wait_for_output(
        &server,
        "reload: watching",
        Duration::from_secs(10)
    ));
    let http = http_port(&server);
    assert_eq!(get(http, "/", "").text(), "one");
    let before = worker_pids(&server);
    assert_eq!(before.len(), 2);

    // Files that match no pattern, or sit in an ignored directory: nothing.
    std::fs::write(app.path().join("src/notes.txt"), "x").unwrap();
    std::fs::write(app.path().join("vendor/lib.php"), "<?php\n").unwrap();
    // The edit: the workers are replaced and the new code answers.
    std::fs::write(&answer, "<?php return 'two';\n").unwrap();
    wait_until(Duration::from_secs(20), || {
        (get(http, "/", "").text() == "two").then_some(())
    })
    .unwrap_or_else(|| panic!("the edit was not picked up:\n{}", server.output()));
    assert!(wait_for_output(
        &server,
        "reload: workers reset",
        Duration::from_secs(10)
    ));
    // The rolling reset is over: two workers, none of the old ones.
    let after = worker_pids(&server);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} -> {after:?}"
    );
    let out = server.output();
    assert_eq!(
        out.matches("reload: files changed").count(),
        1,
        "one reset for the one edit (the .txt and vendor/ changes do not count):\n{out}"
    );
    assert!(out.contains("answer.php"), "{out}");
    assert!(
        !out.contains("notes.txt") && !out.contains("vendor/lib.php"),
        "{out}"
    );
}

#[test]
fn bad_reload_keys_are_reported_at_their_paths() {
    let cfg = format!(
        "version: \"3\"\nserver:\n  command: \"{php} x.php\"\nreload:\n  interval: 0s\n  plugins:\n    kv:\n      dirs: [\".\"]\n    http:\n      dirs: [\"/nonexistent-coyote-dir\"]\n",
        php = php(),
    );
    let mut server = coyote_test_support::Server::start(common::BIN, &cfg, &[]).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(3), "{out}");
    assert!(out.contains("reload.interval"), "{out}");
    assert!(out.contains("reload.plugins.kv"), "{out}");
    assert!(out.contains("reload.plugins.http.dirs[0]"), "{out}");
}
