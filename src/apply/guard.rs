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
    updates: impl Iterator<Item = GuardItem<'a>>,
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
        && r.damaging as f64 > policy.max_share * seen as f64;
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
                "{} of {} contacts ({:.1}%) would be taken off the list, more than {:.0}%",
                self.damaging,
                self.seen,
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
            "guard: held back {} updates, nothing applied: {}; rerun with --force to apply",
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
        let one = check(&p, 1, std::iter::once(item(1, None, None)), false);
        assert!(!one.fired, "a single hard bounce must pass");
        let many = (0..10).map(|i| item(i, Some("mx"), Some("550 #")));
        let r = check(&p, 20, many, false);
        assert!(r.share_fired && r.cluster_fired, "{r:?}");
        let twice = (0..10).map(|i| item(i % 2, None, None));
        assert!(!check(&p, 20, twice, false).fired, "two contacts, not ten");
    }

    #[test]
    fn describes_the_largest_cluster_and_the_refusal() {
        let p = GuardPolicy::default();
        let many = (0..12).map(|i| item(i, Some("mx.example"), Some("550 5.7.1 <addr> blocked")));
        let r = check(&p, 100, many, false);
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
             rerun with --force to apply"
        );
    }
}
