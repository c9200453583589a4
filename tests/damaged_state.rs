//! Damaged state and targets (issue 18, point 5), through the real bapply:
//! a truncated or garbage state file, a state from a newer schema, a
//! read-only state folder, a full disk, a target table without a column.
//! Each gives one error line naming the file and what to do, the exit code
//! of bounce-tools(7) EXIT STATUS, and changes nothing: the state and the
//! target stay the same byte for byte. And `bapply --check-state`.

use crate::support::bapply::{Env, Run, bin, day, record};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A state of a few pages, written by a real run, with no WAL left over.
fn healthy_state(env: &Env) -> Vec<u8> {
    let recs: Vec<Value> = (0..40)
        .map(|i| {
            record(
                &format!("h{i}"),
                &format!("h{i}@example.com"),
                "soft",
                &day(1),
            )
        })
        .collect();
    env.bapply(&["--force"], &recs).expect(0);
    assert!(!env.path("state.sqlite-wal").exists());
    std::fs::read(env.path("state.sqlite")).unwrap()
}

fn one_more() -> Vec<Value> {
    vec![record("new", "new@example.com", "hard", &day(2))]
}

/// The run failed with `code` and one line naming `file` and containing
/// each of `words`; no output.
fn assert_refused(r: &Run, code: i32, file: &str, words: &[&str]) {
    assert_eq!(r.code, code, "exit status\n{r}");
    assert!(r.stdout.is_empty(), "no output\n{r}");
    assert_eq!(r.stderr.lines().count(), 1, "one line\n{r}");
    assert!(r.stderr.starts_with("bapply: "), "{r}");
    assert!(r.stderr.contains(file), "names {file}\n{r}");
    for w in words {
        assert!(r.stderr.contains(w), "says {w:?}\n{r}");
    }
}

fn state_unchanged(env: &Env, before: &[u8]) {
    let after = std::fs::read(env.path("state.sqlite")).unwrap();
    assert!(after == before, "the state file changed");
}

#[test]
fn truncated_state_is_refused_unchanged() {
    let env = Env::new();
    let full = healthy_state(&env);
    assert!(full.len() >= 4 * 4096, "state of {} bytes", full.len());
    for len in [100, 4096, full.len() / 2, full.len() - 1] {
        let cut = full[..len].to_vec();
        std::fs::write(env.path("state.sqlite"), &cut).unwrap();
        let r = env.bapply(&[], &one_more());
        assert_refused(
            &r,
            65,
            &env.state(),
            &["damaged", "nothing was changed", "move it away"],
        );
        state_unchanged(&env, &cut);
        let c = env.bapply(&["--check-state"], &[]);
        assert_refused(&c, 65, &env.state(), &["backup"]);
        state_unchanged(&env, &cut);
    }
}

#[test]
fn garbage_state_is_refused_unchanged() {
    let env = Env::new();
    // Deterministic noise (xorshift), and text.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for garbage in [noise, b"not a database at all\n".to_vec()] {
        std::fs::write(env.path("state.sqlite"), &garbage).unwrap();
        let r = env.bapply(&[], &one_more());
        assert_refused(
            &r,
            65,
            &env.state(),
            &["not a bapply state", "move it away"],
        );
        state_unchanged(&env, &garbage);
        env.bapply(&["--check-state"], &[]).expect(65);
        state_unchanged(&env, &garbage);
    }
}

#[test]
fn state_from_a_newer_schema_is_refused_unchanged() {
    let env = Env::new();
    healthy_state(&env);
    {
        let c = rusqlite::Connection::open(env.path("state.sqlite")).unwrap();
        c.pragma_update(None, "user_version", 4).unwrap();
    }
    let before = std::fs::read(env.path("state.sqlite")).unwrap();
    let r = env.bapply(&[], &one_more());
    assert_refused(
        &r,
        65,
        &env.state(),
        &["schema version 4 is newer", "upgrade bounce-tools"],
    );
    state_unchanged(&env, &before);
    let c = env.bapply(&["--check-state"], &[]);
    assert_refused(&c, 65, &env.state(), &["schema version 4"]);
    state_unchanged(&env, &before);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn read_only_state_folder_exits_74_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    healthy_state(&env);
    let ro = env.path("ro");
    std::fs::create_dir(&ro).unwrap();
    let state = ro.join("state.sqlite");
    std::fs::rename(env.path("state.sqlite"), &state).unwrap();
    let before = std::fs::read(&state).unwrap();
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, PermissionsExt::from_mode(m)).unwrap();
    mode(env.dir.path(), 0o755);
    mode(&state, 0o444);
    mode(&ro, 0o555);
    // Root writes anywhere: the run is nobody's then.
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(bin());
        c
    } else {
        Command::new(bin())
    };
    let mut child = cmd
        .args(["--state", state.to_str().unwrap()])
        .env("XDG_STATE_HOME", env.path("xdg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for r in one_more() {
        // bapply may refuse before it reads its input: then the pipe is
        // closed, and the exit code below is what counts.
        if let Err(e) = writeln!(child.stdin.as_mut().unwrap(), "{r}") {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
            break;
        }
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    mode(&ro, 0o755);
    let r = Run {
        cmd: "bapply --state ro/state.sqlite".into(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_refused(
        &r,
        74,
        state.to_str().unwrap(),
        &["nothing was changed", "writable"],
    );
    assert!(
        std::fs::read(&state).unwrap() == before,
        "the state changed"
    );
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_exits_74_unchanged() {
    let env = Env::new();
    let before = healthy_state(&env);
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = is_root()
        && Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&mnt)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !mounted {
        crate::support::skip("a small tmpfs (mount -t tmpfs as root)");
        return;
    }
    let _mount = Mount(mnt.clone());
    let state = mnt.join("state.sqlite");
    std::fs::write(&state, &before).unwrap();
    // Fill what is left.
    let mut fill = std::fs::File::create(mnt.join("fill")).unwrap();
    while fill.write_all(&[0; 4096]).is_ok() {}
    let _ = fill.write_all(&[0; 512]);
    drop(fill);
    let recs: Vec<Value> = (0..300)
        .map(|i| {
            record(
                &format!("f{i}"),
                &format!("f{i}@example.com"),
                "soft",
                &day(3),
            )
        })
        .collect();
    let r = env.bapply(&["--state", state.to_str().unwrap(), "--force"], &recs);
    assert_refused(&r, 74, state.to_str().unwrap(), &["nothing was changed"]);
    assert!(
        r.stderr.contains("full") || r.stderr.contains("free space"),
        "says the disk is full\n{r}"
    );
    assert!(
        std::fs::read(&state).unwrap() == before,
        "the state changed"
    );
}

#[test]
fn target_table_without_a_column_exits_78_unchanged() {
    let env = Env::new();
    let state = healthy_state(&env);
    let db = env.path("contacts.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT); \
             INSERT INTO contacts (email) VALUES ('new@example.com');",
        )
        .unwrap();
    }
    let target_before = std::fs::read(&db).unwrap();
    let target = format!("sqlite:{}", db.display());
    let r = env.bapply(&["--apply", &target], &one_more());
    assert_refused(
        &r,
        78,
        &target,
        &["no such column: status", "nothing applied", "[sql]"],
    );
    assert!(
        std::fs::read(&db).unwrap() == target_before,
        "the target changed"
    );
    state_unchanged(&env, &state);
}

#[test]
fn check_state_reports_a_healthy_state_and_a_missing_one() {
    let env = Env::new();
    let r = env.bapply(&["--check-state"], &[]).expect(66);
    assert!(r.stderr.contains(&env.state()), "{r}");
    let before = healthy_state(&env);
    let r = env.bapply(&["--check-state"], &[]).expect(0);
    assert_eq!(
        r.stdout,
        format!(
            "state {}: ok: schema version 3, 40 contacts, 40 events, 0 updates emitted\n",
            env.state()
        ),
        "{r}"
    );
    state_unchanged(&env, &before);
    // An SQLite file that is not a state.
    {
        let c = rusqlite::Connection::open(env.path("other.db")).unwrap();
        c.execute_batch("CREATE TABLE contacts (email TEXT)")
            .unwrap();
    }
    let other = env.path("other.db").display().to_string();
    let r = env.bapply(&["--check-state", "--state", &other], &[]);
    assert_refused(&r, 65, &other, &["no table contact"]);
    env.bapply(&["--check-state", "--no-state"], &[]).expect(64);
}
