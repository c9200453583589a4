//! The man pages are valid mdoc: `mandoc -Tlint -W warning` is silent.
//! (Plain `-Tlint` also reports STYLE notes for cross-references to our
//! own pages, which are not installed in the system manual path.)

use std::process::Command;

#[test]
fn man_pages_lint_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "1" || e == "7"))
        .collect();
    assert!(pages.len() >= 3, "man pages missing: {pages:?}");
    let out = match Command::new("mandoc")
        .args(["-Tlint", "-W", "warning"])
        .args(&pages)
        .output()
    {
        Ok(o) => o,
        Err(_) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: mandoc not installed");
            return;
        }
        Err(e) => panic!("mandoc not installed (CI needs it): {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "mandoc -Tlint:\n{text}"
    );
}
