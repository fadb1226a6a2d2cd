//! The `Range` header (RFC 9110 §14): parse a header value against the length
//! of the selected representation and decide what to send.
//!
//! Pure: no I/O and no HTTP types, so every rule is a table test or a property.
//! It does not own If-Range (that is `conditional.rs`), multipart framing
//! (`multipart.rs`) or reading the bytes (`body.rs`).

use super::fields;

/// The most `range-spec`s one header may carry before the whole header is
/// ignored and the full file sent once (Apache's `MaxRanges` default). A
/// defence against amplification (CVE-2011-3192) and against parsing cost.
pub const MAX_RANGES: usize = 200;

/// Two satisfiable ranges closer than this many bytes are merged into one
/// part: the gap costs less than the header of another part would
/// (RFC 9110 §15.3.7.2 allows coalescing overlapping and nearly adjacent ranges).
pub const COALESCE_GAP: u64 = 128;

/// An inclusive range of byte positions inside the representation.
///
/// Invariant: `first <= last < length` of the representation it was made for,
/// so it is never empty and never reaches past the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// The number of bytes in the range; at least 1.
    #[allow(clippy::len_without_is_empty)] // a ByteRange is never empty
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// The `Content-Range` value of this range of a `complete_length`-byte
    /// representation: `bytes first-last/complete` (RFC 9110 §14.4), for a
    /// 206 and for each part of a multipart one.
    pub fn content_range(&self, complete_length: u64) -> String {
        format!("bytes {}-{}/{complete_length}", self.first, self.last)
    }
}

/// The `Content-Range` value of a 416: `bytes */complete` (RFC 9110 §14.4).
pub fn unsatisfied_range(complete_length: u64) -> String {
    format!("bytes */{complete_length}")
}

/// What to do with a request's `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeDecision {
    /// Ignore the header and send the whole representation with 200: there was
    /// no header, or it was malformed, of an unknown unit, or too costly to serve.
    Full,
    /// Send these ranges with 206: one range as a plain body, several as
    /// `multipart/byteranges`, in the order given.
    Partial(Vec<ByteRange>),
    /// No range-spec is satisfiable: 416 with `Content-Range: bytes */length`.
    Unsatisfiable,
}

/// One parsed `range-spec` of RFC 9110 §14.1.1, before it meets a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-pos "-" [ last-pos ]`
    Int { first: u64, last: Option<u64> },
    /// `"-" suffix-length`
    Suffix(u64),
}

/// Decides how to answer `Range: {header}` for a representation of `length` bytes.
///
/// 1. A header that does not parse as `bytes=range-set` (RFC 9110 §14.1.1),
///    uses another unit, or holds an invalid spec (`last < first`) is ignored:
///    `Full` (§14.2: a server MAY ignore such a header; it is never a 416).
/// 2. More than [`MAX_RANGES`] specs: `Full`.
/// 3. Each spec is resolved against `length` (§14.1.2): a `first-pos` at or past
///    the end, and `-0`, are unsatisfiable and dropped; a `last-pos` past the
///    end is clamped to it; a suffix longer than the representation selects
///    all of it. On an empty representation every spec is unsatisfiable, so no
///    response ever claims `bytes 0-0/0`.
/// 4. None left: `Unsatisfiable`.
/// 5. Several left: overlapping ranges and ranges less than [`COALESCE_GAP`]
///    apart are merged (§15.3.7.2), and the merged ranges keep the order in
///    which their earliest spec appeared (§15.3.7.2 SHOULD). If the ranges
///    still add up to more than the representation, `Full`: the whole file
///    once is cheaper than the same bytes many times.
pub fn decide(header: &[u8], length: u64) -> RangeDecision {
    let Some(specs) = parse(header) else {
        return RangeDecision::Full;
    };
    let satisfiable: Vec<ByteRange> = specs.iter().filter_map(|s| resolve(*s, length)).collect();
    match satisfiable.len() {
        0 => RangeDecision::Unsatisfiable,
        1 => RangeDecision::Partial(satisfiable),
        _ => {
            let merged = coalesce(&satisfiable);
            let total = merged
                .iter()
                .map(ByteRange::len)
                .fold(0u64, u64::saturating_add);
            if total > length {
                RangeDecision::Full
            } else {
                RangeDecision::Partial(merged)
            }
        }
    }
}

/// Parses `ranges-specifier = range-unit "=" range-set` (RFC 9110 §14.1.1).
///
/// Returns `None` for anything that is not a valid `bytes` specifier, and for
/// more than [`MAX_RANGES`] specs. The unit is case-insensitive (§14.1);
/// list elements may carry optional whitespace and empty elements are
/// skipped (§5.6.1); numbers may have leading zeros and saturate at
/// `u64::MAX`, which leaves their meaning intact (past any real end).
fn parse(header: &[u8]) -> Option<Vec<Spec>> {
    let eq = header.iter().position(|&b| b == b'=')?;
    let (unit, set) = (&header[..eq], &header[eq + 1..]);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in fields::list(set) {
        if specs.len() == MAX_RANGES {
            return None;
        }
        specs.push(parse_spec(element)?);
    }
    if specs.is_empty() { None } else { Some(specs) }
}

/// Parses one `range-spec`; `None` if it is malformed or invalid (`last < first`).
fn parse_spec(spec: &[u8]) -> Option<Spec> {
    let dash = spec.iter().position(|&b| b == b'-')?;
    let (before, after) = (&spec[..dash], &spec[dash + 1..]);
    if before.is_empty() {
        return Some(Spec::Suffix(parse_digits(after)?));
    }
    let first = parse_digits(before)?;
    if after.is_empty() {
        return Some(Spec::Int { first, last: None });
    }
    let last = parse_digits(after)?;
    // RFC 9110 §14.1.1: a spec whose last-pos is less than its first-pos is invalid.
    (last >= first).then_some(Spec::Int {
        first,
        last: Some(last),
    })
}

/// `1*DIGIT`, saturating at `u64::MAX` instead of overflowing.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Resolves one spec against `length` (RFC 9110 §14.1.2); `None` if unsatisfiable.
fn resolve(spec: Spec, length: u64) -> Option<ByteRange> {
    if length == 0 {
        // NOTE: a suffix is satisfiable on an empty representation by the letter
        // of §14.1.1, but selects no bytes, which Content-Range cannot express.
        return None;
    }
    match spec {
        Spec::Int { first, last } => (first < length).then(|| ByteRange {
            first,
            last: last.map_or(length - 1, |l| l.min(length - 1)),
        }),
        Spec::Suffix(0) => None,
        Spec::Suffix(n) => Some(ByteRange {
            first: length.saturating_sub(n),
            last: length - 1,
        }),
    }
}

/// Merges ranges that overlap or lie less than [`COALESCE_GAP`] apart, and
/// orders the result by the position of each merged range's earliest member
/// in `ranges`.
fn coalesce(ranges: &[ByteRange]) -> Vec<ByteRange> {
    let mut by_start: Vec<(ByteRange, usize)> = ranges.iter().copied().zip(0..).collect();
    by_start.sort_unstable_by_key(|(r, _)| r.first);
    let mut merged: Vec<(ByteRange, usize)> = Vec::with_capacity(by_start.len());
    for (r, index) in by_start {
        match merged.last_mut() {
            Some((m, m_index)) if r.first <= m.last.saturating_add(COALESCE_GAP) => {
                m.last = m.last.max(r.last);
                *m_index = (*m_index).min(index);
            }
            _ => merged.push((r, index)),
        }
    }
    merged.sort_unstable_by_key(|&(_, index)| index);
    merged.into_iter().map(|(r, _)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn partial(ranges: &[(u64, u64)]) -> RangeDecision {
        RangeDecision::Partial(
            ranges
                .iter()
                .map(|&(first, last)| ByteRange { first, last })
                .collect(),
        )
    }

    fn decide_str(header: &str, length: u64) -> RangeDecision {
        decide(header.as_bytes(), length)
    }

    #[test]
    fn single_range_forms() {
        assert_eq!(decide_str("bytes=0-9", 100), partial(&[(0, 9)]));
        assert_eq!(decide_str("bytes=10-", 100), partial(&[(10, 99)]));
        assert_eq!(decide_str("bytes=-10", 100), partial(&[(90, 99)]));
        assert_eq!(decide_str("bytes=99-99", 100), partial(&[(99, 99)]));
    }

    #[test]
    fn zero_open_ended_is_partial_not_full() {
        assert_eq!(decide_str("bytes=0-", 100), partial(&[(0, 99)]));
    }

    #[test]
    fn last_position_past_end_is_clamped() {
        assert_eq!(decide_str("bytes=50-1000", 100), partial(&[(50, 99)]));
        assert_eq!(
            decide_str("bytes=0-18446744073709551615", 100),
            partial(&[(0, 99)])
        );
    }

    #[test]
    fn suffix_longer_than_file_returns_whole_file() {
        assert_eq!(decide_str("bytes=-1000", 100), partial(&[(0, 99)]));
        assert_eq!(decide_str("bytes=-100", 100), partial(&[(0, 99)]));
    }

    #[test]
    fn first_position_at_or_past_end_is_unsatisfiable() {
        assert_eq!(decide_str("bytes=100-", 100), RangeDecision::Unsatisfiable);
        assert_eq!(
            decide_str("bytes=100-200", 100),
            RangeDecision::Unsatisfiable
        );
        assert_eq!(
            decide_str("bytes=18446744073709551615-", 100),
            RangeDecision::Unsatisfiable
        );
    }

    #[test]
    fn zero_suffix_is_unsatisfiable() {
        assert_eq!(decide_str("bytes=-0", 100), RangeDecision::Unsatisfiable);
    }

    #[test]
    fn empty_file_never_yields_a_range() {
        for h in ["bytes=0-", "bytes=0-0", "bytes=-1", "bytes=-0", "bytes=5-9"] {
            assert_eq!(decide_str(h, 0), RangeDecision::Unsatisfiable, "{h}");
        }
        assert_eq!(decide_str("bytes=x", 0), RangeDecision::Full);
    }

    #[test]
    fn unit_is_case_insensitive() {
        assert_eq!(decide_str("Bytes=0-1", 10), partial(&[(0, 1)]));
        assert_eq!(decide_str("BYTES=0-1", 10), partial(&[(0, 1)]));
    }

    #[test]
    fn leading_zeros_and_huge_numbers() {
        assert_eq!(decide_str("bytes=0005-0007", 10), partial(&[(5, 7)]));
        assert_eq!(
            decide_str("bytes=0-99999999999999999999999999999", 10),
            partial(&[(0, 9)])
        );
        assert_eq!(
            decide_str("bytes=-99999999999999999999999999999", 10),
            partial(&[(0, 9)])
        );
        assert_eq!(
            decide_str("bytes=99999999999999999999999999999-", 10),
            RangeDecision::Unsatisfiable
        );
    }

    #[test]
    fn whitespace_around_list_elements() {
        assert_eq!(
            decide_str("bytes=0-1 , 500-501", 1000),
            partial(&[(0, 1), (500, 501)])
        );
        assert_eq!(
            decide_str("bytes= 0-1,\t500-501 ", 1000),
            partial(&[(0, 1), (500, 501)])
        );
        assert_eq!(
            decide_str("bytes=0-1,,500-501,", 1000),
            partial(&[(0, 1), (500, 501)])
        );
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-a",
            "bytes=--1",
            "bytes=1--2",
            "bytes=5-1",
            "bytes=0-1,5-1",
            "bytes=0 -1",
            "bytes=0- 1",
            "bytes=+1-2",
            "bytes=0x10-",
            "bytes =0-1",
            "bytes=0-1;",
            "bytes=1-2-3",
            "bytes=\u{0}0-1",
        ] {
            assert_eq!(decide_str(h, 100), RangeDecision::Full, "{h:?}");
        }
    }

    #[test]
    fn unknown_unit_is_ignored() {
        assert_eq!(decide_str("items=0-1", 100), RangeDecision::Full);
        assert_eq!(decide_str("none", 100), RangeDecision::Full);
    }

    #[test]
    fn unsatisfiable_specs_in_a_list_are_dropped() {
        assert_eq!(decide_str("bytes=200-300,0-1", 100), partial(&[(0, 1)]));
        assert_eq!(
            decide_str("bytes=200-300,-0", 100),
            RangeDecision::Unsatisfiable
        );
    }

    #[test]
    fn overlapping_and_near_ranges_are_coalesced() {
        assert_eq!(decide_str("bytes=0-10,5-20", 1000), partial(&[(0, 20)]));
        assert_eq!(decide_str("bytes=0-10,100-120", 1000), partial(&[(0, 120)]));
        assert_eq!(
            decide_str("bytes=0-10,500-520", 1000),
            partial(&[(0, 10), (500, 520)])
        );
    }

    #[test]
    fn coalesced_parts_keep_request_order() {
        assert_eq!(
            decide_str("bytes=500-520,0-10", 1000),
            partial(&[(500, 520), (0, 10)])
        );
        assert_eq!(
            decide_str("bytes=900-910,500-520,0-10,505-530", 1000),
            partial(&[(900, 910), (500, 530), (0, 10)])
        );
    }

    #[test]
    fn ranges_adding_up_past_the_file_serve_it_whole() {
        let header = format!("bytes={}", ["0-"; 200].join(","));
        // 200 copies of `0-` coalesce into one range of the whole file.
        assert_eq!(decide_str(&header, 1000), partial(&[(0, 999)]));
        let spread = format!("bytes={}", ["0-999,-1"; 3].join(","));
        assert_eq!(decide_str(&spread, 1000), partial(&[(0, 999)]));
    }

    #[test]
    fn more_than_max_ranges_serves_whole_file() {
        let at_limit: Vec<String> = (0..MAX_RANGES)
            .map(|i| format!("{}-{}", i * 1000, i * 1000))
            .collect();
        let header = format!("bytes={}", at_limit.join(","));
        match decide_str(&header, 1_000_000) {
            RangeDecision::Partial(r) => assert_eq!(r.len(), MAX_RANGES),
            other => panic!("{other:?}"),
        }
        let over = format!("{header},999999-999999");
        assert_eq!(decide_str(&over, 1_000_000), RangeDecision::Full);
    }

    proptest! {
        #[test]
        fn partial_ranges_lie_inside_the_file(header in "\\PC{0,40}", length in 0u64..2000) {
            check_invariants(header.as_bytes(), length);
        }

        #[test]
        fn well_formed_headers_keep_invariants(
            specs in proptest::collection::vec((proptest::option::of(0u64..3000), proptest::option::of(0u64..3000)), 1..20),
            length in 0u64..2500,
        ) {
            let set: Vec<String> = specs.iter().map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => format!("{}-{}", a.min(b), a.max(b)),
                (Some(a), None) => format!("{a}-"),
                (None, Some(b)) => format!("-{b}"),
                (None, None) => "0-0".to_string(),
            }).collect();
            let header = format!("bytes={}", set.join(", "));
            let decision = check_invariants(header.as_bytes(), length);
            // A well-formed header is never ignored for being malformed: it is
            // only Full when the ranges would send more than the file.
            if decision == RangeDecision::Full {
                prop_assert!(specs.len() > 1);
            }
        }

        #[test]
        fn a_single_int_range_is_exactly_its_clamped_slice(first in 0u64..u64::MAX, len in 1u64..u64::MAX, length in 1u64..u64::MAX) {
            let last = first.saturating_add(len - 1);
            let decision = decide(format!("bytes={first}-{last}").as_bytes(), length);
            if first < length {
                prop_assert_eq!(decision, RangeDecision::Partial(vec![ByteRange { first, last: last.min(length - 1) }]));
            } else {
                prop_assert_eq!(decision, RangeDecision::Unsatisfiable);
            }
        }
    }

    /// For any header and length: every Partial range is non-empty, not inverted
    /// and inside the file; the parts never add up to more than the file and
    /// never overlap. Returns the decision for further checks.
    fn check_invariants(header: &[u8], length: u64) -> RangeDecision {
        let decision = decide(header, length);
        if let RangeDecision::Partial(ranges) = &decision {
            assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
            for r in ranges {
                assert!(
                    r.first <= r.last && r.last < length,
                    "{r:?} outside {length}"
                );
            }
            if ranges.len() > 1 {
                let total: u64 = ranges.iter().map(ByteRange::len).sum();
                assert!(total <= length);
                let mut sorted = ranges.clone();
                sorted.sort_by_key(|r| r.first);
                for w in sorted.windows(2) {
                    assert!(w[0].last + COALESCE_GAP < w[1].first, "{w:?} not coalesced");
                }
            }
        }
        decision
    }
}
