//! Ingest, the first stage of bapply: classification records
//! (bounce-tools(7), RECORD FORMAT) in, the run's contacts and events out
//! ([`Ingested`]), nothing written to the state yet.
//!
//! Parsing is most of the work, so it runs on all cores ([`batch`]), one
//! batch ahead of the single thread that collects each record under its
//! contact ([`contacts`]). A line is read by a fast parser for the shape
//! bclassify writes ([`crate::record::fast`]) or by serde ([`parse`]), into the one
//! record schema of [`crate::record`], and reduced on the parsing threads
//! to what collecting needs ([`prepare`]).

mod batch;
mod contacts;
mod parse;
mod prepare;

#[cfg(test)]
pub(crate) use contacts::NO_TEXT;
pub(crate) use contacts::{ContactIndex, Detail, Event, Ingested};

use super::action::Action;
use super::policy::Policy;
use crate::exit::{ExitCode, ToExitCode};
use crate::record::Category;
use batch::{Batch, LineReader, Parsed};
use prepare::{Hasher, Preparer};
use std::fs::File;
use std::io::{self, Read};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: line {line}: {message}")]
    BadRecord {
        path: String,
        line: u64,
        message: String,
    },
}

impl ToExitCode for IngestError {
    fn exit_code(&self) -> ExitCode {
        match self {
            IngestError::Open { source, .. } => match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => ExitCode::NoInput,
                _ => ExitCode::IoErr,
            },
            IngestError::Read { .. } => ExitCode::IoErr,
            IngestError::BadRecord { .. } => ExitCode::DataErr,
        }
    }
}

/// What ingesting needs to know of the run.
pub(crate) struct IngestOptions<'o> {
    /// Files to read; empty or `-` means stdin.
    pub inputs: &'o [String],
    pub policy: &'o Policy,
    /// Warn about and count invalid lines rather than stop at the first.
    pub skip_invalid: bool,
    /// Date for records without one (Unix seconds).
    pub now: i64,
    /// `--scope list`: contacts keyed by List-Id too.
    pub scope_list: bool,
    /// `--require-provenance`: only `signed` and `known` records are
    /// verified evidence.
    pub require_provenance: bool,
}

/// What ingesting counted, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IngestCounts {
    pub records: u64,
    pub invalid: u64,
    /// Records naming neither an address nor a subscriber id.
    pub unattributed: u64,
    /// Records whose recipient was no mailbox or a placeholder.
    pub placeholders: u64,
}

/// Fuzzing entry point (fuzz/): one line through bapply's record reader
/// (fast path or serde), the bounce message's identity and the date.
#[doc(hidden)]
pub fn fuzz_line(line: &[u8]) -> Result<(), String> {
    let rec = parse::parse(line)?;
    parse::message_hash(&rec);
    if let Some(date) = &rec.date {
        parse::parse_date(date);
    }
    Ok(())
}

/// Most warnings about skipped lines shown before they are only counted.
const MAX_WARNINGS: u64 = 20;

/// Reads every record of every input into `into`.
pub(crate) fn ingest(
    opts: &IngestOptions<'_>,
    stdin: &mut (dyn Read + Send),
    counts: &mut IngestCounts,
    warn: &mut dyn FnMut(&str),
    into: &mut Ingested,
) -> Result<(), IngestError> {
    let stdin_only = ["-".to_string()];
    let names: &[String] = if opts.inputs.is_empty() {
        &stdin_only
    } else {
        opts.inputs
    };
    let preparer = Preparer {
        now: opts.now,
        actionable: Category::ALL
            .iter()
            .map(|c| opts.policy.for_category(*c).action != Action::None)
            .collect(),
        scope_list: opts.scope_list,
        hasher: Hasher::default(),
        require_provenance: opts.require_provenance,
    };
    let preparer = &preparer;
    let mut a = Batch::new();
    let mut b = Batch::new();
    let mut collector = Collector {
        skip_invalid: opts.skip_invalid,
        counts,
        into,
        found: Vec::new(),
        warnings: Vec::new(),
    };
    for name in names {
        let (name, reader): (&str, Box<dyn Read + Send + '_>) = if name == "-" {
            ("stdin", Box::new(&mut *stdin))
        } else {
            let f = File::open(name).map_err(|source| IngestError::Open {
                path: name.clone(),
                source,
            })?;
            (name.as_str(), Box::new(f))
        };
        let mut src = LineReader::new(reader);
        let read_err = |source| IngestError::Read {
            path: name.to_string(),
            source,
        };
        let mut line = 1;
        let n = a.fill(&mut src, line).map_err(read_err)?;
        if n == 0 {
            continue;
        }
        line += n;
        let mut parsed = a.parse(preparer);
        // Two batches take turns: one is read and parsed on all cores
        // while the records of the other are collected.
        loop {
            let (b_ref, s) = (&mut b, &mut src);
            let (next, collected) = rayon::join(
                move || read_and_parse(b_ref, s, line, preparer),
                || collector.collect(name, parsed),
            );
            collector.flush_warnings(warn);
            collected?;
            let (n, next) = next.map_err(read_err)?;
            if n == 0 {
                break;
            }
            line += n;
            let (a_ref, s) = (&mut a, &mut src);
            let (again, collected) = rayon::join(
                move || read_and_parse(a_ref, s, line, preparer),
                || collector.collect(name, next),
            );
            collector.flush_warnings(warn);
            collected?;
            let (n, again) = again.map_err(read_err)?;
            if n == 0 {
                break;
            }
            line += n;
            parsed = again;
        }
    }
    Ok(())
}

fn read_and_parse<'b, R: Read>(
    batch: &'b mut Batch,
    src: &mut LineReader<R>,
    line: u64,
    preparer: &Preparer,
) -> io::Result<(u64, Parsed<'b>)> {
    let n = batch.fill(src, line)?;
    Ok((n, batch.parse(preparer)))
}

/// The sequential half of reading: collects parsed records under their
/// contacts.
struct Collector<'o> {
    skip_invalid: bool,
    counts: &'o mut IngestCounts,
    into: &'o mut Ingested,
    /// Contacts of one chunk looked up ahead of collecting.
    found: Vec<ContactIndex>,
    /// Warnings wait here: collecting runs beside the parser, away from
    /// the caller's (not thread-safe) warning sink.
    warnings: Vec<String>,
}

impl Collector<'_> {
    fn flush_warnings(&mut self, warn: &mut dyn FnMut(&str)) {
        for w in self.warnings.drain(..) {
            warn(&w);
        }
    }

    fn collect(&mut self, name: &str, parsed: Parsed<'_>) -> Result<(), IngestError> {
        for chunk in parsed {
            self.into.look_up(&chunk.lines, &mut self.found);
            for (line, &found) in chunk.lines.into_iter().zip(&self.found) {
                let p = match line.record {
                    Ok(p) => p,
                    Err(message) => {
                        let e = IngestError::BadRecord {
                            path: name.to_string(),
                            line: line.number,
                            message,
                        };
                        if !self.skip_invalid {
                            return Err(e);
                        }
                        self.counts.invalid += 1;
                        if self.counts.invalid <= MAX_WARNINGS {
                            self.warnings.push(format!("{e} (skipped)"));
                        } else if self.counts.invalid == MAX_WARNINGS + 1 {
                            self.warnings.push(
                                "more invalid lines; counting them without a warning each".into(),
                            );
                        }
                        continue;
                    }
                };
                self.counts.records += 1;
                if p.placeholder {
                    self.counts.placeholders += 1;
                }
                if p.recipient.is_none() && p.subscriber.is_none() {
                    self.counts.unattributed += 1;
                }
                self.into.add(p, chunk.text, found);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest_text(
        text: &str,
        skip_invalid: bool,
    ) -> (Result<(), IngestError>, Ingested, IngestCounts, Vec<String>) {
        let policy = Policy::default();
        let opts = IngestOptions {
            inputs: &[],
            policy: &policy,
            skip_invalid,
            now: 1_704_067_200,
            scope_list: false,
            require_provenance: false,
        };
        let (mut into, mut counts, mut warnings) =
            (Ingested::default(), IngestCounts::default(), Vec::new());
        let r = ingest(
            &opts,
            &mut text.as_bytes(),
            &mut counts,
            &mut |w| warnings.push(w.to_string()),
            &mut into,
        );
        (r, into, counts, warnings)
    }

    const SOFT: &str = r#"{"v":1,"message_id":"<1@x>","date":"2024-01-02T00:00:00Z","recipient":"a@x.example","category":"soft","reason":"mailboxfull","rule":"r","remote_mta":"MX.example","diagnostic":"552 <a@x.example> full"}"#;

    /// One contact per address, subscriber ids apart; details only for
    /// categories with an action; hosts lower-cased, diagnostics masked.
    #[test]
    fn collects_records_under_contacts() {
        let text = [
            SOFT,
            &SOFT.replace("<1@x>", "<2@x>"),
            &SOFT.replace("\"recipient\"", "\"subscriber\":\"s1\",\"recipient\""),
            r#"{"v":1,"recipient":"a@x.example","category":"delayed","reason":"delayed","rule":"d"}"#,
            r#"{"v":1,"category":"unknown","reason":"undefined","rule":"u"}"#,
        ]
        .join("\n");
        let (r, into, counts, _) = ingest_text(&text, false);
        r.unwrap();
        assert_eq!(counts.records, 5);
        assert_eq!(counts.unattributed, 1);
        let keys: Vec<&str> = into.contacts.iter().map(|c| &*c.key).collect();
        assert_eq!(keys, ["addr:a@x.example", "id:s1"]);
        assert_eq!(into.events.len(), 5 - 1);
        let a = &into.contacts[0];
        assert_eq!(a.email(), Some("a@x.example"));
        assert_eq!(a.details.len(), 1, "delayed has no action, so no detail");
        let d = &a.details[0];
        assert_eq!(into.strings.get(d.host), Some("mx.example"));
        assert_eq!(into.strings.get(d.diagnostic), Some("552 <addr> full"));
        assert_eq!(into.strings.get(d.status), None);
        assert_eq!(into.contacts[1].email(), Some("a@x.example"));
        assert_eq!(into.contacts[1].subscriber.as_deref(), Some("s1"));
    }

    #[test]
    fn invalid_lines_stop_the_run_or_are_counted() {
        let text = format!("{SOFT}\nnot json\n{SOFT}\n");
        let (r, ..) = ingest_text(&text, false);
        assert_eq!(
            r.unwrap_err().to_string(),
            "stdin: line 2: column 2: expected ident"
        );
        let (r, _, counts, warnings) = ingest_text(&text, true);
        r.unwrap();
        assert_eq!((counts.records, counts.invalid), (2, 1));
        assert_eq!(
            warnings,
            ["stdin: line 2: column 2: expected ident (skipped)"]
        );
    }
}
