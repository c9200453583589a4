//! Golden files: every `fixtures/<category>/NNN-name.eml` is classified with
//! LF and with CRLF line endings and must give exactly `NNN-name.json`
//! (the records, one JSON object per line). The folder name is an
//! assertion too: every record of a message in `hard/` is category `hard`.
//! `BLESS=1 cargo test --test tests golden` rewrites the golden files; on a
//! mismatch the new output is left beside the golden as `.json.new`.

use bounce_tools::classify::rules::RuleSet;
use bounce_tools::classify::{Classifier, Options};
use bounce_tools::record::Source;
use bounce_tools::stream::RawMessage;
use std::path::{Path, PathBuf};

/// The files with this extension in the fixture folders, sorted.
fn fixture_files(extension: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == extension) {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn fixtures() -> Vec<PathBuf> {
    fixture_files("eml")
}

/// Golden files whose message is gone: a fixture moved to another folder
/// (or deleted) must not leave an expectation that nothing checks.
#[test]
fn every_golden_file_has_its_message() {
    let messages = fixtures();
    let orphans: Vec<PathBuf> = fixture_files("json")
        .into_iter()
        .filter(|golden| !messages.contains(&golden.with_extension("eml")))
        .collect();
    assert!(
        orphans.is_empty(),
        "golden files without a message: {orphans:?}"
    );
}

fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn render(classifier: &Classifier, rel: &str, bytes: Vec<u8>) -> String {
    let message = RawMessage {
        bytes,
        source: Source {
            path: Some(rel.to_string()),
            index: Some(0),
            ..Source::default()
        },
        truncated: false,
        ..RawMessage::default()
    };
    let mut s = String::new();
    for r in classifier.classify(&message) {
        s.push_str(&serde_json::to_string(&r).unwrap());
        s.push('\n');
    }
    s
}

#[test]
fn fixtures_match_golden_files_with_lf_and_crlf() {
    let classifier = Classifier::new(RuleSet::builtin(), Options::default());
    let bless = std::env::var_os("BLESS").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = fixtures();
    assert!(files.len() >= 60, "only {} fixtures", files.len());
    let mut failures = Vec::new();
    let mut categories_seen = std::collections::BTreeSet::new();
    for eml in &files {
        let rel = eml
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let folder = eml
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(eml).unwrap();
        let lf = render(&classifier, &rel, bytes.clone());
        let crlf = render(&classifier, &rel, to_crlf(&bytes));
        let golden_path = eml.with_extension("json");
        if bless {
            std::fs::write(&golden_path, &lf).unwrap();
        }
        let golden = std::fs::read_to_string(&golden_path).unwrap_or_default();
        if lf != golden {
            std::fs::write(eml.with_extension("json.new"), &lf).unwrap();
            failures.push(format!("{rel}: output differs from golden (see .json.new)"));
        }
        if crlf != lf {
            failures.push(format!(
                "{rel}: CRLF output differs from LF output:\nLF:   {lf}CRLF: {crlf}"
            ));
        }
        for line in lf.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let cat = v["category"].as_str().unwrap().to_string();
            if cat != folder {
                failures.push(format!(
                    "{rel}: category {cat} in folder {folder} (rule {})",
                    v["rule"]
                ));
            }
            categories_seen.insert(cat);
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for c in bounce_tools::record::Category::ALL {
        assert!(
            categories_seen.contains(c.as_str()),
            "no fixture produces category {c}"
        );
    }
}
