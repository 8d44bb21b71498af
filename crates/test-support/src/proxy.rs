//! A TCP proxy that injects faults between a server under test and its
//! upstream (a broker, a database): [`FaultProxy::cut`] drops every
//! connection and refuses new ones (accepts and closes them),
//! [`FaultProxy::stall`] stops forwarding while keeping the connections,
//! [`FaultProxy::restore`] forwards again. Std threads only.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const FORWARD: u8 = 0;
const CUT: u8 = 1;
const STALL: u8 = 2;

struct Shared {
    upstream: SocketAddr,
    mode: AtomicU8,
    closing: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn conns(&self) -> std::sync::MutexGuard<'_, Vec<TcpStream>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn drop_all(&self) {
        for c in self.conns().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// The proxy; stops (and drops its connections) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards each connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            mode: AtomicU8::new(FORWARD),
            closing: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept_loop(&listener, &s))?;
        Ok(FaultProxy { addr, shared })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection; new ones are accepted and closed at once.
    pub fn cut(&self) {
        self.shared.mode.store(CUT, Ordering::SeqCst);
        self.shared.drop_all();
    }

    /// Stops forwarding (both ways); connections stay open.
    pub fn stall(&self) {
        self.shared.mode.store(STALL, Ordering::SeqCst);
    }

    /// Forwards again (after a cut: new connections; after a stall: the
    /// held bytes flow on).
    pub fn restore(&self) {
        self.shared.mode.store(FORWARD, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.drop_all();
        // Wakes the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.closing.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if shared.mode.load(Ordering::SeqCst) == CUT {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(upstream) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5))
        else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let (Ok(c2), Ok(u2), Ok(c3), Ok(u3)) = (
            client.try_clone(),
            upstream.try_clone(),
            client.try_clone(),
            upstream.try_clone(),
        ) else {
            continue;
        };
        shared.conns().extend([c3, u3]);
        for (from, to) in [(client, upstream), (u2, c2)] {
            let s = shared.clone();
            let _ = thread::Builder::new()
                .name("fault-proxy-pump".into())
                .spawn(move || pump(from, to, &s));
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.closing.load(Ordering::SeqCst) {
            break;
        }
        match shared.mode.load(Ordering::SeqCst) {
            // Not reading: the bytes wait in the kernel's buffers.
            STALL => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            CUT => break,
            _ => {}
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Bytes read as the stall began are held until it ends.
                while shared.mode.load(Ordering::SeqCst) == STALL
                    && !shared.closing.load(Ordering::SeqCst)
                {
                    thread::sleep(Duration::from_millis(5));
                }
                if shared.mode.load(Ordering::SeqCst) == CUT || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for c in l.incoming().flatten() {
                thread::spawn(move || {
                    let mut c = c;
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = c.read(&mut buf) {
                        if n == 0 || c.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn roundtrip(c: &mut TcpStream, msg: &[u8]) -> io::Result<Vec<u8>> {
        c.write_all(msg)?;
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn forwards_cuts_stalls_and_restores() {
        let p = FaultProxy::start(echo_server()).unwrap();
        let mut c = TcpStream::connect(p.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(roundtrip(&mut c, b"hello").unwrap(), b"hello");

        p.stall();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        c.write_all(b"held").unwrap();
        let mut buf = [0u8; 4];
        assert!(
            c.read_exact(&mut buf).is_err(),
            "nothing flows while stalled"
        );
        p.restore();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"held");

        p.cut();
        let mut one = [0u8; 1];
        assert!(matches!(c.read(&mut one), Ok(0) | Err(_)), "dropped");
        let mut refused = TcpStream::connect(p.addr()).unwrap();
        refused
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert!(
            matches!(refused.read(&mut one), Ok(0) | Err(_)),
            "closed at once"
        );

        p.restore();
        let mut again = TcpStream::connect(p.addr()).unwrap();
        again
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(roundtrip(&mut again, b"back").unwrap(), b"back");
    }
}
