//! Integrity fields (RFC 9530): which digest a client wants
//! (`Want-Repr-Digest`, §4) and how the server states one (`Repr-Digest`,
//! §3).
//!
//! Both are Structured Field Dictionaries (RFC 8941 §3.2). `Want-Repr-Digest`
//! maps algorithm keys to integer preferences from 0 to 10: higher is
//! preferred, 0 means "not acceptable", and keys the server does not know
//! are ignored (§4). `Repr-Digest` maps a key to the digest as a Byte
//! Sequence, `:base64:`. A field that does not parse as a dictionary is
//! ignored whole, as RFC 8941 §4.2 asks.
//!
//! Pure: no socket, no disk, no hashing.

use base64::Engine;

/// The algorithms served, from the Hash Algorithms for HTTP Digest Fields
/// registry (RFC 9530 §7.2): the two marked "Active".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The key in the fields.
    pub fn key(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha-256",
            Algorithm::Sha512 => "sha-512",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        match key {
            "sha-256" => Some(Algorithm::Sha256),
            "sha-512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// The algorithm to answer `Want-Repr-Digest` with (all its field lines, in
/// order, as one list): the known algorithm with the highest preference
/// above 0; on a tie, SHA-256 (the cheaper, and the one `sha256sum` checks).
/// `None` when nothing known is wanted or the field does not parse.
pub fn wanted<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<Algorithm> {
    let mut best: Option<(i64, Algorithm)> = None;
    let mut seen = [None::<i64>; 2];
    for value in values {
        let text = std::str::from_utf8(value).ok()?;
        for member in split_members(text)? {
            let (key, weight) = member?;
            let Some(algorithm) = Algorithm::from_key(key) else {
                continue;
            };
            // A later duplicate key overrides the earlier (RFC 8941 §3.2).
            seen[algorithm as usize] = Some(weight);
        }
    }
    for (i, algorithm) in [Algorithm::Sha256, Algorithm::Sha512]
        .into_iter()
        .enumerate()
    {
        if let Some(weight) = seen[i].filter(|&w| w > 0) {
            if best.is_none_or(|(b, _)| weight > b) {
                best = Some((weight, algorithm));
            }
        }
    }
    best.map(|(_, algorithm)| algorithm)
}

/// Splits a dictionary into (key, integer value) members; `None` if it does
/// not parse. Parameters on a member (`;a=1`) are allowed and ignored; a
/// member whose value is not an integer, or an integer outside 0–10, makes
/// the member `Some(None)`: invalid for this field, so the whole field is
/// ignored by the caller's `?`.
fn split_members(text: &str) -> Option<Vec<Option<(&str, i64)>>> {
    let mut members = Vec::new();
    let text = text.trim_matches([' ', '\t']);
    if text.is_empty() {
        return Some(members);
    }
    for member in text.split(',') {
        let member = member.trim_matches([' ', '\t']);
        let (item, _parameters) = member.split_once(';').unwrap_or((member, ""));
        let (key, value) = match item.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            // A bare key is the Boolean true, not an integer.
            None => (item, None),
        };
        if !is_key(key) {
            return None;
        }
        let weight = value
            .filter(|v| !v.is_empty() && v.len() <= 2 && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|w| (0..=10).contains(w));
        members.push(weight.map(|w| (key, w)));
    }
    Some(members)
}

/// An RFC 8941 key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
fn is_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'*'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'))
}

/// The `Repr-Digest` value for `digest` computed with `algorithm`:
/// `sha-256=:<base64>:`.
pub fn repr_digest(algorithm: Algorithm, digest: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
    format!("{}=:{encoded}:", algorithm.key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn want(value: &str) -> Option<Algorithm> {
        wanted(std::iter::once(value.as_bytes()))
    }

    #[test]
    fn the_highest_known_preference_wins() {
        assert_eq!(want("sha-256=10"), Some(Algorithm::Sha256));
        assert_eq!(want("sha-512=3, sha-256=10"), Some(Algorithm::Sha256));
        assert_eq!(want("sha-512=10, sha-256=3"), Some(Algorithm::Sha512));
        assert_eq!(
            want("sha-512=5, sha-256=5"),
            Some(Algorithm::Sha256),
            "a tie"
        );
        assert_eq!(
            wanted([&b"sha-512=3"[..], &b"sha-256=1"[..]].into_iter()),
            Some(Algorithm::Sha512)
        );
    }

    #[test]
    fn zero_unknown_and_insecure_are_not_wanted() {
        assert_eq!(want("sha-256=0"), None, "0 means not acceptable");
        assert_eq!(want("md5=10, sha=10, unixsum=10"), None);
        assert_eq!(want("md5=10, sha-512=1"), Some(Algorithm::Sha512));
        assert_eq!(want(""), None);
        assert_eq!(
            want("sha-256=1;x=2"),
            Some(Algorithm::Sha256),
            "parameters ignored"
        );
        assert_eq!(
            want("sha-256=1, sha-256=0"),
            None,
            "the later duplicate wins"
        );
    }

    #[test]
    fn a_field_that_does_not_parse_is_ignored() {
        for bad in [
            "sha-256=11",
            "sha-256=-1",
            "sha-256",
            "SHA-256=1",
            "sha-256=1.5",
            "sha-256=1,,",
            "=1",
            "sha-256=\"1\"",
        ] {
            assert_eq!(want(bad), None, "{bad}");
        }
    }

    #[test]
    fn repr_digest_is_a_byte_sequence() {
        // RFC 9530 Appendix D: SHA-256 of `{"hello": "world"}`.
        let digest = ring::digest::digest(&ring::digest::SHA256, b"{\"hello\": \"world\"}");
        assert_eq!(
            repr_digest(Algorithm::Sha256, digest.as_ref()),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panicking(value in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = wanted(std::iter::once(&value[..]));
        }

        /// Whatever is asked, the answer is an algorithm the client gave a
        /// preference above 0.
        #[test]
        fn the_answer_was_asked_for(w256 in 0i64..=10, w512 in 0i64..=10, noise in "[a-z]{1,6}") {
            let field = format!("{noise}=7, sha-512={w512}, sha-256={w256}");
            match want(&field) {
                Some(Algorithm::Sha256) => prop_assert!(w256 > 0 && w256 >= w512),
                Some(Algorithm::Sha512) => prop_assert!(w512 > 0 && w512 > w256),
                None => prop_assert!(w256 == 0 && w512 == 0 || noise.starts_with("sha")),
            }
        }
    }
}
