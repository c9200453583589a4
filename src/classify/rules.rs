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

use super::Delivery;
use super::prefilter::Prefilter;
use super::report::Report;
use super::taxonomy::{Bounce, Category, Reason};
use crate::exit::{Classify, ExitCode};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::OnceLock;

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

impl Classify for RuleError {
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
    single: Vec<LazyRegex>,
    /// Only for fields with many patterns: for a few, their own literal
    /// prefilters cost less than one more pass over the text.
    prefilter: Option<Prefilter>,
}

const MIN_PREFILTERED: usize = 12;

/// A compiled rule list.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    fields: Vec<Option<FieldSet>>,
}

/// The outcome for one recipient.
#[derive(Debug, Clone)]
pub struct Decision<'r> {
    pub rule: &'r Rule,
    pub evidence: Option<String>,
}

fn field_slot(f: Field) -> usize {
    Field::ALL
        .iter()
        .position(|x| *x == f)
        .expect("field listed")
}

/// `pattern` is as rewritten by `ascii_word_boundaries`.
fn builder(pattern: &str, field: Field) -> RegexBuilder {
    let mut b = RegexBuilder::new(pattern);
    b.case_insensitive(true)
        .multi_line(matches!(field, Field::Header | Field::Body))
        .size_limit(32 << 20);
    b
}

/// A rule pattern, compiled the first time a rule needs it: most of the
/// hundreds of built-in patterns are never run for a given input (their
/// literals are absent or an earlier rule decides), and compiling them all
/// would cost a one-message hook run most of its time and memory.
#[derive(Debug)]
struct LazyRegex {
    builder: RegexBuilder,
    compiled: OnceLock<Regex>,
}

impl LazyRegex {
    /// Checks the pattern now, so that a bad rule file fails at load.
    /// Built-in patterns are known to compile and are only parsed; a
    /// user's are compiled at once, since only compiling finds a pattern
    /// too big for the size limit.
    /// `pattern` is as rewritten by `ascii_word_boundaries`.
    fn new(pattern: &str, field: Field, eager: bool) -> Result<LazyRegex, String> {
        let builder = builder(pattern, field);
        let compiled = OnceLock::new();
        if eager {
            let re = builder.build().map_err(|e| e.to_string())?;
            let _ = compiled.set(re);
        } else {
            regex_syntax::ParserBuilder::new()
                .case_insensitive(true)
                .multi_line(matches!(field, Field::Header | Field::Body))
                .build()
                .parse(pattern)
                .map_err(|e| e.to_string())?;
        }
        Ok(LazyRegex { builder, compiled })
    }

    fn get(&self) -> &Regex {
        self.compiled.get_or_init(|| {
            self.builder
                .build()
                .expect("pattern checked when the rules were loaded")
        })
    }
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
        let mut compiled: Vec<Vec<LazyRegex>> = Field::ALL.iter().map(|_| Vec::new()).collect();
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
                        let re = LazyRegex::new(pattern, field, eager).map_err(|e| {
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
        let fields = compiled
            .into_iter()
            .zip(&patterns)
            .map(|(single, rewritten)| {
                (!single.is_empty()).then(|| FieldSet {
                    prefilter: (single.len() >= MIN_PREFILTERED)
                        .then(|| Prefilter::new(rewritten.iter().map(String::as_str))),
                    single,
                })
            })
            .collect();
        Ok(RuleSet { rules, fields })
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
        let code = delivery
            .smtp_code
            .map(|c| c.to_string())
            .unwrap_or_default();
        let mut recipient_memo: [Vec<u8>; 17] = Default::default();
        let mut holds = |c: &Condition| -> bool {
            let slot = field_slot(c.field);
            let Some(fs) = &self.fields[slot] else {
                return c.negated;
            };
            let cache = if c.field.per_recipient() {
                &mut recipient_memo[slot]
            } else {
                &mut message.hits[slot]
            };
            let text = || {
                if c.field.per_recipient() {
                    recipient_field(delivery, c.field, &code)
                } else {
                    message_field(report, c.field)
                }
            };
            if cache.is_empty() {
                // Patterns whose literals are absent are settled as
                // non-matching before any of them runs.
                match &fs.prefilter {
                    Some(prefilter) => cache.extend(
                        prefilter
                            .candidates(text())
                            .into_iter()
                            .map(|maybe| if maybe { 0 } else { 1 }),
                    ),
                    None => cache.resize(fs.single.len(), 0),
                }
            }
            if cache[c.index] == 0 {
                let text = text();
                cache[c.index] = if fs.single[c.index].get().is_match(text) {
                    2
                } else {
                    1
                };
            }
            (cache[c.index] == 2) != c.negated
        };
        let rule = self
            .rules
            .iter()
            .find(|r| r.conditions.iter().all(&mut holds))?;
        let evidence = rule
            .conditions
            .iter()
            .filter(|c| !c.negated)
            .min_by_key(|c| c.field.evidence_rank())
            .and_then(|c| {
                let text = if c.field.per_recipient() {
                    recipient_field(delivery, c.field, &code)
                } else {
                    message_field(report, c.field)
                };
                let re = self.fields[field_slot(c.field)].as_ref()?.single[c.index].get();
                re.find(text)
                    .map(|x| evidence_text(text, x.start(), x.end()))
            });
        Some(Decision { rule, evidence })
    }
}

/// Which patterns of each field matched: per pattern 0 not tried yet,
/// 1 no match, 2 match.
#[derive(Debug, Clone, Default)]
pub struct Matches {
    hits: [Vec<u8>; 17],
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

    #[test]
    fn builtins_compile_and_end_with_final() {
        let rs = RuleSet::builtin();
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
