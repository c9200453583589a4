//! Test harness for bfetch: a private Dovecot per test (started and stopped
//! by `scripts/dovecot`, so tests and benchmarks share one recipe), and a
//! helper that runs the real binary and shows everything on failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const USER: &str = "test";
pub const PASSWORD: &str = "secret";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dovecot")
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("BFETCH_REQUIRE_DOVECOT").is_ok_and(|v| v == "1")
}

fn can_run_dovecot() -> Result<(), String> {
    let installed = ["/usr/sbin/dovecot", "/usr/bin/dovecot"]
        .iter()
        .any(|p| Path::new(p).exists());
    if !installed {
        return Err("dovecot not installed".into());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("dovecot needs root here (it switches to the mail user)".into());
    }
    Ok(())
}

pub struct Dovecot {
    pub dir: PathBuf,
    pub imap_port: u16,
    pub imaps_port: u16,
    /// Keeps XDG dirs and state files away from the real home.
    pub home: tempfile::TempDir,
}

impl Dovecot {
    /// A fresh server, or `None` (after a loud SKIPPED) when this machine
    /// cannot run Dovecot and the environment does not require it.
    pub fn start() -> Option<Dovecot> {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Option<Dovecot> {
        if let Err(why) = can_run_dovecot() {
            if required() {
                panic!("dovecot is required (CI=true or BFETCH_REQUIRE_DOVECOT=1) but: {why}");
            }
            eprintln!("\n*** SKIPPED: {why} — bfetch IMAP test not run ***\n");
            return None;
        }
        let mut last = String::new();
        // Free ports are picked by the script; two parallel tests can
        // rarely pick the same one, so try again on failure.
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("bfetch-dovecot.")
                .tempdir()
                .expect("temp dir")
                .keep();
            let out = Command::new("bash")
                .arg(script())
                .arg("start")
                .arg(&dir)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .output()
                .expect("run scripts/dovecot");
            if out.status.success() {
                let ports = std::fs::read_to_string(dir.join("ports")).expect("ports file");
                let port = |name: &str| -> u16 {
                    ports
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                        .and_then(|v| v.parse().ok())
                        .expect("port in ports file")
                };
                return Some(Dovecot {
                    imap_port: port("IMAP_PORT"),
                    imaps_port: port("IMAPS_PORT"),
                    dir,
                    home: tempfile::tempdir().expect("temp home"),
                });
            }
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("scripts/dovecot start failed three times:\n{last}");
    }

    /// Writes the `bounces` account for this server into HOME's
    /// ~/.config/bounce-tools/bfetch.toml, with the password in a file
    /// beside it, as a user following the README would.
    pub fn write_bfetch_account(&self, home: &Path) {
        let config = home.join(".config/bounce-tools");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("password"), PASSWORD).unwrap();
        std::fs::write(
            config.join("bfetch.toml"),
            format!(
                "[account.bounces]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{USER}\"\n\
                 ca_file = \"{}\"\npassword_file = \"{}\"\n",
                self.imaps_port,
                self.cert().display(),
                config.join("password").display()
            ),
        )
        .unwrap();
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.join("dovecot.conf")
    }

    /// Runs doveadm against this instance and returns its stdout.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.conf())
            .args(args)
            .output()
            .expect("run doveadm");
        assert!(
            out.status.success(),
            "doveadm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// bounce-cron's `--bfetch-arg`s for this server's account (implicit
    /// TLS, the test CA) and the password in the environment.
    pub fn cron_account(&self, c: &mut Command) {
        for a in [
            "--host".to_string(),
            "127.0.0.1".into(),
            "--port".into(),
            self.imaps_port.to_string(),
            "--user".into(),
            USER.into(),
            "--ca-file".into(),
            self.cert().display().to_string(),
        ] {
            c.arg("--bfetch-arg").arg(a);
        }
        c.env("BFETCH_PASSWORD", PASSWORD);
    }

    /// The numbers of the messages in `mailbox` whose Message-ID is
    /// `<PREFIX<n>@…>`, sorted, repeats kept.
    pub fn message_numbers(&self, mailbox: &str, prefix: &str) -> Vec<usize> {
        let marker = format!("<{prefix}");
        let mut v: Vec<usize> = self
            .doveadm(&[
                "-f",
                "flow",
                "fetch",
                "-u",
                USER,
                "hdr.message-id",
                "mailbox",
                mailbox,
            ])
            .lines()
            .filter_map(|l| l.split(&marker).nth(1)?.split('@').next()?.parse().ok())
            .collect();
        v.sort_unstable();
        v
    }

    /// Delivers one message (assigns its UID at once).
    pub fn save(&self, mailbox: &str, msg: &[u8]) {
        use std::io::Write;
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(self.conf())
            .args(["save", "-u", USER, "-m", mailbox])
            .stdin(Stdio::piped())
            .spawn()
            .expect("run doveadm save");
        child.stdin.take().unwrap().write_all(msg).unwrap();
        assert!(child.wait().unwrap().success(), "doveadm save failed");
    }

    /// `uid -> flags` of a mailbox, as the server sees it (without `\\Recent`).
    pub fn flags(&self, mailbox: &str) -> Vec<(u32, String)> {
        let out = self.doveadm(&["fetch", "-u", USER, "uid flags", "mailbox", mailbox]);
        let mut res = Vec::new();
        let mut uid = None;
        for line in out.lines() {
            if let Some(u) = line.strip_prefix("uid: ") {
                uid = u.trim().parse().ok();
            } else if let Some(f) = line.strip_prefix("flags:") {
                // \Recent is per session and any SELECT clears it; it is not ours.
                let f: Vec<&str> = f.split_whitespace().filter(|x| *x != "\\Recent").collect();
                res.push((uid.take().expect("uid before flags"), f.join(" ")));
            }
        }
        res
    }

    pub fn status(&self, mailbox: &str, field: &str) -> String {
        let out = self.doveadm(&[
            "-f", "flow", "mailbox", "status", "-u", USER, field, mailbox,
        ]);
        out.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
            .unwrap_or_else(|| panic!("unexpected status output {out:?}"))
            .to_string()
    }

    /// bfetch with this server's implicit-TLS port, the test user and its
    /// password in the environment.
    pub fn bfetch(&self) -> Command {
        let mut c = bfetch_bare(self.home.path());
        c.args(["--host", "127.0.0.1", "--port"])
            .arg(self.imaps_port.to_string())
            .args(["--user", USER, "--ca-file"])
            .arg(self.cert())
            .args(["--timeout", "60", "--connect-timeout", "10"]);
        c
    }

    pub fn state_file(&self) -> PathBuf {
        self.home.path().join("state.json")
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The real binary with a clean environment for its XDG paths.
pub fn bfetch_bare(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bfetch"));
    c.env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("BFETCH_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub cmd: String,
}

impl Run {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics with the command, status, stdout and stderr unless `code` matches.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            code,
            "\ncommand: {}\nexpected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.cmd,
            self.code,
            String::from_utf8_lossy(&self.stdout)
                .chars()
                .take(3000)
                .collect::<String>(),
            self.stderr
        );
        self
    }

    /// The NDJSON lines of stdout, parsed.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
            .collect()
    }

    pub fn uids(&self) -> Vec<u64> {
        self.json()
            .iter()
            .map(|v| v["uid"].as_u64().unwrap())
            .collect()
    }
}

pub fn run(cmd: &mut Command) -> Run {
    run_with_input(cmd, None)
}

pub fn run_with_input(cmd: &mut Command, input: Option<&[u8]>) -> Run {
    use std::io::Write;
    let desc = format!("{cmd:?}");
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn bfetch");
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let out: Output = child.wait_with_output().expect("wait for bfetch");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        cmd: desc,
    }
}

/// A small message with CRLF endings (what the server serves anyway).
pub fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Mail Delivery System <mailer-daemon@example.test>\r\nTo: bounces@example.test\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n\r\nThis is {subject}.\r\n"
    )
    .into_bytes()
}

impl Dovecot {
    /// Drops messages straight into the test user's INBOX (Maildir `new/`,
    /// owned by the mail user): thousands in a moment, where `save` takes
    /// a process per message. Dovecot assigns their UIDs on the next scan.
    pub fn seed_inbox(&self, messages: impl IntoIterator<Item = Vec<u8>>) -> usize {
        use std::os::unix::fs::MetadataExt;
        let mail = self.dir.join("mail");
        let owner = std::fs::metadata(&mail).expect("mail folder");
        let maildir = mail.join(USER).join("Maildir");
        let mut n = 0;
        for sub in ["", "cur", "new", "tmp"] {
            let d = maildir.join(sub);
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::chown(&d, Some(owner.uid()), Some(owner.gid())).unwrap();
        }
        std::os::unix::fs::chown(
            maildir.parent().unwrap(),
            Some(owner.uid()),
            Some(owner.gid()),
        )
        .unwrap();
        for msg in messages {
            let f = maildir.join("new").join(format!("{n}.M{n}P1.seed"));
            std::fs::write(&f, msg).unwrap();
            std::os::unix::fs::chown(&f, Some(owner.uid()), Some(owner.gid())).unwrap();
            n += 1;
        }
        n
    }
}

/// A Postfix-style DSN: a hard bounce (5.1.1) for `u{i}@d{i}.example.org`,
/// each from its own host, so no two share a host and diagnostic.
pub fn hard_bounce(i: usize) -> Vec<u8> {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n\
         To: bounces@example.com\n\
         Subject: Undelivered Mail Returned to Sender\n\
         Message-ID: <backlog-{i}@mx.example.net>\n\
         Date: Mon, 02 Nov 2026 09:14:07 +0000\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         This is the mail system at host mx.example.net.\n\
         \n\
         --b\n\
         Content-Type: message/delivery-status\n\
         \n\
         Reporting-MTA: dns; mx.example.net\n\
         \n\
         Final-Recipient: rfc822; u{i}@d{i}.example.org\n\
         Action: failed\n\
         Status: 5.1.1\n\
         Remote-MTA: dns; mx.d{i}.example.org\n\
         Diagnostic-Code: smtp; 550 5.1.1 <u{i}@d{i}.example.org>: Recipient address rejected: User unknown\n\
         \n\
         --b--\n"
    )
    .into_bytes()
}
