//! The batch way of use (README, bounce-tools(7)): an exported mbox archive
//! of a few thousand bounces, `bclassify archive.mbox | bapply --format csv`.
//! The archive repeats every fixture with new Message-IDs, so each update
//! must come out exactly once however often its bounce repeats.

use crate::support::repo_root;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn fixtures() -> Vec<Vec<u8>> {
    let mut paths = Vec::new();
    for cat in std::fs::read_dir(repo_root().join("fixtures")).unwrap() {
        let cat = cat.unwrap().path();
        if cat.is_dir() {
            for f in std::fs::read_dir(&cat).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "eml") {
                    paths.push(f);
                }
            }
        }
    }
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// An mboxrd archive: `copies` rounds over the fixtures, LF endings, each
/// message with its own Message-ID.
fn archive(path: &Path, copies: usize) -> usize {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut n = 0;
    for c in 0..copies {
        for (i, msg) in fixtures().iter().enumerate() {
            let text = String::from_utf8_lossy(msg).replace("\r\n", "\n");
            let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
            writeln!(out, "From MAILER-DAEMON Mon Nov  2 09:14:07 2026").unwrap();
            writeln!(out, "Message-ID: <batch-{c}-{i}@archive.test>").unwrap();
            let mut skip = false;
            for line in head.lines() {
                let cont = line.starts_with([' ', '\t']);
                if cont && skip {
                    continue;
                }
                skip = line.to_ascii_lowercase().starts_with("message-id:");
                if !skip {
                    writeln!(out, "{line}").unwrap();
                }
            }
            writeln!(out).unwrap();
            for line in body.lines() {
                // mboxrd: quote `From ` lines (and already quoted ones).
                let bare = line.trim_start_matches('>');
                if bare.starts_with("From ") {
                    write!(out, ">").unwrap();
                }
                writeln!(out, "{line}").unwrap();
            }
            writeln!(out).unwrap();
            n += 1;
        }
    }
    n
}

fn classify_to_csv(dir: &Path, mbox: &Path) -> (usize, Vec<String>, String) {
    let classify = Command::new(env!("CARGO_BIN_EXE_bclassify"))
        .args(["--no-progress"])
        .arg(mbox)
        .output()
        .unwrap();
    assert!(
        classify.status.success(),
        "{}",
        String::from_utf8_lossy(&classify.stderr)
    );
    let records = String::from_utf8(classify.stdout).unwrap();
    let ids: std::collections::BTreeSet<String> = records
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["message_id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let mut apply = Command::new(env!("CARGO_BIN_EXE_bapply"))
        .arg("--state")
        .arg(dir.join(format!(
            "{}.state",
            mbox.file_name().unwrap().to_string_lossy()
        )))
        .args(["--force", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = apply.stdin.take().unwrap();
    let data = records.clone();
    let t = std::thread::spawn(move || stdin.write_all(data.as_bytes()).unwrap());
    let out = apply.wait_with_output().unwrap();
    t.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    // email, action, category, reason, new_email: what a contact list takes.
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    assert_eq!(
        &r.headers().unwrap().iter().take(4).collect::<Vec<_>>(),
        &["email", "action", "category", "reason"]
    );
    let mut rows: Vec<String> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            [0, 1, 2, 3, 9].map(|i| &rec[i]).join(",")
        })
        .collect();
    rows.sort();
    (ids.len(), rows, err)
}

#[test]
fn mbox_archive_of_thousands_into_csv() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("archive.mbox");
    let n = archive(&big, 32);
    assert!(n >= 3000, "{n} messages");
    let t = std::time::Instant::now();
    let (ids, rows, summary) = classify_to_csv(dir.path(), &big);
    eprintln!(
        "batch: {n} messages -> {} CSV rows in {:?}",
        rows.len(),
        t.elapsed()
    );
    assert_eq!(
        ids, n,
        "every message gives records with its own Message-ID"
    );
    assert!(summary.contains("0 duplicates"), "{summary}");
    assert!(rows.len() > 20, "{rows:?}");
    // By the third copy every threshold (soft: 3) is crossed; more copies
    // must not repeat an update.
    let small = dir.path().join("three.mbox");
    archive(&small, 3);
    let (_, rows3, _) = classify_to_csv(dir.path(), &small);
    assert_eq!(rows, rows3, "updates differ between 3 and 32 copies");
    let mut emails: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    emails.dedup();
    assert_eq!(
        emails.len(),
        rows.len(),
        "an address updated twice: {rows:?}"
    );
}

/// Workers finish batches out of order; the output must still be the
/// input's order, and the same whatever the number of workers.
#[test]
fn output_order_does_not_depend_on_workers() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("archive.mbox");
    let n = archive(&big, 8);
    let run = |jobs: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_bclassify"))
            .args(["--no-progress", "-j", jobs])
            .arg(&big)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let one = run("1");
    let indexes: Vec<u64> = String::from_utf8_lossy(&one)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["source"]["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        indexes.windows(2).all(|w| w[0] <= w[1]),
        "records out of input order"
    );
    assert_eq!(indexes.last().copied(), Some(n as u64 - 1));
    for jobs in ["2", "5"] {
        assert!(run(jobs) == one, "-j {jobs} differs from -j 1");
    }
}
