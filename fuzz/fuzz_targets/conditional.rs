//! Fuzzes `conditional::evaluate` (RFC 9110 §13.2.2) and `Validators::new`
//! against the invariants the handler relies on, not only the absence of panics.
//!
//! The input is structured (`arbitrary`): five optional header fields, each
//! either raw bytes or bytes around the current ETag or Last-Modified date,
//! so the matching paths are reached and not only the garbage ones; a file
//! length; a modification time; `now` as an offset from it; and whether the
//! request carries a Range.

#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rangeserve::http::conditional::{Conditions, Outcome, Validators, evaluate};

/// One header field value.
#[derive(Arbitrary, Debug)]
enum Field<'a> {
    /// Any bytes.
    Raw(&'a [u8]),
    /// `{before}[W/]{current etag}{after}`.
    Tag {
        before: &'a [u8],
        weak: bool,
        after: &'a [u8],
    },
    /// `{before}{current Last-Modified as an IMF-fixdate}{after}`.
    Date { before: &'a [u8], after: &'a [u8] },
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    if_match: Option<Field<'a>>,
    if_none_match: Option<Field<'a>>,
    if_modified_since: Option<Field<'a>>,
    if_unmodified_since: Option<Field<'a>>,
    if_range: Option<Field<'a>>,
    len: u64,
    modified_secs: i64,
    modified_nanos: u32,
    now_offset_secs: i64,
    has_range: bool,
}

/// The largest second `httpdate` can format (end of year 9999).
const LAST_FORMATTABLE_SECOND: u64 = 253_402_300_799;

fuzz_target!(|input: Input<'_>| {
    let Some(modified) = offset(UNIX_EPOCH, input.modified_secs, input.modified_nanos) else {
        return;
    };
    let Some(now) = offset(modified, input.now_offset_secs, 0) else {
        return;
    };
    let v = Validators::new(input.len, Some(modified), now);
    check_validators(&v, now);

    let date = http_date(&v);
    let build = |f: &Option<Field<'_>>| f.as_ref().map(|f| render(f, &v, date.as_deref()));
    let if_match = build(&input.if_match);
    let if_none_match = build(&input.if_none_match);
    let if_modified_since = build(&input.if_modified_since);
    let if_unmodified_since = build(&input.if_unmodified_since);
    let if_range = build(&input.if_range);
    let c = Conditions {
        if_match: if_match.as_deref(),
        if_none_match: if_none_match.as_deref(),
        if_modified_since: if_modified_since.as_deref(),
        if_unmodified_since: if_unmodified_since.as_deref(),
        if_range: if_range.as_deref(),
    };

    check_any(&c, &v, input.has_range);
    if let Some(field) = c.if_range {
        check_if_range_alone(field, &v);
    }
    check_current_validators(&v, date.as_deref());
});

/// `base` moved by a signed number of seconds plus nanoseconds, or `None`
/// when that is not a representable `SystemTime`.
fn offset(base: SystemTime, secs: i64, nanos: u32) -> Option<SystemTime> {
    let d = Duration::new(secs.unsigned_abs(), nanos % 1_000_000_000);
    if secs >= 0 {
        base.checked_add(d)
    } else {
        base.checked_sub(d)
    }
}

/// The current Last-Modified as an IMF-fixdate, when `httpdate` can format it.
fn http_date(v: &Validators) -> Option<String> {
    let lm = v.last_modified?;
    let secs = lm.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs <= LAST_FORMATTABLE_SECOND).then(|| httpdate::fmt_http_date(lm))
}

fn render(field: &Field<'_>, v: &Validators, date: Option<&str>) -> Vec<u8> {
    match *field {
        Field::Raw(bytes) => bytes.to_vec(),
        Field::Tag {
            before,
            weak,
            after,
        } => {
            let weak: &[u8] = if weak { b"W/" } else { b"" };
            [before, weak, v.etag.as_bytes(), after].concat()
        }
        Field::Date { before, after } => {
            [before, date.unwrap_or_default().as_bytes(), after].concat()
        }
    }
}

/// The validators themselves:
/// 1. the ETag is strong (RFC 9110 §8.8.3): a quoted tag without `W/`;
/// 2. Last-Modified is present (a time was given), never later than `now`
///    (§8.8.2.1), and whole seconds when after the epoch (§5.6.7).
fn check_validators(v: &Validators, now: SystemTime) {
    let tag = v.etag.as_bytes();
    assert!(
        tag.len() >= 2 && tag[0] == b'"' && tag[tag.len() - 1] == b'"',
        "ETag {:?} is not a quoted strong tag",
        v.etag
    );
    assert!(
        !tag[1..tag.len() - 1].contains(&b'"'),
        "ETag {:?} has a quote inside",
        v.etag
    );
    let lm = v.last_modified.expect("a modification time was given");
    assert!(lm <= now, "Last-Modified {lm:?} is later than now {now:?}");
    if let Ok(d) = lm.duration_since(UNIX_EPOCH) {
        assert_eq!(d.subsec_nanos(), 0, "Last-Modified {lm:?} has a fraction");
    }
}

/// Any combination of fields:
/// 1. without a Range, If-Range is ignored: `Proceed` always lets the Range apply,
///    and the outcome is the same as without the If-Range field;
/// 2. If-Range is evaluated last (§13.2.2 step 5): removing it never changes a
///    304 or 412, and never turns `Proceed` into something else.
fn check_any(c: &Conditions<'_>, v: &Validators, has_range: bool) {
    let outcome = evaluate(c, v, has_range);
    if !has_range {
        assert_ne!(
            outcome,
            Outcome::Proceed {
                range_applies: false
            },
            "without a Range, Proceed must let it apply: {c:?}"
        );
    }
    let without_if_range = Conditions {
        if_range: None,
        ..*c
    };
    let other = evaluate(&without_if_range, v, has_range);
    match outcome {
        Outcome::Proceed { .. } => assert_eq!(
            other,
            Outcome::Proceed {
                range_applies: true
            },
            "If-Range changed more than range_applies: {c:?} with {v:?}"
        ),
        _ => assert_eq!(
            other, outcome,
            "If-Range changed a 304/412: {c:?} with {v:?}"
        ),
    }
    if !has_range {
        assert_eq!(outcome, other, "If-Range without a Range mattered: {c:?}");
    }
}

/// Only If-Range set: a failed If-Range is never a 412 or 304 (§13.1.5), it
/// only makes the server ignore the Range.
fn check_if_range_alone(field: &[u8], v: &Validators) {
    let c = Conditions {
        if_range: Some(field),
        ..Default::default()
    };
    for has_range in [true, false] {
        let outcome = evaluate(&c, v, has_range);
        assert!(
            matches!(outcome, Outcome::Proceed { .. }),
            "If-Range {field:?} alone gave {outcome:?} (has_range {has_range})"
        );
        if !has_range {
            assert_eq!(
                outcome,
                Outcome::Proceed {
                    range_applies: true
                }
            );
        }
    }
}

/// The current validators, each alone, in the field that uses them:
/// 1. If-Match: the current ETag → Proceed with the Range;
/// 2. If-None-Match: the current ETag → 304;
/// 3. If-Range: the current ETag, or exactly the Last-Modified date → the Range applies;
/// 4. If-Unmodified-Since: Last-Modified → Proceed; If-Modified-Since:
///    Last-Modified → 304.
fn check_current_validators(v: &Validators, date: Option<&str>) {
    let etag = v.etag.as_bytes();
    let proceed = Outcome::Proceed {
        range_applies: true,
    };
    for has_range in [true, false] {
        let only = |c: Conditions<'_>| evaluate(&c, v, has_range);
        let if_match = only(Conditions {
            if_match: Some(etag),
            ..Default::default()
        });
        assert_eq!(if_match, proceed, "If-Match: current ETag {:?}", v.etag);
        let if_none_match = only(Conditions {
            if_none_match: Some(etag),
            ..Default::default()
        });
        assert_eq!(
            if_none_match,
            Outcome::NotModified,
            "If-None-Match: current ETag {:?}",
            v.etag
        );
        let if_range = only(Conditions {
            if_range: Some(etag),
            ..Default::default()
        });
        assert_eq!(if_range, proceed, "If-Range: current ETag {:?}", v.etag);
        let Some(date) = date else { continue };
        let if_range = only(Conditions {
            if_range: Some(date.as_bytes()),
            ..Default::default()
        });
        assert_eq!(if_range, proceed, "If-Range: Last-Modified {date}");
        let ius = only(Conditions {
            if_unmodified_since: Some(date.as_bytes()),
            ..Default::default()
        });
        assert_eq!(ius, proceed, "If-Unmodified-Since: Last-Modified {date}");
        let ims = only(Conditions {
            if_modified_since: Some(date.as_bytes()),
            ..Default::default()
        });
        assert_eq!(
            ims,
            Outcome::NotModified,
            "If-Modified-Since: Last-Modified {date}"
        );
    }
}
