//! `multipart/byteranges` framing (RFC 9110 §14.6) for a 206 with several
//! ranges.
//!
//! Pure: it lays out the body as [`Segment`]s, literal part headers between
//! slices of the representation, so the exact Content-Length is known before
//! the first byte is sent and the file bytes are streamed by `body.rs`, never
//! buffered here. It does not choose the ranges (`range.rs`).

use std::hash::{BuildHasher, Hasher, RandomState};

use bytes::Bytes;

use super::range::ByteRange;

/// One piece of a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal bytes, such as a multipart boundary and part headers.
    Bytes(Bytes),
    /// `len` bytes of the representation from `offset`.
    File { offset: u64, len: u64 },
}

impl Segment {
    /// The slice of the representation that `range` selects.
    pub fn slice(range: &ByteRange) -> Self {
        Segment::File {
            offset: range.first,
            len: range.len(),
        }
    }

    /// The whole of a `length`-byte representation.
    pub fn whole(length: u64) -> Self {
        Segment::File {
            offset: 0,
            len: length,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Body bytes this segment adds.
    pub fn len(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::File { len, .. } => *len,
        }
    }
}

/// A multipart body: its Content-Type value and its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    pub content_type: String,
    pub segments: Vec<Segment>,
}

impl Multipart {
    /// Lays out `ranges` of a `total`-byte file of type `part_type`:
    ///
    /// ```text
    /// --BOUNDARY\r\n
    /// Content-Type: part_type\r\n
    /// Content-Range: bytes first-last/total\r\n
    /// \r\n
    /// <bytes>\r\n--BOUNDARY\r\n ... <bytes>\r\n--BOUNDARY--\r\n
    /// ```
    ///
    /// The CRLF before each later delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    pub fn new(ranges: &[ByteRange], total: u64, part_type: &str, boundary: &str) -> Self {
        let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
        for (i, r) in ranges.iter().enumerate() {
            let lead = if i == 0 { "" } else { "\r\n" };
            let head = format!(
                "{lead}--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: {}\r\n\r\n",
                r.content_range(total)
            );
            segments.push(Segment::Bytes(Bytes::from(head)));
            segments.push(Segment::slice(r));
        }
        segments.push(Segment::Bytes(Bytes::from(format!(
            "\r\n--{boundary}--\r\n"
        ))));
        Multipart {
            content_type: format!("multipart/byteranges; boundary={boundary}"),
            segments,
        }
    }
}

/// A fresh boundary: 32 hex digits from the process's random hasher keys,
/// so it is unpredictable and vanishingly unlikely to occur in a file.
pub fn boundary() -> String {
    let half = || RandomState::new().build_hasher().finish();
    format!("{:016x}{:016x}", half(), half())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_rfc_9110_example_shape() {
        let ranges = [
            ByteRange { first: 0, last: 1 },
            ByteRange { first: 5, last: 6 },
        ];
        let m = Multipart::new(&ranges, 10, "text/plain", "B");
        assert_eq!(m.content_type, "multipart/byteranges; boundary=B");
        let file = b"0123456789";
        let mut body = Vec::new();
        for s in &m.segments {
            match s {
                Segment::Bytes(b) => body.extend_from_slice(b),
                Segment::File { offset, len } => {
                    let (o, l) = (
                        usize::try_from(*offset).unwrap(),
                        usize::try_from(*len).unwrap(),
                    );
                    body.extend_from_slice(&file[o..o + l]);
                }
            }
        }
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
             \r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-6/10\r\n\r\n56\
             \r\n--B--\r\n"
        );
    }

    #[test]
    fn boundaries_differ() {
        let (a, b) = (boundary(), boundary());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
