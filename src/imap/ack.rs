//! `bfetch ack`: after the downstream steps succeeded, mark seen, flag,
//! move or delete exactly the messages named in the records they wrote
//! (bclassify records carry `source.mailbox/uidvalidity/uid`, bfetch's own
//! NDJSON lines carry them at the top level).
//!
//! A UID identifies a message only together with its mailbox's UIDVALIDITY,
//! so a mailbox whose UIDVALIDITY differs from the records is refused as a
//! whole; acting on it could touch unrelated mail. Every check happens
//! before the first change. Acknowledging twice is harmless: messages that
//! are already gone are reported, not treated as errors.

use super::config::Account;
use super::session::{self, Credentials, Session, map_imap};
use super::{Error, Kind, uidset};
use crate::record::Source;
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct AckOptions {
    pub seen: bool,
    pub move_to: Option<String>,
    pub delete: bool,
    pub keywords: Vec<String>,
    pub dry_run: bool,
    /// Files to read; empty or `-` means stdin.
    pub inputs: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct AckLine {
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    mailbox: Option<String>,
    #[serde(default)]
    uidvalidity: Option<u32>,
    #[serde(default)]
    uid: Option<u32>,
}

/// All UIDs of one mailbox at one UIDVALIDITY, in first-seen order of groups.
#[derive(Debug)]
struct Group {
    mailbox: String,
    uidvalidity: u32,
    uids: BTreeSet<u32>,
}

#[derive(Debug, Default)]
struct Counts {
    done: u64,
    gone: u64,
    refused: u64,
    unreadable: u64,
}

fn read_groups(inputs: &[PathBuf], counts: &mut Counts) -> anyhow::Result<Vec<Group>> {
    let mut groups: Vec<Group> = Vec::new();
    let stdin = [PathBuf::from("-")];
    let inputs = if inputs.is_empty() {
        &stdin[..]
    } else {
        inputs
    };
    for path in inputs {
        let name = path.display().to_string();
        let reader: Box<dyn Read> = if name == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(
                std::fs::File::open(path).map_err(|source| crate::stream::Error::Open {
                    path: name.clone(),
                    source,
                })?,
            )
        };
        read_input(&name, BufReader::new(reader), &mut groups, counts)?;
    }
    Ok(groups)
}

/// The acknowledged messages named by the lines of one input, added to
/// `groups`; unreadable lines are reported and counted.
fn read_input(
    name: &str,
    mut reader: impl BufRead,
    groups: &mut Vec<Group>,
    counts: &mut Counts,
) -> Result<(), crate::stream::Error> {
    let mut buf = Vec::new();
    let mut lineno = 0u64;
    loop {
        buf.clear();
        let n =
            reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| crate::stream::Error::Read {
                    path: name.to_string(),
                    source,
                })?;
        if n == 0 {
            break;
        }
        lineno += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let target = serde_json::from_slice::<AckLine>(&buf)
            .map_err(|e| e.to_string())
            .and_then(|l| {
                let s = l.source.unwrap_or_default();
                match (s.mailbox, s.uidvalidity, s.uid) {
                    (Some(m), Some(v), Some(u)) => Ok((m, v, u)),
                    _ => match (l.mailbox, l.uidvalidity, l.uid) {
                        (Some(m), Some(v), Some(u)) => Ok((m, v, u)),
                        _ => Err(
                            "no mailbox/uidvalidity/uid (neither in `source` nor at the top level)"
                                .into(),
                        ),
                    },
                }
            });
        match target {
            Ok((mailbox, uidvalidity, uid)) => {
                match groups
                    .iter_mut()
                    .find(|g| g.mailbox == mailbox && g.uidvalidity == uidvalidity)
                {
                    Some(g) => {
                        g.uids.insert(uid);
                    }
                    None => groups.push(Group {
                        mailbox,
                        uidvalidity,
                        uids: BTreeSet::from([uid]),
                    }),
                }
            }
            Err(e) => {
                eprintln!("bfetch: ack: {name}: line {lineno}: {e}");
                counts.unreadable += 1;
            }
        }
    }
    Ok(())
}

/// Fuzzing entry point (fuzz/): the (mailbox, UIDVALIDITY, UID set) groups
/// `bfetch ack` would act on for this input.
#[doc(hidden)]
pub fn fuzz_groups(bytes: &[u8]) -> Vec<(String, u32, Vec<u32>)> {
    let mut groups = Vec::new();
    let mut counts = Counts::default();
    let _ = read_input("fuzz", bytes, &mut groups, &mut counts);
    groups
        .into_iter()
        .map(|g| (g.mailbox, g.uidvalidity, g.uids.into_iter().collect()))
        .collect()
}

fn describe(opts: &AckOptions) -> String {
    let mut parts = Vec::new();
    if opts.seen {
        parts.push("marked seen".to_string());
    }
    for k in &opts.keywords {
        parts.push(format!("flagged {k}"));
    }
    if let Some(m) = &opts.move_to {
        parts.push(format!("moved to {m}"));
    }
    if opts.delete {
        parts.push("deleted".to_string());
    }
    let s = parts.join(", ");
    if opts.dry_run {
        format!("would be {s}")
    } else {
        s
    }
}

pub fn run(acc: &Account, opts: &AckOptions) -> anyhow::Result<()> {
    if !opts.seen && !opts.delete && opts.move_to.is_none() && opts.keywords.is_empty() {
        return Err(Error::new(
            Kind::Usage,
            "ack: say what to do: --seen, --flag, --move or --delete",
        )
        .into());
    }
    for k in &opts.keywords {
        let atom_ok = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
            || k.starts_with('\\') && k[1..].bytes().all(|b| b.is_ascii_alphabetic());
        if !atom_ok {
            return Err(Error::new(
                Kind::Usage,
                format!("ack: --flag {k:?} is not a valid IMAP keyword"),
            )
            .into());
        }
    }
    let mut counts = Counts::default();
    let groups = read_groups(&opts.inputs, &mut counts)?;
    if !groups.is_empty() {
        let mut s = session::connect(acc, &mut Credentials::default())?;
        check_capabilities(acc, &mut s, opts)?;
        for g in &groups {
            ack_group(acc, &mut s, opts, g, &mut counts)?;
        }
        let _ = s.logout();
    }
    let summary = format!(
        "ack: {} {}, {} already gone, {} refused, {} unreadable",
        counts.done,
        if opts.dry_run { "to do" } else { "done" },
        counts.gone,
        counts.refused,
        counts.unreadable
    );
    if counts.refused > 0 || counts.unreadable > 0 {
        return Err(Error::new(Kind::Data, summary).into());
    }
    eprintln!("bfetch: {summary}");
    Ok(())
}

/// Refuses up front what the server cannot do safely: a plain EXPUNGE
/// would also remove other clients' `\Deleted` messages, so deleting (and
/// moving without MOVE) needs UIDPLUS's UID EXPUNGE.
fn check_capabilities(acc: &Account, s: &mut Session, opts: &AckOptions) -> anyhow::Result<()> {
    let caps = s
        .capabilities()
        .map_err(|e| map_imap(acc, "reading capabilities", e))?;
    let uidplus = caps.has_str("UIDPLUS");
    if opts.delete && !uidplus {
        return Err(Error::new(
            Kind::Config,
            format!("{}: server lacks UIDPLUS; --delete refused (a plain EXPUNGE could remove other messages); use --move", acc.server()),
        )
        .into());
    }
    if opts.move_to.is_some() && !caps.has_str("MOVE") && !uidplus {
        return Err(Error::new(
            Kind::Config,
            format!(
                "{}: server has neither MOVE nor UIDPLUS; --move refused",
                acc.server()
            ),
        )
        .into());
    }
    Ok(())
}

fn ack_group(
    acc: &Account,
    s: &mut Session,
    opts: &AckOptions,
    g: &Group,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let mb = &g.mailbox;
    let say = |uid: u32, what: &str| {
        eprintln!(
            "bfetch: ack: {mb} uidvalidity={} uid={uid}: {what}",
            g.uidvalidity
        );
    };
    let opened = if opts.dry_run {
        s.examine(mb)
    } else {
        s.select(mb)
    };
    let info = match opened {
        Ok(i) => i,
        Err(imap::Error::No(n)) => {
            for &u in &g.uids {
                say(
                    u,
                    &format!("refused: cannot open the mailbox: {}", n.information),
                );
            }
            counts.refused += g.uids.len() as u64;
            return Ok(());
        }
        Err(e) => return Err(map_imap(acc, &format!("opening {mb}"), e).into()),
    };
    if info.uid_validity != Some(g.uidvalidity) {
        let now = info
            .uid_validity
            .map_or("none".to_string(), |v| v.to_string());
        for &u in &g.uids {
            say(
                u,
                &format!(
                    "refused: the mailbox's UIDVALIDITY is now {now}, so this UID may name another message"
                ),
            );
        }
        counts.refused += g.uids.len() as u64;
        return Ok(());
    }
    let wanted: Vec<u32> = g.uids.iter().copied().collect();
    let mut present = HashSet::new();
    for chunk in uidset::chunks(&wanted, 200) {
        let found = s
            .uid_search(format!("UID {}", uidset::compress(chunk)))
            .map_err(|e| map_imap(acc, &format!("searching {mb}"), e))?;
        present.extend(found.into_iter().filter(|u| chunk.binary_search(u).is_ok()));
    }
    let present: Vec<u32> = wanted
        .iter()
        .copied()
        .filter(|u| present.contains(u))
        .collect();
    for &u in wanted.iter().filter(|u| !present.contains(u)) {
        say(u, "already gone");
        counts.gone += 1;
    }
    if present.is_empty() {
        return Ok(());
    }
    if !opts.dry_run {
        let mut flags: Vec<&str> = opts.keywords.iter().map(String::as_str).collect();
        if opts.seen {
            flags.insert(0, "\\Seen");
        }
        let doing = |what: &str| format!("{what} in {mb}");
        for chunk in uidset::chunks(&present, 200) {
            let set = uidset::compress(chunk);
            if !flags.is_empty() {
                s.uid_store(&set, format!("+FLAGS.SILENT ({})", flags.join(" ")))
                    .map_err(|e| map_imap(acc, &doing("setting flags"), e))?;
            }
            if let Some(dest) = &opts.move_to {
                let caps = s
                    .capabilities()
                    .map_err(|e| map_imap(acc, "reading capabilities", e))?;
                let has_move = caps.has_str("MOVE");
                drop(caps);
                let moved = if has_move {
                    s.uid_mv(&set, dest)
                } else {
                    s.uid_copy(&set, dest)
                        .and_then(|_| s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").map(|_| ()))
                        .and_then(|_| s.uid_expunge(&set).map(|_| ()))
                };
                moved.map_err(|e| match e {
                    imap::Error::No(n) => Error::new(
                        Kind::Config,
                        format!(
                            "{}: cannot move to {dest:?}: {}",
                            acc.server(),
                            n.information
                        ),
                    ),
                    e => map_imap(acc, &doing("moving"), e),
                })?;
            }
            if opts.delete {
                s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .map_err(|e| map_imap(acc, &doing("deleting"), e))?;
                s.uid_expunge(&set)
                    .map_err(|e| map_imap(acc, &doing("expunging"), e))?;
            }
        }
    }
    let what = describe(opts);
    for &u in &present {
        say(u, &what);
    }
    counts.done += present.len() as u64;
    Ok(())
}
