//! Exim: its plain-text report, told by the signature below in the
//! sender, subject, headers or first lines of the report. The prose itself
//! is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "exim",
    signature: r"(?mi)This message was created automatically by mail delivery software|with local \(Exim \d|^X-Failed-Recipients:",
};
