//! bapply's record reader on one line: the fast reader
//! (bounce_tools::record::fast) and serde must agree whenever the fast one
//! answers, and the whole reader (version check, message identity, date)
//! takes any bytes.
#![no_main]

use bounce_tools::record::RecordRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bounce_tools::apply::fuzz_record_line(data);
    if let Ok(line) = std::str::from_utf8(data)
        && let Some(fast) = bounce_tools::record::fast::parse(line)
    {
        let slow: RecordRef =
            serde_json::from_str(line).expect("serde reads what the fast reader read");
        assert_eq!(fast, slow, "fast reader and serde disagree");
    }
});
