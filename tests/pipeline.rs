//! The chain as users run it: `bclassify fixtures/sample.mbox | bapply
//! --format csv` must give exactly `fixtures/pipeline/sample.csv`
//! (`BLESS=1` rewrites it). No state, and `--force` because a sample
//! mailbox full of dead addresses is exactly what the guard is for.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn sample_mbox_through_bclassify_and_bapply_matches_golden_csv() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let classify = Command::new(env!("CARGO_BIN_EXE_bclassify"))
        .arg("fixtures/sample.mbox")
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(
        classify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&classify.stderr)
    );
    let mut apply = Command::new(env!("CARGO_BIN_EXE_bapply"))
        .args(["--no-state", "--force", "--quiet", "--format", "csv"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    apply
        .stdin
        .take()
        .unwrap()
        .write_all(&classify.stdout)
        .unwrap();
    let out = apply.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let golden = root.join("fixtures/pipeline/sample.csv");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&golden, &csv).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(csv.lines().count() > 5, "too few updates:\n{csv}");
    assert_eq!(
        csv, want,
        "pipeline output differs from fixtures/pipeline/sample.csv (BLESS=1 to accept)"
    );
}
