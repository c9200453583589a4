//! The mass-damage guard (SPEC §6): before a run changes anything, look at
//! what it would take off the list. A share of the addresses seen that is
//! too large, or many failures behind one remote host with one diagnostic,
//! is what an outage or a block of the sender looks like; dead addresses
//! come one by one with diagnostics of their own. Then nothing is applied
//! unless `--force` says so.

use super::policy::{Action, GuardPolicy};
use super::printable;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seen: usize,
    pub damaging: usize,
    pub updates: usize,
    pub max_share: f64,
    pub min_updates: u32,
    pub share_fired: bool,
    /// The largest group of damaging updates sharing host and diagnostic.
    pub cluster: Option<(String, String, usize)>,
    pub cluster_min: u32,
    pub cluster_fired: bool,
    pub fired: bool,
    pub forced: bool,
}

/// Looks at a run's updates: (contact id, action, remote host or the
/// recipient's domain, diagnostic with addresses and ids masked).
pub fn check<'a>(
    policy: &GuardPolicy,
    seen: usize,
    updates: impl Iterator<Item = (i64, Action, Option<&'a str>, Option<&'a str>)>,
    force: bool,
) -> Report {
    let mut r = Report {
        seen,
        max_share: policy.max_share,
        min_updates: policy.min_updates,
        cluster_min: policy.cluster_min,
        forced: force,
        ..Report::default()
    };
    let mut groups: HashMap<(&str, &str), HashSet<i64>> = HashMap::new();
    let mut damaged: HashSet<i64> = HashSet::new();
    for (contact, action, host, diagnostic) in updates {
        r.updates += 1;
        if !action.is_damaging() {
            continue;
        }
        damaged.insert(contact);
        if let (Some(h), Some(d)) = (host, diagnostic) {
            groups.entry((h, d)).or_default().insert(contact);
        }
    }
    r.damaging = damaged.len();
    r.share_fired = r.damaging > 0
        && r.damaging >= policy.min_updates as usize
        && r.damaging as f64 > policy.max_share * seen as f64;
    r.cluster = groups
        .into_iter()
        // Ties broken by name so that the report does not vary between runs.
        .map(|(k, v)| (k, v.len()))
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|((h, d), n)| (h.to_string(), d.to_string(), n));
    r.cluster_fired = policy.cluster_min > 0
        && r.cluster
            .as_ref()
            .is_some_and(|c| c.2 >= policy.cluster_min as usize);
    r.fired = r.share_fired || r.cluster_fired;
    r
}

impl Report {
    fn share(&self) -> f64 {
        if self.seen == 0 {
            0.0
        } else {
            100.0 * self.damaging as f64 / self.seen as f64
        }
    }

    /// What the guard saw, one line.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} of {} contacts ({:.1}%) would be blocked, unsubscribed or deleted \
             (limit {:.0}% once there are {} or more)",
            self.damaging,
            self.seen,
            self.share(),
            self.max_share * 100.0,
            self.min_updates
        );
        match &self.cluster {
            Some((h, d, n)) => s.push_str(&format!(
                "; largest cluster {} at {} with diagnostic \"{}\" (limit {})",
                n,
                printable(h),
                printable(d),
                self.cluster_min
            )),
            None => s.push_str("; no shared host and diagnostic"),
        }
        s.push_str(match (self.fired, self.forced) {
            (false, _) => "; passed",
            (true, true) => "; FIRED, overridden by --force",
            (true, false) => "; FIRED",
        });
        s
    }

    /// The error line when the guard holds a run back.
    pub fn refusal(&self) -> String {
        let mut why = Vec::new();
        if self.share_fired {
            why.push(format!(
                "{} of {} contacts ({:.1}%) would be taken off the list, more than {:.0}%",
                self.damaging,
                self.seen,
                self.share(),
                self.max_share * 100.0
            ));
        }
        if self.cluster_fired
            && let Some((h, d, n)) = &self.cluster
        {
            why.push(format!(
                "{n} share host {} and diagnostic \"{}\" (an outage or a block of the sender?)",
                printable(h),
                printable(d)
            ));
        }
        format!(
            "guard: held back {} updates, nothing applied: {}; rerun with --force to apply",
            self.updates,
            why.join("; ")
        )
    }
}

/// Masks what differs between recipients of one outage: addresses, queue
/// ids, timestamps and other long tokens with digits, so that
/// `550 5.7.1 <a@x> blocked [id 8f3a...]` groups with the same text for
/// `<b@x>`. Status codes (`5.7.1`) and reply codes (`550`) are kept: they
/// are what tells one failure from another.
pub fn normalise_diagnostic(d: &str) -> String {
    let mut out = String::new();
    normalise_diagnostic_into(d, &mut out);
    out
}

/// [`normalise_diagnostic`] into a buffer that is reused across records.
pub fn normalise_diagnostic_into(d: &str, out: &mut String) {
    out.clear();
    push_normalised_diagnostic(d, out);
}

/// [`normalise_diagnostic`] appended to `out`, which may already hold
/// other text (the parser keeps a chunk's diagnostics in one buffer).
pub fn push_normalised_diagnostic(d: &str, out: &mut String) {
    let start = out.len();
    for tok in d.split_ascii_whitespace() {
        if out.len() > start {
            out.push(' ');
        }
        let b = tok.as_bytes();
        if memchr::memchr(b'@', b).is_some() {
            out.push_str("<addr>");
        } else if b.len() >= 6 && b.iter().any(u8::is_ascii_digit) && !is_status(tok) {
            out.push('#');
        } else if tok.is_ascii() {
            let at = out.len();
            out.push_str(tok);
            out[at..].make_ascii_lowercase();
        } else {
            out.extend(tok.chars().flat_map(char::to_lowercase));
        }
        if out.len() - start > 200 {
            break;
        }
    }
}

/// `5.7.1`, possibly in brackets: three groups of at most three digits.
fn is_status(t: &str) -> bool {
    let t = t.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut parts = 0;
    for p in t.split('.') {
        parts += 1;
        if parts > 3 || p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    parts == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_addresses_and_ids() {
        let a = normalise_diagnostic("550 5.1.1 <alice@example.com>: user unknown id=8f3a2c91d");
        let b = normalise_diagnostic("550 5.1.1 <bob@example.com>: User unknown id=77aa12bb0");
        assert_eq!(a, b);
        assert!(a.contains("5.1.1"), "{a}");
        assert_ne!(
            a,
            normalise_diagnostic("550 5.7.1 <bob@example.com>: user unknown")
        );
    }

    #[test]
    fn share_needs_minimum() {
        let p = GuardPolicy::default();
        let one = check(
            &p,
            1,
            std::iter::once((1, Action::Block, None, None)),
            false,
        );
        assert!(!one.fired, "a single hard bounce must pass");
        let many = (0..10).map(|i| (i, Action::Block, Some("mx"), Some("550 #")));
        let r = check(&p, 20, many, false);
        assert!(r.share_fired && r.cluster_fired, "{r:?}");
        let twice = (0..10).map(|i| (i % 2, Action::Block, None, None));
        assert!(!check(&p, 20, twice, false).fired, "two contacts, not ten");
    }
}
