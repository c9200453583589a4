//! The set of items already written, for dropping an ESP event delivered
//! twice or a log line read twice (bclassify(1), ESP EVENTS). Memory is
//! bounded: the keys are kept as 64-bit hashes in two generations of at
//! most [`GENERATION`] each; when the current one is full the older is
//! dropped. So a duplicate is always caught within the last million items
//! and may pass beyond two million (bapply still counts it once: it keys
//! events by provider and event id).

use std::collections::HashSet;
use std::hash::BuildHasher;

/// Keys per generation (about 16 MB per generation at most).
pub const GENERATION: usize = 1 << 20;

#[derive(Default)]
pub struct Seen {
    current: HashSet<u64>,
    older: HashSet<u64>,
    hasher: std::hash::RandomState,
}

impl Seen {
    /// Whether every key was seen before (true only for a non-empty
    /// list); records all of them.
    pub fn all_seen(&mut self, keys: &[String]) -> bool {
        if keys.is_empty() {
            return false;
        }
        let mut all = true;
        for key in keys {
            let h = self.hasher.hash_one(key);
            if !self.current.contains(&h) && !self.older.contains(&h) {
                all = false;
                if self.current.len() >= GENERATION {
                    self.older = std::mem::take(&mut self.current);
                }
                self.current.insert(h);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets_in_generations() {
        let mut seen = Seen::default();
        assert!(!seen.all_seen(&[]));
        assert!(!seen.all_seen(&["a".into()]));
        assert!(seen.all_seen(&["a".into()]));
        assert!(!seen.all_seen(&["a".into(), "b".into()]));
        assert!(seen.all_seen(&["b".into(), "a".into()]));
    }
}
