use std::path::Path;
use std::process::Stdio;

use coyote_config::OnInitConfig;
use tokio::process::Command;

use crate::{resolve_user, ServerError};

/// Runs `server.on_init` once, before any worker starts (warm caches, run
/// migrations, ...). Its output goes to the log. A failure is logged and
/// startup continues, unless `exit_on_error` is set: then it is an error.
pub async fn run_on_init(
    on_init: &OnInitConfig,
    working_dir: Option<&Path>,
) -> Result<(), ServerError> {
    match run(on_init, working_dir).await {
        Ok(()) => Ok(()),
        Err(reason) if on_init.exit_on_error => Err(ServerError::OnInit { reason }),
        Err(reason) => {
            tracing::error!(target: "coyote::server", %reason, "server.on_init failed; continuing (exit_on_error is false)");
            Ok(())
        }
    }
}

async fn run(on_init: &OnInitConfig, working_dir: Option<&Path>) -> Result<(), String> {
    let (program, args) = on_init
        .command
        .split_first()
        .ok_or_else(|| "on_init.command is empty".to_owned())?;
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(on_init.env.iter().map(|(k, v)| (k.to_uppercase(), v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = working_dir {
        command.current_dir(dir);
    }
    if let Some(user) = on_init.user.as_deref().filter(|u| !u.is_empty()) {
        let (uid, gid) = resolve_user(user, None).map_err(|e| e.to_string())?;
        command.uid(uid).gid(gid);
    }
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {program:?}: {e}"))?;
    let output = tokio::time::timeout(on_init.exec_timeout, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "still running after exec_timeout {:?}; killed",
                on_init.exec_timeout
            )
        })?
        .map_err(|e| format!("waiting for {program:?}: {e}"))?;
    for line in String::from_utf8_lossy(&output.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&output.stderr).lines())
    {
        tracing::info!(target: "coyote::server", "on_init: {line}");
    }
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{program:?} exited with {}", output.status))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn on_init(command: &[&str], exit_on_error: bool) -> OnInitConfig {
        OnInitConfig {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            exec_timeout: Duration::from_secs(5),
            exit_on_error,
            ..OnInitConfig::default()
        }
    }

    #[tokio::test]
    async fn success_failure_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let touch = on_init(&["touch", marker.to_str().unwrap()], true);
        run_on_init(&touch, None).await.unwrap();
        assert!(marker.exists());

        run_on_init(&on_init(&["false"], false), None)
            .await
            .unwrap();
        let err = run_on_init(&on_init(&["false"], true), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exited with"), "{err}");

        let mut slow = on_init(&["sleep", "10"], true);
        slow.exec_timeout = Duration::from_millis(100);
        let err = run_on_init(&slow, None).await.unwrap_err();
        assert!(err.to_string().contains("exec_timeout"), "{err}");

        let err = run_on_init(&on_init(&["/no/such/binary"], true), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cannot start"), "{err}");
    }
}
