//! Classification: from one raw message to per-recipient records.

pub mod record;
pub mod rules;
pub mod taxonomy;
