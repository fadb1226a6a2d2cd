//! Pure HTTP semantics: what the request's fields mean for one representation.
//!
//! Everything here takes header values (raw bytes or hyper's `HeaderMap`) and
//! numbers, and returns decisions: no socket, no disk, no clock except one
//! passed in. Each module has unit and property tests, and the parsers of
//! untrusted bytes (Range, the conditional fields, Accept-Encoding) have fuzz
//! targets. Nothing here imports `fs/`, `net/` or `listing/`.

pub mod basic;
pub mod conditional;
pub mod cors;
pub mod digest;
pub mod disposition;
pub mod fields;
pub mod forwarded;
pub mod h2_blocks;
pub mod multipart;
pub mod negotiate;
pub mod range;
