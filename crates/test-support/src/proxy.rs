//! A TCP proxy a test controls, between the server and a broker: `cut`
//! drops every connection and refuses new ones, `stall` stops forwarding
//! while keeping connections open, `restore` forwards again. Plain threads,
//! so it works from any test, async or not.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FORWARD: u8 = 0;
const STALL: u8 = 1;
const CUT: u8 = 2;

/// The proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicU8>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`.
    ///
    /// # Errors
    /// The listener cannot be bound.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicU8::new(0));
        let (m, o, s) = (mode.clone(), open.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Acquire) != 0 {
                    return;
                }
                let Ok(client) = client else { continue };
                if m.load(Ordering::Acquire) == CUT {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
                else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    if let Ok(mut all) = o.lock() {
                        all.push(c2);
                        all.push(s2);
                    }
                }
                pump(&client, &server, m.clone());
                pump(&server, &client, m.clone());
            }
        });
        Ok(Self {
            addr,
            mode,
            open,
            stop,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection; new ones are accepted and closed.
    pub fn cut(&self) {
        self.mode.store(CUT, Ordering::Release);
        if let Ok(mut all) = self.open.lock() {
            for s in all.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Stops forwarding bytes; connections stay open.
    pub fn stall(&self) {
        self.mode.store(STALL, Ordering::Release);
    }

    /// Forwards again (and accepts new connections).
    pub fn restore(&self) {
        self.mode.store(FORWARD, Ordering::Release);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(1, Ordering::Release);
        self.cut();
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// Copies `from` -> `to` on a thread; while stalled, bytes wait (polling
/// the mode every 10 ms: a test fixture, not a hot path).
fn pump(from: &TcpStream, to: &TcpStream, mode: Arc<AtomicU8>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            loop {
                match mode.load(Ordering::Acquire) {
                    FORWARD => break,
                    CUT => {
                        let _ = to.shutdown(Shutdown::Both);
                        return;
                    }
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
