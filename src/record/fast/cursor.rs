//! The pieces of the fast record parser: field names compared sixteen
//! bytes at a time, the members of one object, and a cursor over the line
//! that reads only what serde would read the same way.

use crate::record::Str;

/// An optional string of a record read in place.
pub(super) type Text<'a> = Option<Str<'a>>;

/// A field name, and the same quoted as sixteen bytes to compare the
/// input with in one go.
pub(super) struct Key {
    name: &'static str,
    quoted: u128,
    mask: u128,
}

impl Key {
    pub(super) const fn new(name: &'static str) -> Key {
        let b = name.as_bytes();
        assert!(b.len() <= 14, "a quoted key must fit in 16 bytes");
        let mut quoted = [0u8; 16];
        let mut mask = [0u8; 16];
        let mut i = 0;
        while i < b.len() + 2 {
            quoted[i] = if i == 0 || i == b.len() + 1 {
                b'"'
            } else {
                b[i - 1]
            };
            mask[i] = 0xff;
            i += 1;
        }
        Key {
            name,
            quoted: u128::from_le_bytes(quoted),
            mask: u128::from_le_bytes(mask),
        }
    }
}

/// The members of one object: which were seen, which is expected next.
pub(super) struct Fields {
    keys: &'static [Key],
    seen: u32,
    next: usize,
}

impl Fields {
    pub(super) fn new(keys: &'static [Key]) -> Fields {
        Fields {
            keys,
            seen: 0,
            next: 0,
        }
    }

    /// Reads a key and its `:`; the field's position in `keys`. An
    /// unknown field, or one seen before, is serde's to handle.
    pub(super) fn next(&mut self, c: &mut Cursor<'_>) -> Option<usize> {
        let f = match self.keys.get(self.next) {
            Some(key) if c.expect_key(key) => self.next,
            _ => {
                let name = c.string()?;
                self.keys.iter().position(|k| k.name == name)?
            }
        };
        if self.seen & (1 << f) != 0 {
            return None;
        }
        self.seen |= 1 << f;
        self.next = f + 1;
        c.ws();
        c.eat(b':')?;
        c.ws();
        Some(f)
    }
}

pub(super) struct Cursor<'a> {
    pub(super) s: &'a str,
    pub(super) i: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    /// JSON whitespace, as serde_json skips it.
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    pub(super) fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// After a member: `,` and the next key (false), or the closing `}`
    /// (true).
    pub(super) fn next_member(&mut self) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b'}' => {
                self.i += 1;
                Some(true)
            }
            b',' => {
                self.i += 1;
                self.ws();
                Some(false)
            }
            _ => None,
        }
    }

    /// `"name"`, consumed when it is next (and the line goes on for at
    /// least sixteen bytes, which a record's keys always do).
    pub(super) fn expect_key(&mut self, key: &Key) -> bool {
        let Some(next) = self.s.as_bytes().get(self.i..self.i + 16) else {
            return false;
        };
        let mut word = [0u8; 16];
        word.copy_from_slice(next);
        let is = u128::from_le_bytes(word) & key.mask == key.quoted;
        if is {
            self.i += key.name.len() + 2;
        }
        is
    }

    /// `null`, consumed.
    pub(super) fn null(&mut self) -> bool {
        let is = self.s.as_bytes()[self.i..].starts_with(b"null");
        if is {
            self.i += 4;
        }
        is
    }

    /// A string without escapes or control characters, which serde would
    /// borrow as it stands.
    pub(super) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = plain_string_end(self.s.as_bytes(), start)?;
        self.i = end + 1;
        // Quotes are ASCII, so both ends are character boundaries.
        self.s.get(start..end)
    }

    pub(super) fn text(&mut self) -> Option<Text<'a>> {
        if self.null() {
            return Some(None);
        }
        Some(Some(Str::from(self.string()?)))
    }

    /// A non-negative integer up to `max` as serde_json reads it: no sign,
    /// no leading zero, no fraction or exponent.
    pub(super) fn uint(&mut self, max: u64) -> Option<u64> {
        let b = self.s.as_bytes();
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = b.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let len = self.i - start;
        if len == 0 || (len > 1 && b[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = b.get(self.i) {
            return None;
        }
        (n <= max).then_some(n)
    }

    pub(super) fn opt_uint(&mut self, max: u64) -> Option<Option<u64>> {
        if self.null() {
            return Some(None);
        }
        Some(Some(self.uint(max)?))
    }
}

/// Where the string whose content starts at `i` ends (its closing quote),
/// when no escape or control character comes first. Eight bytes at a
/// time: strings are most of a record.
fn plain_string_end(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // A byte is flagged when it is zero (in `quote` or `backslash`)
        // or below 0x20 (in `x`); the lowest flag is always a true one.
        let special = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if special != 0 {
            let j = i + (special.trailing_zeros() / 8) as usize;
            return (b[j] == b'"').then_some(j);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_end_at_the_first_quote_and_not_past_escapes() {
        assert_eq!(plain_string_end(b"abc\"", 0), Some(3));
        assert_eq!(plain_string_end(b"abcdefghijkl\"x\"", 0), Some(12));
        assert_eq!(plain_string_end(b"abcdefgh\\\"ijkl\"", 0), None);
        assert_eq!(plain_string_end(b"abcdefgh\x1fijkl\"", 0), None);
        assert_eq!(
            plain_string_end("é\u{7f}\u{80}ü€abc\"".as_bytes(), 0),
            Some(13)
        );
        assert_eq!(plain_string_end(b"abcdefghijkl", 0), None);
    }
}
