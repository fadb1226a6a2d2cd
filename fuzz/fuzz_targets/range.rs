//! Fuzzes `range::decide` (the `Range` header, RFC 9110 §14) against the
//! invariants a response relies on, not only the absence of panics.
//!
//! Input: the first 8 bytes are a little-endian length (missing bytes are
//! zero), the rest is the header value. Each input is tried against several
//! lengths derived from that number so small files, where ranges collide and
//! coalesce, are reached as often as huge ones:
//! 1. the raw length;
//! 2. `raw % 10_000` (small files);
//! 3. `u64::MAX - raw % 10_000` (files whose end is near the top of `u64`);
//! 4. 0 (an empty file).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rangeserve::http::range::{ByteRange, COALESCE_GAP, MAX_RANGES, RangeDecision, decide};

fuzz_target!(|data: &[u8]| {
    let split = data.len().min(8);
    let mut length_bytes = [0u8; 8];
    length_bytes[..split].copy_from_slice(&data[..split]);
    let raw = u64::from_le_bytes(length_bytes);
    let header = &data[split..];

    for length in [raw, raw % 10_000, u64::MAX - raw % 10_000, 0] {
        check(header, length);
    }
});

/// Asserts the invariants of one decision:
/// 1. an empty representation never yields `Partial` (no `bytes 0-0/0`);
/// 2. `Partial` holds 1..=`MAX_RANGES` ranges, each `first <= last < length`;
/// 3. several ranges add up to at most `length`, and sorted by start, each
///    ends more than `COALESCE_GAP` bytes before the next begins (so none
///    overlap or should have been coalesced).
fn check(header: &[u8], length: u64) {
    let decision = decide(header, length);
    let RangeDecision::Partial(ranges) = &decision else {
        return;
    };
    assert_ne!(length, 0, "Partial for an empty representation: {ranges:?}");
    assert!(!ranges.is_empty(), "empty Partial for length {length}");
    assert!(
        ranges.len() <= MAX_RANGES,
        "{} ranges > MAX_RANGES for length {length}",
        ranges.len()
    );
    for r in ranges {
        assert!(
            r.first <= r.last && r.last < length,
            "{r:?} outside a representation of {length} bytes"
        );
    }
    if ranges.len() > 1 {
        let total = ranges
            .iter()
            .try_fold(0u64, |sum, r| sum.checked_add(r.len()));
        assert!(
            total.is_some_and(|t| t <= length),
            "ranges add up to {total:?} > {length}: {ranges:?}"
        );
        let mut sorted: Vec<ByteRange> = ranges.clone();
        sorted.sort_by_key(|r| r.first);
        for w in sorted.windows(2) {
            // NOTE: saturating: a range ending within COALESCE_GAP of u64::MAX
            // leaves no room for another one after it, so the check must fail.
            assert!(
                w[0].last.saturating_add(COALESCE_GAP) < w[1].first,
                "{:?} and {:?} overlap or lie within COALESCE_GAP (length {length})",
                w[0],
                w[1]
            );
        }
    }
}
