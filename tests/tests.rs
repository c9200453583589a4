//! The one integration-test binary: every test runs the real programs
//! (`CARGO_BIN_EXE_*`) or reads the repository's files. One module per
//! area; helpers they share are in `support/`.
//!
//! Cargo.toml sets `autotests = false`, so a file in `tests/` runs only
//! when it is declared below: a new test file is one `mod` line here
//! (`every_test_file_is_a_module` fails until it is).
//!
//!     cargo test --test tests                  everything
//!     cargo test --test tests bapply::         one module
//!     BLESS=1 cargo test --test tests golden   rewrite the golden files

mod support;

mod apply_hostile_values;
mod bapply;
mod bapply_limits;
mod batch;
mod bfetch;
mod breport;
mod btag;
mod cli_bclassify;
mod completions;
mod concurrency;
mod cron;
mod damaged_state;
mod e2e;
mod events;
mod exit_codes;
mod faults;
mod golden;
mod hooks;
mod input_errors;
mod install;
mod kill_loop;
mod lab;
mod layers;
mod man;
mod pg_state;
mod pipeline;
mod placeholders;
mod readme;
mod reports;
mod review;

/// Every `tests/*.rs` is a module of this binary: with `autotests = false`
/// cargo would skip a file that is not declared here, silently.
#[test]
fn every_test_file_is_a_module() {
    let dir = support::repo_root().join("tests");
    let this = std::fs::read_to_string(dir.join("tests.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name != "tests" && !this.lines().any(|l| l == format!("mod {name};")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "tests/{{{}}}.rs not declared in tests/tests.rs (add `mod NAME;`)",
        missing.join(",")
    );
}
