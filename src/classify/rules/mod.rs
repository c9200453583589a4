//! Ordered, named classification rules (bounce-tools(7), RULES),
//! AcyMailing's model: the
//! first rule whose conditions all hold decides category and reason, and a
//! final rule without conditions catches the rest.
//!
//! The built-in list is itself a rule file (`builtin-rules.toml`, compiled
//! into the program), so `--print-rules` shows exactly what runs and a
//! user's file has the same power as ours. Each condition is a
//! case-insensitive regex on one field of a recipient's facts, compiled
//! once, tried only when a rule needs it and at most once per message or
//! recipient.

//!
//! `file` reads rule files, `field` declares the fields a rule can test,
//! `memo` remembers pattern results across messages; this module compiles
//! a rule list and matches it.

mod field;
mod file;
mod memo;
mod named;

pub use file::{BUILTIN_RULES, RuleError};

use super::pattern::Pattern;
use super::prefilter::{Prefilter, Residual};
use super::report::{Delivery, Report};
use super::text::{collapse_ws, truncate_chars};
use super::verdict::Verdict;
use crate::record::{Bounce, Category, Reason};
use field::{Field, field_slot, message_field, recipient_field};
use file::{RuleSpec, WrittenCondition, one_line, parse_file};
use memo::{MEMO, Memo};
use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
struct Condition {
    field: Field,
    negated: bool,
    /// Index of the pattern in its field's set.
    index: usize,
}

#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub category: Category,
    pub reason: Reason,
    pub bounce: Option<Bounce>,
    conditions: Vec<Condition>,
}

#[derive(Debug)]
struct FieldSet {
    single: Vec<Pattern>,
    /// Only for fields with many patterns: for a few, their own literal
    /// prefilters cost less than one more pass over the text.
    prefilter: Option<Prefilter>,
    /// For each pattern whose alternatives are only partly plain
    /// literals: the other alternatives, run when no literal decided.
    part: Vec<Option<Pattern>>,
}

impl FieldSet {
    /// Where pattern `i`'s leftmost-first match is. A pattern split into
    /// plain literals and a residual is searched in its two halves: the
    /// earlier match wins, as in the whole pattern; at the same start the
    /// order of the alternatives decides, so the whole pattern runs.
    fn find(&self, i: usize, text: &str) -> Option<Range<usize>> {
        let whole = &self.single[i];
        let Some(prefilter) = &self.prefilter else {
            return whole.find(text);
        };
        let Some(literal) = prefilter.literal_leftmost(i, text) else {
            return whole.find(text);
        };
        let rest = match prefilter.residual(i) {
            Residual::Nothing => return literal,
            Residual::Whole => return whole.find(text),
            Residual::Part(_) => match &self.part[i] {
                Some(part) => part.find(text),
                None => return whole.find(text),
            },
        };
        match (literal, rest) {
            (Some(a), Some(b)) if a.start == b.start => whole.find(text),
            (Some(a), Some(b)) => Some(if a.start < b.start { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

const MIN_PREFILTERED: usize = 12;

/// A compiled rule list.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    fields: Vec<Option<FieldSet>>,
    id: u64,
}

/// The outcome for one recipient.
#[derive(Debug, Clone)]
pub struct Decision<'r> {
    pub rule: &'r Rule,
    pub evidence: Option<String>,
}

/// A rule pattern: case-insensitive, multi-line for the fields that hold
/// several lines. `pattern` is as rewritten by `ascii_word_boundaries`.
///
/// Compiled the first time a rule needs it: most of the hundreds of
/// built-in patterns are never run for a given input (their literals are
/// absent or an earlier rule decides), and compiling them all would cost
/// a one-message hook run most of its time and memory. A user's pattern
/// is compiled at once (`eager`), so that a bad rule file fails at load;
/// only compiling finds a pattern too big for the size limit. Built-in
/// patterns are known to compile (a test compiles them all).
fn rule_pattern(pattern: &str, field: Field, eager: bool) -> Result<Pattern, String> {
    let p = Pattern::new(pattern, true, matches!(field, Field::Header | Field::Body));
    if eager {
        p.check()?;
    }
    Ok(p)
}

impl RuleSet {
    pub fn builtin() -> RuleSet {
        Self::load(&[]).expect("built-in rules are valid")
    }

    /// Built-ins plus the given files, each file's rules tried before the
    /// rules loaded so far unless it says `replace = true`.
    /// Named patterns are shared by all the files: a later file's
    /// definition replaces an earlier one's, in the built-in rules too.
    pub fn load(files: &[(String, String)]) -> Result<RuleSet, RuleError> {
        let mut read = vec![(
            "built-in rules".to_string(),
            parse_file("built-in rules", BUILTIN_RULES)?,
        )];
        for (name, text) in files {
            read.push((name.clone(), parse_file(name, text)?));
        }
        let mut named = std::collections::BTreeMap::new();
        for (name, file) in &mut read {
            named::check_definitions(&file.patterns).map_err(|message| RuleError::File {
                file: name.clone(),
                message,
            })?;
            named.append(&mut file.patterns);
        }
        let mut specs = Vec::new();
        for (name, file) in read {
            let mut rules = file.rule;
            for spec in &mut rules {
                let rule = spec.name.clone();
                for pattern in spec.patterns_mut() {
                    *pattern =
                        named::expand(pattern, &named).map_err(|message| RuleError::Rule {
                            file: name.clone(),
                            rule: rule.clone(),
                            message,
                        })?;
                }
            }
            if file.replace {
                specs = rules;
            } else {
                rules.extend(specs);
                specs = rules;
            }
        }
        Self::compile(
            specs,
            files.last().map_or("built-in rules", |f| f.0.as_str()),
            !files.is_empty(),
        )
    }

    /// `eager`: compile every pattern now (a user's rule file is in).
    fn compile(specs: Vec<RuleSpec>, origin: &str, eager: bool) -> Result<RuleSet, RuleError> {
        if specs.is_empty() {
            return Err(RuleError::File {
                file: origin.into(),
                message:
                    "no rules left: a rule file with `replace = true` needs at least one [[rule]]"
                        .into(),
            });
        }
        let mut patterns: Vec<Vec<String>> = vec![Vec::new(); Field::ALL.len()];
        let mut compiled: Vec<Vec<Pattern>> = Field::ALL.iter().map(|_| Vec::new()).collect();
        let mut rules = Vec::with_capacity(specs.len());
        let mut names = HashSet::new();
        for spec in specs {
            let err = |message: String| RuleError::Rule {
                file: origin.into(),
                rule: spec.name.clone(),
                message,
            };
            if spec.name.trim().is_empty() {
                return Err(RuleError::File {
                    file: origin.into(),
                    message: "a rule has an empty name".into(),
                });
            }
            if !names.insert(spec.name.clone()) {
                // A user rule may shadow a built-in of the same name: the
                // earlier (user) one wins, the later one is dropped.
                continue;
            }
            let reason: Reason = spec.reason.parse().map_err(&err)?;
            let category = match &spec.category {
                Some(c) => c.parse().map_err(&err)?,
                None => reason.default_category(),
            };
            let bounce = match &spec.bounce {
                Some(b) => Some(b.parse().map_err(&err)?),
                None => None,
            };
            let mut conditions = Vec::new();
            for WrittenCondition {
                field,
                negated,
                pattern: written,
            } in spec.conditions()
            {
                let slot = field_slot(field);
                let pattern = &super::text::ascii_word_boundaries(written);
                let index = match patterns[slot].iter().position(|p| p == pattern) {
                    Some(i) => i,
                    None => {
                        let re = rule_pattern(pattern, field, eager).map_err(|e| {
                            err(format!("{}: bad pattern: {}", field.name(), one_line(&e)))
                        })?;
                        patterns[slot].push(pattern.to_string());
                        compiled[slot].push(re);
                        patterns[slot].len() - 1
                    }
                };
                conditions.push(Condition {
                    field,
                    negated,
                    index,
                });
            }
            // Conditions are all tests without side effects: any order
            // gives the same verdict, the cheapest first the fastest.
            conditions.sort_by_key(|c| c.field.evaluation_cost());
            rules.push(Rule {
                name: spec.name,
                category,
                reason,
                bounce,
                conditions,
            });
        }
        let mut fields = Vec::with_capacity(compiled.len());
        for ((single, rewritten), field) in compiled.into_iter().zip(&patterns).zip(Field::ALL) {
            if single.is_empty() {
                fields.push(None);
                continue;
            }
            let prefilter = (single.len() >= MIN_PREFILTERED)
                .then(|| Prefilter::new(rewritten.iter().map(String::as_str), true));
            let mut part = Vec::with_capacity(single.len());
            for i in 0..single.len() {
                part.push(match prefilter.as_ref().map(|p| p.residual(i)) {
                    Some(Residual::Part(source)) => {
                        let p =
                            rule_pattern(source, field, eager).map_err(|e| RuleError::File {
                                file: origin.into(),
                                message: format!("{}: bad pattern: {}", field.name(), one_line(&e)),
                            })?;
                        Some(p)
                    }
                    _ => None,
                });
            }
            fields.push(Some(FieldSet {
                single,
                prefilter,
                part,
            }));
        }
        Ok(RuleSet {
            rules,
            fields,
            id: NEXT_RULE_SET_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A fresh memo for one message: which patterns matched, filled in as
    /// the rules need them and shared by the recipients of the message.
    pub fn message_matches(&self, _report: &Report) -> Matches {
        Matches::default()
    }

    /// The first rule that holds for this recipient. Patterns are tried one
    /// by one as the rules need them, each at most once per message (message
    /// fields) or per recipient: most recipients are decided by an early
    /// rule, and every pattern has its own literal prefilter, so this beats
    /// running hundreds of patterns as one set.
    pub fn decide<'r>(
        &'r self,
        report: &Report,
        message: &mut Matches,
        delivery: &Delivery,
    ) -> Option<Decision<'r>> {
        MEMO.with_borrow_mut(|memo| self.decide_with(memo, report, message, delivery))
    }

    fn decide_with<'r>(
        &'r self,
        memo: &mut Memo,
        report: &Report,
        message: &mut Matches,
        delivery: &Delivery,
    ) -> Option<Decision<'r>> {
        if memo.owner != self.id {
            *memo = Memo::for_rule_set(self.id);
        }
        let code = delivery
            .smtp_code
            .map(|c| c.to_string())
            .unwrap_or_default();
        let text_of = |field: Field| {
            if field.per_recipient() {
                recipient_field(delivery, field, &code)
            } else {
                message_field(report, field)
            }
        };
        let mut recipient_memo: [Vec<Verdict>; Field::COUNT] = Default::default();
        // Fields whose results changed in this call and go back to `memo`.
        let mut dirty = 0u32;
        let mut holds = |c: &Condition| -> bool {
            let slot = c.field as usize;
            let Some(fs) = &self.fields[slot] else {
                return c.negated;
            };
            let cache = if c.field.per_recipient() {
                &mut recipient_memo[slot]
            } else {
                &mut message.hits[slot]
            };
            if cache.is_empty() {
                let text = text_of(c.field);
                if let Some(known) = memo.lookup(c.field, text) {
                    cache.extend_from_slice(known);
                } else {
                    // Patterns whose literals are absent are settled as
                    // non-matching before any of them runs.
                    match &fs.prefilter {
                        Some(prefilter) => cache.extend(prefilter.candidates(text)),
                        None => cache.resize(fs.single.len(), Verdict::Unknown),
                    }
                    dirty |= 1 << slot;
                }
            }
            let open = cache[c.index];
            if !open.is_settled() {
                let whole = &fs.single[c.index];
                let matched = open.settle(whole, fs.part[c.index].as_ref(), text_of(c.field));
                cache[c.index] = Verdict::from_match(matched);
                dirty |= 1 << slot;
            }
            (cache[c.index] == Verdict::Yes) != c.negated
        };
        let rule = self
            .rules
            .iter()
            .find(|r| r.conditions.iter().all(&mut holds));
        for field in Field::ALL {
            let slot = field as usize;
            if dirty & (1 << slot) != 0 {
                let results = if field.per_recipient() {
                    &recipient_memo[slot]
                } else {
                    &message.hits[slot]
                };
                memo.store(field, text_of(field), results);
            }
        }
        let rule = rule?;
        let evidence = rule
            .conditions
            .iter()
            .filter(|c| !c.negated)
            .min_by_key(|c| c.field.evidence_rank())
            .and_then(|c| {
                let text = text_of(c.field);
                let fs = self.fields[c.field as usize].as_ref()?;
                fs.find(c.index, text)
                    .map(|x| evidence_text(text, x.start, x.end))
            });
        Some(Decision { rule, evidence })
    }
}

/// Tells rule sets apart in the per-thread memo.
static NEXT_RULE_SET_ID: AtomicU64 = AtomicU64::new(1);

/// Which patterns of each field matched: per pattern a
/// `Verdict`, final once the pattern ran.
#[derive(Debug, Clone, Default)]
pub struct Matches {
    hits: [Vec<Verdict>; Field::COUNT],
}

/// The matched text on one line, at most 200 characters. A match of a
/// character or two (a pattern like `.` that only asks "is there a value")
/// says nothing, so the line it is on is shown instead.
fn evidence_text(text: &str, start: usize, end: usize) -> String {
    let matched = collapse_ws(&text[start..end]);
    let s = if matched.chars().count() >= 3 {
        matched
    } else {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        collapse_ws(&text[line_start..line_end])
    };
    truncate_chars(&s, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{ExitCode, ToExitCode};

    /// The literal pass and the residuals answer like the built-in
    /// patterns themselves, on every line and every whole text of the
    /// project's fixtures.
    #[test]
    fn builtin_verdicts_agree_with_the_patterns() {
        let rs = RuleSet::builtin();
        let mut texts: Vec<String> = Vec::new();
        for fixture in crate::classify::fixtures::fixture_texts() {
            let text = fixture.text;
            texts.extend(text.lines().map(crate::classify::text::collapse_ws));
            texts.push(text);
        }
        assert!(texts.len() > 1000, "{} texts", texts.len());
        let mut decided = 0;
        let mut found_by_literals = 0;
        for set in rs.fields.iter().flatten() {
            let Some(prefilter) = &set.prefilter else {
                continue;
            };
            for text in &texts {
                for (i, v) in prefilter.candidates(text).into_iter().enumerate() {
                    let whole = set.single[i].is_match(text);
                    let said = v.settle(&set.single[i], set.part[i].as_ref(), text);
                    assert_eq!(said, whole, "{} on {text:?}", set.single[i].source());
                    decided += usize::from(v == Verdict::Yes);
                    let found = set.find(i, text);
                    assert_eq!(
                        found,
                        set.single[i].find(text),
                        "{} on {text:?}",
                        set.single[i].source()
                    );
                    found_by_literals += usize::from(
                        found.is_some()
                            && prefilter
                                .literal_leftmost(i, text)
                                .is_some_and(|m| m == found),
                    );
                }
            }
        }
        assert!(decided > 0 && found_by_literals > 0);
    }

    #[test]
    fn field_slots_follow_the_field_list() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(field_slot(*f), i, "{}", f.name());
        }
    }

    #[test]
    fn builtins_compile_and_end_with_final() {
        let rs = RuleSet::builtin();
        let mut patterns = 0;
        for set in rs.fields.iter().flatten() {
            for pattern in set.single.iter().chain(set.part.iter().flatten()) {
                let checked = pattern.check();
                assert!(checked.is_ok(), "{}: {checked:?}", pattern.source());
                patterns += 1;
            }
        }
        assert!(patterns > 300, "{patterns} built-in patterns");
        assert_eq!(rs.rules().last().unwrap().name, "final");
        assert!(rs.rules().last().unwrap().conditions.is_empty());
    }

    /// A search's working memory stays small on non-ASCII text, where the
    /// Unicode form runs and the lazy DFA may hand over to the PikeVM
    /// (whose table once held a slot per group per state: a gigabyte for
    /// one long alternation, per thread).
    #[test]
    fn builtins_search_non_ascii_text_in_little_memory() {
        let text = "Ваше письмо не доставлено: адрес больше не используется.\n\
                    Your message has moved to a new address. Хвала.\n\
                    メールアドレスは変更されました。새 주소로 보내 주세요.";
        let rs = RuleSet::builtin();
        for set in rs.fields.iter().flatten() {
            for pattern in set.single.iter().chain(set.part.iter().flatten()) {
                let re = pattern.unicode_matches();
                let mut cache = re.create_cache();
                let input = regex_automata::Input::new(text);
                let _ = re.search_with(&mut cache, &input);
                let used = cache.memory_usage();
                assert!(used < 16 << 20, "{used} bytes: {}", pattern.source());
            }
        }
    }

    #[test]
    fn bad_rule_files_name_the_problem() {
        let bad_regex = "[[rule]]\nname = \"x\"\nreason = \"blocked\"\nbody = \"(\"\n";
        let e = RuleSet::load(&[("my.toml".into(), bad_regex.into())]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("my.toml: rule \"x\": body: bad pattern"),
            "{e}"
        );
        let bad_reason = "[[rule]]\nname = \"y\"\nreason = \"nope\"\n";
        let e = RuleSet::load(&[("my.toml".into(), bad_reason.into())]).unwrap_err();
        assert!(e.to_string().contains("rule \"y\": unknown reason"), "{e}");
        let unknown_key = "[[rule]]\nname = \"z\"\nreason = \"blocked\"\nsubjekt = \"x\"\n";
        let e = RuleSet::load(&[("my.toml".into(), unknown_key.into())]).unwrap_err();
        assert!(e.to_string().contains("my.toml: line 4"), "{e}");
        assert_eq!(e.exit_code(), ExitCode::Config);
    }
}
