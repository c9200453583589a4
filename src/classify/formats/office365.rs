//! Microsoft 365 (Office 365): its plain-text report, told by the signature below in the
//! sender, subject, headers or first lines of the report. The prose itself
//! is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "office365",
    signature: r"(?mi)^X-MS-Exchange-Message-Is-Ndr:|Office ?365|Microsoft 365|Exchange Online|^From:.*@\S*onmicrosoft\.com|^Message-ID:\s*<[^>]*\.outlook\.com>|Generating server:\s*\S+\.outlook\.com|Message rejected by:\s*\S+\.outlook\.com|^Received: from \S+\.outlook\.com|^Reporting-MTA: dns; ?\S+\.outlook\.com",
};
