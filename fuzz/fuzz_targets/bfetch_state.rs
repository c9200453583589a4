//! bfetch's `--new` state file on any bytes: a state or a clear data error,
//! and a state that reads is saved and read back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bounce_tools::imap::fuzzing::state_file(data);
});
