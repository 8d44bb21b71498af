//! What an accept loop does when `accept` fails: per-connection errors
//! (the client gave up before we took it) are retried at once; running out
//! of descriptors or memory backs off 5 ms doubling to 1 s, as Go's
//! net/http does, so an `EMFILE` never spins a core. Any other error (a
//! broken listener) backs off the same way: slow retries, never a loop.

use std::fmt::Display;
use std::time::Duration;

use nix::errno::Errno;
use tokio_util::sync::CancellationToken;

/// The first pause after a resource error.
const FIRST: Duration = Duration::from_millis(5);
/// The longest pause.
const MAX: Duration = Duration::from_secs(1);
/// Per-connection errors retried at once, in a row; after these the
/// errors are not about single connections after all (an LSM denying
/// every accept with `EPERM` leaves the connection queued), so they back
/// off too.
const IMMEDIATE_RETRIES: u32 = 16;

/// The backoff state of one accept loop: reset it after every successful
/// accept, ask it to wait after every failed one.
#[derive(Debug, Default)]
pub struct Backoff {
    /// The last pause, while an episode of resource errors lasts.
    delay: Option<Duration>,
    /// Per-connection errors in a row.
    immediate: u32,
}

impl Backoff {
    /// After a successful accept: the next error starts a new episode.
    pub fn reset(&mut self) {
        self.delay = None;
        self.immediate = 0;
    }

    /// Handles an accept error: returns at once for a per-connection
    /// error, otherwise sleeps 5 ms, then twice as long each time up to
    /// 1 s, warning once per episode. False when `stop` fired meanwhile.
    pub async fn wait(&mut self, error: &std::io::Error, stop: &CancellationToken) -> bool {
        self.pause(error, stop, &"a listener").await
    }

    /// [`Backoff::wait`], naming the listener in the warning.
    pub(crate) async fn pause(
        &mut self,
        error: &std::io::Error,
        stop: &CancellationToken,
        listener: &(dyn Display + Sync),
    ) -> bool {
        if is_per_connection(error) && self.immediate < IMMEDIATE_RETRIES {
            self.immediate += 1;
            tracing::debug!(target: "coyote::listener", %listener, %error,
                "accept failed for one connection; retrying");
            return !stop.is_cancelled();
        }
        let delay = self.delay.map_or(FIRST, |d| (d * 2).min(MAX));
        if self.delay.is_none() {
            tracing::warn!(target: "coyote::listener", %listener, %error,
                "accept failed; backing off (5 ms doubling to 1 s) until it works again");
        }
        self.delay = Some(delay);
        tokio::select! {
            biased;
            () = stop.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

/// Errors about one connection, not about the listener: the kernel hands
/// pending network errors of a new connection to `accept` (accept(2),
/// "Error handling"), and the connection is gone, so the next one can be
/// taken at once.
pub fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        error.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    ) || error.raw_os_error().is_some_and(|code| {
        matches!(
            Errno::from_raw(code),
            Errno::EPROTO
                | Errno::EPERM
                | Errno::ENETDOWN
                | Errno::ENETUNREACH
                | Errno::EHOSTDOWN
                | Errno::EHOSTUNREACH
                | Errno::ENONET
                | Errno::ENOPROTOOPT
                | Errno::EOPNOTSUPP
                | Errno::ETIMEDOUT
        )
    })
}

/// The process or the system ran out of something a new connection needs
/// (descriptors, buffers, memory): retrying before some is freed only
/// burns CPU.
pub fn is_resource_exhaustion(error: &std::io::Error) -> bool {
    error.raw_os_error().is_some_and(|code| {
        matches!(
            Errno::from_raw(code),
            Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(e: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(e as i32)
    }

    #[tokio::test(start_paused = true)]
    async fn resource_errors_back_off_doubling_to_a_second() {
        let stop = CancellationToken::new();
        let mut backoff = Backoff::default();
        let emfile = errno(Errno::EMFILE);
        let mut waited = Vec::new();
        for _ in 0..10 {
            let began = tokio::time::Instant::now();
            assert!(backoff.wait(&emfile, &stop).await);
            waited.push(began.elapsed().as_millis());
        }
        assert_eq!(waited, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.reset();
        let began = tokio::time::Instant::now();
        assert!(backoff.wait(&errno(Errno::ENFILE), &stop).await);
        assert_eq!(began.elapsed().as_millis(), 5, "a new episode starts over");
        stop.cancel();
        assert!(!backoff.wait(&emfile, &stop).await);
    }

    #[tokio::test(start_paused = true)]
    async fn per_connection_errors_retry_at_once_but_not_forever() {
        let stop = CancellationToken::new();
        let mut backoff = Backoff::default();
        let aborted = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        let began = tokio::time::Instant::now();
        for _ in 0..IMMEDIATE_RETRIES {
            assert!(backoff.wait(&aborted, &stop).await);
        }
        assert_eq!(began.elapsed(), Duration::ZERO);
        assert!(backoff.wait(&errno(Errno::EPERM), &stop).await);
        assert_eq!(
            began.elapsed(),
            FIRST,
            "an endless run of 'per-connection' errors backs off too"
        );
        backoff.reset();
        let began = tokio::time::Instant::now();
        assert!(backoff.wait(&errno(Errno::EPROTO), &stop).await);
        assert_eq!(began.elapsed(), Duration::ZERO);
        stop.cancel();
        assert!(!backoff.wait(&aborted, &stop).await);
    }

    #[test]
    fn errors_are_classified() {
        for e in [Errno::EMFILE, Errno::ENFILE, Errno::ENOBUFS, Errno::ENOMEM] {
            assert!(is_resource_exhaustion(&errno(e)), "{e}");
            assert!(!is_per_connection(&errno(e)), "{e}");
        }
        for e in [
            Errno::ECONNABORTED,
            Errno::ECONNRESET,
            Errno::EPROTO,
            Errno::EPERM,
            Errno::EINTR,
            Errno::EHOSTUNREACH,
        ] {
            assert!(is_per_connection(&errno(e)), "{e}");
            assert!(!is_resource_exhaustion(&errno(e)), "{e}");
        }
        assert!(!is_per_connection(&errno(Errno::EBADF)));
        assert!(!is_resource_exhaustion(&errno(Errno::EBADF)));
    }
}
