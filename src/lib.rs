//! Bounce tools: read a bounce mailbox, decide what each returned message
//! means, and turn that into contact-list updates.
//!
//! Layers, each importing only from those below it:
//!
//! - [`record`], [`exit`] and [`paths`]: the record schema every stage
//!   shares, the exit codes, and where state and configuration live.
//! - [`stream`]: message streams (mbox, NDJSON, Maildir, .eml); [`tag`]:
//!   signed return paths (btag), which bclassify verifies.
//! - the stages: [`imap`] (bfetch) writes a message stream, [`classify`]
//!   (bclassify) turns one into records, [`apply`] (bapply) turns records
//!   into contact updates.
//! - [`cli`]: each binary's command line and the error-to-exit-code mapping.

pub mod apply;
pub mod classify;
pub mod cli;
pub mod exit;
pub mod imap;
pub mod paths;
pub mod record;
pub mod report;
pub mod stream;
pub mod tag;
