//! Helpers for the bapply tests: run the real binary in a temporary
//! directory with its own state, and build records as bclassify writes them.
//! (The private PostgreSQL and MariaDB servers are in `support::databases`.)

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub cmd: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Asserts the exit code, showing everything on failure.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit status\n{self}");
        self
    }

    pub fn csv(&self) -> Vec<std::collections::HashMap<String, String>> {
        let mut r = csv::Reader::from_reader(self.stdout.as_bytes());
        let headers = r.headers().unwrap().clone();
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                headers
                    .iter()
                    .zip(rec.iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }
}

/// A temporary directory with a state database, where bapply runs.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn state(&self) -> String {
        self.path("state.sqlite").display().to_string()
    }

    pub fn write_records(&self, name: &str, records: &[Value]) -> String {
        let p = self.path(name);
        let mut f = std::fs::File::create(&p).unwrap();
        for r in records {
            writeln!(f, "{r}").unwrap();
        }
        p.display().to_string()
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    /// Runs bapply with the state in this directory (unless the arguments
    /// choose otherwise) and records on stdin.
    pub fn bapply(&self, args: &[&str], stdin: &[Value]) -> Run {
        let mut input = Vec::new();
        for r in stdin {
            writeln!(input, "{r}").unwrap();
        }
        self.bapply_raw(args, &input)
    }

    pub fn bapply_raw(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut all: Vec<String> = Vec::new();
        if !args
            .iter()
            .any(|a| *a == "--state" || *a == "--no-state" || *a == "--print-policy")
        {
            all.push("--state".into());
            all.push(self.state());
        }
        all.extend(args.iter().map(|s| s.to_string()));
        run(&all, stdin, self.dir.path())
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bapply")
}

pub fn run(args: &[String], stdin: &[u8], dir: &Path) -> Run {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        // Never the developer's own state.
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sin = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&data);
    });
    let out: Output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        cmd: format!("bapply {}", args.join(" ")),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A record as bclassify writes it (bounce-tools(7), RECORD FORMAT), with the
/// fields a test sets.
pub fn record(id: &str, recipient: &str, category: &str, date: &str) -> Value {
    let reason = match category {
        "hard" => "userunknown",
        "soft" => "mailboxfull",
        "blocked" => "blocked",
        "failed" => "undefined",
        "delivered" => "delivered",
        "delayed" => "delayed",
        "autoreply" => "vacation",
        "complaint" => "feedback",
        "address-change" => "hasmoved",
        "challenge" => "challenge",
        _ => "undefined",
    };
    let bounce = match category {
        "hard" => json!("hard"),
        "soft" | "blocked" => json!("soft"),
        _ => Value::Null,
    };
    json!({
        "v": 1,
        "source": {"path": "test.mbox", "index": 0},
        "message_id": format!("<{id}@bounce.test>"),
        "date": date,
        "recipient": recipient,
        "category": category,
        "reason": reason,
        "bounce": bounce,
        "action": "failed",
        "status": null,
        "smtp_code": null,
        "diagnostic": format!("550 {category} for <{recipient}>"),
        "remote_mta": format!("mx-{id}.test"),
        "reporting_mta": null,
        "mta": "postfix",
        "rule": format!("test-{category}"),
        "evidence": format!("evidence {id}"),
        "feedback_type": null,
        "new_address": null,
        "subscriber": null,
        "original": {"message_id": null, "subject": null, "from": null, "to": null, "list_id": null}
    })
}

/// A record with fields changed.
pub fn with(mut r: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

/// Day `d` of January 2024 (d may pass 31: the date rolls on).
pub fn day(d: i64) -> String {
    let base = 1_704_067_200; // 2024-01-01T00:00:00Z
    let t = base + (d - 1) * 86_400;
    let secs = t % 86_400;
    let days = t / 86_400;
    // civil-from-days (Howard Hinnant), enough for test dates.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let dd = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Hex of UTF-8 bytes, upper case (as MariaDB's HEX() writes it).
pub fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}
