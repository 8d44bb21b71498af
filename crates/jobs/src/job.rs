//! A job as it travels: RoadRunner's `Job` (name, id, payload, headers,
//! options) plus what the plugin tracks (the pipeline's priority applied,
//! the number of times the job was handed to a worker).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

/// `map[string][]string`, ordered so that contexts and tests are stable.
pub type Headers = BTreeMap<String, Vec<String>>;

/// One job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The job name (usually a PHP class), `job` in the context.
    pub name: String,
    /// The unique id, set by the producer (RoadRunner refuses an empty one).
    pub id: String,
    /// The payload, delivered as the body of the worker's payload.
    pub payload: Bytes,
    /// Headers, delivered in the context.
    pub headers: Headers,
    /// The pipeline it was pushed to.
    pub pipeline: String,
    /// Lower runs first; 0 means "the pipeline's priority" until the
    /// driver applies it.
    pub priority: i64,
    /// Seconds to wait before the job may run.
    pub delay: u64,
    /// Ack on receipt, before the worker runs it (the reply is ignored).
    pub auto_ack: bool,
    /// How many times a worker received it before (0 on first delivery);
    /// kept by the durable driver across restarts.
    pub attempts: u32,
}

impl Job {
    /// A job with default options (tests, the CLI).
    pub fn new(
        pipeline: impl Into<String>,
        name: impl Into<String>,
        id: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Self {
        Self {
            name: name.into(),
            id: id.into(),
            payload: payload.into(),
            headers: Headers::new(),
            pipeline: pipeline.into(),
            priority: 0,
            delay: 0,
            auto_ack: false,
            attempts: 0,
        }
    }

    /// The worker's context: `{"id","job","driver","headers","pipeline","queue"}`,
    /// what roadrunner-php/jobs' task factory reads.
    pub fn context(&self, driver: &str, queue: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct Context<'a> {
            id: &'a str,
            job: &'a str,
            driver: &'a str,
            headers: &'a Headers,
            pipeline: &'a str,
            queue: &'a str,
        }
        // Serialising borrowed strings and a map of strings cannot fail.
        serde_json::to_vec(&Context {
            id: &self.id,
            job: &self.name,
            driver,
            headers: &self.headers,
            pipeline: &self.pipeline,
            queue,
        })
        .unwrap_or_default()
    }

    /// Merges `headers` over the job's (a key given replaces the job's
    /// values for that key), as RoadRunner's requeue does.
    pub fn merge_headers(&mut self, headers: Headers) {
        for (k, v) in headers {
            self.headers.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_has_the_fields_the_php_factory_reads() {
        let mut job = Job::new("p1", "App\\Mail", "id-1", "body");
        job.headers.insert("k".into(), vec!["v".into()]);
        let ctx: serde_json::Value = serde_json::from_slice(&job.context("memory", "p1")).unwrap();
        assert_eq!(
            ctx,
            serde_json::json!({"id":"id-1","job":"App\\Mail","driver":"memory",
                "headers":{"k":["v"]},"pipeline":"p1","queue":"p1"})
        );
    }

    #[test]
    fn merge_replaces_given_keys_and_keeps_others() {
        let mut job = Job::new("p", "j", "1", "");
        job.headers.insert("a".into(), vec!["1".into()]);
        job.headers.insert("b".into(), vec!["2".into()]);
        job.merge_headers(Headers::from([("b".into(), vec!["3".into()])]));
        assert_eq!(job.headers["a"], ["1"]);
        assert_eq!(job.headers["b"], ["3"]);
    }
}
