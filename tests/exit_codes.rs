//! Issue 15: one table of exit codes for every tool and script, in
//! bounce-tools(7), EXIT STATUS. Every `exit N` (and `EXITCODE=N`) in the
//! scripts, recipes and contrib files, and every code the programs define,
//! is in the table; every code in the table is used somewhere. Also: the
//! systemd units pass `systemd-analyze verify`.

use crate::support::{find_program, repo_root};
use std::collections::BTreeSet;

/// The codes of the table: `.It N Ta` lines of the EXIT STATUS section.
fn table() -> BTreeSet<u32> {
    let page = std::fs::read_to_string(repo_root().join("man/bounce-tools.7")).unwrap();
    let start = page.find(".Sh EXIT STATUS").expect("EXIT STATUS section");
    let section = &page[start..];
    let section = &section[..section[4..].find("\n.Sh ").map_or(section.len(), |i| i + 4)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix(".It "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Numbers after `exit `, `EXITCODE=`, `code=` and a `fail …` step's last
/// word in a shell script or recipe.
fn script_codes(text: &str) -> BTreeSet<u32> {
    let mut codes = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        for marker in ["exit ", "EXITCODE=", "code="] {
            for (i, _) in line.match_indices(marker) {
                let rest = &line[i + marker.len()..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(n) = digits.parse() {
                    codes.insert(n);
                }
            }
        }
        if let Some(rest) = line.split("|| fail ").nth(1)
            && let Some(n) = rest.split_whitespace().last().and_then(|w| w.parse().ok())
        {
            codes.insert(n);
        }
    }
    codes
}

fn files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo_root().join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn every_exit_code_is_in_the_one_table() {
    let table = table();
    assert!(table.len() >= 10, "{table:?}");
    let mut used = BTreeSet::new();
    let mut missing = Vec::new();
    // Scripts, recipes and units.
    for dir in ["scripts", "contrib", ".ci"] {
        for f in files(dir) {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            for code in script_codes(&text) {
                used.insert(code);
                if !table.contains(&code) {
                    missing.push(format!("{}: exit {code}", f.display()));
                }
            }
        }
    }
    // The programs: every code src/exit.rs defines (`Name = N,`), and
    // any literal exit in the code.
    let exit_rs = std::fs::read_to_string(repo_root().join("src/exit.rs")).unwrap();
    for line in exit_rs.lines() {
        if let Some((_, n)) = line
            .trim()
            .strip_suffix(',')
            .and_then(|l| l.split_once(" = "))
            && let Ok(code) = n.parse::<u32>()
        {
            used.insert(code);
            if !table.contains(&code) {
                missing.push(format!("src/exit.rs: {}", line.trim()));
            }
        }
    }
    for f in files("src") {
        let text = std::fs::read_to_string(&f).unwrap();
        // The codes a program's --help lists after "Exit status".
        for (i, _) in text.match_indices("Exit status") {
            let para = text[i..].split("\n\n").next().unwrap_or("");
            for word in para.split(|c: char| !c.is_ascii_digit()) {
                if let Ok(code) = word.parse::<u32>()
                    && (word.len() == 2 || code <= 1)
                    && !table.contains(&code)
                {
                    missing.push(format!("{}: help says exit {code}", f.display()));
                }
            }
        }
        for (i, _) in text.match_indices("process::exit(") {
            let arg: String = text[i + 14..].chars().take_while(|c| *c != ')').collect();
            if let Ok(code) = arg.trim().parse::<u32>() {
                used.insert(code);
                if !table.contains(&code) {
                    missing.push(format!("{}: process::exit({code})", f.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "exit codes not in bounce-tools(7), EXIT STATUS:\n{}",
        missing.join("\n")
    );
    let unused: Vec<_> = table.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "codes in the table that nothing returns: {unused:?}"
    );
}

#[test]
fn systemd_units_verify() {
    let Some(analyze) = find_program(&["systemd-analyze"]) else {
        eprintln!("SKIPPED: systemd-analyze not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = repo_root().join("contrib/systemd");
    for name in ["bounce-cron.service", "bounce-cron.timer"] {
        // The unit names the installed script; here it is the repository's.
        let text = std::fs::read_to_string(units.join(name)).unwrap().replace(
            "/usr/local/bin/bounce-cron",
            repo_root().join("contrib/bounce-cron").to_str().unwrap(),
        );
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = std::process::Command::new(analyze)
        .args([
            "verify",
            "--man=no",
            "bounce-cron.service",
            "bounce-cron.timer",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Failed to") && err.contains("bus") {
        eprintln!("SKIPPED: systemd-analyze cannot run here: {err}");
        return;
    }
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}
