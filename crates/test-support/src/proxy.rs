//! [`FaultProxy`]: a TCP proxy between a server under test and a broker
//! that a test can break on purpose: [`cut`](FaultProxy::cut) drops every
//! connection and refuses new ones (accepted and closed at once),
//! [`stall`](FaultProxy::stall) stops forwarding but keeps the connections
//! open (a link that hangs), [`restore`](FaultProxy::restore) forwards
//! again. Plain std threads: no runtime needed.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const OPEN: u8 = 0;
const STALLED: u8 = 1;
const CUT: u8 = 2;

struct Inner {
    upstream: SocketAddr,
    mode: AtomicU8,
    closing: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

impl Inner {
    fn mode(&self) -> u8 {
        self.mode.load(Ordering::SeqCst)
    }

    fn drop_all(&self) {
        let conns = std::mem::take(
            &mut *self
                .conns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for c in conns {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// A TCP proxy to `upstream` on a free 127.0.0.1 port.
pub struct FaultProxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FaultProxy {
    /// Listens on a free 127.0.0.1 port and forwards every connection to
    /// `upstream`.
    ///
    /// # Errors
    /// The listener cannot be bound.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            upstream,
            mode: AtomicU8::new(OPEN),
            closing: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let shared = inner.clone();
        thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(&listener, &shared))?;
        Ok(FaultProxy { addr, inner })
    }

    /// The address to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection; new ones are accepted and closed at once
    /// until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.inner.mode.store(CUT, Ordering::SeqCst);
        self.inner.drop_all();
    }

    /// Stops forwarding in both directions, connections kept open.
    pub fn stall(&self) {
        self.inner.mode.store(STALLED, Ordering::SeqCst);
    }

    /// Forwards again (new connections after a cut; held bytes after a
    /// stall).
    pub fn restore(&self) {
        self.inner.mode.store(OPEN, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        self.inner.drop_all();
        // Wakes the accept loop so that it sees `closing`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn accept_loop(listener: &TcpListener, inner: &Arc<Inner>) {
    for conn in listener.incoming() {
        if inner.closing.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        if inner.mode() == CUT {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&inner.upstream, Duration::from_secs(5)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        {
            let mut conns = inner
                .conns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            conns.push(c3);
            conns.push(s3);
        }
        // A cut between the check above and the registration.
        if inner.mode() == CUT {
            inner.drop_all();
            continue;
        }
        for (from, to) in [(client, s2), (server, c2)] {
            let shared = inner.clone();
            let _ = thread::Builder::new()
                .name("fault-proxy-pump".into())
                .spawn(move || pump(from, to, &shared));
        }
    }
}

/// Copies `from` to `to` until either side closes; holds the bytes while
/// stalled.
fn pump(mut from: TcpStream, mut to: TcpStream, inner: &Inner) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while inner.mode() == STALLED {
            if inner.closing.load(Ordering::SeqCst) {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        if inner.mode() == CUT || inner.closing.load(Ordering::SeqCst) {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        // Bytes read just before a stall wait for the restore.
        while inner.mode() == STALLED && !inner.closing.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        if inner.mode() == CUT || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
