//! `-o dotted.key=value` overrides.

use std::time::Duration;

use super::*;

#[test]
fn overrides_apply_after_expansion_and_create_maps() {
    let opts = LoadOptions {
        env: env(&[("PORT", "9000"), ("W", "3")]),
        overrides: vec![
            "http.address=\"127.0.0.1:${PORT}\"".to_owned(),
            "http.pool.num_workers=$W".to_owned(),
            "http.pool.supervisor.exec_ttl='10s'".to_owned(),
            "rpc.listen=tcp://127.0.0.1:7000".to_owned(),
            "logs.level=warn".to_owned(),
            "http.middleware=headers,gzip".to_owned(),
        ],
        ..LoadOptions::default()
    };
    let c = ok_with(&format!("{BASE}http:\n  address: ${{PORT}}\n"), &opts).config;
    let http = c.http.unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("127.0.0.1", 9000)));
    assert_eq!(http.pool.num_workers, 3);
    assert_eq!(
        http.pool.supervisor.unwrap().exec_ttl,
        Duration::from_secs(10)
    );
    assert_eq!(http.middleware, vec!["headers", "gzip"]);
    assert_eq!(c.rpc.unwrap().listen, ListenAddr::tcp("127.0.0.1", 7000));
    assert_eq!(c.logs.level, LogLevel::Warn);
}

#[test]
fn override_replaces_a_scalar_with_a_map() {
    let opts = LoadOptions {
        overrides: vec!["http.pool.num_workers=2".to_owned()],
        ..LoadOptions::default()
    };
    let c = ok_with(&format!("{BASE}http:\n  address: :80\n  pool: ~\n"), &opts).config;
    assert_eq!(c.http.unwrap().pool.num_workers, 2);
}

#[test]
fn bad_overrides_are_all_reported() {
    let opts = LoadOptions {
        overrides: vec![
            "nokey".to_owned(),
            "http.pool.num_workers=abc".to_owned(),
            "a=".to_owned(),
        ],
        ..LoadOptions::default()
    };
    let e = err_with(&format!("{BASE}http:\n  address: :80\n"), &opts);
    let text = e.to_string();
    assert!(text.contains("-o nokey: invalid override"), "{text}");
    assert!(text.contains("-o a=: invalid override"), "{text}");
    assert!(
        text.contains(
            "-o http.pool.num_workers=abc: http.pool.num_workers: invalid type: string \"abc\", \
             expected an integer"
        ),
        "{text}"
    );
}
