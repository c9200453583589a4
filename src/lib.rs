//! Bounce tools: read a bounce mailbox, decide what each returned message
//! means, and turn that into contact-list updates.
//!
//! Layers, each importing only from those below it:
//!
//! - [`record`] and [`exit`]: the record schema every stage shares and the
//!   exit codes.
//! - [`stream`]: message streams (mbox, NDJSON, Maildir, .eml).
//! - the stages: [`imap`] (bfetch) writes a message stream, [`classify`]
//!   (bclassify) turns one into records, [`apply`] (bapply) turns records
//!   into contact updates.
//! - [`cli`]: each binary's command line and the error-to-exit-code mapping.

pub mod apply;
pub mod classify;
pub mod cli;
pub mod exit;
pub mod imap;
pub mod record;
pub mod stream;
