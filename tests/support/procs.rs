//! Process groups for the kill tests: which programs of a group run (by
//! /proc), signals to the whole group, and waiting for it to be gone.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The processes of group `pgid` that are not zombies: (pid, argv).
pub fn group(pgid: u32) -> Vec<(u32, Vec<String>)> {
    let mut v = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so from the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 3 || f[0] == "Z" || f[2].parse::<u32>() != Ok(pgid) {
            continue;
        }
        let argv = std::fs::read(e.path().join("cmdline"))
            .unwrap_or_default()
            .split(|&b| b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        v.push((pid, argv));
    }
    v
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Fetch,
    Classify,
    Apply,
    Ack,
}

pub fn phase_of(argv: &[String]) -> Option<Phase> {
    let prog = Path::new(argv.first()?).file_name()?.to_str()?;
    match prog {
        "bfetch" if argv.get(1).is_some_and(|a| a == "ack") => Some(Phase::Ack),
        "bfetch" => Some(Phase::Fetch),
        "bclassify" => Some(Phase::Classify),
        "bapply" => Some(Phase::Apply),
        _ => None,
    }
}

pub fn kill_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .status();
}

/// Waits until no process of the group is left (SIGKILL leaves none, but
/// the ones that were not our children end asynchronously).
pub fn wait_group_gone(pgid: u32) {
    let start = Instant::now();
    while !group(pgid).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "group {pgid} survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until a process of group `pgid` satisfies `f`.
pub fn wait_for(pgid: u32, what: &str, f: impl Fn(&[String]) -> bool) {
    let start = Instant::now();
    while !group(pgid).iter().any(|(_, a)| f(a)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never saw {what}"
        );
        std::thread::sleep(Duration::from_micros(300));
    }
}

pub trait SpawnGroup {
    fn process_group_spawn(&mut self) -> Child;
}

impl SpawnGroup for Command {
    /// Spawns in a process group of its own, stderr captured.
    fn process_group_spawn(&mut self) -> Child {
        use std::os::unix::process::CommandExt;
        self.process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}
