//! The control socket: a `SOCK_SEQPACKET` pair, Coyote's end non-blocking
//! in a tokio [`AsyncFd`] (a full socket buffer is awaited, never blocks
//! the runtime), the worker's end inherited as fd 3.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use tokio::io::unix::AsyncFd;

use crate::message::MAX_MESSAGE;

/// What one receive got.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A message of this many bytes (at the front of the buffer).
    Message(usize),
    /// The worker closed its end (or exited).
    Closed,
    /// A message larger than [`MAX_MESSAGE`] (hostile: cut off).
    TooLarge,
}

/// Coyote's end of one worker's control socket.
#[derive(Debug)]
pub struct Control {
    fd: AsyncFd<OwnedFd>,
}

impl Control {
    /// A connected pair: Coyote's end, and the worker's (blocking, close
    /// on exec; the spawn maps it to fd 3, which clears that).
    ///
    /// # Errors
    /// The OS error (descriptors exhausted).
    pub fn pair() -> io::Result<(Self, OwnedFd)> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let flags = OFlag::from_bits_truncate(fcntl(ours.as_raw_fd(), FcntlArg::F_GETFL)?);
        fcntl(
            ours.as_raw_fd(),
            FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK),
        )?;
        Ok((
            Self {
                fd: register(ours)?,
            },
            theirs,
        ))
    }

    /// Sends one message, with `fd` attached as `SCM_RIGHTS` when given;
    /// waits while the socket buffer is full.
    ///
    /// # Errors
    /// The OS error (`EPIPE` once the worker is gone).
    pub async fn send(&self, message: &[u8], fd: Option<RawFd>) -> io::Result<()> {
        loop {
            let mut ready = self.fd.writable().await?;
            let sent = ready.try_io(|inner| {
                let fds = fd.map(|f| [f]);
                let cmsgs: Vec<ControlMessage<'_>> = fds
                    .as_ref()
                    .map(|f| ControlMessage::ScmRights(f))
                    .into_iter()
                    .collect();
                sendmsg::<()>(
                    inner.as_raw_fd(),
                    &[IoSlice::new(message)],
                    &cmsgs,
                    MsgFlags::MSG_NOSIGNAL,
                    None,
                )
                .map_err(io::Error::from)
            });
            match sent {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }

    /// Receives one message into `buf` (at least [`MAX_MESSAGE`] + 1
    /// bytes). Descriptors a worker attaches are closed at once.
    ///
    /// # Errors
    /// The OS error.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let mut ready = self.fd.readable().await?;
            match ready.try_io(|inner| recv_once(inner.as_raw_fd(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => {}
            }
        }
    }
}

/// Registers `fd` with tokio's reactor.
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the `OwnedFd` owns the descriptor, so it stays open and
    // refers to the same socket for as long as the `AsyncFd` owns it;
    // `OwnedFd::as_raw_fd` always returns that same descriptor.
    #[allow(unsafe_code)]
    let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
    Ok(fd)
}

fn recv_once(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = match recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(msg) => msg,
        Err(Errno::EAGAIN) => return Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => return Err(e.into()),
    };
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                for fd in fds {
                    let _ = nix::unistd::close(fd);
                }
            }
        }
    }
    if msg.flags.contains(MsgFlags::MSG_TRUNC) || msg.bytes > MAX_MESSAGE {
        return Ok(Received::TooLarge);
    }
    if msg.bytes == 0 {
        return Ok(Received::Closed);
    }
    Ok(Received::Message(msg.bytes))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[tokio::test]
    async fn messages_fds_eof_and_oversize() {
        let (ours, theirs) = Control::pair().unwrap();
        let theirs = Control {
            fd: register(theirs).unwrap(),
        };
        let mut buf = vec![0u8; MAX_MESSAGE + 1];
        let (probe, _keep) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.send(b"hello", Some(probe.as_fd().as_raw_fd()))
            .await
            .unwrap();
        // A plain blocking receive on the other end sees the descriptor.
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let mut data = [0u8; 16];
        let mut iov = [IoSliceMut::new(&mut data)];
        let msg = recvmsg::<()>(
            theirs.fd.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        assert_eq!(msg.bytes, 5);
        let fds: Vec<RawFd> = msg
            .cmsgs()
            .unwrap()
            .filter_map(|c| match c {
                ControlMessageOwned::ScmRights(f) => Some(f),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(fds.len(), 1);
        nix::unistd::close(fds[0]).unwrap();
        // Oversized messages are cut off and flagged.
        theirs
            .send(&vec![1u8; MAX_MESSAGE + 10], None)
            .await
            .unwrap();
        assert_eq!(ours.recv(&mut buf).await.unwrap(), Received::TooLarge);
        theirs.send(b"ok", None).await.unwrap();
        assert_eq!(ours.recv(&mut buf).await.unwrap(), Received::Message(2));
        drop(theirs);
        assert_eq!(ours.recv(&mut buf).await.unwrap(), Received::Closed);
    }
}
