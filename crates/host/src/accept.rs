//! What every accept loop does when `accept` fails: per-connection errors
//! (the client gave up before we took it) are retried at once; running out
//! of descriptors or memory backs off 5 ms doubling to 1 s, as Go's
//! net/http does, so an `EMFILE` never spins a core.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

const FIRST: Duration = Duration::from_millis(5);
const MAX: Duration = Duration::from_secs(1);

/// The backoff state of one accept loop.
#[derive(Debug, Default)]
pub struct Backoff {
    delay: Option<Duration>,
}

impl Backoff {
    /// After a successful accept.
    pub fn reset(&mut self) {
        self.delay = None;
    }

    /// Handles an accept error: waits as the error asks. False when
    /// `stop` fired meanwhile.
    pub async fn wait(&mut self, error: &std::io::Error, stop: &CancellationToken) -> bool {
        if is_per_connection(error) {
            return !stop.is_cancelled();
        }
        let delay = self.delay.map_or(FIRST, |d| (d * 2).min(MAX));
        if self.delay.is_none() {
            tracing::warn!(target: "coyote::server", %error,
                "accept failed; backing off until it works again");
        }
        self.delay = Some(delay);
        tokio::select! {
            () = stop.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

/// Errors about one connection, not about the listener.
pub fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        error.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    ) || matches!(
        error.raw_os_error(),
        Some(
            libc_codes::EPROTO
                | libc_codes::EPERM
                | libc_codes::ENETDOWN
                | libc_codes::EHOSTUNREACH
        )
    )
}

/// The few errno values needed here (Linux), without a libc dependency.
mod libc_codes {
    pub const EPERM: i32 = 1;
    pub const EPROTO: i32 = 71;
    pub const ENETDOWN: i32 = 100;
    pub const EHOSTUNREACH: i32 = 113;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn resource_errors_back_off_doubling_to_a_second() {
        let stop = CancellationToken::new();
        let mut backoff = Backoff::default();
        let emfile = std::io::Error::from_raw_os_error(24);
        let mut waited = Vec::new();
        for _ in 0..10 {
            let began = tokio::time::Instant::now();
            assert!(backoff.wait(&emfile, &stop).await);
            waited.push(began.elapsed().as_millis());
        }
        assert_eq!(waited, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.reset();
        let aborted = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        let began = tokio::time::Instant::now();
        assert!(backoff.wait(&aborted, &stop).await);
        assert_eq!(began.elapsed(), Duration::ZERO);
        stop.cancel();
        assert!(!backoff.wait(&emfile, &stop).await);
    }
}
