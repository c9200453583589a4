//! `bfetch ack`'s input (records or bfetch NDJSON lines) on any bytes: the
//! groups it would act on are well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (_mailbox, _uidvalidity, uids) in bounce_tools::imap::fuzzing::ack_groups(data) {
        assert!(!uids.is_empty(), "group without UIDs");
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "UIDs not sorted");
    }
});
