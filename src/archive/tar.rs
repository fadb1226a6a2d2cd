//! The byte layout of a deterministic, uncompressed tar archive (POSIX
//! ustar, IEEE Std 1003.1-2017 `pax`), as a pure function of its members'
//! names, sizes, modification times, modes and kinds.
//!
//! Every member is a 512-byte ustar header, then its data padded to a
//! multiple of 512; a member whose name, size or time does not fit ustar
//! (a name over 100 bytes or not ASCII, a size of 8 GiB or more, a time
//! before 1970, after 2242 or with a fraction of a second) is preceded by a
//! PAX extended header (`typeflag 'x'`) with `path`, `size` and `mtime`
//! records. The archive ends with two zero blocks. Owner fields are fixed
//! (uid and gid 0, empty names), so the same members give the same bytes on
//! every machine.
//!
//! Because tar carries no checksum of file data, any byte range maps to
//! header bytes (computed here) and slices of member files
//! ([`Layout::parts`]), without reading the rest.
//!
//! Pure: no file is opened here.

use std::borrow::Cow;
use std::ops::Range;

/// The block size of tar.
pub const BLOCK: u64 = 512;

/// What a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// One member, as the archive records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The path inside the archive, `/`-separated, no leading `/`; a folder
    /// without its trailing `/` (it is added).
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Data bytes (0 for a folder).
    pub size: u64,
    /// Modification time: seconds since the epoch and nanoseconds.
    pub mtime: (i64, u32),
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
}

/// One stretch of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// The header blocks (PAX and ustar) of member `index`, `len` bytes:
    /// made again when asked for, so a layout holds names and numbers, not
    /// a block or more per member.
    Header { index: usize, len: u64 },
    /// The data of member `index`.
    Data { index: usize, size: u64 },
    /// `n` zero bytes (padding and the end blocks), not stored.
    Zeros(u64),
}

/// What one byte range of the archive is made of, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// Header bytes: borrowed (from a test's layout) or made for the call.
    Bytes(Cow<'a, [u8]>),
    Zeros(u64),
    /// `len` bytes of member `index`'s data from `offset`.
    Data {
        index: usize,
        offset: u64,
        len: u64,
    },
}

/// The layout of one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    members: Vec<Member>,
    /// Each piece with its start offset.
    pieces: Vec<(u64, Piece)>,
    total: u64,
}

impl Layout {
    /// The archive of `members`, in the order given.
    pub fn new(members: &[Member]) -> Layout {
        let mut pieces = Vec::new();
        let mut at = 0u64;
        let mut push = |piece: Piece, pieces: &mut Vec<(u64, Piece)>| {
            let len = piece.len();
            if len > 0 {
                pieces.push((at, piece));
                at += len;
            }
        };
        for (index, member) in members.iter().enumerate() {
            let len = headers(member).len() as u64;
            push(Piece::Header { index, len }, &mut pieces);
            if member.kind == Kind::File {
                push(
                    Piece::Data {
                        index,
                        size: member.size,
                    },
                    &mut pieces,
                );
                push(Piece::Zeros(padding(member.size)), &mut pieces);
            }
        }
        push(Piece::Zeros(2 * BLOCK), &mut pieces);
        Layout {
            members: members.to_vec(),
            pieces,
            total: at,
        }
    }

    /// The archive's length in bytes.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Never: an archive has at least its end blocks.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// What the bytes `range` (within [`Layout::len`]) are made of.
    pub fn parts(&self, range: Range<u64>) -> Vec<Part<'_>> {
        let mut parts = Vec::new();
        let mut at = range.start;
        while let Some(part) = self.part(at..range.end) {
            at += part.len();
            parts.push(part);
        }
        parts
    }

    /// The first of what the bytes `range` are made of: the stretch of one
    /// piece from `range.start`, no longer than the range. `None` for an
    /// empty range or one past the end. O(log pieces): a body walks a long
    /// range a part at a time without listing them all.
    pub fn part(&self, range: Range<u64>) -> Option<Part<'_>> {
        let end = range.end.min(self.total);
        if range.start >= end {
            return None;
        }
        let index = self
            .pieces
            .partition_point(|(start, _)| *start <= range.start)
            .checked_sub(1)?;
        let (start, piece) = &self.pieces[index];
        let from = range.start - start;
        let to = end.min(start + piece.len()) - start;
        Some(match piece {
            Piece::Header { index, .. } => {
                let mut bytes = headers(&self.members[*index]);
                bytes.truncate(to_usize(to));
                bytes.drain(..to_usize(from));
                Part::Bytes(Cow::Owned(bytes))
            }
            Piece::Data { index, .. } => Part::Data {
                index: *index,
                offset: from,
                len: to - from,
            },
            Piece::Zeros(_) => Part::Zeros(to - from),
        })
    }
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Header { len, .. } => *len,
            Piece::Data { size, .. } => *size,
            Piece::Zeros(n) => *n,
        }
    }
}

impl Part<'_> {
    /// The bytes this part stands for.
    pub fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::Zeros(n) => *n,
            Part::Data { len, .. } => *len,
        }
    }

    /// Never: a part covers at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("a header piece is a few blocks long")
}

/// Zero bytes after `size` data bytes up to the next block.
fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// The largest size and time an octal field of 11 digits holds.
const OCTAL_11: u64 = 0o777_7777_7777;

/// The header blocks of `member`: a PAX header and its records when
/// needed, then the ustar header.
fn headers(member: &Member) -> Vec<u8> {
    let mut name = member.name.clone();
    if member.kind == Kind::Dir {
        name.push(b'/');
    }
    let size = if member.kind == Kind::File {
        member.size
    } else {
        0
    };
    let (secs, nanos) = member.mtime;
    let long_name = name.len() > 100 || !name.is_ascii();
    let big = size > OCTAL_11;
    let odd_time = nanos != 0 || secs < 0 || u64::try_from(secs).is_ok_and(|s| s > OCTAL_11);
    let mut out = Vec::new();
    if long_name || big || odd_time {
        let mut records = Vec::new();
        if long_name {
            records.extend(record(b"path", &name));
        }
        if big {
            records.extend(record(b"size", size.to_string().as_bytes()));
        }
        if odd_time {
            records.extend(record(b"mtime", pax_time(secs, nanos).as_bytes()));
        }
        let pax_name = b"PaxHeader";
        out.extend(ustar(pax_name, b'x', records.len() as u64, 0, 0o644));
        let records_len = records.len() as u64;
        out.extend(records);
        out.extend(std::iter::repeat_n(0u8, to_usize(padding(records_len))));
    }
    let short: Vec<u8> = if long_name {
        // A readable stand-in: the PAX path is what readers use.
        name.iter()
            .copied()
            .filter(u8::is_ascii)
            .take(100)
            .collect()
    } else {
        name
    };
    let size_field = if big { 0 } else { size };
    let time_field = u64::try_from(secs).unwrap_or(0).min(OCTAL_11);
    let typeflag = match member.kind {
        Kind::File => b'0',
        Kind::Dir => b'5',
    };
    out.extend(ustar(
        &short,
        typeflag,
        size_field,
        time_field,
        member.mode & 0o7777,
    ));
    out
}

/// One PAX record, `"%d %s=%s\n"`, whose decimal length counts itself.
fn record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} ").into_bytes();
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

/// A PAX time: seconds, and a fraction when there is one.
fn pax_time(secs: i64, nanos: u32) -> String {
    if nanos == 0 {
        secs.to_string()
    } else {
        let fraction = format!("{nanos:09}");
        format!("{secs}.{}", fraction.trim_end_matches('0'))
    }
}

/// A ustar header block with its checksum.
fn ustar(name: &[u8], typeflag: u8, size: u64, mtime: u64, mode: u32) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    set_checksum(&mut h);
    h
}

/// `value` in octal, zero-padded, NUL-terminated, filling `field` (the
/// low digits if it does not fit; callers use PAX records then).
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let mut rest = value;
    for slot in field[..digits].iter_mut().rev() {
        *slot = b'0' + u8::try_from(rest & 7).expect("an octal digit");
        rest >>= 3;
    }
    field[digits] = 0;
}

/// The checksum field: the sum of the header's bytes with the field taken
/// as eight spaces, as six octal digits, NUL, space.
fn set_checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h[155] = b' ';
}

#[cfg(test)]
// NOTE: test archives are small and have few members: the casts cannot truncate.
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file(name: &str, size: u64) -> Member {
        Member {
            name: name.as_bytes().to_vec(),
            kind: Kind::File,
            size,
            mtime: (1_700_000_000, 0),
            mode: 0o644,
        }
    }

    /// The whole archive, with member `i`'s data as bytes `i` repeated.
    fn materialize(layout: &Layout) -> Vec<u8> {
        let mut out = Vec::new();
        for part in layout.parts(0..layout.len()) {
            match part {
                Part::Bytes(b) => out.extend_from_slice(&b),
                Part::Zeros(n) => out.extend(std::iter::repeat_n(0u8, n as usize)),
                Part::Data { index, len, .. } => {
                    out.extend(std::iter::repeat_n(index as u8, len as usize))
                }
            }
        }
        out
    }

    fn checksum_holds(h: &[u8]) -> bool {
        let mut copy = [0u8; 512];
        copy.copy_from_slice(&h[..512]);
        let stored = u32::from_str_radix(std::str::from_utf8(&copy[148..154]).unwrap(), 8).unwrap();
        copy[148..156].copy_from_slice(b"        ");
        stored == copy.iter().map(|&b| u32::from(b)).sum::<u32>()
    }

    #[test]
    fn a_small_file_is_one_header_its_data_padding_and_the_end() {
        let layout = Layout::new(&[file("a.txt", 5)]);
        assert_eq!(layout.len(), 512 + 512 + 1024);
        let bytes = materialize(&layout);
        assert_eq!(&bytes[..5], b"a.txt");
        assert_eq!(&bytes[257..263], b"ustar\0");
        assert_eq!(&bytes[124..136], b"00000000005\0");
        assert!(checksum_holds(&bytes));
        assert!(bytes[1024..].iter().all(|&b| b == 0));
    }

    #[test]
    fn long_unicode_big_and_subsecond_members_get_pax_records() {
        let long = "d/".repeat(60) + "f";
        let mut members = vec![file(&long, 1), file("été.txt", 0), file("big", 9 << 30)];
        members.push(Member {
            mtime: (1_700_000_000, 500_000_000),
            ..file("t", 0)
        });
        let layout = Layout::new(&members);
        // Only the header bytes: the data of "big" is 9 GiB.
        let headers: Vec<u8> = layout
            .pieces
            .iter()
            .filter_map(|(_, p)| match p {
                Piece::Header { index, .. } => Some(super::headers(&layout.members[*index])),
                _ => None,
            })
            .flatten()
            .collect();
        let text = String::from_utf8_lossy(&headers);
        assert!(text.contains(&format!("path={long}\n")));
        assert!(text.contains("path=été.txt\n"));
        assert!(text.contains(&format!("size={}\n", 9u64 << 30)));
        assert!(text.contains("mtime=1700000000.5\n"));
        // Every header block (PAX and ustar) has the magic and a valid checksum.
        let mut headers = 0;
        for (_, piece) in &layout.pieces {
            if let Piece::Header { index, .. } = piece {
                for block in super::headers(&layout.members[*index]).chunks(512) {
                    if &block[257..263] == b"ustar\0" {
                        assert!(checksum_holds(block));
                        headers += 1;
                    }
                }
            }
        }
        assert_eq!(
            headers,
            4 + 4,
            "each of the four has a PAX header and a ustar one"
        );
    }

    #[test]
    fn pax_records_count_their_own_length() {
        for value in ["x", &"y".repeat(95), &"z".repeat(96), &"w".repeat(995)] {
            let r = record(b"path", value.as_bytes());
            let (len, _) = std::str::from_utf8(&r).unwrap().split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), r.len(), "{value}");
        }
    }

    proptest! {
        /// For any members, the pieces tile the archive, the total is the
        /// sum of the pieces, every range maps to exactly its bytes, and
        /// every member's data lands where its header says.
        #[test]
        fn any_range_maps_to_the_right_bytes(
            sizes in proptest::collection::vec(0u64..3000, 1..8),
            start in 0u64..40_000,
            len in 0u64..6000,
        ) {
            let members: Vec<Member> = sizes.iter().enumerate().map(|(i, &s)| file(&format!("f{i}"), s)).collect();
            let layout = Layout::new(&members);
            let expected: u64 = sizes.iter().map(|s| 512 + s + padding(*s)).sum::<u64>() + 1024;
            prop_assert_eq!(layout.len(), expected);
            let whole = materialize(&layout);
            prop_assert_eq!(whole.len() as u64, layout.len());
            let start = start.min(layout.len());
            let end = (start + len).min(layout.len());
            let mut got = Vec::new();
            for part in layout.parts(start..end) {
                match part {
                    Part::Bytes(b) => got.extend_from_slice(&b),
                    Part::Zeros(n) => got.extend(std::iter::repeat_n(0u8, n as usize)),
                    Part::Data { index, len, .. } => got.extend(std::iter::repeat_n(index as u8, len as usize)),
                }
            }
            prop_assert_eq!(&got[..], &whole[start as usize..end as usize]);
            let mut at = 0usize;
            for (i, s) in sizes.iter().enumerate() {
                prop_assert!(checksum_holds(&whole[at..]));
                at += 512;
                prop_assert!(whole[at..at + *s as usize].iter().all(|&b| b == i as u8));
                at += (*s + padding(*s)) as usize;
            }
        }
    }
}
