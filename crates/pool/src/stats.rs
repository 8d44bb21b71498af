//! Per-process figures read from `/proc` (Linux): resident memory for
//! `max_worker_memory` and memory/CPU columns for operators, as
//! RoadRunner's gopsutil reports them (public: the service plugin reports
//! its processes the same way).

use std::sync::OnceLock;
use std::time::Duration;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sample {
    /// Resident set size in bytes.
    pub(crate) rss: u64,
    /// CPU time over wall time since start, in percent of one core.
    pub(crate) cpu_percent: f64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`; zeros when the
/// process is gone or the files are unreadable.
pub(crate) fn sample(pid: u32, alive_for: Duration) -> Sample {
    Sample {
        rss: rss_bytes(pid).unwrap_or(0),
        cpu_percent: cpu_percent(pid, alive_for),
    }
}

/// CPU time over `alive_for`, in percent of one core; 0 when unknown.
pub fn cpu_percent(pid: u32, alive_for: Duration) -> f64 {
    if alive_for.is_zero() {
        return 0.0;
    }
    cpu_seconds(pid).map_or(0.0, |cpu| 100.0 * cpu / alive_for.as_secs_f64())
}

/// Resident memory from the `VmRSS:` line (kB).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User + system CPU seconds from `/proc/<pid>/stat` fields 14 and 15.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields resume after ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|t| *t > 0)
            .map_or(100.0, |t| t as f64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(rss_bytes(me).unwrap() > 1024 * 1024);
        assert!(cpu_seconds(me).is_some());
        assert_eq!(rss_bytes(u32::MAX).unwrap_or(0), 0);
        assert_eq!(cpu_percent(u32::MAX, Duration::from_secs(1)), 0.0);
    }
}
