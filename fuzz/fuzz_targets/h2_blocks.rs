//! Fuzzes the HTTP/2 header block scanner (`http::h2_blocks`) with the bytes
//! a client may send after the preface, against the invariants the gate
//! relies on: a report names a byte inside what was fed, and the same bytes
//! cut into reads anywhere give the same report.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rangeserve::http::h2_blocks::Scanner;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    limit: u16,
    bytes: &'a [u8],
    cuts: Vec<u16>,
}

/// The offset of the first report when `bytes` is fed in pieces of `cuts`.
fn first_report(limit: usize, bytes: &[u8], cuts: &[u16]) -> Option<usize> {
    let mut scanner = Scanner::new(limit);
    assert_eq!(scanner.feed(PREFACE), None, "the preface is skipped");
    let mut at = 0;
    let mut cuts = cuts.iter().map(|&c| usize::from(c).max(1)).chain(std::iter::repeat(usize::MAX));
    while at < bytes.len() {
        let end = at.saturating_add(cuts.next().unwrap_or(usize::MAX)).min(bytes.len());
        if let Some(i) = scanner.feed(&bytes[at..end]) {
            assert!(at + i < end, "report {i} outside the {} bytes fed", end - at);
            return Some(at + i);
        }
        at = end;
    }
    None
}

fuzz_target!(|input: Input<'_>| {
    let limit = usize::from(input.limit);
    let whole = first_report(limit, input.bytes, &[]);
    let cut = first_report(limit, input.bytes, &input.cuts);
    assert_eq!(whole, cut, "cutting the reads changed the report");
});
