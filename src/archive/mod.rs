//! Folders as archives (issue #13, in progress): the layout of a
//! deterministic tar whose every byte has a fixed position, so ranges,
//! If-Range and resumes work on a folder as on a file.
//!
//! - `tar`: the pure byte layout (ustar headers, PAX records, padding) and
//!   the mapping of a byte range to header bytes and member file slices.
//!
//! Not yet wired to requests: the walk, the cache of layouts and the
//! `?archive=tar` responses come next.

pub mod tar;
