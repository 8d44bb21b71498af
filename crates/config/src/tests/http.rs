//! The http section.

use std::fs;

use super::*;

#[test]
fn http_needs_a_listener() {
    let e = err(&format!("{BASE}http:\n  pool:\n    num_workers: 1\n"));
    assert!(
        e.to_string()
            .starts_with("<string>:4:1: http.address: no listener"),
        "{e}"
    );
    // FastCGI alone is enough.
    ok(&format!(
        "{BASE}http:\n  fcgi:\n    address: unix:///run/php.sock\n"
    ));
    // TLS alone is enough (files are not checked without a working dir).
    ok(&format!(
        "{BASE}http:\n  ssl:\n    cert: c.pem\n    key: k.pem\n"
    ));
}

#[test]
fn ssl_problems() {
    let e = err(&format!(
        "{BASE}http:\n  address: :80\n  ssl:\n    cert: c.pem\n    client_auth_type: require_and_verify_client_cert\n"
    ));
    assert_eq!(
        e.to_string(),
        "<string>:6:3: http.ssl.key: required with ssl.cert\n\
         <string>:6:3: http.ssl.root_ca: required to verify client certificates"
    );
    let e = err(&format!(
        "{BASE}http:\n  address: :80\n  ssl:\n    acme:\n      domains: [example.com]\n"
    ));
    assert_eq!(
        e.to_string(),
        "<string>:7:5: http.ssl.acme.email: required for acme"
    );
}

#[test]
fn ssl_files_must_exist_relative_to_the_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("cert.pem"), "x").unwrap();
    let path = dir.path().join(".rr.yaml");
    fs::write(
        &path,
        format!("{BASE}http:\n  ssl:\n    cert: cert.pem\n    key: key.pem\n"),
    )
    .unwrap();
    let e = Config::load(&path, &LoadOptions::default()).unwrap_err();
    let p = &e.problems()[0];
    assert_eq!(e.problems().len(), 1, "{e}");
    assert_eq!(p.kind, ProblemKind::File);
    assert_eq!(p.path, "http.ssl.key");
    assert!(
        p.message.contains("key.pem does not exist"),
        "{}",
        p.message
    );
}

#[test]
fn context_encoding_extension() {
    let c = ok(&format!(
        "{BASE}http:\n  address: :80\n  context_encoding: proto\n"
    ))
    .config;
    assert_eq!(c.http.unwrap().context_encoding, ContextEncoding::Proto);
    let e = err(&format!(
        "{BASE}http:\n  address: :80\n  context_encoding: xml\n"
    ));
    assert!(e.to_string().contains("unknown variant `xml`"), "{e}");
}

#[test]
fn upload_extensions_are_lower_cased() {
    let c = ok(&format!(
        "{BASE}http:\n  address: :80\n  uploads:\n    forbid: [.PHP]\n    allow: [.JPG, .png]\n"
    ))
    .config;
    let uploads = c.http.unwrap().uploads;
    assert_eq!(uploads.forbid, vec![".php"]);
    assert_eq!(uploads.allow, vec![".jpg", ".png"]);
}

#[test]
fn a_bad_address_is_reported_at_its_key_with_the_other_errors() {
    let e = err(&format!(
        "{BASE}http:\n  address: nowhere\n  pool:\n    num_workers: lots\n"
    ));
    assert_eq!(
        e.to_string(),
        "<string>:5:3: http.address: invalid address \"nowhere\": expected host:port\n\
         <string>:7:5: http.pool.num_workers: invalid type: string \"lots\", expected an integer"
    );
}
