//! Signed return paths (btag(1)): a VERP return path that carries the
//! subscriber address, a day stamp and a truncated HMAC-SHA256 tag, so a
//! bounce of our own mail can be told from a forged one
//! (bounce-tools(7), PROVENANCE).
//!
//! ```text
//! bounces+bt1=DDDDTTTTTTTTTT=alice+2bnews=example.org@list.example
//! ^base   ^   ^  ^          ^ subscriber, escaped; its `@` is the last `=`
//!         |   |  tag: 10 base32 characters (50 bits) of the HMAC
//!         |   day stamp: days since 1970-01-01 UTC, modulo 10000
//!         delimiter (`+` or `-`) and the version marker `bt1=`
//! ```
//!
//! The HMAC covers `bt1`, the day stamp, the subscriber address and the
//! base return path, each ASCII lower-cased and separated by a NUL octet,
//! so a tag still verifies after an MTA lower-cased the local part.
//!
//! This module sits below the stages: bclassify verifies with it, btag
//! signs and verifies. It imports nothing from the crate but `exit`.

mod batv;
mod encoding;

pub use batv::strip as strip_batv;

use crate::exit::{ExitCode, ToExitCode};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The version marker after the delimiter.
const MARKER: &str = "bt1=";
/// Characters of the tag: 10 base32 characters, 50 bits.
const TAG_CHARS: usize = 10;
/// Digits of the day stamp.
const DAY_DIGITS: usize = 4;
/// The day stamp counts modulo this.
const DAY_CYCLE: u32 = 10_000;
/// Shortest key, in octets.
pub const MIN_KEY_BYTES: usize = 16;
/// Longest `--max-age-days`: well inside the day stamp's cycle.
pub const MAX_AGE_LIMIT: u32 = 3650;
/// Default lifetime of a tag, in days.
pub const DEFAULT_MAX_AGE: u32 = 30;
/// RFC 5321 4.5.3.1.1: the longest local part every MTA must accept.
pub const MAX_LOCAL_PART: usize = 64;

/// What is wrong with a key file or a return path to sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("no key in the file; make one with `btag keygen > FILE`")]
    NoKey,
    #[error(
        "line {line}: key is {len} octets, at least {MIN_KEY_BYTES} are needed (`btag keygen` makes one)"
    )]
    ShortKey { line: usize, len: usize },
    #[error("{0:?} is not an address (local@domain)")]
    NotAnAddress(String),
    #[error("return path {0:?}: give the plain address to sign from, without a tag")]
    AlreadySigned(String),
}

impl ToExitCode for Error {
    fn exit_code(&self) -> ExitCode {
        match self {
            Error::NoKey | Error::ShortKey { .. } => ExitCode::Config,
            Error::NotAnAddress(_) | Error::AlreadySigned(_) => ExitCode::DataErr,
        }
    }
}

/// The keys of a key file: the first signs, every one verifies (so a key
/// can be replaced while tags made with the old one are still out).
#[derive(Clone)]
pub struct Keys(Vec<Vec<u8>>);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} keys)", self.0.len())
    }
}

impl Keys {
    /// The keys of a key file: one a line, its octets as written, white
    /// space around it and lines starting with `#` ignored.
    pub fn parse(text: &[u8]) -> Result<Keys, Error> {
        let mut keys = Vec::new();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            let key = line.trim_ascii();
            if key.is_empty() || key.starts_with(b"#") {
                continue;
            }
            if key.len() < MIN_KEY_BYTES {
                return Err(Error::ShortKey {
                    line: i + 1,
                    len: key.len(),
                });
            }
            keys.push(key.to_vec());
        }
        if keys.is_empty() {
            return Err(Error::NoKey);
        }
        Ok(Keys(keys))
    }

    fn tag(key: &[u8], day: u32, subscriber: &str, base: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(b"bt1\0");
        mac.update(format!("{day:04}").as_bytes());
        mac.update(b"\0");
        mac.update(subscriber.to_ascii_lowercase().as_bytes());
        mac.update(b"\0");
        mac.update(base.to_ascii_lowercase().as_bytes());
        encoding::base32(&mac.finalize().into_bytes()[..7], TAG_CHARS)
    }
}

/// Today, as days since 1970-01-01 UTC.
pub fn today() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 86_400) as u32
}

/// A signed return path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub address: String,
    /// Octets of its local part; more than [`MAX_LOCAL_PART`] is legal for
    /// most MTAs but not promised by RFC 5321.
    pub local_len: usize,
}

/// Signs `subscriber` into a return path based on `base`
/// (`bounces@list.example`), with the tag of `day` (days since 1970).
pub fn sign(
    keys: &Keys,
    base: &str,
    subscriber: &str,
    day: u32,
    delimiter: char,
) -> Result<Signed, Error> {
    let (base_local, base_domain) = split_address(base)?;
    if decode(base).is_some() {
        return Err(Error::AlreadySigned(base.into()));
    }
    let (local, domain) = split_address(subscriber)?;
    let domain = domain.to_ascii_lowercase();
    let subscriber = format!("{local}@{domain}");
    let day = day % DAY_CYCLE;
    let tag = Keys::tag(&keys.0[0], day, &subscriber, base);
    let mut out = format!("{base_local}{delimiter}{MARKER}{day:04}{tag}=");
    encoding::escape_into(&mut out, local, false);
    out.push('=');
    encoding::escape_into(&mut out, &domain, true);
    let local_len = out.len();
    out.push('@');
    out.push_str(&base_domain.to_ascii_lowercase());
    Ok(Signed {
        address: out,
        local_len,
    })
}

fn split_address(address: &str) -> Result<(&str, &str), Error> {
    match address.rsplit_once('@') {
        // White space only inside a quoted local part.
        Some((l, d))
            if !l.is_empty()
                && !d.is_empty()
                && !address.contains(char::is_control)
                && !d.contains(char::is_whitespace)
                && (!l.contains(char::is_whitespace)
                    || (l.len() > 1 && l.starts_with('"') && l.ends_with('"'))) =>
        {
            Ok((l, d))
        }
        _ => Err(Error::NotAnAddress(address.into())),
    }
}

/// What a signed return path says, before any key has looked at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The subscriber address it carries (domain lower-cased).
    pub subscriber: String,
    /// The address it was signed from: base local part `@` domain.
    pub base: String,
    pub day: u32,
    pub tag: &'a str,
}

/// Reads a signed return path; None when `address` is not one. Does not
/// check the tag: [`verify`] does.
pub fn decode(address: &str) -> Option<Decoded<'_>> {
    let address = address.trim();
    let (local, domain) = address.rsplit_once('@')?;
    if domain.is_empty() {
        return None;
    }
    // The marker after the first delimiter that is followed by one.
    let lower = local.as_bytes();
    let at = (1..local.len()).find(|&i| {
        matches!(lower[i - 1], b'+' | b'-')
            && local
                .get(i..i + MARKER.len())
                .is_some_and(|m| m.eq_ignore_ascii_case(MARKER))
    })?;
    let base_local = &local[..at - 1];
    let rest = &local[at + MARKER.len()..];
    let day = rest.get(..DAY_DIGITS)?;
    let tag = rest.get(DAY_DIGITS..DAY_DIGITS + TAG_CHARS)?;
    let encoded = rest.get(DAY_DIGITS + TAG_CHARS..)?.strip_prefix('=')?;
    if !day.bytes().all(|b| b.is_ascii_digit()) || !encoding::is_base32(tag) {
        return None;
    }
    let (enc_local, enc_domain) = encoded.rsplit_once('=')?;
    let sub_local = encoding::unescape(enc_local, false)?;
    let sub_domain = encoding::unescape(enc_domain, true)?;
    if sub_local.is_empty() || sub_domain.is_empty() {
        return None;
    }
    Some(Decoded {
        subscriber: format!("{sub_local}@{}", sub_domain.to_ascii_lowercase()),
        base: format!("{base_local}@{domain}"),
        day: day.parse().ok()?,
        tag,
    })
}

/// What checking a return path found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A tag we issued, `age` days ago: the subscriber it carries is ours.
    Valid { subscriber: String, age: u32 },
    /// A tag we issued, but more than the allowed days ago.
    Expired { subscriber: String, age: u32 },
    /// Shaped like a tag, but no key made it: altered or forged.
    Altered { subscriber: String },
    /// Not a signed return path at all.
    NotTag,
}

impl Verdict {
    /// The one-line reason `btag verify` gives.
    pub fn reason(&self) -> String {
        match self {
            Verdict::Valid { age, .. } => format!("valid, {age} days old"),
            Verdict::Expired { age, .. } => format!("expired: signed {age} days ago"),
            Verdict::Altered { .. } => {
                "altered: the tag does not match (wrong key or forged)".into()
            }
            Verdict::NotTag => "not a signed return path".into(),
        }
    }
}

/// Checks a return path against every key: the tag in constant time, then
/// its age against `max_age` days, counted from `today` (days since 1970).
/// A stamp one day in the future (clocks a little apart) counts as today.
pub fn verify(keys: &Keys, address: &str, today: u32, max_age: u32) -> Verdict {
    let Some(d) = decode(address) else {
        return Verdict::NotTag;
    };
    let given = d.tag.to_ascii_lowercase();
    let matched = keys.0.iter().fold(0u8, |found, key| {
        let expected = Keys::tag(key, d.day, &d.subscriber, &d.base);
        found | expected.as_bytes().ct_eq(given.as_bytes()).unwrap_u8()
    });
    if matched == 0 {
        return Verdict::Altered {
            subscriber: d.subscriber,
        };
    }
    let age = match (today % DAY_CYCLE + DAY_CYCLE - d.day) % DAY_CYCLE {
        a if a == DAY_CYCLE - 1 => 0,
        a => a,
    };
    if age > max_age {
        Verdict::Expired {
            subscriber: d.subscriber,
            age,
        }
    } else {
        Verdict::Valid {
            subscriber: d.subscriber,
            age,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::parse(b"# test key\nexample-key-0123456789abcdef\n").unwrap()
    }

    const DAY: u32 = 20_000;

    fn signed(subscriber: &str) -> String {
        sign(&keys(), "bounces@list.example.com", subscriber, DAY, '+')
            .unwrap()
            .address
    }

    #[test]
    fn round_trip() {
        let a = signed("alice@Example.ORG");
        assert!(a.starts_with("bounces+bt1=0000"), "{a}");
        assert!(a.ends_with("=alice=example.org@list.example.com"), "{a}");
        assert_eq!(
            verify(&keys(), &a, DAY + 3, 30),
            Verdict::Valid {
                subscriber: "alice@example.org".into(),
                age: 3
            }
        );
    }

    #[test]
    fn case_folded_tag_still_verifies() {
        let a = signed("Bob.Smith+news@example.org");
        for variant in [a.to_ascii_lowercase(), a.to_ascii_uppercase()] {
            match verify(&keys(), &variant, DAY, 30) {
                Verdict::Valid { subscriber, .. } => {
                    assert!(subscriber.eq_ignore_ascii_case("bob.smith+news@example.org"))
                }
                v => panic!("{variant}: {v:?}"),
            }
        }
        // Case survives when nothing folded it.
        assert!(matches!(
            verify(&keys(), &a, DAY, 30),
            Verdict::Valid { subscriber, .. } if subscriber == "Bob.Smith+news@example.org"
        ));
    }

    #[test]
    fn odd_characters_round_trip() {
        for s in [
            "a+b@example.org",
            "a=b@example.org",
            "a+b=c@example.org",
            "\"john doe\"@example.net",
            "o'hara@example.com",
            "x..y@example.com",
            "jörg@bücher.example",
            "bt1=000aaaaaaaaaa=x=y@example.org",
            "a@b@example.org",
        ] {
            let a = signed(s);
            assert!(
                a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.=+@".contains(&b)),
                "{a}"
            );
            let want = {
                let (l, d) = s.rsplit_once('@').unwrap();
                format!("{l}@{}", d.to_ascii_lowercase())
            };
            assert_eq!(
                verify(&keys(), &a, DAY, 30),
                Verdict::Valid {
                    subscriber: want,
                    age: 0
                },
                "{s} -> {a}"
            );
        }
    }

    #[test]
    fn long_addresses_are_signed_and_measured() {
        let long = format!("{}@example.org", "x".repeat(60));
        let s = sign(&keys(), "b@list.example.com", &long, DAY, '-').unwrap();
        assert!(s.local_len > MAX_LOCAL_PART);
        assert_eq!(s.local_len, s.address.find('@').unwrap());
        assert!(matches!(
            verify(&keys(), &s.address, DAY, 30),
            Verdict::Valid { subscriber, .. } if subscriber == long
        ));
        // btag(1), Long addresses: from `bounces@`, 37 octets fit in 64.
        for (len, fits) in [(37, true), (38, false)] {
            let address = format!("{}@example.org", "y".repeat(len - 12));
            let s = sign(&keys(), "bounces@list.example.com", &address, DAY, '+').unwrap();
            assert_eq!(s.local_len <= MAX_LOCAL_PART, fits, "{}", s.address);
        }
        let short = sign(&keys(), "b@list.example.com", "ann@example.org", DAY, '+').unwrap();
        assert!(short.local_len <= MAX_LOCAL_PART, "{}", short.address);
    }

    #[test]
    fn expired_altered_and_not_tags() {
        let a = signed("alice@example.org");
        assert_eq!(
            verify(&keys(), &a, DAY + 31, 30),
            Verdict::Expired {
                subscriber: "alice@example.org".into(),
                age: 31
            }
        );
        // A stamp a day ahead (clock skew) is today's; the cycle wraps.
        assert!(matches!(
            verify(&keys(), &a, DAY - 1, 30),
            Verdict::Valid { age: 0, .. }
        ));
        let other = sign(
            &keys(),
            "bounces@list.example.com",
            "alice@example.org",
            9999,
            '+',
        )
        .unwrap()
        .address;
        assert!(matches!(
            verify(&keys(), &other, 10_000 + 4, 30),
            Verdict::Valid { age: 5, .. }
        ));
        // Another subscriber under the same tag, another day, another key.
        let forged = a.replace("=alice=", "=mallory=");
        assert!(matches!(
            verify(&keys(), &forged, DAY, 30),
            Verdict::Altered { .. }
        ));
        let redated = a.replacen("bt1=0000", "bt1=0001", 1);
        assert!(matches!(
            verify(&keys(), &redated, DAY, 30),
            Verdict::Altered { .. }
        ));
        let other_key = Keys::parse(b"another-key-0123456789abcdef").unwrap();
        assert!(matches!(
            verify(&other_key, &a, DAY, 30),
            Verdict::Altered { .. }
        ));
        // The other list's return path does not take this tag.
        let moved = a.replace("@list.example.com", "@other.example.com");
        assert!(matches!(
            verify(&keys(), &moved, DAY, 30),
            Verdict::Altered { .. }
        ));
        for not in [
            "bounces@list.example.com",
            "bounces+alice=example.org@list.example.com",
            "bounces+bt1=000Xaaaaaaaaaa=a=example.org@list.example.com",
            "bounces+bt1=0000aaaaaaaaa1=a=example.org@list.example.com",
            "bounces+bt1=0000aaaaaaaaaa=aexample.org@list.example.com",
            "bounces+bt1=0000aaaaaaaaaa=a+zz=example.org@list.example.com",
            "",
            "@",
            "bt1=0000aaaaaaaaaa=a=example.org@list.example.com",
        ] {
            assert_eq!(verify(&keys(), not, DAY, 30), Verdict::NotTag, "{not}");
        }
    }

    #[test]
    fn key_rotation_and_bad_keys() {
        let a = signed("alice@example.org");
        let rotated =
            Keys::parse(b"new-key-0123456789abcdef\nexample-key-0123456789abcdef\n").unwrap();
        assert!(matches!(
            verify(&rotated, &a, DAY, 30),
            Verdict::Valid { .. }
        ));
        assert_eq!(Keys::parse(b"").unwrap_err(), Error::NoKey);
        assert_eq!(Keys::parse(b"# only\n\n").unwrap_err(), Error::NoKey);
        assert_eq!(
            Keys::parse(b"short\n").unwrap_err(),
            Error::ShortKey { line: 1, len: 5 }
        );
        assert!(sign(&keys(), "bounces", "a@example.org", DAY, '+').is_err());
        assert!(sign(&keys(), "b@example.org", "nobody", DAY, '+').is_err());
        assert!(matches!(
            sign(&keys(), &a, "a@example.org", DAY, '+'),
            Err(Error::AlreadySigned(_))
        ));
    }

    /// A fixed key, day and address give a fixed return path: the one the
    /// sending-side snippet in the README computes (tests/btag.rs runs it).
    #[test]
    fn known_answer() {
        let keys = Keys::parse(b"0123456789abcdef0123456789abcdef").unwrap();
        let base = "bounces@list.example.com";
        let s = |a, day| sign(&keys, base, a, day, '+').unwrap().address;
        assert_eq!(
            s("alice@example.org", 20_000),
            "bounces+bt1=0000o3vknrb2fi=alice=example.org@list.example.com"
        );
        assert_eq!(
            s("Bob.Smith+news@Example.ORG", 20_123),
            "bounces+bt1=0123mx5ksplfpc=Bob.Smith+2bnews=example.org@list.example.com"
        );
    }
}
