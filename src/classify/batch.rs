//! Running the classifier over a message stream: messages are read on one
//! thread, classified in parallel in bounded batches, and written in input
//! order. Memory holds at most a few batches whatever the input size.

use super::classifier::Classifier;
use super::dedup::Seen;
use crate::exit::{ExitCode, ToExitCode};
use crate::record::Category;
use crate::stream::{self, Messages, RawMessage, mbox_writer};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, mpsc};

const BATCH_MESSAGES: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

/// Where messages a person should read go (`--unmatched`).
pub trait UnmatchedSink {
    fn write_message(&mut self, message: &RawMessage) -> io::Result<()>;
}

/// Appends to an mbox file in mboxrd form.
pub struct MboxSink<W: Write>(pub W);

impl<W: Write> UnmatchedSink for MboxSink<W> {
    fn write_message(&mut self, message: &RawMessage) -> io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        mbox_writer::write_mboxrd(
            &mut self.0,
            "MAILER-DAEMON",
            &mbox_writer::asctime(now),
            &message.bytes,
        )?;
        self.0.flush()
    }
}

/// Delivers into a Maildir folder (`--unmatched DIR/`).
pub struct MaildirSink(pub std::path::PathBuf);

impl UnmatchedSink for MaildirSink {
    fn write_message(&mut self, message: &RawMessage) -> io::Result<()> {
        stream::maildir_writer::deliver(&self.0, &message.bytes).map(|_| ())
    }
}

/// What a run did, for the exit code and the summary.
#[derive(Debug, Default)]
pub struct Summary {
    pub messages: u64,
    pub records: u64,
    /// Messages that are a bounce or notice (category other than unknown).
    pub notices: u64,
    /// Worst problem met on the way (an input that could not be read, a
    /// broken NDJSON line); None when all went well.
    pub failure: Option<ExitCode>,
    /// Errors per input, for the cap of [`ERRORS_SHOWN`] shown each.
    pub errors: BTreeMap<String, u64>,
    /// ESP events and log lines dropped as already written in this run.
    pub duplicates: u64,
}

/// What one item of an input is called in an error message.
fn item_word(kind: stream::ItemKind) -> &'static str {
    match kind {
        stream::ItemKind::Mail => "message",
        stream::ItemKind::Event => "event",
        stream::ItemKind::Reply => "reply",
        stream::ItemKind::LogLine => "log line",
    }
}

/// Per-message errors shown for one input; the rest are counted at the end
/// (issue 15: a wrong `--input` must not print thousands of lines).
pub const ERRORS_SHOWN: u64 = 10;

pub enum Output<'a> {
    /// JSON lines to the writer.
    Records(&'a mut dyn Write),
    /// `-q`: nothing is written.
    Quiet,
}

/// Progress callback: messages done so far.
pub type Progress<'a> = &'a dyn Fn(u64);

fn severity(c: ExitCode) -> u8 {
    match c {
        ExitCode::TempFail => 5,
        ExitCode::IoErr => 4,
        ExitCode::NoInput => 3,
        ExitCode::DataErr => 2,
        _ => 1,
    }
}

type Batch = Vec<Result<RawMessage, stream::Error>>;

/// What a worker made of one message of a batch.
struct Outcome {
    /// The records as JSON lines (empty with `-q`).
    json: Vec<u8>,
    records: u64,
    notice: bool,
    /// Needs a person: for `--unmatched`.
    for_person: bool,
    /// ESP events and log lines: what makes the item a duplicate.
    dedup_keys: Vec<String>,
    /// The item could not be read (an event that is not JSON).
    error: Option<String>,
}

/// Classifies everything `messages` yields on `workers` threads. Errors on
/// single messages or inputs are reported through `report_error` and the
/// run goes on; only a failure to write the output ends it early (returned
/// as `Err`).
///
/// One thread reads and cuts the input into batches, the workers each take
/// a whole batch, classify it and serialize its records, and this thread
/// writes finished batches in input order. Reading, classifying and
/// writing overlap, and a fixed number of batch slots bounds the memory
/// however slow the output or uneven the messages.
pub fn run(
    classifier: &Classifier,
    messages: Messages,
    output: Output<'_>,
    mut unmatched: Option<&mut dyn UnmatchedSink>,
    report_error: &mut dyn FnMut(&str),
    progress: Progress<'_>,
    workers: usize,
) -> io::Result<Summary> {
    let workers = workers.max(1);
    let slots = 2 * workers + 2;
    let serialize = matches!(output, Output::Records(_));
    let mut summary = Summary::default();
    let (slot_tx, slot_rx) = mpsc::sync_channel::<()>(slots);
    for _ in 0..slots {
        slot_tx.send(()).expect("room for every slot");
    }
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Batch)>(workers);
    // Shared by the workers only: when they all stop (the writer is gone),
    // the receiver goes with them and the reader's next send fails instead
    // of blocking for good.
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::channel::<(u64, Batch, Vec<Option<Outcome>>)>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batch = Vec::new();
            let mut bytes = 0;
            let mut seq = 0;
            let send = |batch: Batch, seq: &mut u64| -> bool {
                // Waits for the writer to free a slot.
                if slot_rx.recv().is_err() {
                    return false;
                }
                let ok = work_tx.send((*seq, batch)).is_ok();
                *seq += 1;
                ok
            };
            for item in messages {
                if let Ok(m) = &item {
                    bytes += m.bytes.len();
                }
                batch.push(item);
                if batch.len() >= BATCH_MESSAGES || bytes >= BATCH_BYTES {
                    if !send(std::mem::take(&mut batch), &mut seq) {
                        return;
                    }
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                send(batch, &mut seq);
            }
        });
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let work_rx = Arc::clone(&work_rx);
            scope.spawn(move || {
                loop {
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, batch))) = next else {
                        return;
                    };
                    let outcomes = batch
                        .iter()
                        .map(|item| {
                            item.as_ref()
                                .ok()
                                .map(|m| outcome(classifier, m, serialize))
                        })
                        .collect();
                    if done_tx.send((seq, batch, outcomes)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        drop(work_rx);

        // The receivers are moved in so that an early return drops them,
        // which stops the workers and the reader instead of leaving them
        // blocked.
        let write = move |summary: &mut Summary| -> io::Result<()> {
            let done_rx = done_rx;
            let slot_tx = slot_tx;
            let mut output = output;
            let mut waiting = BTreeMap::new();
            let mut next = 0u64;
            let mut seen = Seen::default();
            for (seq, batch, outcomes) in done_rx.iter() {
                waiting.insert(seq, (batch, outcomes));
                while let Some((batch, outcomes)) = waiting.remove(&next) {
                    next += 1;
                    write_batch(
                        summary,
                        batch,
                        outcomes,
                        &mut output,
                        &mut unmatched,
                        &mut seen,
                        report_error,
                    )?;
                    let _ = slot_tx.send(());
                    progress(summary.messages);
                }
            }
            for (path, n) in &summary.errors {
                if *n > ERRORS_SHOWN {
                    report_error(&format!(
                        "{path}: {} more errors not shown ({n} in all)",
                        n - ERRORS_SHOWN
                    ));
                }
            }
            if let Output::Records(out) = &mut output {
                out.flush()?;
            }
            Ok(())
        };
        write(&mut summary)
    })?;
    Ok(summary)
}

fn outcome(classifier: &Classifier, message: &RawMessage, serialize: bool) -> Outcome {
    let classified = classifier.classify_item(message);
    let records = classified.records;
    let mut json = Vec::new();
    if serialize {
        for r in &records {
            // A record always serializes: plain strings, numbers, enums.
            if serde_json::to_writer(&mut json, r).is_ok() {
                json.push(b'\n');
            }
        }
    }
    Outcome {
        json,
        records: records.len() as u64,
        notice: records.iter().any(|r| r.category.is_notice()),
        // What needs a person (issue 15): what no rule recognised, a
        // challenge, a subscribe request, an address change without the
        // new address.
        for_person: records.iter().any(|r| {
            matches!(
                r.category,
                Category::Unknown
                    | Category::Undetermined
                    | Category::Challenge
                    | Category::Subscribe
            ) || (r.category == Category::AddressChange && r.new_address.is_none())
        }),
        dedup_keys: classified.dedup_keys,
        error: classified.error,
    }
}

fn write_batch(
    summary: &mut Summary,
    batch: Batch,
    outcomes: Vec<Option<Outcome>>,
    output: &mut Output<'_>,
    unmatched: &mut Option<&mut dyn UnmatchedSink>,
    seen: &mut Seen,
    report_error: &mut dyn FnMut(&str),
) -> io::Result<()> {
    for (item, outcome) in batch.into_iter().zip(outcomes) {
        let message = match item {
            Ok(m) => m,
            Err(e) => {
                let seen = summary.errors.entry(e.path().to_string()).or_default();
                *seen += 1;
                if *seen <= ERRORS_SHOWN {
                    report_error(&e.to_string());
                }
                let code = e.exit_code();
                if summary.failure.is_none_or(|f| severity(code) > severity(f)) {
                    summary.failure = Some(code);
                }
                continue;
            }
        };
        let Some(outcome) = outcome else { continue };
        if let Some(e) = &outcome.error {
            report_error(&format!(
                "{}: {} {}: {e}",
                message.source.path.as_deref().unwrap_or("<stdin>"),
                item_word(message.kind),
                message.source.index.unwrap_or(0) + 1
            ));
            if summary
                .failure
                .is_none_or(|f| severity(ExitCode::DataErr) > severity(f))
            {
                summary.failure = Some(ExitCode::DataErr);
            }
            continue;
        }
        // An event delivered twice, a log read twice: written once.
        if seen.all_seen(&outcome.dedup_keys) {
            summary.duplicates += 1;
            continue;
        }
        summary.messages += 1;
        if message.truncated {
            report_error(&format!(
                "{}: message {}: longer than the size limit; classified its beginning",
                message.source.path.as_deref().unwrap_or("<stdin>"),
                message.source.index.unwrap_or(0) + 1
            ));
        }
        if outcome.notice {
            summary.notices += 1;
        }
        // `--unmatched` keeps mail for a person to read; an event or a log
        // line is no message to file in an mbox.
        if outcome.for_person
            && message.kind == stream::ItemKind::Mail
            && let Some(sink) = unmatched.as_deref_mut()
        {
            sink.write_message(&message)?;
        }
        if let Output::Records(out) = output {
            out.write_all(&outcome.json)?;
        }
        summary.records += outcome.records;
    }
    Ok(())
}
