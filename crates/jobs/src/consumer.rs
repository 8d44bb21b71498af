//! The pollers: each takes the next delivery from the plugin queue, runs it
//! on the jobs pool (context JSON, payload body) and settles it with its
//! driver according to the worker's reply.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use coyote_pool::{Payload, Pool, PoolError};
use tokio_util::sync::CancellationToken;

use crate::reply::{self, Reply};
use crate::{Delivery, Jobs, JobsError};

/// One poller: runs until `stop` is cancelled; the delivery in hand is
/// finished first.
pub async fn poll(jobs: Arc<Jobs>, pool: Pool, stop: CancellationToken) {
    while let Some(delivery) = jobs.queue().pop(&stop).await {
        run(&jobs, &pool, delivery).await;
    }
}

/// A job whose worker dies is run again until it was delivered this many
/// times; then it is dropped with an error (a poison job must not kill
/// workers forever).
pub const MAX_DELIVERIES_AFTER_CRASH: u32 = 3;

enum Settle {
    Ack,
    Drop,
    Fail,
    Redeliver(u64),
    Requeue(u64),
}

/// Runs one delivery and settles it.
pub async fn run(jobs: &Jobs, pool: &Pool, delivery: Delivery) {
    let Delivery {
        job,
        handle,
        driver,
    } = delivery;
    driver.reserve(handle);
    let counters = jobs.counters();
    let auto_ack = job.auto_ack;
    if auto_ack {
        report(&job.id, &job.pipeline, driver.ack(handle).await);
    }
    let payload = Payload::raw(driver.context(&job), job.payload.clone());
    let started = std::time::Instant::now();
    let result = pool.exec(payload).await;
    // The dashboard's figures for the jobs pool: executions, failed ones
    // (worker error or crash), their latency.
    pool.meter().record(started.elapsed(), result.is_err());
    if auto_ack {
        match &result {
            Ok(_) => counters.jobs_ok.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                    "auto-acked job failed: {e}");
                counters.jobs_err.fetch_add(1, Ordering::Relaxed)
            }
        };
        return;
    }
    let mut job = job;
    let settle = match result {
        Ok(response) => match reply::parse(&response.body) {
            Reply::Ack => Settle::Ack,
            Reply::Unknown(kind) => {
                tracing::warn!(target: "coyote::jobs", id = %job.id, kind,
                    "unknown response type, acknowledging the job");
                Settle::Ack
            }
            Reply::Invalid(why) => {
                tracing::error!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                    "unreadable reply, acknowledging the job: {why}");
                Settle::Ack
            }
            Reply::Error {
                message,
                requeue,
                delay,
                headers,
            } => {
                tracing::error!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                    requeue, delay, "jobs protocol error: {message}");
                if requeue {
                    job.merge_headers(headers);
                    Settle::Requeue(delay)
                } else {
                    Settle::Drop
                }
            }
            Reply::Nack {
                message,
                requeue,
                delay,
            } => {
                tracing::info!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                    requeue, delay, "job nacked: {message}");
                if requeue {
                    Settle::Redeliver(delay)
                } else {
                    Settle::Drop
                }
            }
            Reply::Requeue {
                message,
                delay,
                headers,
            } => {
                tracing::info!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                    delay, "job requeued: {message}");
                job.merge_headers(headers);
                Settle::Requeue(delay)
            }
        },
        // The worker threw: a nack, as in RoadRunner (dropped, logged).
        Err(PoolError::Job { message }) => {
            tracing::error!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                "job failed in the worker (nack): {message}");
            Settle::Fail
        }
        // Never reached a worker: back to the queue as it was.
        Err(
            e @ (PoolError::NoFreeWorkers { .. }
            | PoolError::QueueFull { .. }
            | PoolError::Stopped { .. }),
        ) => {
            tracing::warn!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                "job not run, redelivering: {e}");
            Settle::Redeliver(0)
        }
        // The worker died or broke the protocol while running it: it may
        // not have finished, so it runs again (at-least-once) — unless it
        // keeps killing workers: a poison job is dropped, loudly.
        Err(e) if job.attempts + 1 < MAX_DELIVERIES_AFTER_CRASH => {
            tracing::error!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                attempts = job.attempts + 1, "worker failed while running the job, redelivering: {e}");
            Settle::Redeliver(0)
        }
        Err(e) => {
            tracing::error!(target: "coyote::jobs", id = %job.id, pipeline = %job.pipeline,
                attempts = job.attempts + 1,
                "worker failed while running the job; delivered {MAX_DELIVERIES_AFTER_CRASH} times, dropping it (nack): {e}");
            Settle::Drop
        }
    };
    let (ok, outcome) = match settle {
        Settle::Ack => (true, driver.ack(handle).await),
        Settle::Drop => (false, driver.nack(handle, job.clone(), false, 0).await),
        Settle::Fail => (false, driver.fail(handle, job.clone()).await),
        Settle::Redeliver(delay) => (false, driver.nack(handle, job.clone(), true, delay).await),
        Settle::Requeue(delay) => (false, driver.requeue(handle, job.clone(), delay).await),
    };
    let counter = if ok {
        &counters.jobs_ok
    } else {
        &counters.jobs_err
    };
    counter.fetch_add(1, Ordering::Relaxed);
    report(&job.id, &job.pipeline, outcome);
}

fn report(id: &str, pipeline: &str, outcome: Result<(), JobsError>) {
    if let Err(e) = outcome {
        tracing::error!(target: "coyote::jobs", id, pipeline, "settling the job failed: {e}");
    }
}
