//! `num_workers: 0`: as many workers as CPUs the process may use, honouring
//! the cgroup v2 CPU quota (`cpu.max`) of its own cgroup.
//!
//! `std::thread::available_parallelism` already applies cgroup quotas on
//! Linux (since Rust 1.64, v1 and v2), but it is documented as a hint that
//! may change; this reads `cpu.max` explicitly and takes the smaller of
//! the two, so a container limited to 1.5 CPUs runs 2 workers, not 64.

use std::path::Path;

/// Worker count for `num_workers` (0: CPUs under the quota; at least 1).
pub fn worker_count(num_workers: usize) -> usize {
    if num_workers > 0 {
        return num_workers;
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let quota = cgroup_cpus(Path::new("/proc/self/cgroup"), Path::new("/sys/fs/cgroup"));
    quota.map_or(cpus, |q| q.min(cpus)).max(1)
}

/// The CPU quota of this process's cgroup v2 (`0::/path` in
/// `proc_self_cgroup`, then `<cgroup_root>/<path>/cpu.max`), rounded up;
/// `None` without a v2 cgroup or without a quota (`max`).
pub fn cgroup_cpus(proc_self_cgroup: &Path, cgroup_root: &Path) -> Option<usize> {
    let cgroups = std::fs::read_to_string(proc_self_cgroup).ok()?;
    let own = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = cgroup_root.join(own.trim().trim_start_matches('/'));
    quota_cpus(&std::fs::read_to_string(dir.join("cpu.max")).ok()?)
}

/// Parses `cpu.max` (`"<quota> <period>"` or `"max <period>"`): CPUs,
/// rounded up, at least 1; `None` for no quota or nonsense.
pub fn quota_cpus(cpu_max: &str) -> Option<usize> {
    let mut fields = cpu_max.split_whitespace();
    let quota: u64 = fields.next()?.parse().ok()?;
    let period: u64 = fields.next().map_or(Some(100_000), |p| p.parse().ok())?;
    if quota == 0 || period == 0 {
        return None;
    }
    usize::try_from(quota.div_ceil(period))
        .ok()
        .map(|n| n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_max() {
        assert_eq!(quota_cpus("max 100000\n"), None);
        assert_eq!(quota_cpus("200000 100000\n"), Some(2));
        assert_eq!(quota_cpus("150000 100000"), Some(2));
        assert_eq!(quota_cpus("50000 100000"), Some(1));
        assert_eq!(quota_cpus("400000"), Some(4));
        assert_eq!(quota_cpus(""), None);
        assert_eq!(quota_cpus("0 100000"), None);
        assert_eq!(quota_cpus("12 0"), None);
        assert_eq!(quota_cpus("-1 100000"), None);
        assert_eq!(quota_cpus("garbage here"), None);
    }

    #[test]
    fn reads_the_own_cgroups_cpu_max() {
        let dir = std::env::temp_dir().join(format!("coyote-cpus-{}", std::process::id()));
        let group = dir.join("root/system.slice/app.service");
        std::fs::create_dir_all(&group).unwrap();
        let proc_cgroup = dir.join("cgroup");
        std::fs::write(&proc_cgroup, "0::/system.slice/app.service\n").unwrap();
        std::fs::write(group.join("cpu.max"), "300000 100000\n").unwrap();
        assert_eq!(cgroup_cpus(&proc_cgroup, &dir.join("root")), Some(3));
        std::fs::write(group.join("cpu.max"), "max 100000\n").unwrap();
        assert_eq!(cgroup_cpus(&proc_cgroup, &dir.join("root")), None);
        // cgroup v1 only: no `0::` line.
        std::fs::write(&proc_cgroup, "4:cpu,cpuacct:/user.slice\n").unwrap();
        assert_eq!(cgroup_cpus(&proc_cgroup, &dir.join("root")), None);
        assert_eq!(cgroup_cpus(&dir.join("absent"), &dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn explicit_count_wins() {
        assert_eq!(worker_count(3), 3);
        assert!(worker_count(0) >= 1);
    }
}
