//! IMail Server: its plain-text report, told by the signature below in the
//! sender, subject, headers or first lines of the report. The prose itself
//! is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "imailserver",
    signature: r"(?mi)^X-Mailer: <(?:SMTP32|IMail) v|IMail Server",
};
