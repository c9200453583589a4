//! Private database servers for the bapply tests: PostgreSQL and MariaDB
//! from the Debian packages, each in its own temporary directory, on a free
//! loopback port, stopped by PID when the test ends (also on panic).

use super::find_program;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port below Linux's ephemeral range (32768-60999): a
/// port the kernel handed out for `bind(0)` can be given to another
/// test's outgoing connection before the server binds it.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let seed = RandomState::new();
    (0u32..)
        .map(|i| 10_000 + (seed.hash_one(i) % 22_000) as u16)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .unwrap()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Stops a server by its PID: SIGINT (PostgreSQL's fast shutdown) or
/// SIGTERM, then waits; SIGKILL if it does not go.
fn stop(child: &mut Child, signal: &str) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args([signal, &pid]).status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub struct Postgres {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Postgres {
    /// None when PostgreSQL is not installed.
    pub fn start() -> Option<Postgres> {
        let bindir = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("postgres").exists() && p.join("initdb").exists())
            .max()?;
        let dir = tempfile::Builder::new()
            .prefix("bapply-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        // initdb and postgres refuse to run as root: run them as nobody.
        let root = is_root();
        let as_user = |prog: PathBuf| -> Command {
            if root {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
                c.arg(prog);
                c
            } else {
                Command::new(prog)
            }
        };
        if root {
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
        }
        let out = as_user(bindir.join("initdb"))
            .args(["-D", data.to_str().unwrap()])
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = as_user(bindir.join("postgres"))
            .args(["-D", data.to_str().unwrap()])
            .args(["-p", &port.to_string(), "-h", "127.0.0.1"])
            .args(["-k", dir.path().to_str().unwrap()])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=20"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .expect("postgres");
        let mut pg = Postgres { dir, port, child };
        let start = Instant::now();
        loop {
            if postgres::Client::connect(&pg.conninfo("postgres"), postgres::NoTls).is_ok() {
                break;
            }
            if let Ok(Some(st)) = pg.child.try_wait() {
                let log = std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default();
                panic!("postgres exited with {st}: {log}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "postgres did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(pg)
    }

    pub fn conninfo(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            self.port
        )
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.conninfo(db), postgres::NoTls).unwrap()
    }

    /// Runs a script through psql the way a user would: one transaction,
    /// stop at the first error.
    pub fn psql(&self, db: &str, script: &Path) -> std::process::Output {
        let psql = find_program(&["psql"]).expect("psql");
        Command::new(psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(script)
            .arg(self.conninfo(db))
            .output()
            .unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        stop(&mut self.child, "-INT");
    }
}

pub struct Mariadb {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    client: PathBuf,
    child: Child,
}

impl Mariadb {
    /// None when MariaDB is not installed.
    pub fn start() -> Option<Mariadb> {
        let server = find_program(&["mariadbd", "/usr/sbin/mariadbd", "mysqld"])?;
        let install = find_program(&["mariadb-install-db", "mysql_install_db"])?;
        let client = find_program(&["mariadb", "mysql"])?;
        let dir = tempfile::Builder::new()
            .prefix("bapply-my")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let socket = dir.path().join("sock");
        let root = is_root();
        let mut cmd = Command::new(install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if root {
            cmd.arg("--user=root");
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .expect("mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut cmd = Command::new(server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", dir.path().join("log").display()))
            .args([
                "--skip-grant-tables",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
            ])
            .args(["--innodb-log-file-size=8M", "--skip-name-resolve"]);
        if root {
            cmd.arg("--user=root");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let mut my = Mariadb {
            dir,
            socket,
            client,
            child,
        };
        let start = Instant::now();
        loop {
            if my.sql("", "SELECT 1").status.success() {
                break;
            }
            if let Ok(Some(st)) = my.child.try_wait() {
                let log = std::fs::read_to_string(my.dir.path().join("log")).unwrap_or_default();
                panic!("mariadbd exited with {st}: {log}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "mariadbd did not start"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        Some(my)
    }

    fn client(&self, db: &str) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-u", "root", "-N", "-B"]);
        if !db.is_empty() {
            c.arg(db);
        }
        c
    }

    pub fn sql(&self, db: &str, sql: &str) -> std::process::Output {
        self.client(db).arg("-e").arg(sql).output().unwrap()
    }

    pub fn script(&self, db: &str, script: &Path) -> std::process::Output {
        self.client(db)
            .stdin(std::fs::File::open(script).unwrap())
            .output()
            .unwrap()
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        stop(&mut self.child, "-TERM");
    }
}
