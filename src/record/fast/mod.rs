//! A fast path for reading records (bapply and breport read a million a
//! run): the lines bclassify writes are plain JSON of one shape, and
//! parsing them field by field without serde's machinery is several times
//! faster. The fast path accepts only what it is sure of (known fields
//! once each, strings without escapes, plain integers) and says "don't
//! know" for anything else, which then goes to serde. So a record it
//! returns is the record serde would return, and every error still comes
//! from serde. A test compares the two on many altered lines.

mod cursor;

use super::{Original, RecordRef, Source, Str};
use cursor::{Cursor, Fields, Key};

/// The fields of a record in the order bclassify writes them, which is
/// the order expected next: a key where it is expected costs one
/// comparison.
const FIELDS: &[Key] = &[
    Key::new("v"),
    Key::new("source"),
    Key::new("message_id"),
    Key::new("date"),
    Key::new("recipient"),
    Key::new("category"),
    Key::new("reason"),
    Key::new("bounce"),
    Key::new("action"),
    Key::new("status"),
    Key::new("smtp_code"),
    Key::new("diagnostic"),
    Key::new("remote_mta"),
    Key::new("reporting_mta"),
    Key::new("mta"),
    Key::new("rule"),
    Key::new("evidence"),
    Key::new("feedback_type"),
    Key::new("new_address"),
    Key::new("subscriber"),
    Key::new("original"),
    Key::new("provenance"),
];

const SOURCE: &[Key] = &[
    Key::new("path"),
    Key::new("index"),
    Key::new("offset"),
    Key::new("mailbox"),
    Key::new("uidvalidity"),
    Key::new("uid"),
    Key::new("esp"),
    Key::new("event_id"),
];

const ORIGINAL: &[Key] = &[
    Key::new("message_id"),
    Key::new("subject"),
    Key::new("from"),
    Key::new("to"),
    Key::new("list_id"),
];

/// The record on `line`, or `None` when serde must decide.
pub fn parse(line: &str) -> Option<RecordRef<'_>> {
    let mut c = Cursor { s: line, i: 0 };
    c.ws();
    c.eat(b'{')?;
    let mut fields = Fields::new(FIELDS);
    let mut v = None;
    let mut category = None;
    let mut reason = None;
    let mut rule = None;
    let mut r = RecordRef {
        v: 0,
        source: Source::default(),
        message_id: None,
        date: None,
        recipient: None,
        category: super::Category::Unknown,
        reason: super::Reason::Undefined,
        bounce: None,
        action: None,
        status: None,
        smtp_code: None,
        diagnostic: None,
        remote_mta: None,
        reporting_mta: None,
        mta: None,
        rule: Str::from(""),
        evidence: None,
        feedback_type: None,
        new_address: None,
        subscriber: None,
        original: Original::default(),
        provenance: None,
        report: None,
    };
    c.ws();
    loop {
        match fields.next(&mut c)? {
            0 => v = Some(c.uint(u32::MAX.into())? as u32),
            1 => r.source = source(&mut c)?,
            2 => r.message_id = c.text()?,
            3 => r.date = c.text()?,
            4 => r.recipient = c.text()?,
            5 => category = Some(c.string()?.parse().ok()?),
            6 => reason = Some(c.string()?.parse().ok()?),
            7 => {
                r.bounce = if c.null() {
                    None
                } else {
                    Some(c.string()?.parse().ok()?)
                }
            }
            8 => r.action = c.text()?,
            9 => r.status = c.text()?,
            10 => r.smtp_code = c.opt_uint(u16::MAX.into())?.map(|n| n as u16),
            11 => r.diagnostic = c.text()?,
            12 => r.remote_mta = c.text()?,
            13 => r.reporting_mta = c.text()?,
            14 => r.mta = c.text()?,
            15 => rule = Some(c.string()?),
            16 => r.evidence = c.text()?,
            17 => r.feedback_type = c.text()?,
            18 => r.new_address = c.text()?,
            19 => r.subscriber = c.text()?,
            20 => r.original = original(&mut c)?,
            _ => {
                r.provenance = if c.null() {
                    None
                } else {
                    Some(c.string()?.parse().ok()?)
                }
            }
        }
        if c.next_member()? {
            break;
        }
    }
    c.ws();
    if c.i != line.len() {
        return None;
    }
    r.v = v?;
    r.category = category?;
    r.reason = reason?;
    r.rule = Str::from(rule?);
    Some(r)
}

fn source<'a>(c: &mut Cursor<'a>) -> Option<Source<Str<'a>>> {
    let mut s = Source::default();
    c.eat(b'{')?;
    c.ws();
    if c.eat(b'}').is_some() {
        return Some(s);
    }
    let mut fields = Fields::new(SOURCE);
    loop {
        match fields.next(c)? {
            0 => s.path = c.text()?,
            1 => s.index = c.opt_uint(u64::MAX)?,
            2 => s.offset = c.opt_uint(u64::MAX)?,
            3 => s.mailbox = c.text()?,
            4 => s.uidvalidity = c.opt_uint(u32::MAX.into())?.map(|n| n as u32),
            5 => s.uid = c.opt_uint(u32::MAX.into())?.map(|n| n as u32),
            6 => s.esp = c.text()?,
            _ => s.event_id = c.text()?,
        }
        if c.next_member()? {
            return Some(s);
        }
    }
}

fn original<'a>(c: &mut Cursor<'a>) -> Option<Original<Str<'a>>> {
    let mut o = Original::default();
    c.eat(b'{')?;
    c.ws();
    if c.eat(b'}').is_some() {
        return Some(o);
    }
    let mut fields = Fields::new(ORIGINAL);
    loop {
        let field = match fields.next(c)? {
            0 => &mut o.message_id,
            1 => &mut o.subject,
            2 => &mut o.from,
            3 => &mut o.to,
            _ => &mut o.list_id,
        };
        *field = c.text()?;
        if c.next_member()? {
            return Some(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(line: &str) -> Option<RecordRef<'_>> {
        serde_json::from_str(line).ok()
    }

    const BENCH: &str = r#"{"v":1,"source":{"path":"bench.mbox","index":7,"offset":28672},"message_id":"<7.3@bounce.example.net>","date":"2024-03-04T07:07:00Z","recipient":"user3@host3.example.com","category":"soft","reason":"mailboxfull","bounce":"soft","action":"failed","status":"4.2.2","smtp_code":550,"diagnostic":"550 soft <user3@host3.example.com>: Recipient address rejected","remote_mta":"mx3.example.com","reporting_mta":"mail.example.net","mta":"postfix","rule":"dsn-soft","evidence":"Status: soft","feedback_type":null,"new_address":null,"subscriber":null,"original":{"message_id":"<news-7@list.example.org>","subject":"Newsletter","from":"news@list.example.org","to":null,"list_id":"<news.list.example.org>"}}"#;

    const FULL: &str = "{\"v\":1,\"source\":{\"path\":\"a\",\"index\":1,\"mailbox\":\"INBOX\",\"uidvalidity\":5,\"uid\":9},\"message_id\":\"<m1>\",\"date\":null,\"recipient\":\"a@b\",\"category\":\"hard\",\"reason\":\"userunknown\",\"bounce\":null,\"action\":\"failed\",\"status\":\"5.1.1\",\"smtp_code\":0,\"diagnostic\":\"x y\",\"remote_mta\":\"mx\",\"reporting_mta\":null,\"mta\":\"postfix\",\"rule\":\"r\",\"evidence\":\"e\",\"feedback_type\":\"abuse\",\"new_address\":\"n@b\",\"subscriber\":\"s1\",\"original\":{},\"provenance\":\"signed\"}\r\n";

    #[test]
    fn takes_the_common_shape() {
        for line in [
            BENCH,
            FULL,
            r#" { "v" : 1 , "category":"soft","reason":"mailboxfull","rule":"" } "#,
        ] {
            let q = parse(line).expect(line);
            assert_eq!(Some(q), serde(line));
        }
    }

    #[test]
    fn leaves_the_rest_to_serde() {
        for line in [
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","x":1}"#,
            r#"{"v":1,"v":1,"category":"soft","reason":"mailboxfull","rule":"r"}"#,
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r\u0041"}"#,
            r#"{"v":01,"category":"soft","reason":"mailboxfull","rule":"r"}"#,
            r#"{"v":1.0,"category":"soft","reason":"mailboxfull","rule":"r"}"#,
            r#"{"v":-0,"category":"soft","reason":"mailboxfull","rule":"r"}"#,
            r#"{"v":1,"category":"soft","reason":"mailboxfull"}"#,
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r",}"#,
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r"} x"#,
            r#"{"v":1,"category":"softer","reason":"mailboxfull","rule":"r"}"#,
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","smtp_code":70000}"#,
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","source":null}"#,
            "{\"v\":1,\"category\":\"soft\",\"reason\":\"mailboxfull\",\"rule\":\"a\tb\"}",
            r#"["v",1]"#,
        ] {
            assert!(parse(line).is_none(), "{line}");
        }
    }

    /// A small xorshift generator: the tests must not vary between runs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'p>(&mut self, from: &[&'p str]) -> &'p str {
            from[self.below(from.len())]
        }
    }

    const ITERATIONS: usize = 40_000;

    fn check(line: &str, fast: &mut usize) {
        if let Some(q) = parse(line) {
            *fast += 1;
            assert_eq!(Some(q), serde(line), "{line:?}");
        }
    }

    /// Lines altered at random: whatever the fast path takes, serde takes
    /// too and reads the same.
    #[test]
    fn agrees_with_serde_on_altered_lines() {
        let alphabet: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            "\\",
            " ",
            "\t",
            "\n",
            "\r",
            "0",
            "1",
            "9",
            "-",
            "+",
            ".",
            "e",
            "E",
            "n",
            "null",
            "true",
            "\u{1}",
            "é",
            "a",
            "\\u0041",
            "\\n",
            "\"v\":1,",
            "\"rule\":\"r\",",
            "\"x\":[1,{}],",
            "\"source\":{},",
            "\"smtp_code\":65535,",
            "99999999999999999999",
            "4294967296",
            "65536",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut fast = 0;
        for base in [BENCH, FULL] {
            for _ in 0..ITERATIONS / 2 {
                let mut line = base.to_string();
                for _ in 0..1 + rng.below(2) {
                    let mut at = rng.below(line.len() + 1);
                    while !line.is_char_boundary(at) {
                        at -= 1;
                    }
                    let mut end = (at + rng.below(4)).min(line.len());
                    while !line.is_char_boundary(end) {
                        end += 1;
                    }
                    let piece = if rng.below(3) == 0 {
                        ""
                    } else {
                        rng.pick(alphabet)
                    };
                    line.replace_range(at..end, piece);
                }
                check(&line, &mut fast);
            }
        }
        assert!(fast > 2_000, "{fast}");
    }

    /// Records put together at random from valid and invalid pieces, with
    /// whitespace between tokens, fields missing, twice or unknown.
    #[test]
    fn agrees_with_serde_on_generated_records() {
        // The first few of each list are what the fast path takes.
        const NUMBERS: &[&str] = &[
            "0",
            "1",
            "7",
            "550",
            "65535",
            "4294967295",
            "18446744073709551615",
            "null",
            "65536",
            "4294967296",
            "18446744073709551616",
            "01",
            "-1",
            "-0",
            "1.0",
            "1e2",
            "\"1\"",
            "true",
        ];
        const STRINGS: &[&str] = &[
            "\"\"",
            "\"a\"",
            "\"é€\"",
            "null",
            "\"hard\"",
            "\"a b c d e f g h i j k l\"",
            "\"a\\\"b\"",
            "\"\\u00e9\"",
            "\"x\ty\"",
            "1",
            "\"Hard\"",
            "{}",
            "[]",
        ];
        const SPACE: &[&str] = &["", "", "", " ", "\n", "\t ", "\r\n"];
        const TOP: &[&str] = &[
            "v",
            "source",
            "message_id",
            "date",
            "recipient",
            "category",
            "reason",
            "bounce",
            "action",
            "status",
            "smtp_code",
            "diagnostic",
            "remote_mta",
            "reporting_mta",
            "mta",
            "rule",
            "evidence",
            "feedback_type",
            "new_address",
            "subscriber",
            "original",
            "provenance",
        ];
        const SOURCE: &[&str] = &["path", "index", "offset", "mailbox", "uidvalidity", "uid"];
        const ORIGINAL: &[&str] = &["message_id", "subject", "from", "to", "list_id"];
        fn value(rng: &mut Rng, key: &str, nested: bool) -> String {
            let sp = |rng: &mut Rng| rng.pick(SPACE).to_string();
            match key {
                "v" | "smtp_code" | "index" | "offset" | "uidvalidity" | "uid" => {
                    let n = if rng.below(10) == 0 { NUMBERS.len() } else { 8 };
                    NUMBERS[rng.below(n)].to_string()
                }
                "source" | "original" if !nested => {
                    if rng.below(20) == 0 {
                        return rng.pick(STRINGS).to_string();
                    }
                    let keys = if key == "source" { SOURCE } else { ORIGINAL };
                    let mut o = String::from("{");
                    for i in 0..rng.below(keys.len() + 2) {
                        let k = if rng.below(30) == 0 {
                            "zz"
                        } else {
                            rng.pick(keys)
                        };
                        if i > 0 {
                            o.push(',');
                        }
                        o += &format!(
                            "{}\"{k}\"{}:{}{}",
                            sp(rng),
                            sp(rng),
                            sp(rng),
                            value(rng, k, true)
                        );
                        o += &sp(rng);
                    }
                    o.push('}');
                    o
                }
                _ => {
                    let n = if rng.below(10) == 0 { STRINGS.len() } else { 6 };
                    STRINGS[rng.below(n)].to_string()
                }
            }
        }
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let (mut fast, mut total) = (0, 0);
        for _ in 0..ITERATIONS {
            let mut keys: Vec<&str> = TOP.iter().copied().filter(|_| rng.below(3) == 0).collect();
            for k in ["v", "category", "reason", "rule"] {
                if rng.below(30) != 0 && !keys.contains(&k) {
                    keys.push(k);
                }
            }
            if rng.below(20) == 0 {
                let k = rng.pick(TOP);
                keys.push(k);
            }
            if rng.below(20) == 0 {
                keys.push("zz");
            }
            for i in (1..keys.len()).rev() {
                keys.swap(i, rng.below(i + 1));
            }
            let mut line = rng.pick(SPACE).to_string() + "{";
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let v = match *k {
                    "category" | "reason" | "bounce" | "provenance" if rng.below(8) != 0 => {
                        let names: &[&str] = match *k {
                            "category" => &["\"hard\"", "\"address-change\"", "\"mailboxfull\""],
                            "reason" => &["\"mailboxfull\"", "\"userunknown\"", "\"soft\""],
                            "provenance" => &["\"signed\"", "\"known\"", "null", "\"Signed\""],
                            _ => &["\"hard\"", "\"soft\"", "null", "\"undefined\""],
                        };
                        rng.pick(names).to_string()
                    }
                    "v" if rng.below(2) == 0 => "1".to_string(),
                    k => value(&mut rng, k, false),
                };
                line += &format!(
                    "{}\"{k}\"{}:{}{v}{}",
                    rng.pick(SPACE),
                    rng.pick(SPACE),
                    rng.pick(SPACE),
                    rng.pick(SPACE)
                );
            }
            line += "}";
            line += rng.pick(SPACE);
            total += 1;
            check(&line, &mut fast);
        }
        assert!(fast > total / 20, "{fast} of {total}");
    }
}
