//! ESP webhook events, bare SMTP replies and MTA log lines on any bytes
//! (the first byte picks the format): read as bclassify reads a file of
//! them, each item classified, and every record a line bapply reads back.
#![no_main]

#[path = "stream.rs"]
mod stream;

use bounce_tools::classify::{Classifier, Options, rules::RuleSet};
use bounce_tools::record::Record;
use bounce_tools::stream::Format;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static CLASSIFIER: Classifier = Classifier::new(RuleSet::builtin(), Options::default());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = match selector % 3 {
        0 => Format::Events,
        1 => Format::Reply,
        _ => Format::Maillog,
    };
    stream::read_each(rest, format, |message| {
        let records = CLASSIFIER.with(|c| c.classify(message));
        for record in records {
            let line = serde_json::to_string(&record).expect("record serializes");
            let back: Record = serde_json::from_str(&line).expect("record reads back");
            assert_eq!(back, record, "record round trip");
            bounce_tools::apply::fuzz_record_line(line.as_bytes()).expect("bapply reads the record");
        }
    });
});
