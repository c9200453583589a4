//! Fetching: read-only (EXAMINE, BODY.PEEK[]) and in size-bounded batches.
//!
//! The `imap` crate holds a whole FETCH response in memory, so memory is
//! bounded by asking for sizes first and then for bodies in batches of at
//! most `batch_bytes` (always at least one message). Each batch is written
//! and flushed before the next is requested, and only then is the `--new`
//! position moved: a crash or a dropped connection can repeat messages on
//! the next run, but never skip one.

use super::config::Account;
use super::output::{self, Fetched, Format};
use super::session::{self, Credentials, Session, map_imap};
use super::state::{Position, State};
use super::{Error, Kind, uidset};
use anyhow::Context;
use imap::types::UnsolicitedResponse;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UidvalidityPolicy {
    /// Stop with an error and leave the state alone.
    Fail,
    /// Forget the saved position and fetch the mailbox again from the start.
    Refetch,
    /// Take the mailbox as it is now as seen; fetch only mail that arrives later.
    SkipExisting,
}

#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub mailboxes: Vec<String>,
    pub format: Format,
    pub unseen: bool,
    /// IMAP date (`1-Feb-2024`) for SEARCH SINCE.
    pub since: Option<String>,
    pub new: bool,
    pub state_path: Option<PathBuf>,
    pub limit: Option<u64>,
    pub on_uidvalidity_change: UidvalidityPolicy,
    pub batch_bytes: u64,
    pub batch_messages: usize,
    pub retries: u32,
    pub idle: bool,
    pub idle_interval: Duration,
    pub poll_interval: Duration,
    pub progress: bool,
}

/// What this run knows about a mailbox: the UIDVALIDITY it saw first (to
/// re-check after a reconnect) and the last UID it wrote.
#[derive(Debug, Clone, Copy)]
struct Seen {
    uidvalidity: u32,
    last_uid: u32,
}

pub struct Fetcher<'a> {
    acc: &'a Account,
    opts: &'a FetchOptions,
    creds: Credentials,
    session: Option<Session>,
    state: Option<State>,
    seen: HashMap<String, Seen>,
    remaining: Option<u64>,
    connected_once: bool,
    failures: u32,
    total: u64,
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.min(6)).min(60))
}

impl<'a> Fetcher<'a> {
    pub fn new(acc: &'a Account, opts: &'a FetchOptions) -> anyhow::Result<Self> {
        let state = if opts.new {
            let path = match &opts.state_path {
                Some(p) => p.clone(),
                None => super::config::default_state_path().ok_or_else(|| {
                    Error::new(
                        Kind::Config,
                        "no HOME or XDG_STATE_HOME for the state file; use --state FILE",
                    )
                })?,
            };
            Some(State::open(&path, &acc.state_key())?)
        } else {
            None
        };
        Ok(Fetcher {
            acc,
            opts,
            creds: Credentials::default(),
            session: None,
            state,
            seen: HashMap::new(),
            remaining: opts.limit,
            connected_once: false,
            failures: 0,
            total: 0,
        })
    }

    fn session(&mut self) -> Result<&mut Session, Error> {
        if self.session.is_none() {
            self.session = Some(session::connect(self.acc, &mut self.creds)?);
            self.connected_once = true;
        }
        Ok(self.session.as_mut().expect("just connected"))
    }

    /// Runs `op`, reconnecting with backoff after transient failures.
    fn retrying<W: Write>(
        &mut self,
        out: &mut W,
        mut op: impl FnMut(&mut Self, &mut W) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        loop {
            let err = match op(self, out) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let transient = err.downcast_ref::<Error>().is_some_and(Error::is_transient);
            if !transient || self.failures >= self.opts.retries {
                return Err(match err.downcast::<Error>() {
                    // Once the run has started, failing to get back in is
                    // temporary trouble for the caller (exit 75), not a
                    // wrong host name.
                    Ok(mut e) if self.connected_once && e.kind == Kind::Unavailable => {
                        e.kind = Kind::Temporary;
                        e.into()
                    }
                    Ok(e) => e.into(),
                    Err(e) => e,
                });
            }
            self.session = None;
            let wait = backoff(self.failures);
            self.failures += 1;
            eprintln!(
                "bfetch: {err}; retrying in {} s ({}/{})",
                wait.as_secs(),
                self.failures,
                self.opts.retries
            );
            std::thread::sleep(wait);
        }
    }

    /// The initial fetch over all mailboxes, then `--idle` if asked.
    pub fn run<W: Write>(&mut self, out: &mut W) -> anyhow::Result<()> {
        let mailboxes = self.opts.mailboxes.clone();
        for mb in &mailboxes {
            self.retrying(out, |f, out| f.fetch_mailbox(mb, out))?;
        }
        if self.opts.idle {
            loop {
                self.retrying(out, |f, _| f.wait_for_mail().map_err(Into::into))?;
                for mb in &mailboxes {
                    self.retrying(out, |f, out| f.fetch_mailbox(mb, out))?;
                }
            }
        }
        if let Some(mut s) = self.session.take() {
            let _ = s.logout();
        }
        Ok(())
    }

    /// Where to start in `mb`: the UID after which messages are new.
    fn floor(&mut self, mb: &str, uidvalidity: u32, uid_next: Option<u32>) -> Result<u32, Error> {
        if let Some(s) = self.seen.get(mb) {
            if s.uidvalidity != uidvalidity {
                return Err(Error::new(
                    Kind::Data,
                    format!(
                        "{}: {mb}: UIDVALIDITY changed during the run (from {} to {uidvalidity}); stopping",
                        self.acc.server(),
                        s.uidvalidity
                    ),
                ));
            }
            return Ok(s.last_uid);
        }
        let mut floor = 0;
        if let Some(state) = &mut self.state {
            match state.get(mb) {
                None => {}
                Some(p) if p.uidvalidity == uidvalidity => floor = p.last_uid,
                Some(p) => match self.opts.on_uidvalidity_change {
                    UidvalidityPolicy::Fail => {
                        return Err(Error::new(
                            Kind::Data,
                            format!(
                                "{}: {mb}: UIDVALIDITY changed from {} to {uidvalidity} since the last run, so saved UIDs mean nothing now; rerun with --on-uidvalidity-change refetch (fetch everything again) or skip-existing (only mail arriving from now on)",
                                self.acc.server(),
                                p.uidvalidity
                            ),
                        ));
                    }
                    UidvalidityPolicy::Refetch => {
                        eprintln!(
                            "bfetch: {mb}: UIDVALIDITY changed ({} -> {uidvalidity}); fetching everything again",
                            p.uidvalidity
                        );
                    }
                    UidvalidityPolicy::SkipExisting => {
                        floor = uid_next.unwrap_or(1).saturating_sub(1);
                        eprintln!(
                            "bfetch: {mb}: UIDVALIDITY changed ({} -> {uidvalidity}); skipping the {floor} UIDs that exist now",
                            p.uidvalidity
                        );
                    }
                },
            }
            // Recorded now, so an empty mailbox still pins its UIDVALIDITY.
            state.set(
                mb,
                Position {
                    uidvalidity,
                    last_uid: floor,
                },
            )?;
        }
        self.seen.insert(
            mb.to_string(),
            Seen {
                uidvalidity,
                last_uid: floor,
            },
        );
        Ok(floor)
    }

    fn fetch_mailbox<W: Write>(&mut self, mb: &str, out: &mut W) -> anyhow::Result<()> {
        if self.remaining == Some(0) {
            return Ok(());
        }
        let acc = self.acc;
        let info = self.session()?.examine(mb).map_err(|e| match e {
            imap::Error::No(n) => Error::new(
                Kind::Config,
                format!(
                    "{}: cannot open mailbox {mb:?}: {}",
                    acc.server(),
                    n.information
                ),
            ),
            e => map_imap(acc, &format!("opening {mb}"), e),
        })?;
        let uidvalidity = info.uid_validity.ok_or_else(|| {
            Error::new(
                Kind::Protocol,
                format!("{}: {mb}: server sent no UIDVALIDITY", acc.server()),
            )
        })?;
        let floor = self.floor(mb, uidvalidity, info.uid_next)?;
        if info.exists == 0 {
            return Ok(());
        }
        let mut query = Vec::new();
        if floor > 0 {
            query.push(format!("UID {}:*", floor + 1));
        }
        if self.opts.unseen {
            query.push("UNSEEN".into());
        }
        if let Some(d) = &self.opts.since {
            query.push(format!("SINCE {d}"));
        }
        if query.is_empty() {
            query.push("ALL".into());
        }
        let found = self
            .session()?
            .uid_search(query.join(" "))
            .map_err(|e| map_imap(acc, &format!("searching {mb}"), e))?;
        // `UID n:*` also matches the highest UID when it is below n
        // (RFC 3501: `*` is the largest UID), so filter here.
        let mut uids: Vec<u32> = found.into_iter().filter(|&u| u > floor).collect();
        uids.sort_unstable();
        if let Some(r) = self.remaining {
            uids.truncate(usize::try_from(r).unwrap_or(usize::MAX));
        }
        if uids.is_empty() {
            return Ok(());
        }
        let sizes = self.sizes(mb, &uids)?;
        let batches = batches(
            &uids,
            &sizes,
            self.opts.batch_bytes,
            self.opts.batch_messages,
        );
        // Progress on a terminal only (bounce-tools(7)): messages of this
        // mailbox fetched so far, cleared when the mailbox is done.
        let bar = self.opts.progress.then(|| {
            let bar = indicatif::ProgressBar::new(uids.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "bfetch: {prefix} {bar:30} {pos}/{len} messages ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix(mb.to_string());
            bar
        });
        for batch in batches {
            let n = self.fetch_batch(mb, uidvalidity, floor, batch, out)?;
            if let Some(r) = &mut self.remaining {
                *r = r.saturating_sub(n);
            }
            if let Some(bar) = &bar {
                bar.inc(batch.len() as u64);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(())
    }

    fn sizes(&mut self, mb: &str, uids: &[u32]) -> anyhow::Result<HashMap<u32, u64>> {
        let acc = self.acc;
        let mut sizes = HashMap::with_capacity(uids.len());
        for chunk in uidset::chunks(uids, 200) {
            let f = self
                .session()?
                .uid_fetch(uidset::compress(chunk), "(UID RFC822.SIZE)")
                .map_err(|e| map_imap(acc, &format!("reading message sizes in {mb}"), e))?;
            for m in f.iter() {
                if let (Some(u), Some(s)) = (m.uid, m.size) {
                    sizes.insert(u, u64::from(s));
                }
            }
        }
        Ok(sizes)
    }

    /// Fetches, writes and flushes one batch, then moves the state. Returns
    /// how many messages were written.
    fn fetch_batch<W: Write>(
        &mut self,
        mb: &str,
        uidvalidity: u32,
        floor: u32,
        batch: &[u32],
        out: &mut W,
    ) -> anyhow::Result<u64> {
        let acc = self.acc;
        let fetches = self
            .session()?
            .uid_fetch(
                uidset::compress(batch),
                "(UID FLAGS INTERNALDATE BODY.PEEK[])",
            )
            .map_err(|e| map_imap(acc, &format!("fetching messages from {mb}"), e))?;
        let (first, last) = (batch[0], batch[batch.len() - 1]);
        let mut items: Vec<_> = fetches
            .iter()
            .filter(|f| f.uid.is_some_and(|u| u > floor && u >= first && u <= last))
            .filter(|f| f.body().is_some())
            .collect();
        items.sort_by_key(|f| f.uid);
        items.dedup_by_key(|f| f.uid);
        for f in &items {
            let m = Fetched {
                mailbox: mb,
                uidvalidity,
                uid: f.uid.unwrap_or_default(),
                flags: f
                    .flags()
                    .iter()
                    .filter(|fl| **fl != imap::types::Flag::Recent)
                    .map(ToString::to_string)
                    .collect(),
                internaldate: f.internal_date().map(|d| (d.timestamp(), d.to_rfc3339())),
                body: f.body().unwrap_or_default(),
            };
            output::write(out, self.opts.format, &m).context("stdout")?;
        }
        out.flush().context("stdout")?;
        // Messages missing from the answer were expunged meanwhile; moving
        // past them loses nothing.
        if let Some(s) = self.seen.get_mut(mb) {
            s.last_uid = s.last_uid.max(last);
        }
        if let Some(state) = &mut self.state {
            state.set(
                mb,
                Position {
                    uidvalidity,
                    last_uid: last,
                },
            )?;
        }
        self.failures = 0;
        self.total += items.len() as u64;
        Ok(items.len() as u64)
    }

    /// `--idle`: returns when the mailbox may have new mail. IDLE needs the
    /// mailbox selected and watches only that one, so with several mailboxes
    /// (or no IDLE on the server) this polls instead.
    fn wait_for_mail(&mut self) -> Result<(), Error> {
        let acc = self.acc;
        let mailboxes = &self.opts.mailboxes;
        let interval = self.opts.idle_interval;
        let poll = self.opts.poll_interval;
        let s = self.session()?;
        let caps = s
            .capabilities()
            .map_err(|e| map_imap(acc, "reading capabilities", e))?;
        if mailboxes.len() != 1 || !caps.has_str("IDLE") {
            drop(caps);
            std::thread::sleep(poll);
            return Ok(());
        }
        drop(caps);
        s.examine(&mailboxes[0])
            .map_err(|e| map_imap(acc, &format!("opening {}", mailboxes[0]), e))?;
        // Mail that arrived after our search was announced to an earlier
        // command; IDLE would not repeat that news.
        if s.take_all_unsolicited()
            .any(|r| matches!(r, UnsolicitedResponse::Exists(_)))
        {
            return Ok(());
        }
        s.idle()
            .timeout(interval)
            .keepalive(false)
            .wait_while(|r| !matches!(r, UnsolicitedResponse::Exists(_)))
            .map_err(|e| map_imap(acc, "waiting in IDLE", e))?;
        // A long --idle run may see many drops over days; only consecutive
        // failures count against --retries.
        self.failures = 0;
        Ok(())
    }
}

/// Groups UIDs into batches of at most `max_bytes` (by RFC822.SIZE) and
/// `max_messages`; a message bigger than `max_bytes` goes alone.
pub fn batches<'u>(
    uids: &'u [u32],
    sizes: &HashMap<u32, u64>,
    max_bytes: u64,
    max_messages: usize,
) -> Vec<&'u [u32]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, u) in uids.iter().enumerate() {
        let size = sizes.get(u).copied().unwrap_or(0);
        let count = i - start;
        if count > 0 && (bytes + size > max_bytes || count >= max_messages.max(1)) {
            out.push(&uids[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < uids.len() {
        out.push(&uids[start..]);
    }
    out
}

/// `--list`: every selectable folder with its message and unseen counts.
pub fn list<W: Write>(acc: &Account, out: &mut W) -> anyhow::Result<()> {
    let mut s = session::connect(acc, &mut Credentials::default())?;
    let names = s
        .list(None, Some("*"))
        .map_err(|e| map_imap(acc, "listing folders", e))?;
    let mut folders: Vec<String> = names
        .iter()
        .filter(|n| {
            // imap does not re-export imap_proto's NameAttribute; its Debug name is stable.
            !n.attributes()
                .iter()
                .any(|a| format!("{a:?}") == "NoSelect")
        })
        .map(|n| n.name().to_string())
        .collect();
    drop(names);
    folders.sort();
    for name in folders {
        let st = s
            .status(&name, "(MESSAGES UNSEEN)")
            .map_err(|e| map_imap(acc, &format!("STATUS {name}"), e))?;
        writeln!(out, "{name}\t{}\t{}", st.exists, st.unseen.unwrap_or(0)).context("stdout")?;
    }
    out.flush().context("stdout")?;
    let _ = s.logout();
    Ok(())
}

/// `--check`: connect, log in, and report the message count of each mailbox.
pub fn check<W: Write>(acc: &Account, mailboxes: &[String], out: &mut W) -> anyhow::Result<()> {
    let mut s = session::connect(acc, &mut Credentials::default())?;
    for mb in mailboxes {
        let st = s.status(mb, "(MESSAGES UNSEEN)").map_err(|e| match e {
            imap::Error::No(n) => Error::new(
                Kind::Config,
                format!(
                    "{}: cannot open mailbox {mb:?}: {}",
                    acc.server(),
                    n.information
                ),
            ),
            e => map_imap(acc, &format!("STATUS {mb}"), e),
        })?;
        writeln!(
            out,
            "{mb}: {} messages, {} unseen",
            st.exists,
            st.unseen.unwrap_or(0)
        )
        .context("stdout")?;
    }
    out.flush().context("stdout")?;
    let _ = s.logout();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_bound_bytes_and_count() {
        let uids = [1, 2, 3, 4, 5];
        let sizes: HashMap<u32, u64> = [(1, 10), (2, 10), (3, 100), (4, 5), (5, 5)].into();
        let b = batches(&uids, &sizes, 25, 10);
        assert_eq!(b, vec![&[1, 2][..], &[3][..], &[4, 5][..]]);
        let b = batches(&uids, &sizes, 1000, 2);
        assert_eq!(b, vec![&[1, 2][..], &[3, 4][..], &[5][..]]);
        assert!(batches(&[], &sizes, 1, 1).is_empty());
    }
}
