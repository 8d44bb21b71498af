//! The `service` RPC service (protobuf codec, as roadrunner-php/services
//! calls it): Create, Terminate, Restart, Status, Statuses, List.
//!
//! Each call runs as a task of the plugin and the answer waits for it, so a
//! client that goes away mid-call never leaves a service half stopped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coyote_rpc::{RpcError, Service, ServiceFuture};
use goridge::flags;
use prost::Message;
use tokio_util::task::TaskTracker;

use crate::config::{
    or_default, split_command, ServiceSpec, DEFAULT_RESTART, DEFAULT_STOP_TIMEOUT, MAX_PROCESS_NUM,
};
use crate::group::Services;
use crate::proto;
use crate::ServiceError;

/// The largest number of seconds a time argument may hold (RoadRunner's:
/// what a Go `time.Duration` holds).
pub const MAX_SECONDS: u64 = (i64::MAX / 1_000_000_000) as u64;

/// The methods, as RoadRunner names them.
pub const METHODS: &[&str] = &[
    "Create",
    "Terminate",
    "Restart",
    "Status",
    "Statuses",
    "List",
];

/// The service over one server's services.
pub struct ServiceRpc {
    services: Arc<Services>,
    tracker: TaskTracker,
    /// Where created services run.
    dir: std::path::PathBuf,
}

impl ServiceRpc {
    pub(crate) fn new(
        services: Arc<Services>,
        tracker: TaskTracker,
        dir: std::path::PathBuf,
    ) -> Self {
        Self {
            services,
            tracker,
            dir,
        }
    }

    /// A Create request -> a spec, refusing what RoadRunner refuses.
    fn spec(&self, c: proto::Create) -> Result<ServiceSpec, ServiceError> {
        if c.name.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "service name must not be empty".into(),
            ));
        }
        let argv = split_command(&c.command);
        if argv.is_empty() {
            return Err(ServiceError::Invalid("command must not be empty".into()));
        }
        let process_num = usize::try_from(c.process_num)
            .ok()
            .filter(|n| (1..=MAX_PROCESS_NUM).contains(n))
            .ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "process_num must be between 1 and {MAX_PROCESS_NUM}, got {}",
                    c.process_num
                ))
            })?;
        let exec_timeout = u64::try_from(c.exec_timeout)
            .ok()
            .filter(|s| *s <= MAX_SECONDS)
            .ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "exec_timeout must be between 0 and {MAX_SECONDS} seconds, got {}",
                    c.exec_timeout
                ))
            })?;
        for (key, value) in [
            ("restart_sec", c.restart_sec),
            ("timeout_stop_sec", c.timeout_stop_sec),
        ] {
            if value > MAX_SECONDS {
                return Err(ServiceError::Invalid(format!(
                    "{key} must not exceed {MAX_SECONDS} seconds, got {value}"
                )));
            }
        }
        Ok(ServiceSpec {
            name: c.name,
            command: c.command,
            argv,
            process_num,
            exec_timeout: (exec_timeout > 0).then(|| Duration::from_secs(exec_timeout)),
            remain_after_exit: c.remain_after_exit,
            restart: or_default(Duration::from_secs(c.restart_sec), DEFAULT_RESTART),
            stop_timeout: or_default(
                Duration::from_secs(c.timeout_stop_sec),
                DEFAULT_STOP_TIMEOUT,
            ),
            name_in_log: c.service_name_in_logs,
            env: c
                .env
                .into_iter()
                .map(|(k, v)| (k.to_uppercase(), v))
                .collect(),
            user: None,
            dir: self.dir.clone(),
        })
    }

    async fn dispatch(&self, method: &str, body: Bytes) -> Result<Vec<u8>, RpcError> {
        let failed = |e: ServiceError| RpcError::Failed(e.to_string());
        let ok = || {
            proto::Response {
                message: String::new(),
                ok: true,
            }
            .encode_to_vec()
        };
        match method {
            "Create" => {
                let create: proto::Create = decode(method, body)?;
                tracing::debug!(target: "coyote::service", name = %create.name,
                    command = %create.command, process_num = create.process_num, "create service");
                let spec = self.spec(create).map_err(failed)?;
                let services = self.services.clone();
                self.owned(async move { services.create(spec).await })
                    .await
                    .map_err(failed)?;
                Ok(ok())
            }
            "Terminate" | "Restart" => {
                let name = decode::<proto::Service>(method, body)?.name;
                tracing::debug!(target: "coyote::service", %name, method, "service call");
                let services = self.services.clone();
                let restart = method == "Restart";
                self.owned(async move {
                    if restart {
                        services.restart(&name).await
                    } else {
                        services.terminate(&name).await
                    }
                })
                .await
                .map_err(failed)?;
                Ok(ok())
            }
            "Status" => {
                let name = decode::<proto::Service>(method, body)?.name;
                let last = self.services.statuses(&name).map_err(failed)?.pop();
                Ok(last.unwrap_or_default().encode_to_vec())
            }
            "Statuses" => {
                let name = decode::<proto::Service>(method, body)?.name;
                let status = self.services.statuses(&name).map_err(failed)?;
                Ok(proto::Statuses { status }.encode_to_vec())
            }
            "List" => {
                let _: proto::Service = decode(method, body)?;
                Ok(proto::List {
                    services: self.services.list(),
                }
                .encode_to_vec())
            }
            _ => Err(RpcError::UnknownMethod(format!("service.{method}"))),
        }
    }

    /// Runs `op` as a task of the plugin and waits for its answer.
    async fn owned<F>(&self, op: F) -> Result<(), ServiceError>
    where
        F: std::future::Future<Output = Result<(), ServiceError>> + Send + 'static,
    {
        self.tracker
            .spawn(op)
            .await
            .unwrap_or(Err(ServiceError::Stopped))
    }
}

fn decode<M: Message + Default>(method: &str, body: Bytes) -> Result<M, RpcError> {
    M::decode(body).map_err(|e| RpcError::BadArgument {
        method: format!("service.{method}"),
        reason: e.to_string(),
    })
}

impl Service for ServiceRpc {
    fn name(&self) -> &'static str {
        "service"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            if !METHODS.contains(&method) {
                return Err(RpcError::UnknownMethod(format!("service.{method}")));
            }
            if codec & flags::CODEC_PROTO == 0 {
                return Err(RpcError::Codec {
                    method: format!("service.{method}"),
                    codec,
                });
            }
            self.dispatch(method, body).await
        })
    }
}
