//! Microsoft Exchange: its plain-text report, told by the signature below in the
//! sender, subject, headers or first lines of the report. The prose itself
//! is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "exchange",
    signature: r"(?mi)^X-MS-Exchange|Microsoft Exchange|X-MimeOLE: Produced By Microsoft Exchange|Your message did not reach some or all of the intended recipients|Delivery has failed to these recipients or groups",
};
