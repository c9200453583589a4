//! The `--rules` TOML reader on any text; a rule set that loads then
//! classifies a bounce. The text replaces the built-in rules
//! (`replace = true` is put first), because compiling all of those for
//! each input would leave a few runs a minute.
#![no_main]

use bounce_tools::classify::{Classifier, Options, rules::RuleSet};
use bounce_tools::stream::RawMessage;
use libfuzzer_sys::fuzz_target;

const BOUNCE: &[u8] = b"From: MAILER-DAEMON@example.net\r\nTo: sender@example.org\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\r\n\
<user@example.com>: host mx.example.com said: 550 5.1.1 User unknown\r\n";

fuzz_target!(|data: &[u8]| {
    let text = format!("replace = true\n{}", String::from_utf8_lossy(data));
    if let Ok(rules) = RuleSet::load(&[("fuzz.toml".to_string(), text)]) {
        let classifier = Classifier::new(rules, Options::default());
        let message = RawMessage {
            bytes: BOUNCE.to_vec(),
            ..RawMessage::default()
        };
        assert!(!classifier.classify(&message).is_empty());
    }
});
