//! Bounce tools: read a bounce mailbox, decide what each returned message
//! means, and turn that into contact-list updates.
//!
//! The pipeline has three stages, each a binary over this library:
//!
//! - `bfetch` (IMAP) writes a message stream: NDJSON or mboxrd ([`input`]).
//! - `bclassify` reads a message stream ([`input`]) and writes one JSON
//!   record per affected address ([`classify`]).
//! - `bapply` reads records and writes contact updates.
//!
//! [`exit`] holds the sysexits codes and the one error-to-code mapping
//! shared by all three.

pub mod apply;
pub mod classify;
pub mod completions;
pub mod exit;
pub mod imap;
pub mod input;
