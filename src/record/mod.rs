//! The record schema every stage shares: `Record`, one classification
//! result as the JSON line bclassify writes and bapply reads
//! (bounce-tools(7), RECORDS), and its vocabularies (categories, reasons,
//! the hard/soft rule). It sits at the bottom of the crate and imports
//! nothing from it.

pub mod date;
mod vocabulary;

use serde::{Deserialize, Serialize};
pub use vocabulary::{Bounce, Category, Reason};

/// Version of the record format written in `v`.
pub const RECORD_VERSION: u32 = 1;

/// Where a message came from; only the known fields are written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidvalidity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// What is known of the message that bounced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Original {
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub list_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    #[serde(default)]
    pub source: Source,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub recipient: Option<String>,
    pub category: Category,
    pub reason: Reason,
    #[serde(default)]
    pub bounce: Option<Bounce>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub smtp_code: Option<u16>,
    #[serde(default)]
    pub diagnostic: Option<String>,
    #[serde(default)]
    pub remote_mta: Option<String>,
    #[serde(default)]
    pub reporting_mta: Option<String>,
    #[serde(default)]
    pub mta: Option<String>,
    pub rule: String,
    #[serde(default)]
    pub evidence: Option<String>,
    #[serde(default)]
    pub feedback_type: Option<String>,
    #[serde(default)]
    pub new_address: Option<String>,
    #[serde(default)]
    pub subscriber: Option<String>,
    #[serde(default)]
    pub original: Original,
}
