//! The `reload` plugin (development): RoadRunner's `reload` section.
//! Each listed plugin's directories are watched (inotify, through the
//! `notify` crate: no polling); when files matching the patterns change,
//! the plugin's pool is reset (rolling: a new worker first, then the old
//! one goes, so no request fails) once the changes have been quiet for
//! `interval` — a save that touches ten files is one reset.
//!
//! ```yaml
//! reload:
//!   interval: 1s          # debounce (default 1s)
//!   patterns: [".php"]    # file name suffixes (default [".php"])
//!   plugins:              # RoadRunner 1.x called it `services`; both work
//!     http:
//!       dirs: ["."]       # default ["."], relative to the working directory
//!       recursive: true   # default true
//!       ignore: ["vendor"]  # directories skipped (names or paths)
//!       patterns: [".php", ".twig"]  # overrides the top-level patterns
//! ```

mod plan;
mod watch;

pub use plan::{ReloadPlugin, Target};
pub use watch::matches;
