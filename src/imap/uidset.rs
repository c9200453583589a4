//! UID sequence sets (RFC 3501 §9 `sequence-set`): sorted UIDs written as
//! ranges, because a long list of single UIDs can exceed the server's
//! command-line limit.

/// `[1,2,3,5,7,8]` → `"1:3,5,7:8"`. Input must be sorted and free of duplicates.
pub fn compress(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Splits sorted UIDs into chunks whose compressed set stays short (at most
/// `max_ranges` ranges each), so every command line stays well under the
/// 8 KB some servers allow.
pub fn chunks(uids: &[u32], max_ranges: usize) -> Vec<&[u32]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut ranges = 0;
    for i in 0..uids.len() {
        if i == start || uids[i] != uids[i - 1] + 1 {
            ranges += 1;
            if ranges > max_ranges {
                out.push(&uids[start..i]);
                start = i;
                ranges = 1;
            }
        }
    }
    if start < uids.len() {
        out.push(&uids[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_runs() {
        assert_eq!(compress(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(compress(&[4]), "4");
        assert_eq!(compress(&[]), "");
    }

    #[test]
    fn chunks_by_ranges() {
        let uids = [1, 2, 3, 5, 7, 8, 10];
        let c = chunks(&uids, 2);
        assert_eq!(c, vec![&[1, 2, 3, 5][..], &[7, 8, 10][..]]);
        assert_eq!(chunks(&[], 2).len(), 0);
        let all: Vec<u32> = (1..=10_000).collect();
        assert_eq!(chunks(&all, 1).len(), 1);
    }
}
