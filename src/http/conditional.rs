//! Validators (RFC 9110 §8.8) and conditional requests (RFC 9110 §13).
//!
//! Pure: validators are computed from a length and a modification time, never
//! from the inode or anything else local to one machine, so two replicas
//! holding the same file with the same mtime give the same validators; and
//! preconditions are evaluated from raw header values, without I/O.
//!
//! It does not own the `Range` header itself (`range.rs`), only whether
//! If-Range lets it apply.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::header::{self, HeaderMap};

use super::fields::{self, trim, trim_start};

/// The validators of one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// A strong entity tag, quotes included (RFC 9110 §8.8.3).
    pub etag: String,
    /// The modification time, whole seconds, never later than `now` (§8.8.2.1).
    pub last_modified: Option<SystemTime>,
}

impl Validators {
    /// Validators for a file of `len` bytes last modified at `modified`,
    /// as seen at `now`.
    ///
    /// The ETag is `"<len>-<seconds>.<nanoseconds>"` in hex: strong, because
    /// any write changes the mtime, and precise to the filesystem's
    /// sub-second resolution so two writes in one second differ.
    pub fn new(len: u64, modified: Option<SystemTime>, now: SystemTime) -> Self {
        let etag = match modified.map(|m| m.duration_since(UNIX_EPOCH)) {
            Some(Ok(d)) => format!("\"{len:x}-{:x}.{:x}\"", d.as_secs(), d.subsec_nanos()),
            Some(Err(before)) => {
                let d = before.duration();
                format!("\"{len:x}--{:x}.{:x}\"", d.as_secs(), d.subsec_nanos())
            }
            None => format!("\"{len:x}\""),
        };
        let last_modified = modified.map(|m| truncate_to_seconds(m.min(now)));
        Validators {
            etag,
            last_modified,
        }
    }

    /// The validators of a content-coded representation of the file (a
    /// precompressed sidecar): the coding is appended inside the quotes, as
    /// in `"<len>-<secs>.<nanos>-br"`, so each encoding has its own strong
    /// ETag (RFC 9110 §8.8.3: different encodings are different
    /// representations) and If-Range never splices bytes of two of them.
    #[must_use]
    pub fn for_coding(mut self, token: &str) -> Self {
        if let Some(opaque) = self.etag.strip_suffix('"') {
            self.etag = format!("{opaque}-{token}\"");
        }
        self
    }
}

/// The conditional header fields of a request, as raw field values. A field
/// sent on several lines arrives joined with `, ` (RFC 9110 §5.3).
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_unmodified_since: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
}

/// The conditional fields taken from a request's headers: borrowed, unless
/// a field came on several lines and had to be joined. [`Self::conditions`]
/// lends them as [`Conditions`].
#[derive(Debug)]
pub struct ConditionalFields<'a>([Option<Cow<'a, [u8]>>; 5]);

impl<'a> ConditionalFields<'a> {
    /// The five conditional fields of `headers` (RFC 9110 §13.1).
    pub fn from_headers(headers: &'a HeaderMap) -> Self {
        ConditionalFields(
            [
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                header::IF_MODIFIED_SINCE,
                header::IF_UNMODIFIED_SINCE,
                header::IF_RANGE,
            ]
            .map(|name| fields::joined(headers, &name)),
        )
    }

    pub fn conditions(&self) -> Conditions<'_> {
        let [
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
            if_range,
        ] = self.0.each_ref().map(Option::as_deref);
        Conditions {
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
            if_range,
        }
    }
}

/// What the preconditions of a GET or HEAD decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Send the file. `range_applies` is false when If-Range failed: the
    /// Range header must then be ignored and the whole file sent with 200.
    Proceed { range_applies: bool },
    /// 304: the client's copy is current.
    NotModified,
    /// 412: a precondition the client set does not hold.
    PreconditionFailed,
}

/// Evaluates the preconditions of a GET or HEAD of an existing file in the
/// order of RFC 9110 §13.2.2:
///
/// 1. If-Match present: it must hold (strong comparison, `*` holds) or 412.
/// 2. Else If-Unmodified-Since, when a valid date: the file must not be newer
///    than it, or 412.
/// 3. If-None-Match present: if it matches (weak comparison, `*` matches), 304.
/// 4. Else If-Modified-Since, when a valid date: if the file is not newer, 304.
/// 5. If-Range, when a Range is present: it holds only for a strong ETag equal
///    to the current one or a date exactly equal to Last-Modified (§13.1.5);
///    otherwise the Range is ignored. A failed If-Range is never a 412.
///
/// Unparseable dates make their field ignored (§13.1.3, §13.1.4); an
/// unparseable If-Match matches nothing (so 412), an unparseable
/// If-None-Match matches nothing (so the file is sent).
pub fn evaluate(c: &Conditions<'_>, v: &Validators, has_range: bool) -> Outcome {
    if let Some(field) = c.if_match {
        if !matches_any(field, &v.etag, Comparison::Strong) {
            return Outcome::PreconditionFailed;
        }
    } else if let (Some(date), Some(modified)) =
        (c.if_unmodified_since.and_then(parse_date), v.last_modified)
    {
        if modified > date {
            return Outcome::PreconditionFailed;
        }
    }
    if let Some(field) = c.if_none_match {
        if matches_any(field, &v.etag, Comparison::Weak) {
            return Outcome::NotModified;
        }
    } else if let (Some(date), Some(modified)) =
        (c.if_modified_since.and_then(parse_date), v.last_modified)
    {
        if modified <= date {
            return Outcome::NotModified;
        }
    }
    let range_applies = match (has_range, c.if_range) {
        (true, Some(field)) => if_range_holds(field, v),
        _ => true,
    };
    Outcome::Proceed { range_applies }
}

/// Entity-tag comparison (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Neither tag may be weak and the opaque tags must be identical.
    Strong,
    /// The opaque tags must be identical; `W/` is disregarded.
    Weak,
}

/// One `entity-tag` of a field value: `[ W/ ] "opaque"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// The opaque tag, quotes included.
    opaque: &'a [u8],
}

/// Parses `"*" / #entity-tag` (If-Match, If-None-Match; RFC 9110 §13.1.1-2)
/// and reports whether it matches `current` (a strong tag, quotes included).
/// `*` matches any current representation; a malformed list matches nothing.
fn matches_any(field: &[u8], current: &str, how: Comparison) -> bool {
    if trim(field) == b"*" {
        return true;
    }
    let current = parse_tag(current.as_bytes()).map(|(tag, _)| tag);
    let Some(current) = current else { return false };
    let Some(tags) = parse_tag_list(field) else {
        return false;
    };
    tags.iter().any(|tag| match how {
        Comparison::Strong => !tag.weak && !current.weak && tag.opaque == current.opaque,
        Comparison::Weak => tag.opaque == current.opaque,
    })
}

/// Parses `1#entity-tag` with optional whitespace and empty elements
/// (RFC 9110 §5.6.1). Commas inside quotes belong to the tag.
fn parse_tag_list(mut field: &[u8]) -> Option<Vec<EntityTag<'_>>> {
    let mut tags = Vec::new();
    loop {
        field = trim_start(field);
        while let [b',', rest @ ..] = field {
            field = trim_start(rest);
        }
        if field.is_empty() {
            return if tags.is_empty() { None } else { Some(tags) };
        }
        let (tag, rest) = parse_tag(field)?;
        tags.push(tag);
        field = trim_start(rest);
        if !(field.is_empty() || field[0] == b',') {
            return None;
        }
    }
}

/// Parses one `entity-tag` at the start of `s`: `[ "W/" ] DQUOTE *etagc DQUOTE`
/// (RFC 9110 §8.8.3). Returns the tag and what follows it.
fn parse_tag(s: &[u8]) -> Option<(EntityTag<'_>, &[u8])> {
    let (weak, s) = match s {
        [b'W', b'/', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if s.first() != Some(&b'"') {
        return None;
    }
    let close = 1 + s[1..].iter().position(|&b| b == b'"')?;
    let etagc = |b: &u8| *b == 0x21 || (0x23..=0x7e).contains(b) || *b >= 0x80;
    if !s[1..close].iter().all(etagc) {
        return None;
    }
    Some((
        EntityTag {
            weak,
            opaque: &s[..=close],
        },
        &s[close + 1..],
    ))
}

/// If-Range (RFC 9110 §13.1.5): true only for a strong entity tag equal to
/// the current one, or an HTTP-date exactly equal to Last-Modified. A weak
/// tag, any other date, or garbage is false.
fn if_range_holds(field: &[u8], v: &Validators) -> bool {
    let field = trim(field);
    if field.first() == Some(&b'"') || field.starts_with(b"W/") {
        return match (parse_tag(field), parse_tag(v.etag.as_bytes())) {
            (Some((tag, rest)), Some((current, _))) => {
                rest.is_empty() && !tag.weak && !current.weak && tag.opaque == current.opaque
            }
            _ => false,
        };
    }
    match (parse_date(field), v.last_modified) {
        (Some(date), Some(modified)) => date == modified,
        _ => false,
    }
}

/// An HTTP-date in any of its three forms (RFC 9110 §5.6.7); `None` if it
/// is not one, including a list of several.
fn parse_date(field: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(trim(field)).ok()?;
    httpdate::parse_http_date(text).ok()
}

/// HTTP dates have whole seconds (RFC 9110 §5.6.7).
fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::from_secs(1_800_000_000);

    #[test]
    fn etag_is_strong_and_depends_on_length_and_nanoseconds() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let v = Validators::new(10, Some(t), UNIX_EPOCH + NOW);
        assert_eq!(v.etag, "\"a-6553f100.5\"");
        assert!(!v.etag.starts_with("W/"));
        let later = Validators::new(10, Some(t + Duration::from_nanos(1)), UNIX_EPOCH + NOW);
        assert_ne!(v.etag, later.etag);
        assert_ne!(v.etag, Validators::new(11, Some(t), UNIX_EPOCH + NOW).etag);
    }

    #[test]
    fn coded_etag_is_strong_and_distinct_per_coding() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let v = Validators::new(10, Some(t), UNIX_EPOCH + NOW);
        let br = v.clone().for_coding("br");
        assert_eq!(br.etag, "\"a-6553f100.5-br\"");
        assert_eq!(br.last_modified, v.last_modified);
        assert_ne!(br.etag, v.clone().for_coding("gzip").etag);
        let conditions = Conditions {
            if_range: Some(br.etag.as_bytes()),
            ..Conditions::default()
        };
        let holds = Outcome::Proceed {
            range_applies: true,
        };
        assert_eq!(evaluate(&conditions, &br, true), holds);
        assert_ne!(evaluate(&conditions, &v, true), holds);
    }

    #[test]
    fn last_modified_is_whole_seconds_and_not_in_the_future() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999);
        let v = Validators::new(1, Some(t), UNIX_EPOCH + NOW);
        assert_eq!(
            v.last_modified,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        let future = UNIX_EPOCH + NOW + Duration::from_secs(3600);
        let v = Validators::new(1, Some(future), UNIX_EPOCH + NOW);
        assert_eq!(v.last_modified, Some(UNIX_EPOCH + NOW));
    }

    /// A file of 10 bytes modified at 1_700_000_000.5 s, seen long after.
    fn current() -> Validators {
        Validators::new(
            10,
            Some(UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000)),
            UNIX_EPOCH + NOW,
        )
    }

    const TAG: &str = "\"a-6553f100.1dcd6500\"";
    const LM: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const LM_RFC850: &str = "Tuesday, 14-Nov-23 22:13:20 GMT";
    const LM_ASCTIME: &str = "Tue Nov 14 22:13:20 2023";
    const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
    const AFTER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

    fn eval(c: Conditions<'_>) -> Outcome {
        evaluate(&c, &current(), true)
    }

    fn proceed(range_applies: bool) -> Outcome {
        Outcome::Proceed { range_applies }
    }

    #[test]
    fn fixture_tag_is_the_current_tag() {
        assert_eq!(current().etag, TAG);
        assert_eq!(
            httpdate::fmt_http_date(current().last_modified.unwrap()),
            LM
        );
    }

    #[test]
    fn no_conditions_proceed_with_the_range() {
        assert_eq!(eval(Conditions::default()), proceed(true));
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        let m = |v: &str| {
            eval(Conditions {
                if_match: Some(v.as_bytes()),
                ..Default::default()
            })
        };
        assert_eq!(m(TAG), proceed(true));
        assert_eq!(m("*"), proceed(true));
        assert_eq!(m(&format!("\"x\", {TAG}")), proceed(true));
        assert_eq!(m(&format!("W/{TAG}")), Outcome::PreconditionFailed);
        assert_eq!(m("\"other\""), Outcome::PreconditionFailed);
        assert_eq!(m("garbage"), Outcome::PreconditionFailed);
        assert_eq!(m(""), Outcome::PreconditionFailed);
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let m = |v: &str| {
            eval(Conditions {
                if_none_match: Some(v.as_bytes()),
                ..Default::default()
            })
        };
        assert_eq!(m(TAG), Outcome::NotModified);
        assert_eq!(m(&format!("W/{TAG}")), Outcome::NotModified);
        assert_eq!(m("*"), Outcome::NotModified);
        assert_eq!(m("\"other\""), proceed(true));
        assert_eq!(m("garbage"), proceed(true));
    }

    #[test]
    fn tag_lists_with_commas_in_quotes_and_odd_spacing() {
        let m = |v: &str| {
            eval(Conditions {
                if_none_match: Some(v.as_bytes()),
                ..Default::default()
            })
        };
        assert_eq!(
            m(&format!("\"a,b\" ,\t,W/\"c\",   {TAG} ")),
            Outcome::NotModified
        );
        assert_eq!(m("\"a,b\", W/\"c\""), proceed(true));
        // A malformed list matches nothing, even if a valid tag precedes the error.
        assert_eq!(m(&format!("{TAG} junk")), proceed(true));
        assert_eq!(m(&format!("{TAG}\"x\"")), proceed(true));
    }

    #[test]
    fn if_unmodified_since_by_date() {
        let ius = |v: &str| {
            eval(Conditions {
                if_unmodified_since: Some(v.as_bytes()),
                ..Default::default()
            })
        };
        assert_eq!(ius(LM), proceed(true));
        assert_eq!(ius(AFTER), proceed(true));
        assert_eq!(ius(BEFORE), Outcome::PreconditionFailed);
        assert_eq!(ius("not a date"), proceed(true));
    }

    #[test]
    fn if_modified_since_in_all_three_date_forms() {
        let ims = |v: &str| {
            eval(Conditions {
                if_modified_since: Some(v.as_bytes()),
                ..Default::default()
            })
        };
        for same in [LM, LM_RFC850, LM_ASCTIME, AFTER] {
            assert_eq!(ims(same), Outcome::NotModified, "{same}");
        }
        assert_eq!(ims(BEFORE), proceed(true));
        assert_eq!(ims("yesterday"), proceed(true));
        assert_eq!(ims(&format!("{LM}, {LM}")), proceed(true));
    }

    #[test]
    fn precedence_follows_rfc_9110_13_2_2() {
        // If-Match beats If-None-Match.
        let c = Conditions {
            if_match: Some(b"\"other\""),
            if_none_match: Some(TAG.as_bytes()),
            ..Default::default()
        };
        assert_eq!(eval(c), Outcome::PreconditionFailed);
        // If-Unmodified-Since is ignored when If-Match is present.
        let c = Conditions {
            if_match: Some(TAG.as_bytes()),
            if_unmodified_since: Some(BEFORE.as_bytes()),
            ..Default::default()
        };
        assert_eq!(eval(c), proceed(true));
        // If-None-Match beats If-Modified-Since, either way round.
        let c = Conditions {
            if_none_match: Some(b"\"other\""),
            if_modified_since: Some(LM.as_bytes()),
            ..Default::default()
        };
        assert_eq!(eval(c), proceed(true));
        let c = Conditions {
            if_none_match: Some(TAG.as_bytes()),
            if_modified_since: Some(BEFORE.as_bytes()),
            ..Default::default()
        };
        assert_eq!(eval(c), Outcome::NotModified);
        // 412 beats 304.
        let c = Conditions {
            if_unmodified_since: Some(BEFORE.as_bytes()),
            if_none_match: Some(TAG.as_bytes()),
            ..Default::default()
        };
        assert_eq!(eval(c), Outcome::PreconditionFailed);
        // 304 beats If-Range.
        let c = Conditions {
            if_none_match: Some(TAG.as_bytes()),
            if_range: Some(b"\"stale\""),
            ..Default::default()
        };
        assert_eq!(eval(c), Outcome::NotModified);
    }

    #[test]
    fn if_range_by_tag_is_strong_only() {
        let ir = |v: &str| {
            eval(Conditions {
                if_range: Some(v.as_bytes()),
                ..Default::default()
            })
        };
        assert_eq!(ir(TAG), proceed(true));
        assert_eq!(ir(&format!(" {TAG} ")), proceed(true));
        assert_eq!(ir(&format!("W/{TAG}")), proceed(false));
        assert_eq!(ir("\"stale\""), proceed(false));
        assert_eq!(ir(&format!("{TAG}, \"x\"")), proceed(false));
        assert_eq!(ir("garbage"), proceed(false));
        assert_eq!(ir(""), proceed(false));
    }

    #[test]
    fn if_range_by_date_needs_exact_equality() {
        let ir = |v: &str| {
            eval(Conditions {
                if_range: Some(v.as_bytes()),
                ..Default::default()
            })
        };
        assert_eq!(ir(LM), proceed(true));
        assert_eq!(ir(LM_RFC850), proceed(true));
        assert_eq!(ir(LM_ASCTIME), proceed(true));
        assert_eq!(ir(BEFORE), proceed(false));
        assert_eq!(ir(AFTER), proceed(false));
    }

    #[test]
    fn fields_on_several_lines_are_joined_before_evaluation() {
        use hyper::header::HeaderValue;
        let mut headers = HeaderMap::new();
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static(TAG));
        headers.append(header::IF_RANGE, HeaderValue::from_static("\"stale\""));
        let fields = ConditionalFields::from_headers(&headers);
        let c = fields.conditions();
        assert_eq!(c.if_match, None);
        assert_eq!(c.if_range, Some(&b"\"stale\""[..]));
        assert_eq!(eval(c), Outcome::NotModified);
    }

    #[test]
    fn if_range_without_range_is_ignored() {
        let c = Conditions {
            if_range: Some(b"\"stale\""),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, &current(), false), proceed(true));
    }

    proptest::proptest! {
        #[test]
        fn evaluation_never_panics_and_if_range_alone_never_fails(
            im in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..40)),
            inm in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..40)),
            ir in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        ) {
            let c = Conditions { if_match: im.as_deref(), if_none_match: inm.as_deref(), ..Default::default() };
            let _ = evaluate(&c, &current(), true);
            let only_if_range = Conditions { if_range: Some(&ir), ..Default::default() };
            let outcome = evaluate(&only_if_range, &current(), true);
            proptest::prop_assert!(matches!(outcome, Outcome::Proceed { .. }), "{:?}", outcome);
        }

        #[test]
        fn a_listed_current_tag_always_matches(
            others in proptest::collection::vec("[a-z,0-9!#]{0,6}", 0..4),
            position in 0usize..4,
        ) {
            let mut tags: Vec<String> = others.iter().map(|o| format!("\"{o}\"")).collect();
            tags.insert(position.min(tags.len()), TAG.to_string());
            let list = tags.join(" , ");
            let c = Conditions { if_match: Some(list.as_bytes()), ..Default::default() };
            proptest::prop_assert_eq!(evaluate(&c, &current(), true), proceed(true));
            let c = Conditions { if_none_match: Some(list.as_bytes()), ..Default::default() };
            proptest::prop_assert_eq!(evaluate(&c, &current(), true), Outcome::NotModified);
        }
    }

    #[test]
    fn times_before_the_epoch_still_give_distinct_tags() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        let v = Validators::new(1, Some(before), UNIX_EPOCH + NOW);
        assert_ne!(
            v.etag,
            Validators::new(
                1,
                Some(UNIX_EPOCH + Duration::from_secs(5)),
                UNIX_EPOCH + NOW
            )
            .etag
        );
    }
}
