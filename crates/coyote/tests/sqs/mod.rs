//! The SQS side of `jobs_sqs.rs`: the test endpoint (moto) and the test's
//! own SDK client, which sends and reads messages as another producer or
//! consumer would.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};

/// The test endpoint (`http://host:port`); a test without one fails.
pub fn sqs_endpoint() -> String {
    let url = std::env::var("COYOTE_TEST_SQS").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let hostport = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let reachable = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "no SQS endpoint (moto) answers at {url} (COYOTE_TEST_SQS): run the tests through \
         scripts/test, which starts one and exports its address"
    );
    format!("http://{hostport}")
}

pub fn sqs_socket() -> SocketAddr {
    sqs_endpoint()
        .trim_start_matches("http://")
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
}

/// A queue name no other test (or run) uses.
pub fn queue_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "coyote-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The test's own SQS client (the SDK, as a RoadRunner producer or any
/// other would use it); deletes the test's queues when dropped.
pub struct Sqs {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_sqs::Client,
    queues: Vec<String>,
}

impl Sqs {
    pub fn connect() -> Self {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .endpoint_url(sqs_endpoint())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: aws_sdk_sqs::Client::from_conf(conf),
            queues: Vec::new(),
        }
    }

    /// Creates `name` (deleted at the end of the test); its URL.
    pub fn create(&mut self, name: &str) -> String {
        self.queues.push(name.to_owned());
        self.rt
            .block_on(self.client.create_queue().queue_name(name).send())
            .unwrap()
            .queue_url
            .unwrap()
    }

    /// Deletes `name` at the end of the test (Coyote created it).
    pub fn own(&mut self, name: &str) {
        self.queues.push(name.to_owned());
    }

    pub fn url(&self, name: &str) -> Option<String> {
        self.rt
            .block_on(self.client.get_queue_url().queue_name(name).send())
            .ok()
            .and_then(|o| o.queue_url)
    }

    pub fn send(&self, url: &str, body: &str, attrs: &[(&str, &str, &str)]) {
        let mut call = self.client.send_message().queue_url(url).message_body(body);
        for (name, ty, value) in attrs {
            let v = MessageAttributeValue::builder().data_type(*ty);
            let v = if ty.starts_with("Binary") {
                v.binary_value(Blob::new(value.as_bytes().to_vec()))
            } else {
                v.string_value(*value)
            };
            call = call.message_attributes(*name, v.build().unwrap());
        }
        self.rt.block_on(call.send()).unwrap();
    }

    /// Receives one message (all attributes) and leaves it in the queue.
    pub fn peek(&self, url: &str) -> aws_sdk_sqs::types::Message {
        let out = self
            .rt
            .block_on(
                self.client
                    .receive_message()
                    .queue_url(url)
                    .message_attribute_names("All")
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .wait_time_seconds(5)
                    .send(),
            )
            .unwrap();
        out.messages.unwrap_or_default().into_iter().next().unwrap()
    }

    pub fn attribute(&self, url: &str, name: QueueAttributeName) -> Option<String> {
        self.rt
            .block_on(
                self.client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(name.clone())
                    .send(),
            )
            .ok()
            .and_then(|o| o.attributes)
            .and_then(|a| a.get(&name).cloned())
    }
}

impl Drop for Sqs {
    fn drop(&mut self) {
        for q in &self.queues {
            if let Some(url) = self.url(q) {
                let _ = self
                    .rt
                    .block_on(self.client.delete_queue().queue_url(url).send());
            }
        }
    }
}
