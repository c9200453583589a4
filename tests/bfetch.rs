//! bfetch against a real Dovecot (tests/support/dovecot.rs), plus the checks that
//! need no server (flags vs. man page, usage errors).

use crate::support::dovecot::*;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

macro_rules! dovecot {
    () => {
        match Dovecot::start() {
            Some(d) => d,
            None => return,
        }
    };
}

fn decode(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine;
    match (v["raw"].as_str(), v["raw_base64"].as_str()) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
        _ => panic!("no raw in {v}"),
    }
}

// ---- connection and authentication ----

#[test]
fn implicit_tls_check_and_list() {
    let dv = dovecot!();
    dv.save("INBOX", &message("one"));
    dv.save("INBOX", &message("two"));
    dv.save("Archive", &message("three"));
    dv.doveadm(&[
        "flags", "add", "-u", USER, "\\Seen", "mailbox", "INBOX", "uid", "1",
    ]);
    let r = run(dv.bfetch().arg("--check")).expect(0);
    assert_eq!(r.text(), "INBOX: 2 messages, 1 unseen\n");
    let r = run(dv.bfetch().arg("--list")).expect(0);
    assert_eq!(r.text(), "Archive\t1\t1\nINBOX\t2\t1\nProcessed\t0\t0\n");
}

#[test]
fn starttls_and_xoauth2() {
    let dv = dovecot!();
    dv.save("INBOX", &message("one"));
    let starttls = |extra: &[&str]| {
        let mut c = bfetch_bare(dv.home.path());
        c.args(["--host", "localhost", "--tls", "starttls", "--port"])
            .arg(dv.imap_port.to_string())
            .args(["--user", USER, "--ca-file"])
            .arg(dv.cert())
            .args(extra);
        c
    };
    let r = run(&mut starttls(&["--check"])).expect(0);
    assert_eq!(r.text(), "INBOX: 1 messages, 1 unseen\n");
    // Dovecot's passwd-file accepts the token where the password would be.
    let r = run(&mut starttls(&[
        "--check",
        "--oauth2-token-command",
        "echo secret",
    ]))
    .expect(0);
    assert!(r.text().starts_with("INBOX: 1 messages"));
    let r = run(&mut starttls(&[
        "--check",
        "--oauth2-token-command",
        "echo expired-token",
    ]))
    .expect(77);
    assert!(r.stderr.contains("authentication refused"), "{}", r.stderr);
    let r = run(dv.bfetch().args([
        "--check",
        "--auth",
        "oauthbearer",
        "--oauth2-token-command",
        "echo secret",
    ]))
    .expect(0);
    assert!(r.text().starts_with("INBOX: 1 messages"));
    run(dv.bfetch().args([
        "--check",
        "--auth",
        "oauthbearer",
        "--oauth2-token-command",
        "echo nope",
    ]))
    .expect(77);
}

#[test]
fn plaintext_needs_explicit_flag() {
    let dv = dovecot!();
    let plain = |extra: &[&str]| {
        let mut c = bfetch_bare(dv.home.path());
        c.args(["--host", "127.0.0.1", "--tls", "none", "--port"])
            .arg(dv.imap_port.to_string())
            .args(["--user", USER, "--check"])
            .args(extra);
        c
    };
    let r = run(&mut plain(&[])).expect(78);
    assert!(
        r.stderr
            .contains("refusing to send credentials over a plaintext connection"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stdout.is_empty());
    run(&mut plain(&["--insecure-plaintext"])).expect(0);
}

#[test]
fn untrusted_certificate_hints_at_ca_file() {
    let dv = dovecot!();
    let mut c = bfetch_bare(dv.home.path());
    c.args(["--host", "127.0.0.1", "--port"])
        .arg(dv.imaps_port.to_string())
        .args(["--user", USER, "--check"]);
    let r = run(&mut c).expect(78);
    assert!(r.stderr.starts_with("bfetch: 127.0.0.1:"), "{}", r.stderr);
    assert!(r.stderr.contains("certificate not trusted"), "{}", r.stderr);
    assert!(r.stderr.contains("use --ca-file"), "{}", r.stderr);
}

#[test]
fn wrong_password_exits_77() {
    let dv = dovecot!();
    let r = run(dv.bfetch().arg("--check").env("BFETCH_PASSWORD", "wrong")).expect(77);
    assert!(
        r.stderr.contains("authentication refused for \"test\""),
        "{}",
        r.stderr
    );
    let r = run(dv.bfetch().args([
        "--check",
        "--auth",
        "login",
        "--password-command",
        "echo wrong",
    ]))
    .expect(77);
    assert!(r.stderr.contains("authentication refused"), "{}", r.stderr);
}

#[test]
fn debug_protocol_redacts_credentials() {
    let dv = dovecot!();
    for auth in ["login", "plain", "xoauth2"] {
        let r = run(dv
            .bfetch()
            .args(["--check", "--debug-protocol", "--auth", auth]))
        .expect(0);
        assert!(r.stderr.contains("C: "), "{}", r.stderr);
        assert!(
            !r.stderr.contains(PASSWORD),
            "{auth}: password in debug output:\n{}",
            r.stderr
        );
        // base64 of "\0test\0secret" and of the XOAUTH2 string must not leak either
        assert!(!r.stderr.contains("AHRlc3QAc2VjcmV0"), "{}", r.stderr);
        assert!(r.stderr.contains("<redacted>"), "{}", r.stderr);
    }
}

#[test]
fn unreachable_server_exits_69() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let home = tempfile::tempdir().unwrap();
    let r = run(bfetch_bare(home.path())
        .args([
            "--host",
            "127.0.0.1",
            "--user",
            "u",
            "--retries",
            "0",
            "--check",
            "--port",
        ])
        .arg(port.to_string()))
    .expect(69);
    assert!(r.stderr.contains("cannot connect"), "{}", r.stderr);
}

#[test]
fn server_that_never_greets_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold connections without ever writing a byte.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let home = tempfile::tempdir().unwrap();
    for tls in ["implicit", "starttls"] {
        let r = run(bfetch_bare(home.path())
            .args([
                "--host",
                "127.0.0.1",
                "--user",
                "u",
                "--timeout",
                "1",
                "--retries",
                "0",
            ])
            .args(["--tls", tls, "--port"])
            .arg(port.to_string()))
        .expect(75);
        assert!(
            r.stderr.contains("did not answer within 1 s"),
            "{tls}: {}",
            r.stderr
        );
    }
}

// ---- fetching ----

#[test]
fn byte_exact_round_trip_of_8bit_and_binary_messages() {
    let dv = dovecot!();
    let utf8 = "From: a@example.test\r\nSubject: =?utf-8?q?x?=\r\n\r\nGrüße, ünïcödé ✓\r\nFrom the start of a line\r\n>From quoted\r\n".as_bytes().to_vec();
    let mut binary =
        b"From: b@example.test\r\nSubject: bin\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
    binary.extend((0x80u8..=0xff).chain(1u8..0x0a));
    binary.extend(b"\r\nFrom here\r\nend\r\n");
    dv.save("INBOX", &utf8);
    dv.save("INBOX", &binary);

    let r = run(&mut dv.bfetch()).expect(0);
    let lines = r.json();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["raw"].is_string(), "UTF-8 message goes in raw");
    assert!(
        lines[1]["raw_base64"].is_string(),
        "non-UTF-8 message goes in raw_base64"
    );
    assert_eq!(decode(&lines[0]), utf8);
    assert_eq!(decode(&lines[1]), binary);
    let uv: u64 = dv.status("INBOX", "uidvalidity").parse().unwrap();
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["mailbox"], "INBOX");
        assert_eq!(l["uidvalidity"].as_u64(), Some(uv));
        assert_eq!(l["uid"].as_u64(), Some(i as u64 + 1));
        assert!(l["internaldate"].as_str().unwrap().contains('T'));
        assert_eq!(l["size"].as_u64(), Some(decode(l).len() as u64));
    }

    // mboxrd: reading it back with the crate's own reader gives the same bytes.
    let r = run(dv.bfetch().args(["--format", "mbox"])).expect(0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mbox");
    std::fs::write(&path, &r.stdout).unwrap();
    let opts = bounce_tools::stream::Options {
        format: bounce_tools::stream::Format::Mbox,
        ..Default::default()
    };
    let back: Vec<Vec<u8>> = bounce_tools::stream::Messages::new(&[path], opts)
        .map(|m| m.unwrap().bytes)
        .collect();
    assert_eq!(back, vec![utf8, binary]);
}

#[test]
fn unseen_leaves_flags_untouched() {
    let dv = dovecot!();
    for s in ["a", "b", "c"] {
        dv.save("INBOX", &message(s));
    }
    dv.doveadm(&[
        "flags", "add", "-u", USER, "\\Seen", "mailbox", "INBOX", "uid", "2",
    ]);
    let before = dv.flags("INBOX");
    let r = run(dv.bfetch().arg("--unseen")).expect(0);
    assert_eq!(r.uids(), vec![1, 3]);
    // A plain fetch (no --unseen) must not set \Seen either.
    run(&mut dv.bfetch()).expect(0);
    let after = dv.flags("INBOX");
    assert_eq!(before, after);
    assert!(
        !after.iter().any(|(u, f)| *u != 2 && f.contains("\\Seen")),
        "{after:?}"
    );
}

#[test]
fn since_and_limit_select_messages() {
    let dv = dovecot!();
    for s in ["a", "b", "c"] {
        dv.save("INBOX", &message(s));
    }
    let r = run(dv.bfetch().args(["--limit", "2"])).expect(0);
    assert_eq!(r.uids(), vec![1, 2]);
    let r = run(dv.bfetch().args(["--since", "2000-01-01"])).expect(0);
    assert_eq!(r.uids(), vec![1, 2, 3]);
    let r = run(dv.bfetch().args(["--since", "9999-01-01"])).expect(0);
    assert!(r.stdout.is_empty());
    run(dv.bfetch().args(["--since", "yesterday"])).expect(64);
}

#[test]
fn new_fetches_only_later_messages_across_runs() {
    let dv = dovecot!();
    dv.save("INBOX", &message("a"));
    dv.save("INBOX", &message("b"));
    let state = dv.state_file();
    let new = || {
        let mut c = dv.bfetch();
        c.arg("--new").arg("--state").arg(&state);
        c
    };
    assert_eq!(run(&mut new()).expect(0).uids(), vec![1, 2]);
    // UID 3:* would match UID 2 on the server (RFC 3501 `*`); nothing may come back.
    assert!(run(&mut new()).expect(0).stdout.is_empty());
    dv.save("INBOX", &message("c"));
    assert_eq!(run(&mut new()).expect(0).uids(), vec![3]);
    assert!(run(&mut new()).expect(0).stdout.is_empty());
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let pos = &saved["accounts"][format!("test@127.0.0.1:{}", dv.imaps_port)]["INBOX"];
    assert_eq!(pos["last_uid"], 3);

    // Default state location is under XDG_STATE_HOME.
    let mut c = dv.bfetch();
    c.arg("--new");
    assert_eq!(run(&mut c).expect(0).uids(), vec![1, 2, 3]);
    assert!(
        dv.home
            .path()
            .join("state/bounce-tools/bfetch-state.json")
            .exists()
    );
}

#[test]
fn uidvalidity_change_is_an_error_with_choices() {
    let dv = dovecot!();
    dv.save("INBOX", &message("a"));
    dv.save("INBOX", &message("b"));
    let state = dv.state_file();
    let new = |extra: &[&str]| {
        let mut c = dv.bfetch();
        c.arg("--new").arg("--state").arg(&state).args(extra);
        c
    };
    assert_eq!(run(&mut new(&[])).expect(0).uids(), vec![1, 2]);
    dv.doveadm(&[
        "mailbox",
        "update",
        "-u",
        USER,
        "--uid-validity",
        "42",
        "INBOX",
    ]);
    let before = std::fs::read(&state).unwrap();
    let r = run(&mut new(&[])).expect(65);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("UIDVALIDITY changed"), "{}", r.stderr);
    assert!(r.stderr.contains("--on-uidvalidity-change"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "state untouched on failure"
    );

    let r = run(&mut new(&["--on-uidvalidity-change", "skip-existing"])).expect(0);
    assert!(r.stdout.is_empty());
    dv.save("INBOX", &message("c"));
    let r = run(&mut new(&[])).expect(0);
    assert_eq!(r.uids(), vec![3]);
    assert_eq!(r.json()[0]["uidvalidity"], 42);

    dv.doveadm(&[
        "mailbox",
        "update",
        "-u",
        USER,
        "--uid-validity",
        "43",
        "INBOX",
    ]);
    let r = run(&mut new(&["--on-uidvalidity-change", "refetch"])).expect(0);
    assert_eq!(r.uids(), vec![1, 2, 3]);
}

/// A ~100 KB message, so that a few of them fill the pipe and bfetch is
/// held back by its reader.
fn big_message(i: usize) -> Vec<u8> {
    let mut m = format!("From: x@example.test\r\nSubject: big {i}\r\n\r\n").into_bytes();
    for _ in 0..1500 {
        m.extend_from_slice(
            format!("{i:05} 0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEF\r\n").as_bytes(),
        );
    }
    m
}

#[test]
fn connection_killed_mid_fetch_exits_75_with_whole_messages_and_safe_state() {
    let dv = dovecot!();
    let n = 30;
    for i in 0..n {
        dv.save("INBOX", &big_message(i));
    }
    let state = dv.state_file();
    let mut child = dv
        .bfetch()
        .args([
            "--new",
            "--batch-messages",
            "1",
            "--retries",
            "0",
            "--state",
        ])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // bfetch is now at most a batch or two ahead, blocked on the pipe.
    dv.doveadm(&["kick", USER]);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(75), "stderr: {err}");
    assert!(err.contains("connection"), "{err}");

    let mut all = first.into_bytes();
    all.extend(rest);
    assert!(
        all.ends_with(b"\n"),
        "stdout ends in the middle of a message"
    );
    let text = String::from_utf8(all).unwrap();
    let uids: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("whole JSON line")["uid"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        !uids.is_empty() && uids.len() < n,
        "{} messages written",
        uids.len()
    );
    assert_eq!(uids, (1..=uids.len() as u64).collect::<Vec<_>>());
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let pos = &saved["accounts"][format!("test@127.0.0.1:{}", dv.imaps_port)]["INBOX"];
    assert_eq!(
        pos["last_uid"].as_u64(),
        uids.last().copied(),
        "state must match what was written"
    );

    // The next run resumes right after, and the whole mailbox comes out once.
    let r = run(dv.bfetch().arg("--new").arg("--state").arg(&state)).expect(0);
    let later = r.uids();
    assert_eq!(later.first().copied(), Some(uids.len() as u64 + 1));
    assert_eq!(uids.len() + later.len(), n);
}

#[test]
fn reconnects_after_a_dropped_connection() {
    let dv = dovecot!();
    let n = 12;
    for i in 0..n {
        dv.save("INBOX", &big_message(i));
    }
    let mut child = dv
        .bfetch()
        .args(["--batch-messages", "1", "--retries", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    dv.doveadm(&["kick", USER]);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{err}");
    assert!(err.contains("retrying"), "{err}");
    let uids: Vec<u64> = first
        .lines()
        .chain(rest.lines())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["uid"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        uids,
        (1..=n as u64).collect::<Vec<_>>(),
        "each message exactly once"
    );
}

#[test]
fn idle_picks_up_an_appended_message() {
    let dv = dovecot!();
    dv.save("INBOX", &message("first"));
    let mut child = dv
        .bfetch()
        .args(["--idle", "--idle-interval", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let wait = Duration::from_secs(90);
    let first = rx.recv_timeout(wait).expect("initial message");
    assert!(first.contains("\"uid\":1"), "{first}");
    dv.save("INBOX", &message("second"));
    let second = rx.recv_timeout(wait);
    let _ = child.kill();
    let _ = child.wait();
    let second = second.expect("the appended message while idling");
    assert!(
        second.contains("\"uid\":2") && second.contains("This is second."),
        "{second}"
    );
}

// ---- ack ----

fn record(mailbox: &str, uidvalidity: u64, uid: u64) -> String {
    // The shape bclassify writes (bounce-tools(7), RECORD FORMAT), trimmed to what ack reads.
    format!(
        "{{\"v\":1,\"source\":{{\"mailbox\":\"{mailbox}\",\"uidvalidity\":{uidvalidity},\"uid\":{uid}}},\"recipient\":\"x@example.test\",\"category\":\"hard\",\"reason\":\"userunknown\",\"rule\":\"t\"}}\n"
    )
}

#[test]
fn ack_seen_move_delete_touch_exactly_the_listed_uids() {
    let dv = dovecot!();
    for s in ["1", "2", "3", "4", "5", "6"] {
        dv.save("INBOX", &message(s));
    }
    let uv: u64 = dv.status("INBOX", "uidvalidity").parse().unwrap();
    let ack = |args: &[&str], input: String| {
        let mut c = dv.bfetch();
        c.arg("ack").args(args);
        run_with_input(&mut c, Some(input.as_bytes()))
    };

    // Two records for one message (two addresses) count once.
    let r = ack(
        &["--seen"],
        record("INBOX", uv, 1) + &record("INBOX", uv, 3) + &record("INBOX", uv, 3),
    )
    .expect(0);
    assert!(r.stderr.contains("uid=1: marked seen"), "{}", r.stderr);
    assert!(
        r.stderr.contains("ack: 2 done, 0 already gone"),
        "{}",
        r.stderr
    );
    let seen: Vec<u32> = dv
        .flags("INBOX")
        .into_iter()
        .filter(|(_, f)| f.contains("\\Seen"))
        .map(|(u, _)| u)
        .collect();
    assert_eq!(seen, vec![1, 3]);

    let r = ack(
        &["--dry-run", "--move", "Processed"],
        record("INBOX", uv, 2),
    )
    .expect(0);
    assert!(
        r.stderr.contains("would be moved to Processed"),
        "{}",
        r.stderr
    );
    assert_eq!(dv.status("Processed", "messages"), "0");

    ack(
        &["--move", "Processed", "--flag", "bounce-done"],
        record("INBOX", uv, 2),
    )
    .expect(0);
    assert_eq!(dv.status("Processed", "messages"), "1");
    let moved = dv.flags("Processed");
    assert!(moved[0].1.contains("bounce-done"), "{moved:?}");

    // bfetch's own NDJSON lines work as input too.
    let line4 = run(dv.bfetch().args([
        "--limit",
        "1",
        "--since",
        "2000-01-01",
        "--mailbox",
        "INBOX",
    ]))
    .expect(0)
    .text();
    assert!(line4.contains("\"uid\":1"));
    let ndjson =
        format!("{{\"mailbox\":\"INBOX\",\"uidvalidity\":{uv},\"uid\":4,\"raw\":\"x\"}}\n");
    ack(&["--delete"], ndjson.clone()).expect(0);
    let left: Vec<u32> = dv.flags("INBOX").into_iter().map(|(u, _)| u).collect();
    assert_eq!(left, vec![1, 3, 5, 6]);
    let seen: Vec<u32> = dv
        .flags("INBOX")
        .into_iter()
        .filter(|(_, f)| f.contains("\\Seen"))
        .map(|(u, _)| u)
        .collect();
    assert_eq!(seen, vec![1, 3], "other messages untouched");

    // Idempotent: already gone is reported, not an error.
    let r = ack(&["--delete"], ndjson).expect(0);
    assert!(r.stderr.contains("uid=4: already gone"), "{}", r.stderr);
    assert!(r.stderr.contains("0 done, 1 already gone"), "{}", r.stderr);

    // A line without coordinates is reported; the rest is still processed.
    let r = ack(
        &["--seen"],
        "{\"v\":1,\"source\":{\"path\":\"x.eml\"}}\n".to_string() + &record("INBOX", uv, 5),
    )
    .expect(65);
    assert!(
        r.stderr.contains("line 1: no mailbox/uidvalidity/uid"),
        "{}",
        r.stderr
    );
    assert!(
        dv.flags("INBOX")
            .iter()
            .any(|(u, f)| *u == 5 && f.contains("\\Seen"))
    );
}

#[test]
fn ack_with_stale_uidvalidity_touches_nothing() {
    let dv = dovecot!();
    for s in ["1", "2"] {
        dv.save("INBOX", &message(s));
    }
    let uv: u64 = dv.status("INBOX", "uidvalidity").parse().unwrap();
    let before = dv.flags("INBOX");
    let mut c = dv.bfetch();
    c.args(["ack", "--delete"]);
    let input = record("INBOX", uv + 1, 1) + &record("INBOX", uv + 1, 2);
    let r = run_with_input(&mut c, Some(input.as_bytes())).expect(65);
    assert!(
        r.stderr
            .contains("refused: the mailbox's UIDVALIDITY is now"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("2 refused"), "{}", r.stderr);
    assert_eq!(dv.flags("INBOX"), before);
}

// ---- no server needed ----

fn long_flags(help: &str) -> Vec<String> {
    let re = regex::Regex::new(r"--([a-z0-9][a-z0-9-]*)").unwrap();
    let mut v: Vec<String> = re.captures_iter(help).map(|c| c[1].to_string()).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn man_page_and_flags_are_in_step() {
    let home = tempfile::tempdir().unwrap();
    let mut flags = Vec::new();
    for args in [&["--help"][..], &["ack", "--help"][..]] {
        let r = run(bfetch_bare(home.path()).args(args)).expect(0);
        // Only the option list, not the prose after it.
        let text = r.text();
        let opts: String = text
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
            .collect::<Vec<_>>()
            .join("\n");
        flags.extend(long_flags(&opts));
    }
    flags.sort();
    flags.dedup();
    let man =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/bfetch.1")).unwrap();
    let man_flags: Vec<String> = {
        let re = regex::Regex::new(r"(?m)^\.It Fl \\?-([a-z0-9-]+)").unwrap();
        let mut v: Vec<String> = re.captures_iter(&man).map(|c| c[1].to_string()).collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(
        flags, man_flags,
        "flags in --help vs. .It Fl entries in man/bfetch.1"
    );
}

#[test]
fn usage_errors_exit_64_and_there_is_no_password_flag() {
    let home = tempfile::tempdir().unwrap();
    let r = run(bfetch_bare(home.path()).args(["--host", "h", "--user", "u", "--password", "x"]))
        .expect(64);
    assert!(r.stderr.contains("--password"), "{}", r.stderr);
    let r = run(bfetch_bare(home.path()).args(["--user", "u"])).expect(64);
    assert!(r.stderr.contains("--host"), "{}", r.stderr);
    run(bfetch_bare(home.path()).args(["--host", "h", "--user", "u", "--format", "xml"]))
        .expect(64);
    run(bfetch_bare(home.path()).arg("--version")).expect(0);
}

#[test]
fn config_file_account_is_used() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("bfetch.toml");
    std::fs::write(&cfg, "[account.a]\nhost = \"127.0.0.1\"\nport = 1\nuser = \"u\"\npassword_command = \"exit 3\"\n").unwrap();
    let r =
        run(bfetch_bare(home.path())
            .arg("--config")
            .arg(&cfg)
            .args(["--account", "a", "--check"]))
        .expect(78);
    assert!(
        r.stderr.contains("--password-command failed"),
        "{}",
        r.stderr
    );
    let r =
        run(bfetch_bare(home.path())
            .arg("--config")
            .arg(&cfg)
            .args(["--account", "b", "--check"]))
        .expect(78);
    assert!(r.stderr.contains("no [account.b]"), "{}", r.stderr);
}

#[test]
fn ack_refuses_without_an_action() {
    let home = tempfile::tempdir().unwrap();
    let r = run_with_input(
        bfetch_bare(home.path()).args(["--host", "h", "--user", "u", "ack"]),
        Some(b""),
    )
    .expect(64);
    assert!(r.stderr.contains("--seen"), "{}", r.stderr);
    let _ = Command::new("true").status();
}
