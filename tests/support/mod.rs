//! Helpers shared by the integration tests: running the real binaries
//! (each run prints the command, status, stdout and stderr when an
//! assertion fails), finding programs, and skipping loudly when something a
//! test needs is not installed. Helpers of one area are in a submodule:
//! `bapply` (bapply in a temporary directory, records as bclassify writes
//! them), `databases` (private PostgreSQL and MariaDB), `dovecot` (a
//! private Dovecot and bfetch against it), `proxy` (a fault-injecting TCP
//! proxy), `bounces` and `procs` (generated bounces and process groups for
//! the kill tests).

pub mod bapply;
pub mod bounces;
pub mod databases;
pub mod dovecot;
pub mod procs;
pub mod proxy;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub cmd: String,
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{self}: bad JSON line {l:?}: {e}"))
            })
            .collect()
    }
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n$ {}\nstatus: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.cmd,
            self.out.status,
            String::from_utf8_lossy(&self.out.stdout)
                .chars()
                .take(4000)
                .collect::<String>(),
            self.stderr()
        )
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `bin` with `args`, feeding `stdin` (None: no stdin at all).
pub fn run(bin: &str, args: &[&str], stdin: Option<&[u8]>, dir: &Path) -> Run {
    let mut c = Command::new(bin);
    c.args(args).current_dir(dir);
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let data = input.to_vec();
        // A writer thread, so a program that stops reading early cannot
        // deadlock the test.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let out = child.wait_with_output().unwrap();
    Run {
        cmd: format!(
            "{} {}",
            Path::new(bin).file_name().unwrap().to_string_lossy(),
            args.join(" ")
        ),
        out,
    }
}

/// `../shared/corpus/sisimai` (beside the repository; `BOUNCE_TOOLS_SHARED`
/// names another directory for `../shared`) when it exists. Without it the
/// tests that need it print SKIPPED and pass: the corpus is not part of the
/// repository.
pub fn shared_corpus() -> Option<PathBuf> {
    let shared = std::env::var_os("BOUNCE_TOOLS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    let p = shared.join("corpus/sisimai");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} not present", p.display());
        None
    }
}

/// True when tests that need a server must not be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Says loudly that a test could not run, or fails it in CI.
pub fn skip(what: &str) {
    let msg = format!("SKIPPED: {what} not installed");
    if in_ci() {
        panic!("{msg} (CI=true: these tests must run)");
    }
    eprintln!("\n**********\n{msg}\n**********\n");
}

pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    for n in names {
        let p = Path::new(n);
        if p.is_absolute() {
            if p.exists() {
                return Some(p.to_path_buf());
            }
            continue;
        }
        for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
        ]) {
            let c = Path::new(dir).join(n);
            if c.exists() {
                return Some(c);
            }
        }
    }
    None
}
