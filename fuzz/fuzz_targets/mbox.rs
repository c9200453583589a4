//! The mbox reader of the message stream on any bytes.
#![no_main]

#[path = "stream.rs"]
mod stream;

use bounce_tools::stream::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stream::read(data, Format::Mbox));
