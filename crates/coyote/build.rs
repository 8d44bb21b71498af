//! Build facts for `coyote --version`, which prints RoadRunner's line
//! `rr version X (build time: T, rustc V), OS: O, arch: A`: the build time
//! (`SOURCE_DATE_EPOCH` when set, for reproducible builds) and the
//! compiler's version.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
        });
    println!("cargo:rustc-env=COYOTE_BUILD_TIME={}", rfc3339(secs));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=COYOTE_RUSTC_VERSION={version}");
    link_without_pie();
}

/// Links the `coyote` executable as a fixed-address (non-PIE) program on
/// glibc Linux, as Go links RoadRunner's. A PIE of this size carries
/// ~66,000 relative relocations (a 1.5 MB table the loader reads at every
/// start) that write 1.1 MB of pointers into private copies of the
/// binary's pages: 2.6 MB of the 12.7 MB an idle server held, measured
/// (BENCHMARKS.md, "Idle RSS"). The code is the same position-independent
/// code (only the link changes); ASLR still moves the stack, heap, mmap
/// areas and shared libraries, only the executable's own image stays put.
/// `COYOTE_PIE=1` at build time keeps a PIE (distributions that require
/// one).
fn link_without_pie() {
    println!("cargo:rerun-if-env-changed=COYOTE_PIE");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let keep_pie = !matches!(var("COYOTE_PIE").as_str(), "" | "0");
    if keep_pie || var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    // rustc passes `-pie` to the C compiler driver that links; the last of
    // `-pie` / `-no-pie` wins, and link args come after rustc's own.
    println!("cargo:rustc-link-arg-bin=coyote=-no-pie");
}

/// `2025-05-04T13:19:13+0000` (the shape of RoadRunner's `date +%FT%T%z`),
/// in UTC. Hand-written (days to a civil date, Howard Hinnant's algorithm)
/// to keep a date crate out of the build script.
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
