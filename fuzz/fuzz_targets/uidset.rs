//! UID sets as bfetch ack writes them: any sorted set of UIDs compresses to
//! a sequence set that means exactly those UIDs, and the chunks cover them
//! in order with at most the allowed number of ranges each.
#![no_main]

use bounce_tools::imap::fuzzing::{chunks, compress};
use libfuzzer_sys::fuzz_target;

/// RFC 3501 `sequence-set` of numbers and `a:b` ranges, back to UIDs.
fn expand(set: &str) -> Vec<u32> {
    let mut out = Vec::new();
    if set.is_empty() {
        return out;
    }
    for part in set.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().expect("number"), b.parse().expect("number"));
        assert!(a <= b, "range {part} backwards");
        out.extend(a..=b);
    }
    out
}

fn ranges(uids: &[u32]) -> usize {
    compress(uids).split(',').filter(|s| !s.is_empty()).count()
}

fuzz_target!(|data: &[u8]| {
    let Some((&max, rest)) = data.split_first() else {
        return;
    };
    let max_ranges = usize::from(max % 16) + 1;
    let mut uids: Vec<u32> = rest
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(expand(&compress(&uids)), uids, "sequence set round trip");
    let parts = chunks(&uids, max_ranges);
    assert_eq!(parts.concat(), uids, "chunks cover the UIDs");
    for part in parts {
        assert!(!part.is_empty());
        assert!(ranges(part) <= max_ranges, "chunk with too many ranges");
    }
});
