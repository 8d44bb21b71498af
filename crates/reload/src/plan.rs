//! Planning the `reload` section.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};
use serde::Deserialize;

/// `reload.plugins.<name>`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PluginSection {
    dirs: Vec<PathBuf>,
    recursive: bool,
    ignore: Vec<PathBuf>,
    patterns: Option<Vec<String>>,
}

impl Default for PluginSection {
    fn default() -> Self {
        Self {
            dirs: vec![PathBuf::from(".")],
            recursive: true,
            ignore: Vec::new(),
            patterns: None,
        }
    }
}

/// `reload`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ReloadSection {
    #[serde(deserialize_with = "coyote_config::duration::de")]
    interval: Duration,
    patterns: Vec<String>,
    plugins: BTreeMap<String, PluginSection>,
    /// RoadRunner 1.x's name for `plugins`.
    services: BTreeMap<String, PluginSection>,
}

impl Default for ReloadSection {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            patterns: vec![".php".to_owned()],
            plugins: BTreeMap::new(),
            services: BTreeMap::new(),
        }
    }
}

/// What one plugin's pool is reset on.
#[derive(Clone, Debug)]
pub struct Target {
    /// The plugin whose pool is reset.
    pub plugin: String,
    /// Watched directories (absolute).
    pub dirs: Vec<PathBuf>,
    /// Subdirectories too.
    pub recursive: bool,
    /// Skipped directories (absolute), or bare names skipped anywhere.
    pub ignore: Vec<PathBuf>,
    /// File name suffixes that count.
    pub patterns: Vec<String>,
}

/// The `reload` plugin.
#[derive(Clone, Copy, Default)]
pub struct ReloadPlugin;

struct PlannedReload {
    interval: Duration,
    targets: Vec<Target>,
}

struct RunningReload;

/// Plugins with a worker pool a reload can reset.
const POOLED: &[&str] = &["http", "jobs", "tcp", "grpc", "temporal", "centrifuge"];

impl Plugin for ReloadPlugin {
    fn name(&self) -> &'static str {
        "reload"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        plan.section("reload")?;
        let section = plan.decode::<ReloadSection>("reload")?;
        if section.interval.is_zero() {
            plan.problem("reload.interval", "must be longer than 0");
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let absolute = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                cwd.join(p)
            }
        };
        let (key, plugins) = if section.plugins.is_empty() {
            ("services", section.services)
        } else {
            if !section.services.is_empty() {
                plan.warn(
                    "reload.services",
                    "ignored: reload.plugins is set (services is its old name)",
                );
            }
            ("plugins", section.plugins)
        };
        if plugins.is_empty() {
            plan.warn(
                "reload",
                "no plugins listed under reload.plugins: nothing is watched",
            );
        }
        let mut targets = Vec::new();
        for (name, p) in plugins {
            let path = format!("reload.{key}.{name}");
            if !POOLED.contains(&name.as_str()) {
                plan.problem(
                    &path,
                    format!("{name:?} has no worker pool to reset (plugins with one: http, jobs)"),
                );
                continue;
            }
            if plan.section(&name).is_none() {
                plan.warn(&path, format_args!("no {name} section: nothing to reset"));
            }
            let patterns = p.patterns.unwrap_or_else(|| section.patterns.clone());
            if patterns.iter().any(String::is_empty) {
                plan.problem(
                    &format!("{path}.patterns"),
                    "an empty pattern matches every file",
                );
            }
            let mut dirs = Vec::new();
            for (i, d) in p.dirs.iter().enumerate() {
                let dir = absolute(d);
                if dir.is_dir() {
                    dirs.push(dir);
                } else {
                    plan.problem(
                        &format!("{path}.dirs[{i}]"),
                        format!("{} is not a directory", dir.display()),
                    );
                }
            }
            let ignore = p
                .ignore
                .iter()
                .map(|i| {
                    if i.components().count() == 1 && !i.is_absolute() {
                        i.clone()
                    } else {
                        absolute(i)
                    }
                })
                .collect();
            targets.push(Target {
                plugin: name,
                dirs,
                recursive: p.recursive,
                ignore,
                patterns,
            });
        }
        plan.is_clean().then(|| {
            Box::new(PlannedReload {
                interval: section.interval,
                targets,
            }) as Box<dyn Planned>
        })
    }
}

impl Planned for PlannedReload {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            for target in self.targets {
                let watcher = crate::watch::Watcher::new(&target)
                    .map_err(|e| format!("reload: watching for {}: {e}", target.plugin))?;
                tracing::info!(target: "coyote::reload", plugin = %target.plugin,
                    dirs = ?target.dirs, patterns = ?target.patterns, "reload: watching");
                start.tracker.spawn(crate::watch::run(
                    watcher,
                    target,
                    self.interval,
                    start.registry.clone(),
                    start.shutdown.clone(),
                ));
            }
            Ok(Box::new(RunningReload) as Box<dyn Running>)
        })
    }
}

impl Running for RunningReload {}
