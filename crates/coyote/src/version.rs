//! `coyote -v` / `--version`. The first line is RoadRunner's, in the shape
//! `rr -v` prints it (`rr version 2025.1.15 (build time: ..., go1.24.2),
//! OS: linux, arch: amd64`), with the RoadRunner release Coyote follows:
//! Laravel Octane runs `rr --version`, checks that the output starts with
//! `rr version` and compares the third word with its minimum. The second
//! line is Coyote's own version.

/// The RoadRunner release whose behaviour and protocols Coyote follows
/// (README, MIGRATING.md).
pub const ROADRUNNER_VERSION: &str = "2025.1.15";

/// The RoadRunner series, as named in Coyote's own version line.
const ROADRUNNER_SERIES: &str = "2025.1";

/// Both lines, each ending with a newline.
pub fn text() -> String {
    format!(
        "rr version {ROADRUNNER_VERSION} (build time: {}, rustc {}), OS: {}, arch: {}\n\
         coyote {} (RoadRunner-compatible {ROADRUNNER_SERIES})\n",
        env!("COYOTE_BUILD_TIME"),
        env!("COYOTE_RUSTC_VERSION"),
        std::env::consts::OS,
        go_arch(std::env::consts::ARCH),
        env!("CARGO_PKG_VERSION"),
    )
}

/// Go's name for a CPU architecture (`GOARCH`), which RoadRunner prints.
fn go_arch(rust: &str) -> &str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "loongarch64" => "loong64",
        other => other,
    }
}
