//! Issue 15, install: `scripts/install` (PREFIX, DESTDIR) puts the
//! programs, man pages, completions, bounce-cron, bounce-hook, the systemd
//! units and the recipes in place; `scripts/deb` (cargo-deb) packages the
//! same, and the package installs with dpkg into a scratch root, where
//! `bclassify --version` and `man -w bclassify` work.

use crate::support::{find_program, repo_root, skip};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_bclassify"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn scripts_install_puts_everything_under_destdir_and_prefix() {
    let dest = tempfile::tempdir().unwrap();
    ok(Command::new(repo_root().join("scripts/install"))
        .env("DESTDIR", dest.path())
        .env("PREFIX", "/opt/bt")
        .env("BIN_DIR", bin_dir()));
    let root = dest.path().join("opt/bt");
    for f in [
        "bin/bfetch",
        "bin/bclassify",
        "bin/bapply",
        "bin/btag",
        "bin/bounce-cron",
        "bin/bounce-hook",
        "share/man/man1/bclassify.1",
        "share/man/man1/bfetch.1",
        "share/man/man1/bapply.1",
        "share/man/man1/btag.1",
        "share/bash-completion/completions/btag",
        "share/man/man7/bounce-tools.7",
        "share/bash-completion/completions/bclassify",
        "share/zsh/site-functions/_bapply",
        "share/fish/vendor_completions.d/bfetch.fish",
        "lib/systemd/system/bounce-cron.service",
        "lib/systemd/system/bounce-cron.timer",
        "share/doc/bounce-tools/procmailrc.example",
        "share/doc/bounce-tools/maildroprc.example",
    ] {
        assert!(root.join(f).is_file(), "{f} not installed");
    }
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/bounce-cron.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/opt/bt/bin/bounce-cron "),
        "{unit}"
    );
    let help = ok(Command::new(root.join("bin/bounce-cron")).arg("--help"));
    assert!(help.contains("--approve"), "{help}");
    let version = ok(Command::new(root.join("bin/bclassify")).arg("--version"));
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
}

#[test]
fn deb_builds_and_installs_with_dpkg() {
    if find_program(&["dpkg"]).is_none() {
        return skip("dpkg");
    }
    let home_cargo = std::env::var("HOME").map(|h| format!("{h}/.cargo/bin/cargo-deb"));
    if find_program(&["cargo-deb"]).is_none()
        && !home_cargo.as_ref().is_ok_and(|p| Path::new(p).exists())
    {
        return skip("cargo-deb (cargo install cargo-deb --locked)");
    }
    let work = tempfile::tempdir().unwrap();
    let deb = work.path().join("bounce-tools.deb");
    // The binaries this test run built: no second build.
    ok(Command::new(repo_root().join("scripts/deb"))
        .env("BIN_DIR", bin_dir())
        .env("OUTPUT", &deb));
    assert!(deb.is_file());
    // A scratch root with an empty dpkg database.
    let root = work.path().join("root");
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(d)).unwrap();
    }
    std::fs::write(admin.join("status"), "").unwrap();
    std::fs::write(admin.join("available"), "").unwrap();
    ok(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args([
            "--force-depends",
            "--force-script-chrootless",
            "--force-not-root",
            "--log=/dev/null",
            "-i",
        ])
        .arg(&deb));
    let version = ok(Command::new(root.join("usr/bin/bclassify")).arg("--version"));
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    for tool in ["bfetch", "bapply", "btag", "bounce-cron", "bounce-hook"] {
        assert!(root.join("usr/bin").join(tool).is_file(), "{tool}");
    }
    assert!(
        root.join("usr/lib/systemd/system/bounce-cron.timer")
            .is_file()
    );
    if find_program(&["man"]).is_none() {
        return skip("man");
    }
    let page = ok(Command::new("man")
        .arg("-M")
        .arg(root.join("usr/share/man"))
        .args(["-w", "bclassify"]));
    assert!(
        page.trim().starts_with(root.to_str().unwrap()) && page.contains("man1/bclassify.1"),
        "{page}"
    );
}
