//! The `service` section, planned whole before anything runs: a map of
//! service name -> RoadRunner's keys (`command`, `process_num`,
//! `exec_timeout`, `remain_after_exit`, `restart_sec`, `timeout_stop_sec`,
//! `service_name_in_log`, `env`, `user`) with RoadRunner's defaults, every
//! problem reported at its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coyote_config::Node;
use coyote_host::Plan;
use serde::Deserialize;

/// The most processes one service may run (RoadRunner has no bound; a
/// typo or a hostile `service.Create` must not fork thousands).
pub const MAX_PROCESS_NUM: usize = 1024;
/// `restart_sec` when absent or 0 (RoadRunner's).
pub const DEFAULT_RESTART: Duration = Duration::from_secs(30);
/// `timeout_stop_sec` when absent or 0 (RoadRunner's).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One service, planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The service's name (`service.<name>`, or the name given to Create).
    pub name: String,
    /// The command line as written.
    pub command: String,
    /// The program and its arguments ([`split_command`]).
    pub argv: Vec<String>,
    /// How many copies run.
    pub process_num: usize,
    /// A run that lasts longer is killed (`None`: no limit).
    pub exec_timeout: Option<Duration>,
    /// Restart a process after it exits (any exit status).
    pub remain_after_exit: bool,
    /// Delay before a restart (and the first delay of the spawn backoff).
    pub restart: Duration,
    /// Between SIGTERM and SIGKILL when stopping.
    pub stop_timeout: Duration,
    /// Tag the output lines with the service's name.
    pub name_in_log: bool,
    /// Extra environment (keys upper-cased, as RoadRunner does).
    pub env: BTreeMap<String, String>,
    /// Run as this uid / gid.
    pub user: Option<(u32, u32)>,
    /// The working directory of the processes.
    pub dir: PathBuf,
}

/// Splits a command line as RoadRunner does: on spaces, with no quoting and
/// no shell (`sh -c "echo hi"` is four arguments; put a script in a file).
/// Runs of whitespace count as one separator (RoadRunner passes the empty
/// strings between two spaces on as arguments).
pub fn split_command(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_owned).collect()
}

/// The keys of one service.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Keys {
    command: Option<String>,
    process_num: i64,
    #[serde(deserialize_with = "coyote_config::duration::de_secs")]
    exec_timeout: Duration,
    remain_after_exit: bool,
    #[serde(deserialize_with = "coyote_config::duration::de_secs")]
    restart_sec: Duration,
    #[serde(deserialize_with = "coyote_config::duration::de_secs")]
    timeout_stop_sec: Duration,
    service_name_in_log: bool,
    /// A map, or a list of maps (RoadRunner's docs write `- foo: BAR`);
    /// read from the node.
    #[allow(dead_code)]
    env: serde::de::IgnoredAny,
    user: String,
}

/// Whether `name` is a service name RoadRunner's schema accepts
/// (`^[a-zA-Z0-9._-]+$`); dots are refused here too, as they would make
/// key paths ambiguous.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Plans every service of the `service` section. `None` when the section
/// is absent; problems and warnings go to `plan`.
pub fn plan_services(plan: &mut Plan<'_>) -> Option<Vec<ServiceSpec>> {
    let node = plan.section("service")?;
    let mut out = Vec::new();
    let Some(entries) = node.as_map() else {
        plan.problem("service", "must be a map of service name -> {command, ...}");
        return Some(out);
    };
    let dir = plan.working_dir().to_path_buf();
    for entry in entries {
        let name = entry.key();
        let path = format!("service.{name}");
        if !valid_name(name) {
            plan.problem(&path, "a service name is letters, digits, '_' and '-' only");
            continue;
        }
        if entry.value().is_null() {
            plan.problem(&path, "empty service; give it a command");
            continue;
        }
        let Some(keys) = plan.decode_node::<Keys>(entry.value(), &path) else {
            continue;
        };
        let env = plan_env(plan, entry.value().get("env"), &format!("{path}.env"));
        if let Some(spec) = plan_one(plan, name, &path, keys, env, &dir) {
            out.push(spec);
        }
    }
    Some(out)
}

fn plan_one(
    plan: &mut Plan<'_>,
    name: &str,
    path: &str,
    keys: Keys,
    env: BTreeMap<String, String>,
    dir: &Path,
) -> Option<ServiceSpec> {
    let command = keys.command.unwrap_or_default();
    let argv = split_command(&command);
    let Some(program) = argv.first() else {
        plan.problem(
            &format!("{path}.command"),
            "required key command is missing or empty",
        );
        return None;
    };
    if find_program(program, dir).is_none() {
        plan.warn(
            &format!("{path}.command"),
            format!("{program:?} is not an executable file here or in PATH; it is retried every restart_sec"),
        );
    }
    let mut clean = true;
    let process_num = match keys.process_num {
        n if n <= 0 => 1,
        n => match usize::try_from(n) {
            Ok(n) if n <= MAX_PROCESS_NUM => n,
            _ => {
                plan.problem(
                    &format!("{path}.process_num"),
                    format!("{n} is above the limit of {MAX_PROCESS_NUM}"),
                );
                clean = false;
                1
            }
        },
    };
    let user = match keys.user.trim() {
        "" => None,
        user => match coyote_host::resolve_user(user, None) {
            Ok(ids) => Some(ids),
            Err(e) => {
                // The host's texts name `server.user`; say it for this key.
                let why = match e {
                    coyote_host::ServerError::NotRoot { name } => {
                        format!("running as {name:?} needs coyote to run as root")
                    }
                    coyote_host::ServerError::UnknownAccount { name, .. } => {
                        format!("unknown user {name:?}")
                    }
                    other => other.to_string(),
                };
                plan.problem(&format!("{path}.user"), why);
                clean = false;
                None
            }
        },
    };
    clean.then(|| ServiceSpec {
        name: name.to_owned(),
        argv,
        command,
        process_num,
        exec_timeout: (!keys.exec_timeout.is_zero()).then_some(keys.exec_timeout),
        remain_after_exit: keys.remain_after_exit,
        restart: or_default(keys.restart_sec, DEFAULT_RESTART),
        stop_timeout: or_default(keys.timeout_stop_sec, DEFAULT_STOP_TIMEOUT),
        name_in_log: keys.service_name_in_log,
        env,
        user,
        dir: dir.to_path_buf(),
    })
}

/// `value`, or `default` when it is zero (RoadRunner's `cmp.Or`).
pub fn or_default(value: Duration, default: Duration) -> Duration {
    if value.is_zero() {
        default
    } else {
        value
    }
}

/// `env` as a map or a list of maps, keys upper-cased.
fn plan_env(plan: &mut Plan<'_>, node: Option<&Node>, path: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return out;
    };
    let parts: Vec<(String, &Node)> = match node.as_seq() {
        Some(seq) => seq
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{path}[{i}]"), n))
            .collect(),
        None => vec![(path.to_owned(), node)],
    };
    for (at, part) in parts {
        if let Some(map) = plan.decode_node::<BTreeMap<String, String>>(part, &at) {
            out.extend(map.into_iter().map(|(k, v)| (k.to_uppercase(), v)));
        }
    }
    out
}

/// Where `program` would be run from: a path with a `/` (relative to
/// `dir`), else the first executable file of that name in `PATH`.
pub fn find_program(program: &str, dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = dir.join(program);
        return executable(&path).then_some(path);
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests;
