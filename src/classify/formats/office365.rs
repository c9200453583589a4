//! Microsoft 365 (Office 365): its plain-text report, told by the signature below in the
//! sender, subject, headers or first lines of the report. The prose itself
//! is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "office365",
    signature: r"(?mi)^X-MS-Exchange-Message-Is-Ndr:|outlook\.com|Office ?365|protection\.outlook",
};
