//! Running the classifier over a message stream: messages are read on one
//! thread, classified in parallel in bounded batches, and written in input
//! order. Memory holds at most a few batches whatever the input size.

use super::Classifier;
use super::record::Record;
use super::taxonomy::Category;
use crate::exit::{Classify, ExitCode};
use crate::input::{self, Messages, RawMessage, mbox_writer};
use rayon::prelude::*;
use std::io::{self, Write};
use std::sync::mpsc;

const BATCH_MESSAGES: usize = 128;
const BATCH_BYTES: usize = 2 << 20;

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
}

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

/// Classifies everything `messages` yields. Errors on single messages or
/// inputs are reported through `report_error` and the run goes on; only a
/// failure to write the output ends it early (returned as `Err`).
pub fn run(
    classifier: &Classifier,
    messages: Messages,
    mut output: Output<'_>,
    mut unmatched: Option<&mut dyn UnmatchedSink>,
    report_error: &mut dyn FnMut(&str),
    progress: Progress<'_>,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let (tx, rx) = mpsc::sync_channel::<Vec<Result<RawMessage, input::Error>>>(2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batch = Vec::new();
            let mut bytes = 0;
            for item in messages {
                if let Ok(m) = &item {
                    bytes += m.bytes.len();
                }
                batch.push(item);
                if batch.len() >= BATCH_MESSAGES || bytes >= BATCH_BYTES {
                    if tx.send(std::mem::take(&mut batch)).is_err() {
                        return;
                    }
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
        });

        // The receiver is moved in so that an early return drops it, which
        // stops the reader instead of leaving it blocked on a full channel.
        let consume = move |summary: &mut Summary| -> io::Result<()> {
            let rx = rx;
            let mut line = Vec::with_capacity(4096);
            for batch in rx.iter() {
                let results: Vec<Option<Vec<Record>>> = batch
                    .par_iter()
                    .map(|item| item.as_ref().ok().map(|m| classifier.classify(m)))
                    .collect();
                for (item, records) in batch.iter().zip(results) {
                    let message = match item {
                        Ok(m) => m,
                        Err(e) => {
                            report_error(&e.to_string());
                            let code = e.exit_code();
                            if summary.failure.is_none_or(|f| severity(code) > severity(f)) {
                                summary.failure = Some(code);
                            }
                            continue;
                        }
                    };
                    let records = records.unwrap_or_default();
                    summary.messages += 1;
                    if message.truncated {
                        report_error(&format!(
                            "{}: message {}: longer than the size limit; classified its beginning",
                            message.source.path.as_deref().unwrap_or("<stdin>"),
                            message.source.index.unwrap_or(0) + 1
                        ));
                    }
                    let notice = records.iter().any(|r| r.category.is_notice());
                    if notice {
                        summary.notices += 1;
                    }
                    let for_person = records.iter().any(|r| {
                        matches!(
                            r.category,
                            Category::Unknown | Category::Undetermined | Category::Challenge
                        )
                    });
                    if for_person && let Some(sink) = unmatched.as_deref_mut() {
                        sink.write_message(message)?;
                    }
                    if let Output::Records(out) = &mut output {
                        for r in &records {
                            line.clear();
                            serde_json::to_writer(&mut line, r).map_err(io::Error::other)?;
                            line.push(b'\n');
                            out.write_all(&line)?;
                        }
                    }
                    summary.records += records.len() as u64;
                }
                progress(summary.messages);
            }
            if let Output::Records(out) = &mut output {
                out.flush()?;
            }
            Ok(())
        };
        consume(&mut summary)
    })?;
    Ok(summary)
}
