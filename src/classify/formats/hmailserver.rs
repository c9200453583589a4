//! hMailServer: its SEND_FAILED_NOTIFICATION template borrows Exchange's
//! opening ("Your message did not reach some or all of the intended
//! recipients") and ends with the line "hMailServer"; its subject starts
//! "Message undeliverable:". Told before Exchange, whose sentence it
//! copies. The prose is read like every other plain-text report (`prose`).

use super::report_format::MtaSignature;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "hmailserver",
    signature: r"(?m)^hMailServer\s*$|^Received: .* with hMailServer",
};
