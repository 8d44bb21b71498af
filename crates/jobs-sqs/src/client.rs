//! The SQS clients of a pipeline, from the `sqs` section: static
//! credentials when `key` and `secret` are given, otherwise the AWS default
//! chain (environment, profile, web identity, ECS, instance role), as
//! RoadRunner does; the queue created (or only looked up).
//!
//! Three clients share one HTTP client (hyper + rustls on ring) and differ
//! in deadlines: `client` for sends and settles (3 attempts of at most 4 s,
//! 10 s in all, so a push during an outage fails within that), `poller`
//! for the long poll (one attempt of `wait_time_seconds` + 5 s: the receive
//! loop retries by itself), `probe` for the counts Stat reads and for
//! keeping held deliveries hidden (one attempt of 3 s: the link's health
//! check).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use coyote_jobs::JobsError;

use crate::config::SqsOptions;

/// The region signed with when an `endpoint` is set and no region is
/// configured anywhere (SQS-compatible servers ignore it).
pub const ENDPOINT_REGION: &str = "us-east-1";

/// A pipeline's clients.
#[derive(Clone, Debug)]
pub struct Clients {
    /// Sends and settles.
    pub client: Client,
    /// ReceiveMessage.
    pub poller: Client,
    /// GetQueueAttributes (Stat, health), visibility extensions.
    pub probe: Client,
}

fn where_(opts: &SqsOptions) -> String {
    let c = &opts.connection;
    if c.endpoint.trim().is_empty() {
        format!("queue {:?}", opts.queue)
    } else {
        format!("queue {:?} at {}", opts.queue, c.endpoint.trim())
    }
}

fn fail(opts: &SqsOptions, what: &str, e: impl std::fmt::Display) -> JobsError {
    JobsError::Invalid(format!(
        "pipeline {}: sqs {}: {what}: {e}",
        opts.pipeline,
        where_(opts)
    ))
}

/// Loads the configuration and builds the clients.
///
/// # Errors
/// No region is configured anywhere (and no endpoint is given).
pub async fn connect(opts: &SqsOptions) -> Result<Clients, JobsError> {
    let c = &opts.connection;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if !c.region.trim().is_empty() {
        loader = loader.region(Region::new(c.region.trim().to_owned()));
    }
    if !c.key.trim().is_empty() && !c.secret.trim().is_empty() {
        let token = Some(c.session_token.trim().to_owned()).filter(|t| !t.is_empty());
        loader = loader.credentials_provider(Credentials::new(
            c.key.trim(),
            c.secret.trim(),
            token,
            None,
            "coyote-sqs-config",
        ));
    }
    let endpoint = c.endpoint.trim();
    if !endpoint.is_empty() {
        loader = loader.endpoint_url(endpoint);
    }
    let mut sdk = loader.load().await;
    if sdk.region().is_none() {
        if endpoint.is_empty() {
            return Err(JobsError::Invalid(format!(
                "pipeline {}: sqs: no region: set sqs.region (or AWS_REGION)",
                opts.pipeline
            )));
        }
        sdk = sdk
            .into_builder()
            .region(Region::new(ENDPOINT_REGION))
            .build();
    }
    let build = |attempts: u32, attempt: Duration, total: Duration| {
        let conf = aws_sdk_sqs::config::Builder::from(&sdk)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(attempts)
                    .with_max_backoff(Duration::from_secs(1)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(attempt)
                    .operation_timeout(total)
                    .build(),
            )
            .build();
        Client::from_conf(conf)
    };
    let wait = Duration::from_secs(u64::try_from(opts.wait_time_seconds).unwrap_or(0));
    Ok(Clients {
        client: build(3, Duration::from_secs(4), Duration::from_secs(10)),
        poller: build(
            1,
            wait + Duration::from_secs(5),
            wait + Duration::from_secs(5),
        ),
        probe: build(1, Duration::from_secs(3), Duration::from_secs(3)),
    })
}

/// The queue's URL: created with the pipeline's attributes and tags (an
/// existing one is used as it is), or only looked up with
/// `skip_queue_declaration`.
///
/// # Errors
/// The endpoint cannot be reached, the credentials are refused, or the
/// queue is missing and may not be created.
pub async fn queue_url(client: &Client, opts: &SqsOptions) -> Result<String, JobsError> {
    let lookup = || async {
        client
            .get_queue_url()
            .queue_name(&opts.queue)
            .send()
            .await
            .map_err(|e| {
                let missing = e
                    .as_service_error()
                    .is_some_and(aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError::is_queue_does_not_exist);
                if missing {
                    fail(
                        opts,
                        "looking the queue up",
                        "the queue does not exist (skip_queue_declaration is set: Coyote does not create it)",
                    )
                } else {
                    fail(opts, "looking the queue up", DisplayErrorContext(e))
                }
            })
            .map(|out| out.queue_url.unwrap_or_default())
    };
    if opts.skip_queue_declaration {
        return lookup().await;
    }
    let created = client
        .create_queue()
        .queue_name(&opts.queue)
        .set_attributes(Some(
            opts.attributes
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.clone()))
                .collect(),
        ))
        .set_tags(Some(
            opts.tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.queue_url.unwrap_or_default()),
        Err(e)
            if e.as_service_error().is_some_and(
                aws_sdk_sqs::operation::create_queue::CreateQueueError::is_queue_name_exists,
            ) =>
        {
            // There with other attributes: used as it is (RoadRunner too).
            lookup().await
        }
        Err(e) => Err(fail(opts, "creating the queue", DisplayErrorContext(e))),
    }
}
