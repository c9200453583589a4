//! Gmail: its plain-text report, told by the signature below in the
//! sender, subject, headers or first lines of the report. The prose itself
//! is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "gmail",
    signature: r"(?mi)^From: .*mailer-daemon@(?:googlemail|gmail)\.com|Delivery to the following recipient failed|Google tried to deliver your message",
};
