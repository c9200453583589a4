//! Signed return paths (btag(1)): any text checked against a key never
//! panics; whatever verifies carries an address, and signing an address
//! then verifying the result, case-folded or not, gives it back.
#![no_main]

use bounce_tools::tag::{self, Keys, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = Keys::parse(b"fuzz-key-0123456789abcdef").expect("a valid key");
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tag::strip_batv(text);
    if let Verdict::Valid { subscriber, .. } = tag::verify(&keys, text, 20_000, 30) {
        assert!(subscriber.contains('@'), "{text:?}");
    }
    let Ok(signed) = tag::sign(&keys, "bounces@list.example.com", text, 20_000, '+') else {
        return;
    };
    let (local, domain) = text.rsplit_once('@').expect("signed addresses have an @");
    let want = format!("{local}@{}", domain.to_ascii_lowercase());
    for variant in [signed.address.clone(), signed.address.to_ascii_lowercase()] {
        match tag::verify(&keys, &variant, 20_000, 30) {
            Verdict::Valid { subscriber, .. } => {
                assert!(subscriber.eq_ignore_ascii_case(&want), "{variant:?}")
            }
            v => panic!("{variant:?}: {v:?}"),
        }
    }
});
