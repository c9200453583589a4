//! The per-thread memo of pattern results for field values that repeat
//! across messages.

use super::field::Field;
use crate::classify::verdict::Verdict;
use foldhash::HashMap;
use std::cell::RefCell;

/// Longest field value whose pattern results are remembered.
const MEMO_MAX_TEXT: usize = 255;
/// Values remembered per field; the memo of a field starts over when full.
const MEMO_MAX_VALUES: usize = 4096;

/// What the patterns of a field made of a value, kept per thread across
/// messages for the fields whose values come from a small set: status
/// codes, reply codes, actions, commands, format names, remote hosts. A
/// pattern not yet in cache memory costs about a microsecond to run; a
/// lookup costs a hash of a few bytes. Only for the rule set `owner`.
#[derive(Default)]
pub(super) struct Memo {
    pub owner: u64,
    values: [HashMap<Box<str>, Box<[Verdict]>>; Field::COUNT],
}

impl Memo {
    /// An empty memo for the rule set `owner`.
    pub fn for_rule_set(owner: u64) -> Memo {
        Memo {
            owner,
            ..Memo::default()
        }
    }

    fn remembers(field: Field, text: &str) -> bool {
        text.len() <= MEMO_MAX_TEXT
            && matches!(
                field,
                Field::Mta
                    | Field::FeedbackType
                    | Field::Kind
                    | Field::ContentType
                    | Field::Status
                    | Field::SmtpCode
                    | Field::Action
                    | Field::Command
                    | Field::DiagnosticType
                    | Field::BounceCategory
                    | Field::RemoteMta
            )
    }

    pub fn lookup(&self, field: Field, text: &str) -> Option<&[Verdict]> {
        if !Self::remembers(field, text) {
            return None;
        }
        self.values[field as usize].get(text).map(|v| &**v)
    }

    pub fn store(&mut self, field: Field, text: &str, results: &[Verdict]) {
        if !Self::remembers(field, text) {
            return;
        }
        let values = &mut self.values[field as usize];
        if let Some(known) = values.get_mut(text) {
            known.copy_from_slice(results);
            return;
        }
        if values.len() >= MEMO_MAX_VALUES {
            values.clear();
        }
        values.insert(text.into(), results.into());
    }
}

thread_local! {
    pub(super) static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}
