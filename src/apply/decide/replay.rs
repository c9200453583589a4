//! A contact's history replayed under the policy: which categories have
//! crossed their threshold within their window since their last reset
//! (bapply(1)).

use super::super::action::Action;
use super::super::policy::Policy;
use crate::record::Category;

/// One event of a contact's history: the state's and this input's alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HistoryEvent {
    pub category: Category,
    /// Unix seconds.
    pub at: i64,
    /// A `--good` reset: clears every count up to `at`.
    pub good: bool,
}

const CATEGORIES: usize = Category::ALL.len();

/// The policy as arrays indexed by category, for the replay's inner loop.
pub(super) struct CategoryRules {
    pub action: [Action; CATEGORIES],
    threshold: [usize; CATEGORIES],
    /// Seconds; 0 means no window.
    window: [i64; CATEGORIES],
    resets: Vec<Vec<usize>>,
    /// `--max-age`: events dated before this (Unix seconds) count toward
    /// nothing; they still reset what they follow.
    pub cutoff: i64,
}

impl CategoryRules {
    pub(super) fn new(policy: &Policy, cutoff: i64) -> CategoryRules {
        let mut r = CategoryRules {
            action: [Action::None; CATEGORIES],
            threshold: [1; CATEGORIES],
            window: [0; CATEGORIES],
            resets: vec![Vec::new(); CATEGORIES],
            cutoff,
        };
        for &c in Category::ALL {
            let p = policy.for_category(c);
            let i = c as usize;
            r.action[i] = p.action;
            r.threshold[i] = p.threshold as usize;
            r.window[i] = i64::from(p.window_days) * 86_400;
            r.resets[i] = p.resets.iter().map(|c| *c as usize).collect();
        }
        r
    }
}

/// Where one category of one contact stands after its history.
#[derive(Debug, Default, Clone)]
pub(super) struct Streak {
    /// Events since the last reset.
    pub count: u32,
    /// Dates of the first and the latest of them.
    pub first: i64,
    pub last: i64,
    /// At some point since the last reset, `threshold` events fell within
    /// the window.
    pub crossed: bool,
    /// Dates since the last reset, in replay order.
    times: Vec<i64>,
}

/// Replays a contact's history in date order. Replaying, rather than
/// keeping counters, is what makes a `delivered` clear exactly the soft
/// bounces dated before it, and a window hold however the records arrive.
/// The buffers are reused from one contact to the next.
pub(super) struct HistoryReplay {
    streaks: Vec<Streak>,
}

impl HistoryReplay {
    pub(super) fn new() -> HistoryReplay {
        HistoryReplay {
            streaks: vec![Streak::default(); CATEGORIES],
        }
    }

    pub(super) fn run(&mut self, rules: &CategoryRules, events: &mut [HistoryEvent]) {
        for s in &mut self.streaks {
            s.clear();
        }
        // On the same second a reset goes last: it clears only what it follows.
        events.sort_unstable_by_key(|e| {
            (
                e.at,
                e.good || !rules.resets[e.category as usize].is_empty(),
            )
        });
        for &HistoryEvent { category, at, good } in events.iter() {
            if good {
                for s in &mut self.streaks {
                    s.clear();
                }
                continue;
            }
            let i = category as usize;
            for &r in &rules.resets[i] {
                self.streaks[r].clear();
            }
            if rules.action[i] == Action::None || at < rules.cutoff {
                continue;
            }
            let s = &mut self.streaks[i];
            if s.count == 0 {
                s.first = at;
            }
            s.count += 1;
            s.last = s.last.max(at);
            s.times.push(at);
            let t = rules.threshold[i];
            let n = s.times.len();
            if n >= t && (rules.window[i] == 0 || at - s.times[n - t] <= rules.window[i]) {
                s.crossed = true;
            }
        }
    }

    pub(super) fn get(&self, c: Category) -> &Streak {
        &self.streaks[c as usize]
    }
}

impl Streak {
    fn clear(&mut self) {
        self.count = 0;
        self.first = 0;
        self.last = 0;
        self.crossed = false;
        self.times.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn replay(events: &[(Category, i64)]) -> HistoryReplay {
        replay_with(events, i64::MIN)
    }

    /// `Category::Unknown` at a date stands for a `--good` reset.
    fn replay_with(events: &[(Category, i64)], cutoff: i64) -> HistoryReplay {
        let rules = CategoryRules::new(&Policy::default(), cutoff);
        let mut history: Vec<HistoryEvent> = events
            .iter()
            .map(|&(category, at)| HistoryEvent {
                category,
                at,
                good: category == Category::Unknown,
            })
            .collect();
        let mut r = HistoryReplay::new();
        r.run(&rules, &mut history);
        r
    }

    /// The default policy: three soft bounces within thirty days block.
    #[test]
    fn soft_crosses_at_the_third_within_the_window() {
        use Category::Soft;
        let r = replay(&[(Soft, 0), (Soft, 10 * DAY), (Soft, 20 * DAY)]);
        let s = r.get(Soft);
        assert!(s.crossed);
        assert_eq!((s.count, s.first, s.last), (3, 0, 20 * DAY));
        let r = replay(&[(Soft, 0), (Soft, 20 * DAY), (Soft, 40 * DAY)]);
        assert!(!r.get(Soft).crossed, "31+ days apart");
    }

    /// A delivery clears the soft bounces dated before it, in whatever
    /// order the records came; on the same second it goes last.
    #[test]
    fn delivered_resets_what_came_before_it() {
        use Category::{Delivered, Soft};
        let r = replay(&[(Soft, 2), (Delivered, 1), (Soft, 0), (Soft, 3)]);
        assert!(!r.get(Soft).crossed);
        assert_eq!(r.get(Soft).count, 2);
        let r = replay(&[(Soft, 1), (Soft, 2), (Soft, 3), (Delivered, 3)]);
        assert_eq!(r.get(Soft).count, 0);
        let r = replay(&[(Delivered, 0), (Soft, 1), (Soft, 2), (Soft, 3)]);
        assert!(r.get(Soft).crossed);
    }

    /// `--good` clears every count up to its date; `--max-age` keeps old
    /// events from counting.
    #[test]
    fn good_resets_and_old_events_count_nothing() {
        use Category::{Failed, Hard, Soft, Unknown};
        let r = replay_with(
            &[(Soft, 1), (Failed, 1), (Soft, 2), (Unknown, 2), (Soft, 3)],
            0,
        );
        assert_eq!((r.get(Soft).count, r.get(Failed).count), (1, 0));
        let r = replay_with(&[(Hard, 10), (Soft, 20), (Soft, 21), (Soft, 22)], 21);
        assert!(!r.get(Hard).crossed, "too old");
        assert_eq!(r.get(Soft).count, 2);
        assert!(!r.get(Soft).crossed);
    }

    #[test]
    fn categories_without_action_count_nothing() {
        let r = replay(&[(Category::Delayed, 0), (Category::Hard, 5)]);
        assert_eq!(r.get(Category::Delayed).count, 0);
        assert!(r.get(Category::Hard).crossed);
    }
}
