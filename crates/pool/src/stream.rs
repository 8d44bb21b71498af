//! A streamed answer: the frames of one response as they arrive.

use tokio::time::Instant;

use crate::error::PoolError;
use crate::lease::Lease;
use crate::worker::Response;

/// The parts of one answer, in order. The first part carries the header
/// (context); later parts may carry one too (e.g. HTTP 103 before 200).
///
/// Dropping it before the last part cancels the stream: the worker gets a
/// STOP frame and is drained in the background before it serves again.
pub struct ResponseStream {
    lease: Lease,
    pub(crate) first: Option<Response>,
    deadline: Option<Instant>,
    done: bool,
}

impl ResponseStream {
    pub(crate) fn new(lease: Lease, first: Response, deadline: Option<Instant>) -> Self {
        let done = !first.more;
        let mut stream = Self {
            lease,
            first: Some(first),
            deadline,
            done,
        };
        if done {
            stream.finish();
        }
        stream
    }

    /// Pid of the worker producing this answer (0 once it is finished).
    pub fn pid(&self) -> u32 {
        self.lease.pid()
    }

    /// The next part; `None` after the last one. After an error the stream
    /// is over and the worker has been dealt with.
    pub async fn next(&mut self) -> Option<Result<Response, PoolError>> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        if self.done {
            return None;
        }
        match self.lease.next_frame(self.deadline).await {
            Ok(part) => {
                if !part.more {
                    self.finish();
                }
                Some(Ok(part))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// Marks the answer complete and gives the worker back.
    pub(crate) fn finish(&mut self) {
        self.done = true;
        self.lease.complete();
    }
}
