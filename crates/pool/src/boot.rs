//! What a worker wrote while it started, kept until its handshake is done,
//! so a failed start can show the operator why (RoadRunner prints PHP's
//! "Could not open input file" and the like the same way).

use std::sync::Mutex;

use crate::error::BootStatus;
use crate::worker::WorkerState;

/// Bound for everything shown of a failed start (both streams, labels and
/// cut markers included).
pub(crate) const MAX_BOOT_OUTPUT: usize = 64 * 1024;

/// Room kept for the `--- stderr ---` labels and cut markers.
const LABELS: usize = 128;

/// Lines a starting worker wrote on stderr (and, on socket relays, on
/// stdout), recorded by the forwarders until [`BootLog::stop`].
#[derive(Debug, Default)]
pub(crate) struct BootLog {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stopped: bool,
    stderr: String,
    stdout: String,
}

impl BootLog {
    /// Records one line of `stream` while the worker is starting.
    pub(crate) fn record(&self, stream: &str, line: &str) {
        let mut inner = crate::pool::lock(&self.inner);
        if inner.stopped {
            return;
        }
        let text = if stream == "stdout" {
            &mut inner.stdout
        } else {
            &mut inner.stderr
        };
        // Each stream keeps at most the whole budget; `report` shares it.
        if text.len() < MAX_BOOT_OUTPUT {
            text.push_str(&escape_controls(line));
            text.push('\n');
        }
    }

    /// The worker is in service: stop recording and free what was kept.
    pub(crate) fn stop(&self) {
        let mut inner = crate::pool::lock(&self.inner);
        *inner = Inner {
            stopped: true,
            ..Inner::default()
        };
    }

    /// Everything the worker wrote: the recorded streams plus `stdout`
    /// bytes read from the pipes relay, labelled and bounded.
    pub(crate) fn report(&self, relay_stdout: &[u8]) -> String {
        let inner = crate::pool::lock(&self.inner);
        let mut stdout = inner.stdout.clone();
        if !relay_stdout.is_empty() {
            stdout.push_str(&escape_controls(&String::from_utf8_lossy(relay_stdout)));
        }
        assemble(&inner.stderr, &stdout)
    }
}

/// Labels the non-empty streams and shares [`MAX_BOOT_OUTPUT`] between
/// them: a stream under half the budget is kept whole, the other gets the
/// rest.
fn assemble(stderr: &str, stdout: &str) -> String {
    let budget = MAX_BOOT_OUTPUT - LABELS;
    let half = budget / 2;
    let (e, o) = (stderr.len(), stdout.len());
    let (e_room, o_room) = if e + o <= budget {
        (e, o)
    } else if e <= half {
        (e, budget - e)
    } else if o <= half {
        (budget - o, o)
    } else {
        (half, budget - half)
    };
    let mut out = String::new();
    for (label, text, room) in [("stderr", stderr, e_room), ("stdout", stdout, o_room)] {
        if text.trim().is_empty() {
            continue;
        }
        out.push_str("--- ");
        out.push_str(label);
        out.push_str(" ---\n");
        let kept = cut(text, room);
        out.push_str(kept.trim_end_matches('\n'));
        out.push('\n');
        if kept.len() < text.len() {
            out.push_str("[... cut: the output is bounded to 64 KiB]\n");
        }
    }
    out
}

/// The longest prefix of `text` of at most `max` bytes, on a char boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Escapes control characters other than newline and tab, so a worker's
/// output cannot drive the operator's terminal.
fn escape_controls(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// How the process of a failed start ended; `killed`: the pool sent it
/// SIGKILL (it may have exited on its own just before).
pub(crate) fn boot_status(state: &WorkerState, killed: bool) -> BootStatus {
    use std::os::unix::process::ExitStatusExt;
    const SIGKILL: i32 = nix::sys::signal::Signal::SIGKILL as i32;
    let Some(status) = state.exit_raw() else {
        return if killed {
            BootStatus::Killed
        } else {
            BootStatus::Unknown
        };
    };
    match (status.code(), status.signal()) {
        (Some(code), _) => BootStatus::Exited(code),
        (None, Some(SIGKILL)) if killed => BootStatus::Killed,
        (None, Some(signal)) => BootStatus::Signaled(signal),
        (None, None) => BootStatus::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_streams_are_labelled_and_share_the_bound() {
        let log = BootLog::default();
        log.record("stderr", "fatal: boom");
        log.record("stdout", "printed");
        let report = log.report(b"Could not open input file: x.php");
        assert_eq!(
            report,
            "--- stderr ---\nfatal: boom\n--- stdout ---\nprinted\nCould not open input file: x.php\n"
        );
        assert_eq!(BootLog::default().report(b""), "");

        let big = "e".repeat(200 * 1024);
        let small = "o".repeat(1000);
        let report = assemble(&big, &small);
        assert!(report.len() <= MAX_BOOT_OUTPUT, "{}", report.len());
        assert!(report.contains(&small), "the small stream is kept whole");
        assert!(report.contains("[... cut"));
        let report = assemble(&big, &big);
        assert!(report.len() <= MAX_BOOT_OUTPUT);
        assert_eq!(report.matches("[... cut").count(), 2);
    }

    #[test]
    fn control_characters_are_escaped_and_cuts_respect_chars() {
        assert_eq!(escape_controls("a\u{1b}[31mb\tc"), "a\\u{1b}[31mb\tc");
        assert_eq!(cut("héllo", 2), "h");
        let log = BootLog::default();
        log.record("stderr", "x");
        log.stop();
        log.record("stderr", "after");
        assert_eq!(log.report(b""), "");
    }
}
