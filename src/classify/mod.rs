//! Classification: from one raw message to per-recipient records.
//!
//! `analyze` gathers what the message says (headers, the parts and prose
//! the report formats in `formats` read, the returned original) into a
//! [`Report`] with one [`Delivery`] per affected address; [`rules`] then
//! decides category and reason for each delivery, first matching rule
//! wins; the [`Classifier`] turns both into records, and [`batch`] runs it
//! over a message stream.
//!
//! Layers inside, each importing only from those below it: `classifier`
//! and [`batch`]; `analyze` and [`rules`]; `formats` and `prose`;
//! `report` and `original`; `text`, `pattern`, `prefilter` and `verdict`.

mod address;
mod aggregate;
mod analyze;
pub mod batch;
mod classifier;
mod dedup;
mod diagnostic;
pub mod events;
mod fallback;
#[cfg(test)]
mod fixtures;
mod formats;
mod forwarded;
mod html;
mod list_notice;
mod new_address;
mod notice;
mod original;
mod parser;
mod pattern;
mod person;
mod prefilter;
mod prose;
mod provenance;
mod report;
pub mod rules;
mod screen_names;
mod text;
mod verdict;

pub use analyze::analyze;
pub use classifier::{Classifier, Options};
pub use events::Classified;
pub use provenance::ProvenanceCheck;
pub use report::{Delivery, Report};
