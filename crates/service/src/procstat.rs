//! Figures of one process from `/proc` (Linux), as RoadRunner's gopsutil
//! reports them: resident memory (`VmRSS`) and CPU percent over the
//! process's lifetime (user + system time / wall time since start).

use std::sync::OnceLock;
use std::time::Duration;

/// Resident memory in bytes (`VmRSS:` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User + system CPU seconds (fields 14 and 15 of `/proc/<pid>/stat`).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and ')'; fields resume
    // after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// CPU percent of one core over `alive_for`.
pub fn cpu_percent(pid: u32, alive_for: Duration) -> f64 {
    if alive_for.is_zero() {
        return 0.0;
    }
    cpu_seconds(pid).map_or(0.0, |cpu| 100.0 * cpu / alive_for.as_secs_f64())
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
    fn reads_own_process_and_nothing_for_a_missing_one() {
        let me = std::process::id();
        assert!(rss_bytes(me).unwrap() > 1024 * 1024);
        assert!(cpu_seconds(me).is_some());
        assert_eq!(rss_bytes(u32::MAX), None);
        assert_eq!(cpu_percent(u32::MAX, Duration::from_secs(1)), 0.0);
    }
}
