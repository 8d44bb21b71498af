//! Watching one target's directories and resetting its pool, debounced.

use std::path::Path;
use std::time::Duration;

use coyote_host::Registry;
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Target;

/// Whether a change of `path` counts for `target`: its name ends with one
/// of the patterns, and no ignored directory holds it.
pub fn matches(target: &Target, path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if !target.patterns.iter().any(|p| name.ends_with(p.as_str())) {
        return false;
    }
    !target.ignore.iter().any(|i| {
        if i.is_absolute() {
            path.starts_with(i)
        } else {
            path.components().any(|c| c.as_os_str() == i.as_os_str())
        }
    })
}

/// The inotify watches of one target and the channel their events come on.
pub(crate) struct Watcher {
    _inner: notify::RecommendedWatcher,
    events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
}

impl Watcher {
    pub(crate) fn new(target: &Target) -> notify::Result<Self> {
        let (tx, events) = mpsc::unbounded_channel();
        // notify calls back on its own thread; an unbounded send never
        // blocks it (events are small, and drained as they come).
        let mut inner = notify::recommended_watcher(move |e| {
            let _ = tx.send(e);
        })?;
        let mode = if target.recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        for dir in &target.dirs {
            inner.watch(dir, mode)?;
        }
        Ok(Self {
            _inner: inner,
            events,
        })
    }
}

/// Resets `target.plugin`'s pool after matching changes have been quiet
/// for `interval`, until `shutdown`.
pub(crate) async fn run(
    mut watcher: Watcher,
    target: Target,
    interval: Duration,
    registry: Registry,
    shutdown: CancellationToken,
) {
    loop {
        // The first matching change.
        let mut changed = tokio::select! {
            () = shutdown.cancelled() => return,
            e = watcher.events.recv() => match e {
                Some(e) => relevant(&target, e),
                None => return,
            },
        };
        if changed.is_empty() {
            continue;
        }
        // More of them until `interval` passes without one.
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => break,
                e = watcher.events.recv() => match e {
                    Some(e) => changed.extend(relevant(&target, e)),
                    None => return,
                },
            }
        }
        changed.sort();
        changed.dedup();
        let Some(pool) = registry.pools().get(&target.plugin) else {
            tracing::warn!(target: "coyote::reload", plugin = %target.plugin,
                "reload: {} files changed, but the plugin has no pool", changed.len());
            continue;
        };
        tracing::info!(target: "coyote::reload", plugin = %target.plugin, files = changed.len(),
            first = %changed[0], "reload: files changed, resetting the workers");
        let reset = tokio::select! {
            () = shutdown.cancelled() => return,
            r = pool.reset() => r,
        };
        match reset {
            Ok(()) => tracing::info!(target: "coyote::reload", plugin = %target.plugin,
                "reload: workers reset"),
            Err(e) => tracing::error!(target: "coyote::reload", plugin = %target.plugin,
                "reload: reset failed: {e}"),
        }
    }
}

/// The paths of `event` that count (content or name changes only).
fn relevant(target: &Target, event: notify::Result<notify::Event>) -> Vec<String> {
    match event {
        Ok(e)
            if matches!(
                e.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            ) =>
        {
            e.paths
                .iter()
                .filter(|p| matches(target, p))
                .map(|p| p.display().to_string())
                .collect()
        }
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::warn!(target: "coyote::reload", plugin = %target.plugin, "reload: watch error: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn target() -> Target {
        Target {
            plugin: "http".into(),
            dirs: vec![PathBuf::from("/app")],
            recursive: true,
            ignore: vec![PathBuf::from("vendor"), PathBuf::from("/app/var/cache")],
            patterns: vec![".php".into(), ".twig".into()],
        }
    }

    #[test]
    fn patterns_are_name_suffixes_and_ignored_dirs_hold_nothing() {
        let t = target();
        assert!(matches(&t, Path::new("/app/src/Controller.php")));
        assert!(matches(&t, Path::new("/app/templates/a.html.twig")));
        assert!(!matches(&t, Path::new("/app/README.md")));
        assert!(!matches(&t, Path::new("/app/src/a.php.swp")));
        assert!(!matches(&t, Path::new("/app/vendor/x/y.php")));
        assert!(!matches(&t, Path::new("/app/lib/vendor/y.php")));
        assert!(!matches(&t, Path::new("/app/var/cache/c.php")));
        assert!(matches(&t, Path::new("/app/var/log.php")));
    }
}
