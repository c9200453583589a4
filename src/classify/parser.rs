//! The one mail-parser configuration for reports and returned headers.

use mail_parser::MessageParser;
use std::sync::LazyLock;

/// Only the headers read as typed values are parsed. Every other header
/// is still listed with its raw text (`headers_raw`, `header_raw` read it
/// from the message by offset), but its value is not decoded: Received
/// chains and the like cost most of the parse and are only ever read raw.
pub(crate) static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_minimal_headers()
        .with_message_ids()
        .default_header_ignore()
});
