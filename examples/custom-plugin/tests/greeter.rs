//! The custom server runs the built-in plugins and its own: the `greeter`
//! RPC service answers through the plugin's own PHP worker pool.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use coyote_rpc::RpcClient;
use coyote_test_support::{php, worker_script, Server};

const BIN: &str = env!("CARGO_BIN_EXE_coyote-greeter");

fn config(greeting: &str) -> String {
    format!(
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nserver:\n  command: \"{} {}\"\ngreeter:\n  greeting: \"{greeting}\"\n  pool:\n    num_workers: 2\n",
        php(),
        worker_script("echo").display()
    )
}

#[test]
fn the_custom_plugin_serves_its_rpc_method_from_its_own_pool() {
    let mut server = Server::start(BIN, &config("Hello"), &[]).unwrap();
    server.wait_ready();
    let rpc = server.address("rpc", "rpc").expect("rpc listener");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = RpcClient::connect(&rpc).await.unwrap();
        let answer: String = client.call_json("greeter.Hello", &"world").await.unwrap();
        assert_eq!(answer, "Hello, world");
        let plugins: Vec<String> = client.call_json("informer.List", &true).await.unwrap();
        assert_eq!(plugins, ["greeter"]);
        let unknown = client
            .call_json::<_, String>("greeter.Bye", &"x")
            .await
            .unwrap_err();
        assert!(unknown.to_string().contains("greeter.Bye"), "{unknown}");
    });
    let status = server.terminate(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{}", server.output());
}

#[test]
fn a_bad_greeter_section_is_a_config_error_naming_the_key() {
    let mut server = Server::start(BIN, &config(" "), &[]).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).unwrap();
    assert_eq!(status.code(), Some(3), "{}", server.output());
    assert!(
        server
            .output()
            .contains(".rr.yaml:7:3: greeter.greeting: required"),
        "{}",
        server.output()
    );
    assert!(server.events().iter().all(|e| !e.starts_with("listen ")));
}
