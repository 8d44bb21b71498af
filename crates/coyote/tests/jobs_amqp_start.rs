//! End-to-end: configuration mistakes of the amqp jobs driver against a
//! real RabbitMQ (`COYOTE_TEST_AMQP`): an unreachable broker, bad
//! credentials, a missing queue without declare rights, bad keys, and
//! `amqps://` with `amqp.tls` end to end through a TLS front.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod amqp;
mod common;

use std::net::SocketAddr;
use std::path::Path;

use amqp::*;
use common::jobs::{config, job, of, JobsServer};
use coyote_test_support::Server;
use lapin::types::FieldTable;

fn start_error(yaml: &str) -> (Option<i32>, String) {
    let mut server = Server::start(common::BIN, yaml, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    (status.code(), server.output())
}

#[test]
fn an_unreachable_broker_at_start_is_a_start_error() {
    let n = names("unreachable");
    let (code, out) = start_error(&amqp_config(
        1,
        &["p1"],
        &pipeline("p1", &n, ""),
        "amqp://guest:guest@127.0.0.1:1/",
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("jobs.pipelines.p1"), "{out}");
    assert!(out.contains("amqp://guest:***@127.0.0.1:1/"), "{out}");
    assert!(
        !out.contains("guest:guest"),
        "the password is not printed: {out}"
    );
}

#[test]
fn bad_credentials_are_a_start_error() {
    let n = names("creds");
    let (code, out) = start_error(&amqp_config(
        1,
        &["p1"],
        &pipeline("p1", &n, ""),
        &with_user("guest", "not-the-password"),
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("jobs.pipelines.p1"), "{out}");
    assert!(
        out.contains("ACCESS_REFUSED") || out.contains("access refused") || out.contains("auth"),
        "{out}"
    );
    assert!(!out.contains("not-the-password"), "{out}");
}

/// `rabbitmqctl` for the test broker (`COYOTE_TEST_AMQP_NODE` names the
/// node scripts/brokers.sh started), or `None` when it cannot reach it.
fn rabbitmqctl(args: &[&str]) -> Option<String> {
    let mut cmd = std::process::Command::new("rabbitmqctl");
    if let Ok(node) = std::env::var("COYOTE_TEST_AMQP_NODE") {
        cmd.args(["-n", &node]);
    }
    let out = cmd.args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_missing_queue_without_declare_rights_is_a_clear_start_error() {
    let n = names("rights");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let user = format!("coyote-ro-{}", std::process::id());
    rabbitmqctl(&["add_user", &user, "ro-pass"])
        .expect("rabbitmqctl reaches the test broker (COYOTE_TEST_AMQP_NODE)");
    struct DeleteUser(String);
    impl Drop for DeleteUser {
        fn drop(&mut self) {
            let _ = rabbitmqctl(&["delete_user", &self.0]);
        }
    }
    let _cleanup = DeleteUser(user.clone());
    // May publish and consume, may declare nothing.
    rabbitmqctl(&["set_permissions", "-p", "/", &user, "^$", ".*", ".*"]).unwrap();
    let yaml = |queue: &str| {
        amqp_config(
            1,
            &["p1"],
            &format!(
                "    p1:\n      driver: amqp\n      config:\n        queue: {queue}\n        \
                 exchange: amq.direct\n        routing_key: {queue}\n"
            ),
            &with_user(&user, "ro-pass"),
        )
    };
    let (code, out) = start_error(&yaml(&n.queue));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("jobs.pipelines.p1"), "{out}");
    assert!(
        out.contains(&format!(
            "queue \"{}\" does not exist and may not be declared by this user",
            n.queue
        )),
        "{out}"
    );
    // Declared (and bound) by someone allowed to: used as it is.
    amqp.declare_queue(&n.queue);
    let ch = amqp.channel();
    amqp.rt
        .block_on(ch.queue_bind(
            n.queue.as_str().into(),
            "amq.direct".into(),
            n.queue.as_str().into(),
            Default::default(),
            FieldTable::default(),
        ))
        .unwrap();
    let mut s = JobsServer::start(&yaml(&n.queue));
    s.push(vec![job("p1", "ack", "ro-1")]).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "ro-1").len() == 1);
}

#[test]
fn bad_keys_are_reported_at_their_paths() {
    // Badly typed keys and bad values in one pipeline: all reported.
    let bad = "    p1:\n      driver: amqp\n      config:\n        prefetch: lots\n        \
               exchange_type: sideways\n        priority: -1\n        queue: q\n    \
               p2:\n      driver: amqp\n      config:\n        durable: maybe\n        \
               prefetch: 70000\n        redial_timeout: soon\n";
    let yaml = format!(
        "{}amqp:\n  addr: \"http://[::1\"\n  tls:\n    key: /nonexistent/key.pem\n    cert: /nonexistent/cert.pem\n",
        config(1, &[], bad, "")
    );
    let (code, out) = start_error(&yaml);
    assert_eq!(code, Some(3), "{out}");
    for path in [
        "jobs.pipelines.p1.config.prefetch",
        "jobs.pipelines.p1.config.exchange_type",
        "jobs.pipelines.p1.config.priority",
        "jobs.pipelines.p2.config.durable",
        "jobs.pipelines.p2.config.prefetch",
        "jobs.pipelines.p2.config.redial_timeout",
        "amqp.addr",
        "amqp.tls.key",
        "amqp.tls.cert",
    ] {
        assert!(out.contains(path), "{path} missing:\n{out}");
    }
}

/// A TLS front for the broker (the test PKI's server certificate, client
/// certificates from its CA required), forwarding plain AMQP to RabbitMQ:
/// the `amqps://` path of the driver, `amqp.tls` included, end to end.
fn tls_front(rt: &tokio::runtime::Runtime, pki: &coyote_test_support::pki::Pki) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&pki.ca).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = amqp_socket();
    rt.spawn(async move {
        let connections = tokio_util::task::TaskTracker::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            connections.spawn(async move {
                // A client without a good certificate (or plain text) ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut broker) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
            });
        }
    });
    addr
}

#[test]
fn amqps_with_amqp_tls_end_to_end() {
    let n = names("tls");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let dir = tempfile::tempdir().unwrap();
    let pki = coyote_test_support::pki::Pki::generate(dir.path()).unwrap();
    let front = tls_front(&amqp.rt, &pki);
    let tls = |cert: &Path, key: &Path| {
        format!(
            "  tls:\n    root_ca: {}\n    cert: {}\n    key: {}\n",
            pki.ca.display(),
            cert.display(),
            key.display()
        )
    };
    let yaml = |addr: String, tls: &str| {
        format!(
            "{}{tls}",
            amqp_config(1, &["p1"], &pipeline("p1", &n, ""), &addr)
        )
    };
    let amqps = format!("amqps://guest:guest@localhost:{}/%2f", front.port());
    let mut s = JobsServer::start(&yaml(
        amqps.clone(),
        &tls(&pki.client_cert, &pki.client_key),
    ));
    s.push(vec![job("p1", "ack", "over-tls")]).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "over-tls").len() == 1);
    drop(s);
    // A client certificate the front does not trust: the start fails.
    let (code, out) = start_error(&yaml(amqps, &tls(&pki.rogue_cert, &pki.rogue_key)));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("jobs.pipelines.p1"), "{out}");
    // Plain AMQP to the TLS port: the start fails too.
    let (code, out) = start_error(&yaml(
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", front.port()),
        "",
    ));
    assert_eq!(code, Some(1), "{out}");
}
