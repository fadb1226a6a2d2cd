//! Fuzzes the Accept-Encoding parser and the choice of a precompressed
//! sidecar (src/encoding.rs) with arbitrary field bytes.
//!
//! Invariants: no panic; every coding offered is acceptable to the client
//! (weight above 0, so never one it refused with `q=0`), listed once, and
//! best first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rangeserve::http::negotiate::{AcceptEncoding, preferred};

fuzz_target!(|field: &[u8]| {
    let parsed = AcceptEncoding::parse(field);
    let offered = parsed.preferred();
    assert_eq!(offered, preferred(Some(field)));
    for (i, coding) in offered.iter().enumerate() {
        let weight = parsed.weight(coding.token());
        assert!(weight > 0, "{coding:?} offered with weight 0 for {field:?}");
        assert!(!offered[..i].contains(coding), "{coding:?} offered twice");
        if let Some(previous) = i.checked_sub(1).map(|p| offered[p]) {
            assert!(
                parsed.weight(previous.token()) >= weight,
                "not best first for {field:?}"
            );
        }
    }
});
