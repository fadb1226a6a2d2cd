//! Request path → segments that are each safe to join onto the root.
//!
//! Pure, and fuzzed: [`decode`] percent-decodes the path strictly and refuses
//! any segment that could name something outside the root or that is hidden.
//! Opening what it names is `root.rs`'s job.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::ResolveError;

/// A decoded request path: segments that are each safe to join onto the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestPath {
    segments: Vec<Vec<u8>>,
    /// The path ended in `/` (or was `/`): the client asked for a folder.
    pub trailing_slash: bool,
}

/// Characters that stay percent-encoded in a path segment we write back
/// (RFC 3986 §3.3 `pchar`, minus what would change the meaning).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl RequestPath {
    /// The path relative to the root, for joining onto it.
    /// The last segment's bytes; `None` for the root.
    pub fn last(&self) -> Option<&[u8]> {
        self.segments.last().map(Vec::as_slice)
    }

    pub fn relative(&self) -> PathBuf {
        self.segments.iter().map(|s| OsStr::from_bytes(s)).collect()
    }

    /// The decoded path for people to read: `/a b/été/` (lossy for names
    /// that are not UTF-8), with a trailing slash when `as_dir`.
    pub fn display(&self, as_dir: bool) -> String {
        let names: Vec<_> = self
            .segments
            .iter()
            .map(|s| String::from_utf8_lossy(s))
            .collect();
        let slash = if as_dir && !names.is_empty() { "/" } else { "" };
        format!("/{}{slash}", names.join("/"))
    }

    /// The canonical URL path of this target, re-encoded, with a trailing
    /// slash when `as_dir`. Used for redirects, so it never starts with `//`.
    pub fn url_path(&self, as_dir: bool) -> String {
        let mut url = String::from("/");
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                url.push('/');
            }
            match std::str::from_utf8(segment) {
                Ok(s) => url.extend(utf8_percent_encode(s, SEGMENT)),
                Err(_) => url.extend(percent_encoding::percent_encode(segment, SEGMENT)),
            }
        }
        if as_dir && !self.segments.is_empty() {
            url.push('/');
        }
        url
    }
}

/// Decodes the path of a request target (RFC 9112 §3.2 origin-form, the part
/// before `?`) into segments that cannot leave the root.
///
/// 1. It must start with `/`; empty segments (`//`) are skipped.
/// 2. Each segment is percent-decoded; a `%` not followed by two hex digits is a 400.
/// 3. A decoded segment is refused with 400 if it is `.` or `..`, contains `/`
///    (from `%2F`), `\`, or NUL, or starts like a drive (`C:`). Nothing is
///    normalised away: a client that sends these is asking for something else.
/// 4. A segment starting with `.` is hidden: 404 unless `hidden` is allowed.
pub fn decode(path: &str, hidden: bool) -> Result<RequestPath, ResolveError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(ResolveError::BadRequest("the path must start with /"));
    };
    let mut segments = Vec::new();
    for raw in rest.split('/').filter(|s| !s.is_empty()) {
        let segment = percent_decode_strict(raw.as_bytes()).ok_or(ResolveError::BadRequest(
            "malformed percent-encoding in the path",
        ))?;
        match segment.as_slice() {
            b"." | b".." => return Err(ResolveError::BadRequest("dot segments are not allowed")),
            [drive, b':', ..] if drive.is_ascii_alphabetic() => {
                return Err(ResolveError::BadRequest("drive prefixes are not allowed"));
            }
            s if s.contains(&b'/') || s.contains(&b'\\') => {
                return Err(ResolveError::BadRequest("encoded slashes are not allowed"));
            }
            s if s.contains(&0) => return Err(ResolveError::BadRequest("NUL in the path")),
            [b'.', ..] if !hidden => return Err(ResolveError::NotFound),
            _ => segments.push(segment),
        }
    }
    let trailing_slash = path.ends_with('/');
    Ok(RequestPath {
        segments,
        trailing_slash,
    })
}

/// Percent-decodes bytes; `None` when a `%` is not followed by two hex digits.
fn percent_decode_strict(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let hi = char::from(hex[0]).to_digit(16)?;
            let lo = char::from(hex[1]).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segments(path: &str) -> Vec<String> {
        let decoded = decode(path, false).unwrap();
        decoded
            .segments
            .iter()
            .map(|s| String::from_utf8(s.clone()).unwrap())
            .collect()
    }

    fn is_bad(path: &str) -> bool {
        matches!(decode(path, true), Err(ResolveError::BadRequest(_)))
    }

    #[test]
    fn plain_paths_decode_to_segments() {
        assert_eq!(segments("/"), Vec::<String>::new());
        assert_eq!(segments("/a/b.txt"), ["a", "b.txt"]);
        assert_eq!(segments("//a///b"), ["a", "b"]);
        assert_eq!(segments("/with%20space.txt"), ["with space.txt"]);
        assert_eq!(segments("/%C3%A9t%C3%A9.txt"), ["été.txt"]);
        assert_eq!(segments("/été.txt"), ["été.txt"]);
        assert_eq!(segments("/100%25"), ["100%"]);
    }

    #[test]
    fn traversal_attempts_are_bad_requests() {
        for p in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/x",
            "/%2E%2E",
            "/.",
            "/a/./b",
            "/a%2fb",
            "/a%2Fb",
            "/..%2f",
            "/a%5cb",
            "/a\\b",
            "/%00",
            "/a%00.txt",
            "/C:/x",
            "/c%3a/x",
            "/%",
            "/%2",
            "/%zz",
            "relative",
            "*",
        ] {
            assert!(is_bad(p), "{p} should be refused");
        }
    }

    #[test]
    fn hidden_segments_are_not_found_unless_allowed() {
        assert!(matches!(
            decode("/.env", false),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            decode("/a/.git/config", false),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            decode("/%2Eenv", false),
            Err(ResolveError::NotFound)
        ));
        assert!(decode("/.env", true).is_ok());
        assert!(decode("/a.b/c.", false).is_ok());
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert!(decode("/", false).unwrap().trailing_slash);
        assert!(decode("/sub/", false).unwrap().trailing_slash);
        assert!(!decode("/sub", false).unwrap().trailing_slash);
    }

    #[test]
    fn url_path_reencodes_and_never_starts_with_two_slashes() {
        let p = decode("//evil.example/x", false).unwrap();
        assert_eq!(p.url_path(true), "/evil.example/x/");
        let p = decode("/a%20b/%C3%A9/%3F%23", false).unwrap();
        assert_eq!(p.url_path(true), "/a%20b/%C3%A9/%3F%23/");
        assert_eq!(decode("/", false).unwrap().url_path(true), "/");
    }

    proptest! {
        #[test]
        fn decoded_paths_stay_inside_the_root(path in "/[a-zA-Z0-9%./\\\\:_ -]{0,30}") {
            if let Ok(decoded) = decode(&path, true) {
                let rel = decoded.relative();
                prop_assert!(rel.is_relative());
                for c in rel.components() {
                    prop_assert!(matches!(c, std::path::Component::Normal(_)), "{:?} in {:?}", c, path);
                }
                prop_assert!(!decoded.url_path(false).starts_with("//"));
            }
        }

        #[test]
        fn url_path_decodes_back_to_the_same_segments(names in proptest::collection::vec("[^/\\\\\\x00.][^/\\\\\\x00]{0,8}", 0..4)) {
            let names: Vec<String> = names.into_iter().filter(|n| !(n.len() > 1 && n.as_bytes()[1] == b':')).collect();
            let original = RequestPath { segments: names.iter().map(|n| n.as_bytes().to_vec()).collect(), trailing_slash: false };
            let again = decode(&original.url_path(false), true).unwrap();
            prop_assert_eq!(again.segments, original.segments);
        }
    }
}
