//! Media types (RFC 9110 §8.3) of served files, from their extension.
//!
//! Text gets `charset=utf-8`; anything unknown is `application/octet-stream`.
//! The answer for each extension is worked out once and remembered: the
//! lookup and the formatting cost more than a hash of a few bytes.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use hyper::header::HeaderValue;

/// Media types by file extension, remembered.
#[derive(Debug, Default)]
pub struct MediaTypes {
    known: Mutex<HashMap<Box<OsStr>, HeaderValue>>,
}

impl MediaTypes {
    /// At most this many extensions are remembered; the rest are worked out
    /// each time.
    const CAPACITY: usize = 512;

    /// The media type of the file at `path`.
    pub fn of(&self, path: &Path) -> HeaderValue {
        let Some(extension) = path.extension() else {
            return content_type(path);
        };
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = known.get(extension) {
            return value.clone();
        }
        let value = content_type(path);
        if known.len() < Self::CAPACITY {
            known.insert(extension.into(), value.clone());
        }
        value
    }
}

/// The media type from the file's extension; text gets `charset=utf-8`,
/// unknown gets `application/octet-stream`.
fn content_type(path: &Path) -> HeaderValue {
    let Some(mime) = mime_guess::from_path(path).first() else {
        return HeaderValue::from_static("application/octet-stream");
    };
    let text = mime.type_() == mime_guess::mime::TEXT || mime.subtype() == "javascript";
    let value = if text && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_media_types_match_a_fresh_lookup_whatever_the_case() {
        let types = MediaTypes::default();
        for name in [
            "a.txt",
            "b.TXT",
            "c.js",
            "d.iso",
            "e.unknownext",
            "noext",
            "f.txt",
        ] {
            let path = Path::new(name);
            assert_eq!(types.of(path), content_type(path), "{name}");
            assert_eq!(types.of(path), content_type(path), "{name}, remembered");
        }
        assert_eq!(
            types.of(Path::new("x.txt")),
            HeaderValue::from_static("text/plain; charset=utf-8")
        );
    }

    #[test]
    fn media_types_stay_bounded() {
        let types = MediaTypes::default();
        for i in 0..MediaTypes::CAPACITY + 100 {
            let _ = types.of(Path::new(&format!("f.ext{i}")));
        }
        let known = types.known.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(known.len(), MediaTypes::CAPACITY);
    }
}
