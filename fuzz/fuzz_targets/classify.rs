//! The classifier on one message: any bytes give records (never a panic;
//! the classifier's own catch_unwind does not hide one here, libFuzzer's
//! panic hook aborts first), and every record is a line bapply reads back.
#![no_main]

use bounce_tools::classify::{Classifier, Options, rules::RuleSet};
use bounce_tools::record::Record;
use bounce_tools::stream::RawMessage;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static CLASSIFIER: Classifier = Classifier::new(RuleSet::builtin(), Options::default());
}

fuzz_target!(|data: &[u8]| {
    let message = RawMessage {
        bytes: data.to_vec(),
        ..RawMessage::default()
    };
    let records = CLASSIFIER.with(|c| c.classify(&message));
    assert!(!records.is_empty(), "no record for a message");
    for record in records {
        let line = serde_json::to_string(&record).expect("record serializes");
        let back: Record = serde_json::from_str(&line).expect("record reads back");
        assert_eq!(back, record, "record round trip");
        bounce_tools::apply::fuzz_record_line(line.as_bytes()).expect("bapply reads the record");
    }
});
