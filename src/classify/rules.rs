//! Ordered, named classification rules (SPEC §5), AcyMailing's model: the
//! first rule whose conditions all hold decides category and reason, and a
//! final rule without conditions catches the rest.
//!
//! The built-in list is itself a rule file (`builtin-rules.toml`, compiled
//! into the program), so `--print-rules` shows exactly what runs and a
//! user's file has the same power as ours. Each condition is a
//! case-insensitive regex on one field of a recipient's facts, compiled
//! once, tried only when a rule needs it and at most once per message or
//! recipient.

use super::pattern::Pattern;
use super::prefilter::{Prefilter, Residual};
use super::report::Delivery;
use super::report::Report;
use super::verdict::Verdict;
use crate::exit::{ExitCode, ToExitCode};
use crate::record::{Bounce, Category, Reason};
use foldhash::HashMap;
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// The rules that ship in the program, in the user's rule-file format.
pub const BUILTIN_RULES: &str = include_str!("builtin-rules.toml");

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}: rule {rule:?}: {message}")]
    Rule {
        file: String,
        rule: String,
        message: String,
    },
}

impl ToExitCode for RuleError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Config
    }
}

/// What a rule can look at. Message fields are the same for every
/// recipient of a message; recipient fields differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Subject,
    From,
    To,
    Header,
    Body,
    ContentType,
    Mta,
    FeedbackType,
    Kind,
    Diagnostic,
    Status,
    SmtpCode,
    Action,
    Command,
    Recipient,
    RemoteMta,
    DiagnosticType,
}

impl Field {
    pub const ALL: [Field; 17] = [
        Field::Subject,
        Field::From,
        Field::To,
        Field::Header,
        Field::Body,
        Field::ContentType,
        Field::Mta,
        Field::FeedbackType,
        Field::Kind,
        Field::Diagnostic,
        Field::Status,
        Field::SmtpCode,
        Field::Action,
        Field::Command,
        Field::Recipient,
        Field::RemoteMta,
        Field::DiagnosticType,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Subject => "subject",
            Field::From => "from",
            Field::To => "to",
            Field::Header => "header",
            Field::Body => "body",
            Field::ContentType => "content_type",
            Field::Mta => "mta",
            Field::FeedbackType => "feedback_type",
            Field::Kind => "kind",
            Field::Diagnostic => "diagnostic",
            Field::Status => "status",
            Field::SmtpCode => "smtp_code",
            Field::Action => "action",
            Field::Command => "command",
            Field::Recipient => "recipient",
            Field::RemoteMta => "remote_mta",
            Field::DiagnosticType => "diagnostic_type",
        }
    }

    fn per_recipient(self) -> bool {
        matches!(
            self,
            Field::Diagnostic
                | Field::Status
                | Field::SmtpCode
                | Field::Action
                | Field::Command
                | Field::Recipient
                | Field::RemoteMta
                | Field::DiagnosticType
        )
    }

    /// Which field's match is shown as evidence when several decided.
    fn evidence_rank(self) -> u8 {
        match self {
            Field::Diagnostic => 0,
            Field::Body => 1,
            Field::Subject => 2,
            Field::Header => 3,
            Field::FeedbackType => 4,
            Field::Status => 5,
            Field::Action => 6,
            Field::SmtpCode => 7,
            Field::From => 8,
            Field::To => 9,
            Field::Recipient => 10,
            Field::RemoteMta => 11,
            Field::DiagnosticType => 16,
            Field::Command => 12,
            Field::ContentType => 13,
            Field::Mta => 14,
            Field::Kind => 15,
        }
    }
}

/// One rule as written in a rule file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub bounce: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub mta: Option<String>,
    #[serde(default)]
    pub feedback_type: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub diagnostic: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub smtp_code: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub recipient: Option<String>,
    #[serde(default)]
    pub remote_mta: Option<String>,
    #[serde(default)]
    pub not_subject: Option<String>,
    #[serde(default)]
    pub not_from: Option<String>,
    #[serde(default)]
    pub not_to: Option<String>,
    #[serde(default)]
    pub not_header: Option<String>,
    #[serde(default)]
    pub not_body: Option<String>,
    #[serde(default)]
    pub not_content_type: Option<String>,
    #[serde(default)]
    pub not_mta: Option<String>,
    #[serde(default)]
    pub not_feedback_type: Option<String>,
    #[serde(default)]
    pub not_kind: Option<String>,
    #[serde(default)]
    pub not_diagnostic: Option<String>,
    #[serde(default)]
    pub not_status: Option<String>,
    #[serde(default)]
    pub not_smtp_code: Option<String>,
    #[serde(default)]
    pub not_action: Option<String>,
    #[serde(default)]
    pub not_command: Option<String>,
    #[serde(default)]
    pub not_recipient: Option<String>,
    #[serde(default)]
    pub not_remote_mta: Option<String>,
    #[serde(default)]
    pub diagnostic_type: Option<String>,
    #[serde(default)]
    pub not_diagnostic_type: Option<String>,
}

impl RuleSpec {
    /// (field, negated, pattern) for every condition the rule states.
    fn conditions(&self) -> Vec<(Field, bool, &str)> {
        let pos = [
            (Field::Subject, &self.subject),
            (Field::From, &self.from),
            (Field::To, &self.to),
            (Field::Header, &self.header),
            (Field::Body, &self.body),
            (Field::ContentType, &self.content_type),
            (Field::Mta, &self.mta),
            (Field::FeedbackType, &self.feedback_type),
            (Field::Kind, &self.kind),
            (Field::Diagnostic, &self.diagnostic),
            (Field::Status, &self.status),
            (Field::SmtpCode, &self.smtp_code),
            (Field::Action, &self.action),
            (Field::Command, &self.command),
            (Field::Recipient, &self.recipient),
            (Field::RemoteMta, &self.remote_mta),
            (Field::DiagnosticType, &self.diagnostic_type),
        ];
        let neg = [
            (Field::Subject, &self.not_subject),
            (Field::From, &self.not_from),
            (Field::To, &self.not_to),
            (Field::Header, &self.not_header),
            (Field::Body, &self.not_body),
            (Field::ContentType, &self.not_content_type),
            (Field::Mta, &self.not_mta),
            (Field::FeedbackType, &self.not_feedback_type),
            (Field::Kind, &self.not_kind),
            (Field::Diagnostic, &self.not_diagnostic),
            (Field::Status, &self.not_status),
            (Field::SmtpCode, &self.not_smtp_code),
            (Field::Action, &self.not_action),
            (Field::Command, &self.not_command),
            (Field::Recipient, &self.not_recipient),
            (Field::RemoteMta, &self.not_remote_mta),
            (Field::DiagnosticType, &self.not_diagnostic_type),
        ];
        let mut v = Vec::new();
        for (f, p) in pos {
            if let Some(p) = p {
                v.push((f, false, p.as_str()));
            }
        }
        for (f, p) in neg {
            if let Some(p) = p {
                v.push((f, true, p.as_str()));
            }
        }
        v
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    replace: bool,
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

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

/// A field's index in per-field tables: its place in `Field::ALL`.
fn field_slot(f: Field) -> usize {
    f as usize
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
    pub fn load(files: &[(String, String)]) -> Result<RuleSet, RuleError> {
        let mut specs = parse_file("built-in rules", BUILTIN_RULES)?.rule;
        for (name, text) in files {
            let file = parse_file(name, text)?;
            if file.replace {
                specs = file.rule;
            } else {
                let mut merged = file.rule;
                merged.extend(specs);
                specs = merged;
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
            for (field, negated, written) in spec.conditions() {
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
            *memo = Memo {
                owner: self.id,
                ..Memo::default()
            };
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
        let mut recipient_memo: [Vec<Verdict>; 17] = Default::default();
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
struct Memo {
    owner: u64,
    values: [HashMap<Box<str>, Box<[Verdict]>>; 17],
}

impl Memo {
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
                    | Field::RemoteMta
            )
    }

    fn lookup(&self, field: Field, text: &str) -> Option<&[Verdict]> {
        if !Self::remembers(field, text) {
            return None;
        }
        self.values[field as usize].get(text).map(|v| &**v)
    }

    fn store(&mut self, field: Field, text: &str, results: &[Verdict]) {
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
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// Tells rule sets apart in the per-thread memo.
static NEXT_RULE_SET_ID: AtomicU64 = AtomicU64::new(1);

/// Which patterns of each field matched: per pattern a
/// [`Verdict`], final once the pattern ran.
#[derive(Debug, Clone, Default)]
pub struct Matches {
    hits: [Vec<Verdict>; 17],
}

fn message_field(report: &Report, f: Field) -> &str {
    match f {
        Field::Subject => &report.subject,
        Field::From => &report.from,
        Field::To => &report.to,
        Field::Header => &report.headers,
        Field::Body => &report.body,
        Field::ContentType => &report.content_type,
        Field::Mta => report.mta.unwrap_or(""),
        Field::FeedbackType => report.feedback_type.as_deref().unwrap_or(""),
        Field::Kind => report.kind(),
        _ => "",
    }
}

fn recipient_field<'a>(d: &'a Delivery, f: Field, code: &'a str) -> &'a str {
    match f {
        Field::Diagnostic => d.diagnostic.as_deref().unwrap_or(""),
        Field::Status => d.status.as_deref().unwrap_or(""),
        Field::SmtpCode => code,
        Field::Action => d.action.as_deref().unwrap_or(""),
        Field::Command => d.command.as_deref().unwrap_or(""),
        Field::Recipient => d.recipient.as_deref().unwrap_or(""),
        Field::RemoteMta => d.remote_mta.as_deref().unwrap_or(""),
        Field::DiagnosticType => d.diagnostic_type.as_deref().unwrap_or(""),
        _ => "",
    }
}

/// The matched text on one line, at most 200 characters. A match of a
/// character or two (a pattern like `.` that only asks "is there a value")
/// says nothing, so the line it is on is shown instead.
fn evidence_text(text: &str, start: usize, end: usize) -> String {
    let matched = super::text::collapse_ws(&text[start..end]);
    let s = if matched.chars().count() >= 3 {
        matched
    } else {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        super::text::collapse_ws(&text[line_start..line_end])
    };
    super::text::truncate_chars(&s, 200)
}

fn one_line(s: &str) -> String {
    super::text::collapse_ws(s)
}

fn parse_file(name: &str, text: &str) -> Result<RuleFile, RuleError> {
    toml::from_str::<RuleFile>(text).map_err(|e| {
        let message = match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {}", one_line(e.message()))
            }
            None => one_line(e.message()),
        };
        RuleError::File {
            file: name.into(),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal pass and the residuals answer like the built-in
    /// patterns themselves, on every line and every whole text of the
    /// project's fixtures.
    #[test]
    fn builtin_verdicts_agree_with_the_patterns() {
        let rs = RuleSet::builtin();
        let mut texts: Vec<String> = Vec::new();
        for (_, text) in crate::classify::fixtures::fixture_texts() {
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
