//! The mass-damage guard (bapply(1), Mass-damage guard): before a run
//! changes anything, look at what it would take off the list. A share of
//! the addresses seen that is too large, or many failures behind one
//! remote host with one diagnostic, is what an outage or a block of the
//! sender looks like; dead addresses come one by one with diagnostics of
//! their own. Then nothing is applied unless `--force` says so.

use super::action::Action;
use super::policy::GuardPolicy;
use super::printable::printable;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

/// One update the run would make, as the guard looks at it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardItem<'a> {
    /// The contact's id in the state: several updates of one contact
    /// count once.
    pub contact_id: i64,
    pub action: Action,
    /// The remote host, or the recipient's domain.
    pub host: Option<&'a str>,
    /// The diagnostic with addresses and ids masked.
    pub diagnostic: Option<&'a str>,
}

/// The largest group of damaging updates sharing one host and one
/// diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub host: String,
    pub diagnostic: String,
    /// Distinct contacts in the group.
    pub contacts: usize,
}

/// What the guard saw and decided.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seen: usize,
    /// The list size, when known (`--list-size`, or counted in the
    /// `--apply` target): the share is judged against it, so that a first
    /// run over a backlog of old bounces is measured against the whole
    /// list, not against the addresses that bounced.
    pub list_size: Option<usize>,
    pub damaging: usize,
    pub updates: usize,
    pub max_share: f64,
    pub min_updates: u32,
    pub share_fired: bool,
    pub cluster: Option<Cluster>,
    pub cluster_min: u32,
    pub cluster_fired: bool,
    pub fired: bool,
    pub forced: bool,
}

/// Looks at a run's updates, of `seen` contacts in all.
pub(crate) fn check<'a>(
    policy: &GuardPolicy,
    seen: usize,
    list_size: Option<usize>,
    updates: impl Iterator<Item = GuardItem<'a>>,
    force: bool,
) -> Report {
    let mut r = Report {
        seen,
        list_size,
        max_share: policy.max_share,
        min_updates: policy.min_updates,
        cluster_min: policy.cluster_min,
        forced: force,
        ..Report::default()
    };
    let mut groups: HashMap<(&str, &str), HashSet<i64>> = HashMap::new();
    let mut damaged: HashSet<i64> = HashSet::new();
    for u in updates {
        r.updates += 1;
        if !u.action.is_damaging() {
            continue;
        }
        damaged.insert(u.contact_id);
        if let (Some(h), Some(d)) = (u.host, u.diagnostic) {
            groups.entry((h, d)).or_default().insert(u.contact_id);
        }
    }
    r.damaging = damaged.len();
    r.share_fired = r.damaging > 0
        && r.damaging >= policy.min_updates as usize
        && r.damaging as f64 > policy.max_share * r.base() as f64;
    r.cluster = groups
        .into_iter()
        // Ties broken by name so that the report does not vary between runs.
        .map(|(k, v)| (k, v.len()))
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|((h, d), n)| Cluster {
            host: h.to_string(),
            diagnostic: d.to_string(),
            contacts: n,
        });
    r.cluster_fired = policy.cluster_min > 0
        && r.cluster
            .as_ref()
            .is_some_and(|c| c.contacts >= policy.cluster_min as usize);
    r.fired = r.share_fired || r.cluster_fired;
    r
}

impl Report {
    /// What the share is judged against: the list size when known (never
    /// less than the contacts seen), else the contacts seen.
    fn base(&self) -> usize {
        self.list_size.map_or(self.seen, |n| n.max(self.seen))
    }

    /// "of 12 contacts" or "of 10000 on the list".
    fn of(&self) -> String {
        match self.list_size {
            Some(_) => format!("of {} on the list", self.base()),
            None => format!("of {} contacts", self.seen),
        }
    }

    fn share(&self) -> f64 {
        if self.base() == 0 {
            0.0
        } else {
            100.0 * self.damaging as f64 / self.base() as f64
        }
    }

    /// What the guard saw, one line.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {} ({:.1}%) would be blocked, unsubscribed or deleted \
             (limit {:.0}% once there are {} or more)",
            self.damaging,
            self.of(),
            self.share(),
            self.max_share * 100.0,
            self.min_updates
        );
        match &self.cluster {
            Some(c) => s.push_str(&format!(
                "; largest cluster {} at {} with diagnostic \"{}\" (limit {})",
                c.contacts,
                printable(&c.host),
                printable(&c.diagnostic),
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
                "{} {} ({:.1}%) would be taken off the list, more than {:.0}%",
                self.damaging,
                self.of(),
                self.share(),
                self.max_share * 100.0
            ));
        }
        if self.cluster_fired
            && let Some(c) = &self.cluster
        {
            why.push(format!(
                "{} share host {} and diagnostic \"{}\" (an outage or a block of the sender?)",
                c.contacts,
                printable(&c.host),
                printable(&c.diagnostic)
            ));
        }
        format!(
            "guard: held back {} updates, nothing applied: {}; review them with --dry-run, \
             then rerun with --force (or give --list-size) to apply",
            self.updates,
            why.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item<'a>(
        contact_id: i64,
        host: Option<&'a str>,
        diagnostic: Option<&'a str>,
    ) -> GuardItem<'a> {
        GuardItem {
            contact_id,
            action: Action::Block,
            host,
            diagnostic,
        }
    }

    #[test]
    fn share_needs_minimum() {
        let p = GuardPolicy::default();
        let one = check(&p, 1, None, std::iter::once(item(1, None, None)), false);
        assert!(!one.fired, "a single hard bounce must pass");
        let many = (0..10).map(|i| item(i, Some("mx"), Some("550 #")));
        let r = check(&p, 20, None, many, false);
        assert!(r.share_fired && r.cluster_fired, "{r:?}");
        let twice = (0..10).map(|i| item(i % 2, None, None));
        assert!(
            !check(&p, 20, None, twice, false).fired,
            "two contacts, not ten"
        );
    }

    #[test]
    fn share_against_the_list_size_when_known() {
        let p = GuardPolicy::default();
        let backlog = || (0..1000).map(|i| item(i, None, None));
        assert!(check(&p, 1000, None, backlog(), false).share_fired);
        let r = check(&p, 1000, Some(10_000), backlog(), false);
        assert!(!r.fired, "{r:?}");
        assert!(
            r.describe()
                .starts_with("1000 of 10000 on the list (10.0%)")
        );
        assert!(check(&p, 1000, Some(2_000), backlog(), false).share_fired);
    }

    #[test]
    fn describes_the_largest_cluster_and_the_refusal() {
        let p = GuardPolicy::default();
        let many = (0..12).map(|i| item(i, Some("mx.example"), Some("550 5.7.1 <addr> blocked")));
        let r = check(&p, 100, None, many, false);
        assert!(r.fired && !r.share_fired && r.cluster_fired, "{r:?}");
        assert_eq!(
            r.describe(),
            "12 of 100 contacts (12.0%) would be blocked, unsubscribed or deleted \
             (limit 20% once there are 10 or more); largest cluster 12 at mx.example \
             with diagnostic \"550 5.7.1 <addr> blocked\" (limit 10); FIRED"
        );
        assert_eq!(
            r.refusal(),
            "guard: held back 12 updates, nothing applied: 12 share host mx.example and \
             diagnostic \"550 5.7.1 <addr> blocked\" (an outage or a block of the sender?); \
             review them with --dry-run, then rerun with --force (or give --list-size) to apply"
        );
    }
}
