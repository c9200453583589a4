//! Two bapply runs on one SQLite state at once (issue 18, point 6): a run
//! holds the state's write lock from start to commit, so the second waits
//! up to `--lock-timeout`, then exits 75 with one line, and changes
//! nothing; once the first is done, it goes through. (Two runs that both
//! get their turn: bapply::two_concurrent_runs_count_each_event_once.)

use crate::support::bapply::{Env, bin, day, record};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn second_run_on_a_held_state_waits_then_exits_75() {
    let env = Env::new();
    env.bapply(&[], &[record("c0", "c@example.com", "soft", &day(1))])
        .expect(0);
    // The first run takes the lock, then waits for its input on an open pipe.
    let mut first = Command::new(bin())
        .args(["--state", &env.state(), "--force"])
        .env("XDG_STATE_HOME", env.path("xdg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until it holds the lock (a condition, not a time).
    let probe = rusqlite::Connection::open(env.path("state.sqlite")).unwrap();
    let start = Instant::now();
    while probe.execute_batch("BEGIN IMMEDIATE").is_ok() {
        probe.execute_batch("ROLLBACK").unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(probe);
    let before = std::fs::read(env.path("state.sqlite")).unwrap();
    let second = [record("c2", "d@example.com", "hard", &day(2))];
    let r = env.bapply(&["--lock-timeout", "0.3"], &second).expect(75);
    assert!(r.stdout.is_empty(), "{r}");
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    assert!(
        r.stderr.contains(&env.state()) && r.stderr.contains("locked by another run"),
        "{r}"
    );
    assert!(
        std::fs::read(env.path("state.sqlite")).unwrap() == before,
        "the waiting run changed the state"
    );
    // The first run ends; then the second goes through.
    {
        let mut stdin = first.stdin.take().unwrap();
        writeln!(stdin, "{}", record("c1", "c@example.com", "hard", &day(2))).unwrap();
    }
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("c@example.com"));
    let r = env.bapply(&["--lock-timeout", "0.3"], &second).expect(0);
    assert!(r.stdout.contains("d@example.com"), "{r}");
}
