//! `--completions SHELL` on each binary: bash, zsh and fish scripts
//! generated from the clap definitions, naming the real flags; the bash
//! script parses (`bash -n`), and zsh/fish ones too when those shells exist.

use std::process::{Command, Stdio};

fn completions(bin: &str, shell: &str) -> (i32, String) {
    let out = Command::new(bin)
        .args(["--completions", shell])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn parses(shell: &str, script: &str) -> Option<bool> {
    let flag = if shell == "fish" {
        "--no-execute"
    } else {
        "-n"
    };
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("script");
    std::fs::write(&f, script).unwrap();
    let st = Command::new(shell).arg(flag).arg(&f).status().ok()?;
    Some(st.success())
}

#[test]
fn every_binary_completes_in_bash_zsh_and_fish() {
    let bins = [
        (
            env!("CARGO_BIN_EXE_bfetch"),
            "bfetch",
            ["--mailbox", "--move"],
        ),
        (
            env!("CARGO_BIN_EXE_bclassify"),
            "bclassify",
            ["--hook", "--rules"],
        ),
        (
            env!("CARGO_BIN_EXE_bapply"),
            "bapply",
            ["--apply", "--policy"],
        ),
        (
            env!("CARGO_BIN_EXE_breport"),
            "breport",
            ["--alert", "--html"],
        ),
    ];
    for (bin, name, flags) in bins {
        for shell in ["bash", "zsh", "fish"] {
            let (code, script) = completions(bin, shell);
            assert_eq!(code, 0, "{name} --completions {shell}");
            assert!(script.contains(name), "{name} {shell}:\n{script}");
            for f in flags {
                // fish writes `-l mailbox`, the others `--mailbox`.
                let bare = f.trim_start_matches('-');
                assert!(
                    script.contains(f) || script.contains(&format!("-l {bare}")),
                    "{name} {shell}: {f} missing"
                );
            }
            match parses(shell, &script) {
                Some(ok) => assert!(ok, "{name}: {shell} cannot parse its completion script"),
                None if shell == "bash" => panic!("bash missing"),
                None => eprintln!("SKIPPED: {shell} not installed, {name} script not parsed"),
            }
        }
        let (code, _) = completions(bin, "tcsh");
        assert_eq!(code, 64, "{name}: unknown shell is a usage error");
    }
}
