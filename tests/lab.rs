//! The MTA lab's bounces (`fixtures/lab/`, written by real Postfix, Exim,
//! Sendmail, OpenSMTPD, Courier, dma and Haraka, and by the Dovecot LDA
//! behind the lab's receiver, under `scripts/lab`) are labelled by
//! construction. bclassify must name every affected recipient and nobody
//! else, and keep its reasons right on at least the share it reached; a rule
//! change that loses ground on real MTAs' mail fails here.

use crate::support;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The share of expected records whose reason bclassify gets right. Raise
/// it as the classifier improves; never lower it to make a change pass.
const MIN_REASON_SHARE: f64 = 0.97;

fn lowercase(v: &Value) -> Option<String> {
    v.as_str().map(str::to_ascii_lowercase)
}

#[test]
fn lab_bounces_name_their_recipients_and_reasons() {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab");
    let expected: Vec<Value> = std::fs::read_to_string(lab.join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let files: Vec<_> = expected
        .iter()
        .map(|e| lab.join("eml").join(e["file"].as_str().unwrap()))
        .collect();
    let mut args = vec!["--no-progress".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = support::run(env!("CARGO_BIN_EXE_bclassify"), &args, None, &lab);
    assert_eq!(run.code(), 0, "{run}");
    let out = run.out;

    // Output records by file name.
    let mut got: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let r: Value = serde_json::from_slice(line).unwrap();
        let path = r["source"]["path"].as_str().unwrap();
        let name = Path::new(path).file_name().unwrap().to_string_lossy();
        got.entry(name.into_owned()).or_default().push(r);
    }

    let (mut right, mut total) = (0, 0);
    let mut misses = Vec::new();
    for e in &expected {
        let file = e["file"].as_str().unwrap();
        let records = got.get(file).map(Vec::as_slice).unwrap_or_default();
        let want: BTreeSet<_> = e["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| lowercase(&r["recipient"]))
            .collect();
        let have: BTreeSet<_> = records
            .iter()
            .filter_map(|r| lowercase(&r["recipient"]))
            .collect();
        assert_eq!(have, want, "{file}: recipients");
        for want in e["records"].as_array().unwrap() {
            total += 1;
            let recipient = lowercase(&want["recipient"]);
            let found = records
                .iter()
                .find(|r| lowercase(&r["recipient"]) == recipient);
            match found {
                Some(r) if r["reason"] == want["reason"] => right += 1,
                other => misses.push(format!(
                    "{file}: expected {}, got {}",
                    want["reason"],
                    other.map_or(Value::Null, |r| r["reason"].clone())
                )),
            }
        }
    }
    let share = f64::from(right) / f64::from(total);
    eprintln!("lab: reason {right}/{total} ({:.1}%)", share * 100.0);
    for m in &misses {
        eprintln!("  {m}");
    }
    assert!(
        share >= MIN_REASON_SHARE,
        "lab reason share {share:.3} fell below {MIN_REASON_SHARE}"
    );
}
