//! What the operator commands print. Rust ignores SIGPIPE, so a reader
//! that went away (`coyote workers | head -1`) makes writes fail with
//! EPIPE, on which `println!` panics: everything goes through [`print`]
//! instead, and a closed stdout ends the command quietly with exit code 0
//! ([`is_closed_stdout`]), as for any Unix filter.

use std::fmt;
use std::io::{ErrorKind, Write};

use crate::{runtime_failure, Failure};

/// Stdout was closed by its reader.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes `text` to stdout and flushes it.
pub(crate) fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(runtime_failure(StdoutClosed)),
        Err(e) => Err(runtime_failure(
            anyhow::Error::new(e).context("cannot write to stdout"),
        )),
    }
}

/// Writes a line to stderr; a closed stderr is ignored (there is nowhere
/// left to say anything).
pub(crate) fn eprint_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Whether `failure` is only a closed stdout.
pub(crate) fn is_closed_stdout(failure: &Failure) -> bool {
    failure.error.is::<StdoutClosed>()
}
