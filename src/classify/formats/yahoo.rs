//! Yahoo Mail: its plain-text report, told by the signature below in the
//! sender, subject, headers or first lines of the report. The prose itself
//! is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "yahoo",
    signature: r"(?mi)^From: .*@yahoo(?:-inc)?\.|Sorry, we were unable to deliver your message to the following address|^Received: from \S+\.yahoo\.com|^Reporting-MTA: dns; ?\S+\.yahoo(?:dns)?\.(?:com|net)",
};
