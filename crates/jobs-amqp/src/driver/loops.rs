//! The driver's tasks: the supervisor (redial with backoff) and the
//! consumer loop, with the nack of deliveries taken back.

#[allow(clippy::wildcard_imports)] // the driver's private state, shared
use super::*;

pub(super) fn requeue() -> BasicNackOptions {
    BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    }
}

pub(super) async fn nack_all(ackers: Vec<Acker>) {
    for a in ackers {
        // Lost with its link if unanswered: the broker has it back anyway.
        let _ = tokio::time::timeout(CONFIRM_TIMEOUT, a.nack(requeue())).await;
    }
}

/// Watches the link; when it dies, takes back the deliveries queued from
/// it (the broker redelivers them), says so in the pipeline's error
/// message and redials with exponential backoff (100 ms doubling to 5 s)
/// until it is back. After `redial_timeout` without success the attempt
/// starts over, logged as an error (RoadRunner recreates the pipeline
/// then): the pipeline never stays dead.
pub(super) async fn supervise(driver: Weak<AmqpDriver>, cancel: CancellationToken) {
    let mut last_info = Instant::now() - INFO_EVERY;
    loop {
        let dead = driver
            .upgrade()
            .and_then(|d| d.link.borrow().as_ref().map(|l| l.dead.clone()))
            .unwrap_or_default();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(TICK) => {}
            () = dead.cancelled() => {}
        }
        let Some(d) = driver.upgrade() else { return };
        let link = d.link.borrow().clone();
        match link {
            Some(l) if l.alive() => {
                if last_info.elapsed() >= INFO_EVERY {
                    last_info = Instant::now();
                    // Bounded: a hung link must not keep the watch from
                    // finding it dead.
                    let _ = tokio::time::timeout(CONFIRM_TIMEOUT, d.refresh(&l)).await;
                }
                continue;
            }
            _ => {}
        }
        // The link is dead.
        if let Some(l) = &link {
            d.lost(l);
        }
        d.link.send_replace(None);
        let addr = redact(&d.opts.addr);
        tracing::warn!(target: "coyote::jobs", pipeline = %d.opts.pipeline, addr = %addr,
            "amqp: connection lost, redialing");
        let opts = d.opts.clone();
        drop(d);
        let began = Instant::now();
        let mut window = Instant::now();
        let mut backoff = BACKOFF_MIN;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let generation = match driver.upgrade() {
                Some(d) => d.generations.fetch_add(1, AtomicOrdering::Relaxed) + 1,
                None => return,
            };
            let dialed = tokio::select! {
                () = cancel.cancelled() => return,
                r = dial(&opts, generation) => r,
            };
            let Some(d) = driver.upgrade() else { return };
            match dialed {
                Ok(link) => {
                    d.link.send_replace(Some(link));
                    d.set_error(String::new());
                    tracing::info!(target: "coyote::jobs", pipeline = %opts.pipeline, addr = %addr,
                        attempt, elapsed_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "amqp: reconnected");
                    break;
                }
                Err(e) => {
                    d.set_error(format!(
                        "amqp: connection to {addr} lost {}s ago, redialing (attempt {attempt}): {e}",
                        began.elapsed().as_secs()
                    ));
                    if window.elapsed() >= opts.redial_timeout {
                        tracing::error!(target: "coyote::jobs", pipeline = %opts.pipeline, addr = %addr,
                            "amqp: no connection for redial_timeout ({:?}), starting the redial over: {e}",
                            opts.redial_timeout);
                        window = Instant::now();
                        backoff = BACKOFF_MIN;
                    } else {
                        tracing::debug!(target: "coyote::jobs", pipeline = %opts.pipeline,
                            attempt, "amqp: redial failed: {e}");
                    }
                }
            }
            drop(d);
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// Consumes while the pipeline runs: on every live link, a channel with
/// basic.qos(prefetch) and a consumer on the queue; when the link dies
/// (or the broker cancels the consumer: the queue was deleted), it waits
/// for the next one (declaring the queue again) and consumes again by
/// itself. Cancelled (pause, stop): basic.cancel, and what the broker
/// still delivers goes straight back.
pub(super) async fn consume_loop(driver: Weak<AmqpDriver>, cancel: CancellationToken) {
    let Some(mut links) = driver.upgrade().map(|d| d.link.subscribe()) else {
        return;
    };
    let mut backoff = BACKOFF_MIN;
    loop {
        // The next live link.
        let link = loop {
            let current = links.borrow_and_update().clone();
            if let Some(l) = current.filter(|l| l.alive()) {
                break l;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = links.changed() => if changed.is_err() { return },
            }
        };
        let Some(d) = driver.upgrade() else { return };
        let opts = d.opts.clone();
        drop(d);
        let started = async {
            let kept = link
                .consume
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .filter(|c| c.status().connected());
            let ch = match kept {
                Some(c) => c,
                None => {
                    let c = link.conn.create_channel().await?;
                    c.basic_qos(opts.prefetch, BasicQosOptions::default())
                        .await?;
                    *link
                        .consume
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(c.clone());
                    c
                }
            };
            let consumer = ch
                .basic_consume(
                    opts.queue.as_str().into(),
                    opts.consumer_id.as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((ch, consumer))
        };
        let (channel, mut consumer) = match tokio::time::timeout(CONFIRM_TIMEOUT, started).await {
            Ok(Ok(c)) => {
                backoff = BACKOFF_MIN;
                c
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer".to_owned(),
                };
                tracing::warn!(target: "coyote::jobs", pipeline = %opts.pipeline, queue = %opts.queue,
                    "amqp: cannot consume, retrying in {backoff:?}: {why}");
                if link.alive() {
                    // The queue may be gone (deleted by hand): declare it again.
                    if let Err(e) = declare_topology(&link.conn, &opts).await {
                        tracing::warn!(target: "coyote::jobs", pipeline = %opts.pipeline, "amqp: {e}");
                    }
                }
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        tracing::debug!(target: "coyote::jobs", pipeline = %opts.pipeline, queue = %opts.queue,
            generation = link.generation, "amqp: consuming");
        let mut cancelled = false;
        loop {
            tokio::select! {
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    // No new deliveries; the ones in flight come in and go
                    // back (the stream ends with the cancel-ok).
                    let sent = tokio::time::timeout(
                        CONFIRM_TIMEOUT,
                        channel.basic_cancel(opts.consumer_id.as_str().into(), BasicCancelOptions::default()),
                    ).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return;
                    }
                }
                () = link.dead.cancelled() => break,
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        let Some(d) = driver.upgrade() else { return };
                        d.accept(delivery, link.generation).await;
                    }
                    Some(Err(e)) => {
                        if !cancelled {
                            tracing::warn!(target: "coyote::jobs", pipeline = %opts.pipeline,
                                "amqp: consumer error: {e}");
                        }
                        break;
                    }
                    None => break,
                },
            }
        }
        if cancelled || cancel.is_cancelled() {
            return;
        }
        if !link.conn.status().connected() {
            // Found before the supervisor's next look.
            if let Some(d) = driver.upgrade() {
                d.lost(&link);
            }
            continue;
        }
        if link.alive() {
            // The broker cancelled the consumer (the queue was deleted):
            // declare again and consume again after a pause.
            tracing::warn!(target: "coyote::jobs", pipeline = %opts.pipeline, queue = %opts.queue,
                "amqp: the broker ended the consumer; consuming again");
            if let Err(e) = declare_topology(&link.conn, &opts).await {
                tracing::warn!(target: "coyote::jobs", pipeline = %opts.pipeline, "amqp: {e}");
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}
