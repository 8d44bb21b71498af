//! Dialing: the TLS configuration, the connection and channels, and the
//! exchange, queue and binding a pipeline declares.

#[allow(clippy::wildcard_imports)] // the driver's private state, shared
use super::*;

fn exchange_kind(kind: &str) -> ExchangeKind {
    match kind {
        "direct" => ExchangeKind::Direct,
        "fanout" => ExchangeKind::Fanout,
        "topic" => ExchangeKind::Topic,
        "headers" => ExchangeKind::Headers,
        other => ExchangeKind::Custom(other.to_owned()),
    }
}

/// The TLS settings of `amqp.tls`.
fn tls_config(opts: &AmqpOptions) -> Result<OwnedTLSConfig, String> {
    let Some(tls) = &opts.tls else {
        return Ok(OwnedTLSConfig::default());
    };
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("amqp.tls: reading {}: {e}", p.display()))
    };
    let cert_chain = match &tls.root_ca {
        Some(p) => Some(String::from_utf8_lossy(&read(p)?).into_owned()),
        None => None,
    };
    let identity = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
            pem: read(cert)?,
            key: read(key)?,
        }),
        _ => None,
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}

/// Declares what the pipeline needs on a fresh connection: the exchange,
/// and the queue bound to it by the routing key. Without the right to
/// declare them, what exists already is used as it is; what does not is
/// an error that says so.
pub(super) async fn declare_topology(conn: &Connection, opts: &AmqpOptions) -> Result<(), String> {
    if !opts.exchange.is_empty() {
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| format!("opening a channel: {e}"))?;
        let declared = ch
            .exchange_declare(
                opts.exchange.as_str().into(),
                exchange_kind(&opts.exchange_type),
                ExchangeDeclareOptions {
                    durable: opts.exchange_durable,
                    auto_delete: opts.exchange_auto_delete,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(()) => {
                let _ = ch.close(200, "OK".into()).await;
            }
            Err(e) if is_soft(&e, AMQPSoftError::ACCESSREFUSED) => {
                let ch = conn
                    .create_channel()
                    .await
                    .map_err(|e| format!("opening a channel: {e}"))?;
                ch.exchange_declare(
                    opts.exchange.as_str().into(),
                    exchange_kind(&opts.exchange_type),
                    ExchangeDeclareOptions {
                        passive: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|p| {
                    format!(
                        "exchange {:?} does not exist and may not be declared by this user ({e}; {p})",
                        opts.exchange
                    )
                })?;
                let _ = ch.close(200, "OK".into()).await;
            }
            Err(e) => return Err(format!("declaring exchange {:?}: {e}", opts.exchange)),
        }
    }
    if opts.queue.is_empty() {
        return Ok(());
    }
    let ch = conn
        .create_channel()
        .await
        .map_err(|e| format!("opening a channel: {e}"))?;
    let declared = ch
        .queue_declare(
            opts.queue.as_str().into(),
            QueueDeclareOptions {
                durable: opts.durable,
                exclusive: opts.exclusive,
                auto_delete: opts.queue_auto_delete,
                ..QueueDeclareOptions::default()
            },
            opts.queue_headers.clone(),
        )
        .await;
    match declared {
        Ok(_) => {}
        Err(e) if is_soft(&e, AMQPSoftError::ACCESSREFUSED) => {
            let check = conn
                .create_channel()
                .await
                .map_err(|e| format!("opening a channel: {e}"))?;
            check
                .queue_declare(
                    opts.queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|p| {
                    format!(
                        "queue {:?} does not exist and may not be declared by this user ({e}; {p})",
                        opts.queue
                    )
                })?;
            // It exists (declared by someone allowed to): bound already
            // or not, binding is not ours to do either.
            let _ = check.close(200, "OK".into()).await;
            return Ok(());
        }
        Err(e) => return Err(format!("declaring queue {:?}: {e}", opts.queue)),
    }
    if !opts.exchange.is_empty() {
        ch.queue_bind(
            opts.queue.as_str().into(),
            opts.exchange.as_str().into(),
            opts.routing_key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| {
            format!(
                "binding queue {:?} to exchange {:?} by {:?}: {e}",
                opts.queue, opts.exchange, opts.routing_key
            )
        })?;
    }
    let _ = ch.close(200, "OK".into()).await;
    Ok(())
}

/// One dial: the connection, the topology, the publish channel (confirm
/// mode).
pub(super) async fn dial(opts: &AmqpOptions, generation: u64) -> Result<Arc<Link>, String> {
    let tls = tls_config(opts)?;
    let props = ConnectionProperties::default()
        .with_connection_name(format!("coyote jobs {}", opts.pipeline).into());
    let work = async {
        let runtime = lapin::runtime::default_runtime()
            .map_err(|e| format!("no runtime for the AMQP client: {e}"))?;
        let conn = Connection::connect_uri_with_config(opts.uri.clone(), props, tls, runtime)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", redact(&opts.addr)))?;
        declare_topology(&conn, opts).await?;
        let publish = conn
            .create_channel()
            .await
            .map_err(|e| format!("opening the publish channel: {e}"))?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("turning publisher confirms on: {e}"))?;
        Ok::<_, String>(Arc::new(Link {
            generation,
            conn,
            publish,
            info: Mutex::new(None),
            consume: Mutex::new(None),
            delay_queues: Mutex::new(HashSet::new()),
            dead: CancellationToken::new(),
        }))
    };
    match tokio::time::timeout(DIAL_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "connecting to {} timed out after {DIAL_TIMEOUT:?}",
            redact(&opts.addr)
        )),
    }
}
