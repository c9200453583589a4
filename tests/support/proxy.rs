//! A fault-injecting TCP proxy for the bfetch tests (issue 18): it sits
//! between bfetch and the real private Dovecot and passes bytes through
//! unchanged until the fault planned for that connection fires. It works on
//! bytes, so implicit TLS passes through as well (a TLS stream cut in the
//! middle of a record is a fault like any other); the faults that wait for
//! a command or a response (LOGIN, FETCH, a literal, MOVE) need a plaintext
//! connection to see them.
//!
//! One fault per accepted connection, taken from a queue in order; a
//! connection with no fault left passes everything through (the retry or
//! the clean run after a faulted one).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// bfetch → server.
    Up,
    /// server → bfetch.
    Down,
}

/// When the fault fires, counted in the fault's direction.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// After this many bytes.
    Bytes(u64),
    /// Just before the first byte of `pattern` is passed on.
    Before(Vec<u8>),
    /// `extra` bytes after the end of `pattern`.
    After(Vec<u8>, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Close both connections (FIN): an orderly end in the wrong place.
    Close,
    /// Reset both connections (RST).
    Reset,
    /// Pass nothing on any more but keep both connections open, until
    /// bfetch gives up (its --timeout) and closes its end.
    Stall,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub dir: Dir,
    pub trigger: Trigger,
    pub action: Action,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = match &self.trigger {
            Trigger::Bytes(n) => format!("after {n} bytes"),
            Trigger::Before(p) => format!("before {:?}", String::from_utf8_lossy(p)),
            Trigger::After(p, n) => format!("{n} bytes after {:?}", String::from_utf8_lossy(p)),
        };
        write!(f, "{:?} {:?} {t}", self.action, self.dir)
    }
}

/// What happened on one connection.
#[derive(Debug, Default)]
pub struct Conn {
    pub fault: Option<Fault>,
    pub fired: AtomicBool,
    pub up: AtomicU64,
    pub down: AtomicU64,
}

pub struct Proxy {
    pub port: u16,
    upstream: Arc<std::sync::atomic::AtomicU16>,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    conns: Arc<Mutex<Vec<Arc<Conn>>>>,
}

impl Proxy {
    /// Listens on a free local port and forwards to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listen");
        let port = listener.local_addr().unwrap().port();
        let plan: Arc<Mutex<VecDeque<Fault>>> = Arc::default();
        let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let upstream = Arc::new(std::sync::atomic::AtomicU16::new(upstream));
        let (p, c, up) = (plan.clone(), conns.clone(), upstream.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let conn = Arc::new(Conn {
                    fault: p.lock().unwrap().pop_front(),
                    ..Default::default()
                });
                c.lock().unwrap().push(conn.clone());
                match TcpStream::connect(("127.0.0.1", up.load(Ordering::SeqCst))) {
                    Ok(server) => relay(client, server, conn),
                    Err(_) => drop(client),
                }
            }
        });
        Proxy {
            port,
            upstream,
            plan,
            conns,
        }
    }

    /// Where the next connections go (one proxy port for implicit TLS and
    /// plaintext, so that bfetch's state, kept per host and port, is one).
    pub fn forward_to(&self, port: u16) {
        self.upstream.store(port, Ordering::SeqCst);
    }

    /// The fault for the next connection (then the one after, ...).
    pub fn plan(&self, f: Fault) {
        self.plan.lock().unwrap().push_back(f);
    }

    /// Forgets unused faults; returns the connections since the last call.
    pub fn reset(&self) -> Vec<Arc<Conn>> {
        self.plan.lock().unwrap().clear();
        std::mem::take(&mut *self.conns.lock().unwrap())
    }
}

/// Both connections: shut down on any end, reset when asked.
struct Pair {
    client: TcpStream,
    server: TcpStream,
    stalled: AtomicBool,
    done: AtomicBool,
}

impl Pair {
    fn end(&self, reset: bool) {
        if self.done.swap(true, Ordering::SeqCst) {
            return;
        }
        if reset {
            for s in [&self.client, &self.server] {
                let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
            }
        }
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

fn relay(client: TcpStream, server: TcpStream, conn: Arc<Conn>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let pair = Arc::new(Pair {
        client,
        server,
        stalled: AtomicBool::new(false),
        done: AtomicBool::new(false),
    });
    for dir in [Dir::Up, Dir::Down] {
        let (pair, conn) = (pair.clone(), conn.clone());
        std::thread::spawn(move || pump(&pair, &conn, dir));
    }
}

/// Copies one direction, watching for the fault's trigger.
fn pump(pair: &Pair, conn: &Conn, dir: Dir) {
    let (mut from, mut to) = match dir {
        Dir::Up => (&pair.client, &pair.server),
        Dir::Down => (&pair.server, &pair.client),
    };
    let counter = match dir {
        Dir::Up => &conn.up,
        Dir::Down => &conn.down,
    };
    let fault = conn.fault.as_ref().filter(|f| f.dir == dir);
    let mut cut = Cut::new(fault.map(|f| f.trigger.clone()));
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if pair.stalled.load(Ordering::SeqCst) {
            continue; // swallow everything until the peer gives up
        }
        let (pass, fire) = cut.feed(&buf[..n]);
        if pass > 0 && to.write_all(&buf[..pass]).is_err() {
            break;
        }
        counter.fetch_add(pass as u64, Ordering::SeqCst);
        if fire {
            let f = fault.expect("a trigger has a fault");
            conn.fired.store(true, Ordering::SeqCst);
            match f.action {
                Action::Close => pair.end(false),
                Action::Reset => pair.end(true),
                Action::Stall => {
                    pair.stalled.store(true, Ordering::SeqCst);
                    continue;
                }
            }
            return;
        }
    }
    pair.end(false);
}

/// Finds where a trigger falls in a stream that comes in chunks.
struct Cut {
    trigger: Option<Trigger>,
    seen: u64,
    /// The last bytes of the previous chunks, for a pattern split across reads.
    tail: Vec<u8>,
    /// After(…): bytes still to pass once the pattern was seen.
    countdown: Option<u64>,
}

impl Cut {
    fn new(trigger: Option<Trigger>) -> Cut {
        let countdown = match &trigger {
            Some(Trigger::Bytes(n)) => Some(*n),
            _ => None,
        };
        Cut {
            trigger,
            seen: 0,
            tail: Vec::new(),
            countdown,
        }
    }

    /// How many bytes of `chunk` to pass on, and whether the fault fires
    /// right after them.
    fn feed(&mut self, chunk: &[u8]) -> (usize, bool) {
        self.seen += chunk.len() as u64;
        if let Some(left) = self.countdown {
            if left <= chunk.len() as u64 {
                self.countdown = None;
                self.trigger = None;
                return (left as usize, true);
            }
            self.countdown = Some(left - chunk.len() as u64);
            return (chunk.len(), false);
        }
        let Some(pattern) = (match &self.trigger {
            Some(Trigger::Before(p) | Trigger::After(p, _)) => Some(p.clone()),
            _ => None,
        }) else {
            return (chunk.len(), false);
        };
        let mut hay = std::mem::take(&mut self.tail);
        let keep = hay.len();
        hay.extend_from_slice(chunk);
        let found = hay.windows(pattern.len()).position(|w| w == &pattern[..]);
        let Some(at) = found else {
            let from = hay.len().saturating_sub(pattern.len() - 1);
            self.tail = hay[from..].to_vec();
            return (chunk.len(), false);
        };
        match self.trigger.take() {
            Some(Trigger::Before(_)) => {
                // The pattern may start in bytes already passed on; cut as
                // early as this chunk allows.
                (at.saturating_sub(keep), true)
            }
            Some(Trigger::After(_, extra)) => {
                let end = at + pattern.len() - keep; // pattern end within chunk
                let rest = (chunk.len() - end) as u64;
                if extra <= rest {
                    (end + extra as usize, true)
                } else {
                    self.countdown = Some(extra - rest);
                    (chunk.len(), false)
                }
            }
            _ => unreachable!(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_where_asked() {
        let mut c = Cut::new(Some(Trigger::Bytes(5)));
        assert_eq!(c.feed(b"abc"), (3, false));
        assert_eq!(c.feed(b"defg"), (2, true));
        let mut c = Cut::new(Some(Trigger::Before(b"MOVE".to_vec())));
        assert_eq!(c.feed(b"a1 UID MO"), (9, false));
        assert_eq!(c.feed(b"VE 1 X"), (0, true));
        let mut c = Cut::new(Some(Trigger::After(b"{".to_vec(), 5)));
        assert_eq!(c.feed(b"BODY[] {12}"), (11, false));
        assert_eq!(c.feed(b"\r\nabc"), (2, true));
        let mut c = Cut::new(Some(Trigger::After(b"{".to_vec(), 1)));
        assert_eq!(c.feed(b"BODY[] {12}"), (9, true));
        let mut c = Cut::new(Some(Trigger::Bytes(0)));
        assert_eq!(c.feed(b"x"), (0, true));
    }
}
