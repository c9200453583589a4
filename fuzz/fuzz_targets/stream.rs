//! Shared by the stream targets: the bytes as one input file of the given
//! format, read through the public message stream exactly as the tools
//! read a file argument. Every message stays under the cap, and the
//! stream ends.

use bounce_tools::stream::{Format, Messages, Options, RawMessage};
use std::path::PathBuf;

/// A small cap, so inputs of a few kilobytes reach the truncation paths.
const MAX: usize = 4096;

pub fn read(data: &[u8], format: Format) {
    read_each(data, format, |_| {});
}

/// As `read`, handing each message read to `each`.
#[allow(dead_code)]
pub fn read_each(data: &[u8], format: Format, mut each: impl FnMut(&RawMessage)) {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("bounce-tools-fuzz-{}", std::process::id()));
    std::fs::write(&path, data).expect("write the input file");
    let options = Options {
        format,
        max_message_bytes: MAX,
    };
    let mut messages = 0usize;
    for item in Messages::new(std::slice::from_ref(&path), options) {
        if let Ok(m) = item {
            assert!(m.bytes.len() <= MAX + 1024, "message over the cap");
            each(&m);
        }
        messages += 1;
        // Every message or error consumes input: a stream that goes on
        // longer than the input is long is stuck.
        assert!(messages <= data.len() + 2, "stream does not end");
    }
}
