//! Header-field syntax shared by every parser in `http/` (RFC 9110 §5):
//! optional whitespace, list elements, tokens, weights, and a field sent on
//! several lines.
//!
//! Pure. It knows the grammar of a field value, not what any field means:
//! `range.rs`, `conditional.rs` and `negotiate.rs` give the values meaning.

use std::borrow::Cow;

use hyper::header::{HeaderMap, HeaderName};

/// A weight in thousandths: `q=0.5` is 500 (RFC 9110 §12.4.2).
pub type Weight = u16;

/// The weight of a member without `q`, and the largest there is.
pub const FULL: Weight = 1000;

/// Optional whitespace: SP and HTAB (RFC 9110 §5.6.3).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims optional whitespace (SP and HTAB only, RFC 9110 §5.6.3) from both
/// ends. Unlike `<[u8]>::trim_ascii`, a form feed or line break is kept: it
/// is not whitespace in a field value, and keeping it makes the value invalid
/// where it should be.
pub fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

/// Trims optional whitespace from the start.
pub fn trim_start(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ows(b)).unwrap_or(s.len());
    &s[start..]
}

/// Trims optional whitespace from the end.
pub fn trim_end(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| !is_ows(b)).map_or(0, |i| i + 1);
    &s[..end]
}

/// The elements of a `#list` (RFC 9110 §5.6.1): split on `,`, each trimmed,
/// empty elements skipped. For lists whose elements hold no quoted strings
/// (entity tags, which may hold commas, are parsed by `conditional.rs`).
pub fn list(field: &[u8]) -> impl Iterator<Item = &[u8]> {
    field
        .split(|&b| b == b',')
        .map(trim)
        .filter(|e| !e.is_empty())
}

/// `tchar` (RFC 9110 §5.6.2).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a `token` (RFC 9110 §5.6.2): one or more `tchar`.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `qvalue` (RFC 9110 §12.4.2): `0[.ddd]` or `1[.000]`, in thousandths;
/// `None` for anything else.
pub fn qvalue(value: &[u8]) -> Option<Weight> {
    let (int, frac) = match value {
        [int, b'.', frac @ ..] => (*int, frac),
        [int] => (*int, &[][..]),
        _ => return None,
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let thousandths = frac
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0, |acc, d| acc * 10 + Weight::from(d - b'0'));
    match int {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(FULL),
        _ => None,
    }
}

/// `weight = OWS ";" OWS "q=" qvalue` after the `;` (RFC 9110 §12.4.2): a
/// parameter `q=…`, `q` in either case, already trimmed.
pub fn weight_param(param: &[u8]) -> Option<Weight> {
    match param {
        [b'q' | b'Q', b'=', value @ ..] => qvalue(value),
        _ => None,
    }
}

/// A header field's value; several field lines are joined with `, ` as
/// RFC 9110 §5.3 allows for list-based fields. Borrowed when sent once.
pub fn joined<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<Cow<'a, [u8]>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?.as_bytes();
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut joined = first.to_vec();
    for more in std::iter::once(second).chain(values) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(more.as_bytes());
    }
    Some(Cow::Owned(joined))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{self, HeaderValue};
    use proptest::prelude::*;

    #[test]
    fn trimming_removes_only_spaces_and_tabs() {
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(trim(b""), b"");
        assert_eq!(trim(b"\x0ca\r\n"), b"\x0ca\r\n");
        assert_eq!(trim_start(b"  a "), b"a ");
        assert_eq!(trim_end(b"  a "), b"  a");
    }

    #[test]
    fn lists_skip_empty_elements() {
        let got: Vec<&[u8]> = list(b" a ,, ,b\t, c").collect();
        assert_eq!(got, [&b"a"[..], b"b", b"c"]);
        assert_eq!(list(b" , ,").count(), 0);
    }

    #[test]
    fn qvalues_follow_the_grammar() {
        let table: &[(&[u8], Option<Weight>)] = &[
            (b"0", Some(0)),
            (b"0.", Some(0)),
            (b"0.5", Some(500)),
            (b"0.05", Some(50)),
            (b"0.123", Some(123)),
            (b"1", Some(1000)),
            (b"1.000", Some(1000)),
            (b"1.", Some(1000)),
            (b"1.001", None),
            (b"0.1234", None),
            (b"2", None),
            (b"-1", None),
            (b"", None),
            (b"00", None),
            (b"0.a", None),
            (b" 0.5", None),
        ];
        for (value, expected) in table {
            assert_eq!(
                qvalue(value),
                *expected,
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        assert_eq!(weight_param(b"q=0.5"), Some(500));
        assert_eq!(weight_param(b"Q=1"), Some(1000));
        assert_eq!(weight_param(b"level=1"), None);
    }

    #[test]
    fn tokens_are_tchars() {
        assert!(is_token(b"gzip"));
        assert!(is_token(b"x-gzip"));
        assert!(is_token(b"*"));
        assert!(!is_token(b""));
        assert!(!is_token(b"b r"));
        assert!(!is_token(b"a\"b"));
    }

    #[test]
    fn a_field_on_several_lines_is_joined_with_comma_space() {
        let mut headers = HeaderMap::new();
        assert_eq!(joined(&headers, &header::IF_NONE_MATCH), None);
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\""));
        assert!(matches!(
            joined(&headers, &header::IF_NONE_MATCH),
            Some(Cow::Borrowed(b"\"a\""))
        ));
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"b\""));
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"c\""));
        assert_eq!(
            joined(&headers, &header::IF_NONE_MATCH).as_deref(),
            Some(&b"\"a\", \"b\", \"c\""[..])
        );
    }

    proptest! {
        /// For any bytes: trimming leaves no SP or HTAB at either end, is
        /// idempotent, and only removes bytes from the ends.
        #[test]
        fn trimming_is_idempotent_and_removes_only_ows(s in proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\t'), any::<u8>()], 0..32)) {
            let t = trim(&s);
            prop_assert_eq!(trim(t), t);
            prop_assert!(t.first().is_none_or(|&b| !is_ows(b)));
            prop_assert!(t.last().is_none_or(|&b| !is_ows(b)));
            let start = s.iter().position(|&b| !is_ows(b)).unwrap_or(s.len());
            prop_assert_eq!(&s[start..start + t.len()], t);
            prop_assert!(s[..start].iter().chain(&s[start + t.len()..]).all(|&b| is_ows(b)));
        }

        /// For any list, the elements are the non-empty trimmed pieces
        /// between commas, none holding a comma.
        #[test]
        fn list_elements_are_trimmed_and_comma_free(s in proptest::collection::vec(prop_oneof![Just(b','), Just(b' '), any::<u8>()], 0..48)) {
            for element in list(&s) {
                prop_assert!(!element.is_empty());
                prop_assert!(!element.contains(&b','));
                prop_assert_eq!(trim(element), element);
            }
            let joined: Vec<u8> = list(&s).flat_map(|e| e.iter().copied()).collect();
            let kept: Vec<u8> = s.split(|&b| b == b',').flat_map(|e| trim(e).iter().copied()).collect();
            prop_assert_eq!(joined, kept);
        }

        /// Any weight a qvalue parses to lies in 0..=1000 and prints back
        /// to an equal qvalue.
        #[test]
        fn qvalues_round_trip(v in proptest::collection::vec(any::<u8>(), 0..6)) {
            if let Some(w) = qvalue(&v) {
                prop_assert!(w <= FULL);
                let printed = format!("{}.{:03}", w / 1000, w % 1000);
                prop_assert_eq!(qvalue(printed.as_bytes()), Some(w));
            }
        }

        #[test]
        fn qvalues_of_canonical_form_parse(w in 0u16..=1000) {
            let printed = format!("{}.{:03}", w / 1000, w % 1000);
            prop_assert_eq!(qvalue(printed.as_bytes()), Some(w));
        }
    }
}
