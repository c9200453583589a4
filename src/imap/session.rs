//! Connecting and logging in: TCP with timeouts, rustls (ring chosen
//! explicitly, so another crate enabling aws-lc-rs cannot make the process
//! default ambiguous), STARTTLS done by hand, and SASL.
//!
//! STARTTLS is negotiated on the raw socket, reading byte by byte, so that
//! nothing the server sends after its OK can be buffered and later mistaken
//! for a TLS-protected answer (the STARTTLS command-injection class of bugs).
//! The `imap` crate's own builder cannot take a custom root store and sets
//! no timeouts, which is why it is not used.

use super::config::{Account, AuthMech, Secret, TlsMode};
use super::{Error, Kind, Result};
use imap::extensions::idle::SetReadTimeout;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

pub type Session = imap::Session<Stream>;

enum Inner {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// The transport under the IMAP client: our own type, so we can log the
/// protocol with credentials removed and keep the I/O timeout armed.
pub struct Stream {
    inner: Inner,
    io_timeout: Duration,
    log: Option<ProtoLog>,
}

impl Stream {
    fn sock(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(s) => s,
            Inner::Tls(t) => &t.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::Plain(s) => s.read(buf)?,
            Inner::Tls(t) => t.read(buf)?,
        };
        if let Some(log) = &mut self.log {
            log.server(&buf[..n]);
        }
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::Plain(s) => s.write(buf)?,
            Inner::Tls(t) => t.write(buf)?,
        };
        if let Some(log) = &mut self.log {
            log.client(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(s) => s.flush(),
            Inner::Tls(t) => t.flush(),
        }
    }
}

impl SetReadTimeout for Stream {
    /// The IDLE handle sets its own timeout and then resets it to `None`
    /// ("wait forever"); a fetch after IDLE must not hang forever, so `None`
    /// means our I/O timeout here.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> imap::Result<()> {
        self.sock()
            .set_read_timeout(Some(timeout.unwrap_or(self.io_timeout)))
            .map_err(imap::Error::Io)
    }
}

/// `--debug-protocol`: the conversation on stderr, with the arguments of
/// LOGIN and every SASL response replaced, and long server data cut.
#[derive(Default)]
struct ProtoLog {
    line: Vec<u8>,
    in_auth: bool,
}

impl ProtoLog {
    fn client(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.line).trim_end().to_string();
                eprintln!("C: {}", redact(&line, &mut self.in_auth));
                self.line.clear();
            } else if self.line.len() < 4096 {
                self.line.push(b);
            }
        }
    }

    fn server(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len()).min(200);
        let first = String::from_utf8_lossy(&bytes[..end]);
        let more = bytes.len() - end;
        if more > 2 {
            eprintln!("S: {} [+{more} bytes]", first.trim_end());
        } else {
            eprintln!("S: {}", first.trim_end());
        }
    }
}

/// Hides credentials in one client line. SASL responses are bare base64
/// lines (no space) sent after an AUTHENTICATE command; the next tagged
/// command ends that state.
fn redact(line: &str, in_auth: &mut bool) -> String {
    let mut parts = line.splitn(3, ' ');
    let tag = parts.next().unwrap_or("");
    let cmd = parts.next().unwrap_or("").to_ascii_uppercase();
    if line.contains(' ') {
        *in_auth = cmd == "AUTHENTICATE";
        if cmd == "LOGIN" {
            return format!("{tag} LOGIN <redacted>");
        }
        line.to_string()
    } else if *in_auth {
        "<redacted>".to_string()
    } else {
        line.to_string()
    }
}

/// Password cached for the run (a password command may prompt a keyring);
/// OAuth2 tokens are fetched again at every connect because they expire.
#[derive(Default)]
pub struct Credentials {
    password: Option<String>,
}

impl Credentials {
    fn secret(&mut self, s: &Secret) -> Result<String> {
        if s.is_oauth() {
            return s.fetch();
        }
        if self.password.is_none() {
            self.password = Some(s.fetch()?);
        }
        Ok(self.password.clone().unwrap_or_default())
    }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Turns an `imap` error into one clear line with the right class.
pub fn map_imap(acc: &Account, doing: &str, e: imap::Error) -> Error {
    let server = acc.server();
    match e {
        imap::Error::Io(io) => map_io(acc, doing, &io),
        imap::Error::ConnectionLost => Error::new(
            Kind::Temporary,
            format!("{server}: connection closed by the server while {doing}"),
        ),
        imap::Error::Bye(b) => Error::new(
            Kind::Temporary,
            format!(
                "{server}: server closed the connection while {doing}: {}",
                b.information
            ),
        ),
        imap::Error::No(n) => Error::new(
            Kind::Protocol,
            format!("{server}: {doing}: server said NO: {}", n.information),
        ),
        imap::Error::Bad(b) => Error::new(
            Kind::Protocol,
            format!("{server}: {doing}: server said BAD: {}", b.information),
        ),
        other => Error::new(Kind::Protocol, format!("{server}: {doing}: {other}")),
    }
}

fn map_io(acc: &Account, doing: &str, e: &io::Error) -> Error {
    let server = acc.server();
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return tls_error(acc, tls);
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::new(
            Kind::Temporary,
            format!(
                "{server}: server did not answer within {} while {doing} (see --timeout)",
                secs(acc.io_timeout)
            ),
        ),
        io::ErrorKind::UnexpectedEof => Error::new(
            Kind::Temporary,
            format!("{server}: connection closed by the server while {doing}"),
        ),
        _ => Error::new(
            Kind::Temporary,
            format!("{server}: connection lost while {doing}: {e}"),
        ),
    }
}

fn tls_error(acc: &Account, e: &rustls::Error) -> Error {
    use rustls::CertificateError as C;
    let server = acc.server();
    let msg = match e {
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => format!(
            "{server}: certificate is not valid for the name {:?} ({e}); check --host, or use --ca-file",
            acc.host
        ),
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            format!("{server}: certificate has expired ({e})")
        }
        rustls::Error::InvalidCertificate(_) => {
            format!("{server}: certificate not trusted ({e}); use --ca-file")
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "{server}: server does not speak TLS on this port ({e}); try --tls starttls or another --port"
        ),
        _ => format!("{server}: TLS failed: {e}"),
    };
    Error::new(Kind::Config, msg)
}

fn tls_config(acc: &Account) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    // A container without ca-certificates has no system roots; --ca-file
    // alone must still work, so errors here are not fatal.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = &acc.ca_file {
        let bad =
            |m: String| Error::new(Kind::Config, format!("--ca-file {}: {m}", path.display()));
        let iter = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?;
        let mut n = 0;
        for c in iter {
            let c = c.map_err(|e| bad(e.to_string()))?;
            roots.add(c).map_err(|e| bad(e.to_string()))?;
            n += 1;
        }
        if n == 0 {
            return Err(bad("no PEM certificate in the file".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Kind::Config, format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

fn tcp_connect(acc: &Account) -> Result<TcpStream> {
    let server = acc.server();
    let addrs: Vec<_> = (acc.host.as_str(), acc.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::new(
                Kind::Unavailable,
                format!("{server}: cannot resolve host: {e}"),
            )
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, acc.connect_timeout) {
            Ok(s) => {
                let t = Some(acc.io_timeout);
                s.set_read_timeout(t)
                    .and_then(|_| s.set_write_timeout(t))
                    .map_err(|e| Error::new(Kind::Io, format!("{server}: {e}")))?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    let msg = match last {
        Some(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            format!(
                "{server}: no connection within {} (see --connect-timeout)",
                secs(acc.connect_timeout)
            )
        }
        Some(e) => format!("{server}: cannot connect: {e}"),
        None => format!("{server}: host has no address"),
    };
    Err(Error::new(Kind::Unavailable, msg))
}

fn tls_wrap(
    acc: &Account,
    mut sock: TcpStream,
) -> Result<StreamOwned<ClientConnection, TcpStream>> {
    let cfg = tls_config(acc)?;
    let name = ServerName::try_from(acc.host.clone()).map_err(|e| {
        Error::new(
            Kind::Config,
            format!("{}: not a valid TLS server name: {e}", acc.host),
        )
    })?;
    let mut conn = ClientConnection::new(cfg, name)
        .map_err(|e| Error::new(Kind::Config, format!("{}: TLS: {e}", acc.server())))?;
    // Drive the handshake now, so certificate problems come out as such
    // instead of as a failed greeting.
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| map_io(acc, "negotiating TLS", &e))?;
    }
    Ok(StreamOwned::new(conn, sock))
}

/// Reads one line without buffering past its end (see the module docs).
fn read_line_unbuffered(acc: &Account, sock: &mut TcpStream, doing: &str) -> Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match sock.read(&mut b) {
            Ok(0) => {
                return Err(Error::new(
                    Kind::Temporary,
                    format!(
                        "{}: connection closed by the server while {doing}",
                        acc.server()
                    ),
                ));
            }
            Ok(_) => {
                line.push(b[0]);
                if b[0] == b'\n' || line.len() > 8192 {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(map_io(acc, doing, &e)),
        }
    }
    let s = String::from_utf8_lossy(&line).trim_end().to_string();
    if acc.debug_protocol {
        eprintln!("S: {s}");
    }
    Ok(s)
}

fn check_greeting(acc: &Account, greeting: &str) -> Result<()> {
    if greeting.starts_with("* OK") || greeting.starts_with("* PREAUTH") {
        Ok(())
    } else if greeting.starts_with("* BYE") {
        Err(Error::new(
            Kind::Unavailable,
            format!(
                "{}: server refused the connection: {greeting}",
                acc.server()
            ),
        ))
    } else {
        Err(Error::new(
            Kind::Protocol,
            format!(
                "{}: not an IMAP greeting: {:?}",
                acc.server(),
                greeting.chars().take(80).collect::<String>()
            ),
        ))
    }
}

fn starttls(
    acc: &Account,
    mut sock: TcpStream,
) -> Result<StreamOwned<ClientConnection, TcpStream>> {
    let greeting = read_line_unbuffered(acc, &mut sock, "waiting for the greeting")?;
    check_greeting(acc, &greeting)?;
    let say = |sock: &mut TcpStream, line: &str| -> Result<()> {
        if acc.debug_protocol {
            eprintln!("C: {line}");
        }
        sock.write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| map_io(acc, "sending STARTTLS", &e))
    };
    let mut offered = greeting.contains(" STARTTLS");
    if !greeting.contains("[CAPABILITY ") {
        say(&mut sock, "s0 CAPABILITY")?;
        loop {
            let l = read_line_unbuffered(acc, &mut sock, "reading capabilities")?;
            if l.starts_with("* CAPABILITY ") && l.contains(" STARTTLS") {
                offered = true;
            }
            if l.starts_with("s0 ") {
                break;
            }
        }
    }
    if !offered {
        return Err(Error::new(
            Kind::Config,
            format!(
                "{}: server does not offer STARTTLS; refusing to continue in plaintext (use --tls implicit, or --tls none --insecure-plaintext)",
                acc.server()
            ),
        ));
    }
    say(&mut sock, "s1 STARTTLS")?;
    loop {
        let l = read_line_unbuffered(acc, &mut sock, "waiting for the STARTTLS answer")?;
        if l.starts_with("s1 ") {
            if !l.starts_with("s1 OK") {
                return Err(Error::new(
                    Kind::Protocol,
                    format!("{}: STARTTLS refused: {l}", acc.server()),
                ));
            }
            break;
        }
    }
    tls_wrap(acc, sock)
}

struct Sasl<F: Fn(bool) -> Vec<u8>> {
    respond: F,
    calls: std::cell::Cell<u32>,
}

impl<F: Fn(bool) -> Vec<u8>> imap::Authenticator for Sasl<F> {
    type Response = Vec<u8>;
    /// The first call carries the credentials. A second challenge only
    /// comes when the server rejects an OAuth token (a JSON error); it must
    /// be answered with the mechanism's abort response, or the exchange
    /// never reaches the tagged NO.
    fn process(&self, _challenge: &[u8]) -> Vec<u8> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        (self.respond)(n == 0)
    }
}

/// Connects, negotiates TLS as configured, and logs in.
pub fn connect(acc: &Account, creds: &mut Credentials) -> Result<Session> {
    if acc.tls == TlsMode::None && !acc.insecure_plaintext {
        return Err(Error::new(
            Kind::Config,
            format!(
                "{}: refusing to send credentials over a plaintext connection; use --tls starttls or implicit (or add --insecure-plaintext)",
                acc.server()
            ),
        ));
    }
    // Get the secret before connecting: a failing password command should
    // not cost a connection, and servers drop idle pre-auth connections.
    let secret = creds.secret(&acc.secret)?;
    let sock = tcp_connect(acc)?;
    let (inner, greeted) = match acc.tls {
        TlsMode::Implicit => (Inner::Tls(Box::new(tls_wrap(acc, sock)?)), false),
        TlsMode::Starttls => (Inner::Tls(Box::new(starttls(acc, sock)?)), true),
        TlsMode::None => (Inner::Plain(sock), false),
    };
    let stream = Stream {
        inner,
        io_timeout: acc.io_timeout,
        log: acc.debug_protocol.then(ProtoLog::default),
    };
    let mut client = imap::Client::new(stream);
    if greeted {
        client.greeting_read = true;
    } else {
        let g = client
            .read_greeting()
            .map_err(|e| map_imap(acc, "waiting for the greeting", e))?;
        check_greeting(acc, String::from_utf8_lossy(&g).trim_end())?;
    }
    let caps = client
        .capabilities()
        .map_err(|e| map_imap(acc, "reading capabilities", e))?;
    let has = |c: &str| caps.has_str(c);
    let mech = match acc.auth {
        AuthMech::Auto if acc.secret.is_oauth() => {
            if !has("AUTH=XOAUTH2") && has("AUTH=OAUTHBEARER") {
                AuthMech::Oauthbearer
            } else {
                AuthMech::Xoauth2
            }
        }
        AuthMech::Auto if has("AUTH=PLAIN") => AuthMech::Plain,
        AuthMech::Auto => AuthMech::Login,
        m => m,
    };
    if mech == AuthMech::Login && has("LOGINDISABLED") {
        return Err(Error::new(
            Kind::Config,
            format!(
                "{}: server disabled LOGIN on this connection (LOGINDISABLED)",
                acc.server()
            ),
        ));
    }
    drop(caps);
    let user = acc.user.clone();
    let result = match mech {
        AuthMech::Login => client.login(&user, &secret),
        AuthMech::Plain => {
            let auth = Sasl {
                respond: |first| {
                    if first {
                        format!("\0{user}\0{secret}").into_bytes()
                    } else {
                        Vec::new()
                    }
                },
                calls: Default::default(),
            };
            client.authenticate("PLAIN", &auth)
        }
        AuthMech::Xoauth2 => {
            let auth = Sasl {
                respond: |first| {
                    if first {
                        format!("user={user}\x01auth=Bearer {secret}\x01\x01").into_bytes()
                    } else {
                        Vec::new()
                    }
                },
                calls: Default::default(),
            };
            client.authenticate("XOAUTH2", &auth)
        }
        AuthMech::Oauthbearer | AuthMech::Auto => {
            let auth = Sasl {
                respond: |first| {
                    if first {
                        format!("n,a={user},\x01auth=Bearer {secret}\x01\x01").into_bytes()
                    } else {
                        b"\x01".to_vec()
                    }
                },
                calls: Default::default(),
            };
            client.authenticate("OAUTHBEARER", &auth)
        }
    };
    result.map_err(|(e, _)| match e {
        imap::Error::No(n) => Error::new(
            Kind::Auth,
            format!(
                "{}: authentication refused for {:?}: {}",
                acc.server(),
                acc.user,
                n.information
            ),
        ),
        e => map_imap(acc, "authenticating", e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_login_and_sasl() {
        let mut st = false;
        assert_eq!(
            redact("a1 LOGIN bob \"pw\"", &mut st),
            "a1 LOGIN <redacted>"
        );
        assert_eq!(
            redact("a2 AUTHENTICATE PLAIN", &mut st),
            "a2 AUTHENTICATE PLAIN"
        );
        assert_eq!(redact("AGJvYgBwdw==", &mut st), "<redacted>");
        assert_eq!(redact("a3 EXAMINE INBOX", &mut st), "a3 EXAMINE INBOX");
        assert_eq!(redact("DONE", &mut st), "DONE");
    }
}
