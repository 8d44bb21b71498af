//! systemd's readiness protocol (`Type=notify`): one datagram per state
//! change (`READY=1`, `STOPPING=1`) to the unix socket named by
//! `$NOTIFY_SOCKET`; a name starting with `@` is in the abstract
//! namespace. Written by hand rather than with the `sd-notify` crate: the
//! protocol is one `sendto`, and std has everything it needs.

use std::ffi::OsString;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where systemd listens for state changes.
#[derive(Clone, Debug)]
pub struct Notifier {
    addr: SocketAddr,
    shown: String,
}

impl Notifier {
    /// The socket named by a `$NOTIFY_SOCKET` value (`/run/systemd/notify`,
    /// or `@name` for an abstract socket); `None` when unset or empty.
    ///
    /// # Errors
    /// When the name is not a valid unix socket address (too long).
    pub fn from_socket_name(name: Option<OsString>) -> std::io::Result<Option<Self>> {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let shown = name.to_string_lossy().into_owned();
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str());
        let addr = match bytes.strip_prefix(b"@") {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(abstract_name)?
            }
            None => SocketAddr::from_pathname(std::path::Path::new(&name))?,
        };
        Ok(Some(Self { addr, shown }))
    }

    /// Sends one state (`READY=1`, `STOPPING=1`).
    ///
    /// # Errors
    /// When the datagram cannot be sent (no one listens on the socket).
    pub fn notify(&self, state: &str) -> std::io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        socket.send_to_addr(state.as_bytes(), &self.addr)?;
        Ok(())
    }

    /// The socket name, for messages.
    pub fn name(&self) -> &str {
        &self.shown
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::from_socket_name(Some(path.clone().into_os_string()))
            .unwrap()
            .unwrap();
        notifier.notify("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("coyote-test-notify-{}", std::process::id());
        let listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let notifier = Notifier::from_socket_name(Some(format!("@{name}").into()))
            .unwrap()
            .unwrap();
        notifier.notify("STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn unset_or_empty_means_no_notifier() {
        assert!(Notifier::from_socket_name(None).unwrap().is_none());
        assert!(Notifier::from_socket_name(Some(OsString::new()))
            .unwrap()
            .is_none());
    }
}
