//! Google Groups: its plain-text report, told by the signature below in the
//! sender, subject, headers or first lines of the report. The prose itself
//! is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "googlegroups",
    // A Workspace group signs off as its domain's admins, not "Google
    // Groups": the fixed sentence tells it then.
    signature: r"(?mi)groups\.google\.com/support|^Google Groups\s*$|the group you tried to contact \(",
};
