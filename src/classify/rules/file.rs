//! Reading rule files: the TOML format of `--rules` and of the built-in
//! rules (bounce-tools(7), RULES), and the errors a bad file gives.

use super::field::{Field, field_slot};
use crate::classify::text::collapse_ws;
use crate::exit::{ExitCode, ToExitCode};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

/// The rules that ship in the program, in the user's rule-file format.
pub const BUILTIN_RULES: &str = include_str!("builtin-rules.toml");

/// A rule file that cannot be read or compiled.

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

/// One rule as written in a rule file: its name and outcome, and per
/// field of [`Field`] the pattern it must match (`subject = …`) and the
/// pattern it must not match (`not_subject = …`).
#[derive(Debug, Clone, Default)]
pub(super) struct RuleSpec {
    pub name: String,
    pub category: Option<String>,
    pub reason: String,
    pub bounce: Option<String>,
    /// By field slot: the pattern the field must match.
    pub matching: [Option<String>; Field::COUNT],
    /// By field slot: the pattern the field must not match.
    pub not_matching: [Option<String>; Field::COUNT],
}

/// One condition of a rule as written.
pub(super) struct WrittenCondition<'a> {
    pub field: Field,
    pub negated: bool,
    pub pattern: &'a str,
}

impl RuleSpec {
    /// Every pattern the rule states, to be rewritten in place.
    pub fn patterns_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.matching
            .iter_mut()
            .chain(self.not_matching.iter_mut())
            .flatten()
    }

    /// Every condition the rule states: the positive ones in field order,
    /// then the negated ones.
    pub fn conditions(&self) -> impl Iterator<Item = WrittenCondition<'_>> {
        let positive = Field::ALL
            .iter()
            .zip(&self.matching)
            .filter_map(|(&field, p)| {
                p.as_deref().map(|pattern| WrittenCondition {
                    field,
                    negated: false,
                    pattern,
                })
            });
        let negative = Field::ALL
            .iter()
            .zip(&self.not_matching)
            .filter_map(|(&field, p)| {
                p.as_deref().map(|pattern| WrittenCondition {
                    field,
                    negated: true,
                    pattern,
                })
            });
        positive.chain(negative)
    }
}

/// The keys of a rule other than its conditions.
const OUTCOME_KEYS: [&str; 5] = ["name", "description", "category", "reason", "bounce"];

/// The fields of the first rule-file format. The error for an unknown key
/// lists their keys, then their `not_` keys, then each later field's key
/// and `not_` key.
const FIRST_FIELDS: usize = 16;

/// Every key a rule may have, in the order the error for an unknown key
/// lists them (the order of the fields of the struct rules used to be
/// read into).
static RULE_KEYS: LazyLock<Box<[&'static str]>> = LazyLock::new(|| {
    let negation = |f: &Field| -> &'static str { Box::leak(format!("not_{}", f.name()).into()) };
    let (first, later) = Field::ALL.split_at(FIRST_FIELDS);
    let mut keys: Vec<&'static str> = OUTCOME_KEYS.to_vec();
    keys.extend(first.iter().map(|f| f.name()));
    keys.extend(first.iter().map(negation));
    for f in later {
        keys.push(f.name());
        keys.push(negation(f));
    }
    keys.into()
});

/// The key of a condition: the field's name, or `not_` and the name.
fn condition_key(field: Field, negated: bool) -> &'static str {
    let key = RULE_KEYS.iter().find(|k| {
        let name = if negated {
            k.strip_prefix("not_")
        } else {
            Some(**k)
        };
        name == Some(field.name())
    });
    key.copied().unwrap_or_else(|| field.name())
}

/// A key of a rule, as read.
enum RuleKey {
    Name,
    Description,
    Category,
    Reason,
    Bounce,
    Condition { field: Field, negated: bool },
}

impl RuleKey {
    fn of(key: &str) -> Option<RuleKey> {
        Some(match key {
            "name" => RuleKey::Name,
            "description" => RuleKey::Description,
            "category" => RuleKey::Category,
            "reason" => RuleKey::Reason,
            "bounce" => RuleKey::Bounce,
            _ => {
                let (negated, name) = match key.strip_prefix("not_") {
                    Some(name) => (true, name),
                    None => (false, key),
                };
                let field = *Field::ALL.iter().find(|f| f.name() == name)?;
                RuleKey::Condition { field, negated }
            }
        })
    }
}

impl<'de> Deserialize<'de> for RuleKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = RuleKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("field identifier")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<RuleKey, E> {
                RuleKey::of(key).ok_or_else(|| E::unknown_field(key, &RULE_KEYS))
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// Read like a struct with one optional string per key (and `name` and
/// `reason` required), as derived: the same keys, errors and spans.
impl<'de> Deserialize<'de> for RuleSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("RuleSpec", &RULE_KEYS, RuleSpecVisitor)
    }
}

struct RuleSpecVisitor;

impl RuleSpecVisitor {
    /// The slot a condition's pattern goes to.
    fn slot(spec: &mut RuleSpec, field: Field, negated: bool) -> &mut Option<String> {
        let slots = if negated {
            &mut spec.not_matching
        } else {
            &mut spec.matching
        };
        &mut slots[field_slot(field)]
    }
}

impl<'de> Visitor<'de> for RuleSpecVisitor {
    type Value = RuleSpec;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct RuleSpec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RuleSpec, A::Error> {
        let mut spec = RuleSpec::default();
        let mut name: Option<String> = None;
        let mut reason: Option<String> = None;
        let mut description: Option<Option<String>> = None;
        let mut seen = [[false; Field::COUNT]; 2];
        let mut seen_outcome = [false; 3];
        while let Some(key) = map.next_key::<RuleKey>()? {
            match key {
                RuleKey::Name => {
                    if name.is_some() {
                        return Err(de::Error::duplicate_field("name"));
                    }
                    name = Some(map.next_value()?);
                }
                RuleKey::Reason => {
                    if reason.is_some() {
                        return Err(de::Error::duplicate_field("reason"));
                    }
                    reason = Some(map.next_value()?);
                }
                RuleKey::Description => {
                    if description.is_some() {
                        return Err(de::Error::duplicate_field("description"));
                    }
                    description = Some(map.next_value()?);
                }
                RuleKey::Category | RuleKey::Bounce => {
                    let (index, key_name) = match key {
                        RuleKey::Category => (0, "category"),
                        _ => (1, "bounce"),
                    };
                    if std::mem::replace(&mut seen_outcome[index], true) {
                        return Err(de::Error::duplicate_field(key_name));
                    }
                    let value: Option<String> = map.next_value()?;
                    if index == 0 {
                        spec.category = value;
                    } else {
                        spec.bounce = value;
                    }
                }
                RuleKey::Condition { field, negated } => {
                    if std::mem::replace(&mut seen[usize::from(negated)][field_slot(field)], true) {
                        return Err(de::Error::duplicate_field(condition_key(field, negated)));
                    }
                    *Self::slot(&mut spec, field, negated) = map.next_value()?;
                }
            }
        }
        spec.name = name.ok_or_else(|| de::Error::missing_field("name"))?;
        spec.reason = reason.ok_or_else(|| de::Error::missing_field("reason"))?;
        Ok(spec)
    }

    /// A rule written as an array: its values in the order of the keys.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RuleSpec, A::Error> {
        let mut spec = RuleSpec::default();
        let expected = &"struct RuleSpec with 39 elements";
        for (index, key) in RULE_KEYS.iter().enumerate() {
            match RuleKey::of(key).expect("every listed key is known") {
                RuleKey::Name => {
                    spec.name = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(index, expected))?;
                }
                RuleKey::Reason => {
                    spec.reason = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(index, expected))?;
                }
                RuleKey::Description => {
                    let _: Option<Option<String>> = seq.next_element()?;
                }
                RuleKey::Category => spec.category = seq.next_element()?.flatten(),
                RuleKey::Bounce => spec.bounce = seq.next_element()?.flatten(),
                RuleKey::Condition { field, negated } => {
                    *Self::slot(&mut spec, field, negated) = seq.next_element()?.flatten();
                }
            }
        }
        Ok(spec)
    }
}

/// A rule file: its rules, and whether they replace the rules loaded
/// before it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleFile {
    #[serde(default)]
    pub replace: bool,
    /// Wording lists the rules refer to as `(?&name)`.
    #[serde(default)]
    pub patterns: BTreeMap<String, String>,
    #[serde(default)]
    pub rule: Vec<RuleSpec>,
}

/// An error message on one line.
pub(super) fn one_line(s: &str) -> String {
    collapse_ws(s)
}

/// A rule file's text, read; errors name the file and the line.
pub(super) fn parse_file(name: &str, text: &str) -> Result<RuleFile, RuleError> {
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
