//! How large each HTTP/2 header block decodes, measured on the raw bytes of a
//! connection as they arrive, without decoding a single field.
//!
//! A header list far beyond SETTINGS_MAX_HEADER_LIST_SIZE is a connection
//! error for h2 (GOAWAY ENHANCE_YOUR_CALM), and h2 acts on it the moment it
//! decodes the frame, resetting every stream before it. The server therefore
//! measures each block first and holds back the last byte of an oversized
//! frame until the streams before it are answered (`server::gate`); this
//! module only measures.
//!
//! [`Scanner::feed`] walks the frames (RFC 9113 §4.1), finds the field block
//! fragments of HEADERS and CONTINUATION frames (§6.2, §6.10: padding and
//! priority skipped), and sizes their HPACK representations (RFC 7541 §6)
//! while keeping the sizes of the dynamic table's entries (§4), so that an
//! indexed field costs what the decoder will make of it. A field's size is
//! its name's and value's lengths plus 32 (RFC 9113 §6.5.2, RFC 7541 §4.1);
//! a Huffman-coded string's length is counted in decoded symbols (§5.2,
//! Appendix B). Bytes that do not parse stop the measuring: h2 refuses them
//! on its own, with the connection error they deserve.

use std::collections::VecDeque;

/// Frame types with a field block fragment (RFC 9113 §6.2, §6.10).
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
/// The client connection preface (RFC 9113 §3.4), walked as a frame of a
/// type no real frame has.
const PREFACE: u8 = 0xff;
const PREFACE_LEN: usize = 24;
/// HEADERS flags (§6.2).
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// The HPACK static table (RFC 7541 Appendix A): name and value of entries
/// 1 to 61.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// How many Huffman codes have each length in bits (RFC 7541 Appendix B,
/// 257 codes with EOS). The code is canonical: within a length, codes are
/// consecutive, and the first code of a length follows the last of the
/// length before, shifted left; so counting symbols needs only these counts.
const CODES_OF_LENGTH: [u32; 31] = [
    0, 0, 0, 0, 0, 10, 26, 32, 6, 0, 5, 3, 2, 6, 2, 3, 0, 0, 0, 3, 8, 13, 26, 29, 12, 4, 15, 19,
    29, 0, 4,
];

/// The 30-bit end-of-string code, an error inside a string (RFC 7541 §5.2).
const EOS: u32 = 0x3fff_ffff;

/// The decoder's dynamic table size: h2 advertises no SETTINGS_HEADER_TABLE_SIZE,
/// so it is the protocol's initial 4,096 (RFC 9113 §6.5.2).
pub const TABLE_SIZE: usize = 4096;

/// Measures header blocks in the bytes a client sends on one connection.
#[derive(Debug)]
pub struct Scanner {
    /// A block at least this large (decoded) is reported.
    limit: usize,
    frame: Frame,
    hpack: Sizer,
    /// Decoded size of the block being received, so far.
    block: usize,
    /// Bytes did not parse: report nothing more.
    lost: bool,
}

/// Where the scanner is within the current frame.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// Collecting the 9-byte frame header; `got` bytes so far.
    Head { head: [u8; 9], got: usize },
    /// Inside the payload of a frame of this type and flags; `left` bytes to go.
    Payload {
        kind: u8,
        flags: u8,
        left: usize,
        part: Part,
    },
}

/// The part of a payload being read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    /// HEADERS' pad length byte.
    PadLength,
    /// Bytes to skip (priority fields, or a frame without a field block),
    /// then the fragment of `fragment` bytes, then padding.
    Skip { skip: usize, pad: usize },
    /// `fragment` bytes of field block left, then `pad` bytes of padding.
    Fragment { fragment: usize, pad: usize },
}

impl Scanner {
    /// A scanner that reports blocks whose decoded size reaches `limit`,
    /// for a connection from its first byte: the client's 24-byte preface
    /// (RFC 9113 §3.4) comes first and is skipped.
    pub fn new(limit: usize) -> Self {
        Scanner {
            limit,
            frame: Frame::Payload {
                kind: PREFACE,
                flags: 0,
                left: PREFACE_LEN,
                part: Part::Skip {
                    skip: PREFACE_LEN,
                    pad: 0,
                },
            },
            hpack: Sizer::new(TABLE_SIZE),
            block: 0,
            lost: false,
        }
    }

    /// Reads `bytes`, the next ones the client sent. Returns the index of the
    /// last byte of a HEADERS or CONTINUATION frame after which the block
    /// received so far has reached the limit, and stops there: the caller
    /// passes the rest (from that index plus one) to the next call.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() && !self.lost {
            let (used, frame_ended) = self.step(&bytes[i..]);
            i += used;
            if let Some((kind, flags)) = frame_ended {
                // Bytes that did not parse are h2's to refuse: no report,
                // whatever part of them was measured.
                if (kind == HEADERS || kind == CONTINUATION) && !self.lost {
                    let over = self.block >= self.limit;
                    if flags & END_HEADERS != 0 {
                        self.block = 0;
                    }
                    if over {
                        return Some(i - 1);
                    }
                }
            }
        }
        None
    }

    /// Consumes what it can of `bytes` within the current frame part: the
    /// count consumed, and the frame's type and flags if it ended.
    fn step(&mut self, bytes: &[u8]) -> (usize, Option<(u8, u8)>) {
        match self.frame {
            Frame::Head { mut head, got } => {
                let n = (9 - got).min(bytes.len());
                head[got..got + n].copy_from_slice(&bytes[..n]);
                if got + n < 9 {
                    self.frame = Frame::Head { head, got: got + n };
                    return (n, None);
                }
                let left =
                    usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
                let (kind, flags) = (head[3], head[4]);
                let part = match kind {
                    HEADERS => {
                        self.block = 0;
                        self.hpack.begin_block();
                        if flags & PADDED != 0 {
                            Part::PadLength
                        } else {
                            self.fragment_after(flags, left, 0)
                        }
                    }
                    CONTINUATION => Part::Fragment {
                        fragment: left,
                        pad: 0,
                    },
                    _ => Part::Skip { skip: left, pad: 0 },
                };
                self.continue_frame(kind, flags, left, part, n)
            }
            Frame::Payload {
                kind,
                flags,
                left,
                part,
            } => {
                let (used, part) = match part {
                    Part::PadLength => {
                        let pad = usize::from(bytes[0]);
                        (1, self.fragment_after(flags, left - 1, pad))
                    }
                    Part::Skip { skip, pad } => {
                        let n = skip.min(bytes.len());
                        let part = if n == skip && (kind == HEADERS) {
                            Part::Fragment {
                                fragment: left - n - pad,
                                pad,
                            }
                        } else {
                            Part::Skip {
                                skip: skip - n,
                                pad,
                            }
                        };
                        (n, part)
                    }
                    Part::Fragment { fragment, pad } if fragment == 0 => {
                        let n = pad.min(bytes.len());
                        (
                            n,
                            Part::Fragment {
                                fragment,
                                pad: pad - n,
                            },
                        )
                    }
                    Part::Fragment { fragment, pad } => {
                        let n = fragment.min(bytes.len());
                        match self.hpack.feed(&bytes[..n]) {
                            Some(size) => self.block = self.block.saturating_add(size),
                            None => self.lost = true,
                        }
                        (
                            n,
                            Part::Fragment {
                                fragment: fragment - n,
                                pad,
                            },
                        )
                    }
                };
                self.continue_frame(kind, flags, left - used, part, used)
            }
        }
    }

    /// Goes on with the frame, `left` payload bytes to go in `part`, after
    /// `used` bytes; ends it if nothing is left.
    fn continue_frame(
        &mut self,
        kind: u8,
        flags: u8,
        left: usize,
        part: Part,
        used: usize,
    ) -> (usize, Option<(u8, u8)>) {
        self.frame = Frame::Payload {
            kind,
            flags,
            left,
            part,
        };
        if left == 0 {
            return (used, self.end_frame());
        }
        (used, None)
    }

    /// The part that follows HEADERS' pad length (if any): the priority
    /// fields to skip, then the fragment. `left` counts from after the pad
    /// length byte.
    fn fragment_after(&mut self, flags: u8, left: usize, pad: usize) -> Part {
        let skip = if flags & PRIORITY != 0 { 5 } else { 0 };
        if skip + pad > left {
            // Malformed (RFC 9113 §6.2): h2 answers it with PROTOCOL_ERROR.
            self.lost = true;
            return Part::Skip { skip: left, pad: 0 };
        }
        if skip > 0 {
            Part::Skip { skip, pad }
        } else {
            Part::Fragment {
                fragment: left - pad,
                pad,
            }
        }
    }

    /// Starts the next frame; the type and flags of the one that ended.
    fn end_frame(&mut self) -> Option<(u8, u8)> {
        let Frame::Payload { kind, flags, .. } = self.frame else {
            return None;
        };
        self.frame = Frame::Head {
            head: [0; 9],
            got: 0,
        };
        Some((kind, flags))
    }
}

/// The sizes of HPACK representations (RFC 7541 §6), fed the bytes of field
/// blocks in the order they arrive, with the dynamic table's entries kept as
/// (name length, value length).
#[derive(Debug)]
struct Sizer {
    /// Newest first (RFC 7541 §2.3.3: index 62 is the newest).
    table: VecDeque<(usize, usize)>,
    /// Sum of the entries' sizes (§4.1).
    used: usize,
    /// The table's current maximum size (§4.2, §6.3).
    max: usize,
    /// The most `max` may be set to: the SETTINGS value.
    ceiling: usize,
    state: Rep,
}

/// Where the sizer is within a representation.
#[derive(Debug, Clone, Copy)]
enum Rep {
    /// At the first byte of a representation.
    Start,
    /// Continuation bytes of an integer (§5.1) that began the representation.
    Integer {
        what: Lead,
        value: usize,
        shift: u32,
    },
    /// A string (§5.2) of a literal: the first byte (H bit and 7-bit length
    /// prefix), the length's continuation bytes, then its bytes.
    StringStart { literal: Literal },
    Length {
        literal: Literal,
        huffman: bool,
        value: usize,
        shift: u32,
    },
    Bytes {
        literal: Literal,
        left: usize,
        huffman: Option<Huffman>,
        decoded: usize,
    },
}

/// What the integer at the start of a representation means.
#[derive(Debug, Clone, Copy)]
enum Lead {
    /// An indexed field (§6.1).
    Index,
    /// A literal's name index, 0 for a new name (§6.2); `indexed` if the
    /// field joins the dynamic table.
    NameIndex { indexed: bool },
    /// A dynamic table size update (§6.3).
    TableSize,
}

/// The literal being read: its name length once known.
#[derive(Debug, Clone, Copy)]
struct Literal {
    indexed: bool,
    name: Option<usize>,
}

/// Counts the symbols of a Huffman-coded string bit by bit (canonical code).
#[derive(Debug, Clone, Copy, Default)]
struct Huffman {
    /// Bits of the symbol being read.
    code: u32,
    /// How many.
    bits: usize,
    /// The first code of length `bits`.
    first: u32,
}

impl Huffman {
    /// Feeds one byte; the symbols it completed, or `None` on EOS (RFC 7541
    /// §5.2: a decoding error).
    fn byte(&mut self, byte: u8) -> Option<usize> {
        let mut symbols = 0;
        for shift in (0..8).rev() {
            self.code = self.code << 1 | u32::from(byte >> shift & 1);
            self.first <<= 1;
            self.bits += 1;
            let count = *CODES_OF_LENGTH.get(self.bits)?;
            if self.bits == 30 && self.code == EOS {
                return None;
            }
            if self.code < self.first + count {
                symbols += 1;
                *self = Huffman::default();
            } else {
                self.first += count;
            }
        }
        Some(symbols)
    }
}

impl Sizer {
    fn new(ceiling: usize) -> Self {
        Sizer {
            table: VecDeque::new(),
            used: 0,
            max: ceiling,
            ceiling,
            state: Rep::Start,
        }
    }

    /// A new field block begins: a representation cut short by the last one
    /// is a connection error for h2, and a fresh start here.
    fn begin_block(&mut self) {
        self.state = Rep::Start;
    }

    /// Reads `bytes` of a field block; the decoded size of the fields they
    /// completed, or `None` if they do not parse.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut size = 0usize;
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            i += 1;
            self.state = match self.state {
                Rep::Start => {
                    let (what, prefix) = match byte {
                        0x80.. => (Lead::Index, 7),
                        0x40.. => (Lead::NameIndex { indexed: true }, 6),
                        0x20.. => (Lead::TableSize, 5),
                        _ => (Lead::NameIndex { indexed: false }, 4),
                    };
                    let mask = (1u8 << prefix) - 1;
                    let value = usize::from(byte & mask);
                    if value < usize::from(mask) {
                        self.lead(what, value, &mut size)?
                    } else {
                        Rep::Integer {
                            what,
                            value,
                            shift: 0,
                        }
                    }
                }
                Rep::Integer { what, value, shift } => {
                    let (value, done) = continue_integer(value, shift, byte)?;
                    if done {
                        self.lead(what, value, &mut size)?
                    } else {
                        Rep::Integer {
                            what,
                            value,
                            shift: shift + 7,
                        }
                    }
                }
                Rep::StringStart { literal } => {
                    let huffman = byte & 0x80 != 0;
                    let len = usize::from(byte & 0x7f);
                    if len < 0x7f {
                        self.string(literal, huffman, len, &mut size)
                    } else {
                        Rep::Length {
                            literal,
                            huffman,
                            value: len,
                            shift: 0,
                        }
                    }
                }
                Rep::Length {
                    literal,
                    huffman,
                    value,
                    shift,
                } => {
                    let (value, done) = continue_integer(value, shift, byte)?;
                    if done {
                        self.string(literal, huffman, value, &mut size)
                    } else {
                        Rep::Length {
                            literal,
                            huffman,
                            value,
                            shift: shift + 7,
                        }
                    }
                }
                Rep::Bytes {
                    literal,
                    left,
                    mut huffman,
                    mut decoded,
                } => {
                    // This byte and as many more of the string as are here.
                    let n = left.min(bytes.len() - i + 1);
                    let chunk = &bytes[i - 1..i - 1 + n];
                    i += n - 1;
                    match huffman.as_mut() {
                        Some(h) => {
                            for &b in chunk {
                                decoded += h.byte(b)?;
                            }
                        }
                        None => decoded += n,
                    }
                    if n == left {
                        self.string_done(literal, decoded, &mut size)
                    } else {
                        Rep::Bytes {
                            literal,
                            left: left - n,
                            huffman,
                            decoded,
                        }
                    }
                }
            };
        }
        Some(size)
    }

    /// The representation's leading integer is `value`: what comes next.
    fn lead(&mut self, what: Lead, value: usize, size: &mut usize) -> Option<Rep> {
        match what {
            Lead::Index => {
                let (name, value) = self.entry(value)?;
                *size += name + value + 32;
                Some(Rep::Start)
            }
            Lead::NameIndex { indexed } => {
                let name = if value == 0 {
                    None
                } else {
                    Some(self.entry(value)?.0)
                };
                Some(Rep::StringStart {
                    literal: Literal { indexed, name },
                })
            }
            Lead::TableSize => {
                if value > self.ceiling {
                    return None;
                }
                self.max = value;
                self.evict(0);
                Some(Rep::Start)
            }
        }
    }

    /// A string's length is known: read its bytes (or finish it, if empty).
    fn string(&mut self, literal: Literal, huffman: bool, len: usize, size: &mut usize) -> Rep {
        if len == 0 {
            return self.string_done(literal, 0, size);
        }
        Rep::Bytes {
            literal,
            left: len,
            huffman: huffman.then(Huffman::default),
            decoded: 0,
        }
    }

    /// A string of `decoded` bytes ended: the name (read the value next) or
    /// the value (the field is complete).
    fn string_done(&mut self, literal: Literal, decoded: usize, size: &mut usize) -> Rep {
        match literal.name {
            None => Rep::StringStart {
                literal: Literal {
                    name: Some(decoded),
                    ..literal
                },
            },
            Some(name) => {
                *size += name + decoded + 32;
                if literal.indexed {
                    self.insert(name, decoded);
                }
                Rep::Start
            }
        }
    }

    /// The (name length, value length) of entry `index` (§2.3.3).
    fn entry(&self, index: usize) -> Option<(usize, usize)> {
        match index {
            0 => None,
            1..=61 => STATIC.get(index - 1).map(|(n, v)| (n.len(), v.len())),
            _ => self.table.get(index - 62).copied(),
        }
    }

    /// Adds an entry, evicting the oldest as needed (§4.4).
    fn insert(&mut self, name: usize, value: usize) {
        let size = name + value + 32;
        self.evict(size);
        if size <= self.max {
            self.table.push_front((name, value));
            self.used += size;
        }
    }

    /// Evicts until `room` more bytes fit under the maximum (§4.3, §4.4).
    fn evict(&mut self, room: usize) {
        while self.used + room > self.max {
            let Some((name, value)) = self.table.pop_back() else {
                break;
            };
            self.used -= name + value + 32;
        }
    }
}

/// The next byte of a multi-byte integer (RFC 7541 §5.1): the value so far
/// and whether it ended, or `None` past 2^28, more than any field needs.
fn continue_integer(value: usize, shift: u32, byte: u8) -> Option<(usize, bool)> {
    if shift > 21 {
        return None;
    }
    let value = value + (usize::from(byte & 0x7f) << shift);
    Some((value, byte & 0x80 == 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PREFACE_BYTES: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    /// A scanner past the preface.
    fn past_preface(limit: usize) -> Scanner {
        let mut scanner = Scanner::new(limit);
        assert_eq!(scanner.feed(PREFACE_BYTES), None);
        scanner
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// A HEADERS frame on `stream` carrying `block`, END_HEADERS set.
    fn headers(stream: u32, flags: u8, block: &[u8]) -> Vec<u8> {
        let len = u32::try_from(block.len()).expect("small");
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[HEADERS, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(block);
        f
    }

    /// Decoded sizes of a sequence of blocks, each fed whole.
    fn sizes(blocks: &[Vec<u8>]) -> Vec<usize> {
        let mut sizer = Sizer::new(TABLE_SIZE);
        blocks
            .iter()
            .map(|b| {
                sizer.begin_block();
                sizer.feed(b).expect("parses")
            })
            .collect()
    }

    // RFC 7541 Appendix C.3: requests without Huffman coding. Sizes are
    // name + value + 32 per field: 42 + 43 + 38 + 57 for the first.
    const C3: [&str; 3] = [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ];
    // Appendix C.4: the same requests, Huffman-coded.
    const C4: [&str; 3] = [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ];
    const C3_SIZES: [usize; 3] = [180, 233, 245];

    #[test]
    fn the_rfc_examples_decode_to_their_sizes() {
        let plain: Vec<_> = C3.iter().map(|h| hex(h)).collect();
        let huffman: Vec<_> = C4.iter().map(|h| hex(h)).collect();
        assert_eq!(sizes(&plain), C3_SIZES);
        assert_eq!(sizes(&huffman), C3_SIZES);
    }

    #[test]
    fn the_dynamic_table_keeps_the_sizes_the_rfc_shows() {
        let mut sizer = Sizer::new(TABLE_SIZE);
        for h in C4 {
            sizer.begin_block();
            sizer.feed(&hex(h)).expect("parses");
        }
        // C.4.3: custom-key: custom-value, cache-control: no-cache,
        // :authority: www.example.com; 164 bytes.
        assert_eq!(sizer.table, [(10, 12), (13, 8), (10, 15)]);
        assert_eq!(sizer.used, 164);
    }

    #[test]
    fn huffman_strings_count_decoded_symbols() {
        let mut h = Huffman::default();
        // "www.example.com" (C.4.1), 12 bytes, 15 symbols, EOS padding.
        let n: usize = hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")
            .iter()
            .map(|&b| h.byte(b).expect("valid"))
            .sum();
        assert_eq!(n, 15);
        // Thirty ones are EOS, which a string must not contain.
        let mut h = Huffman::default();
        assert_eq!(
            [0xffu8; 4].iter().try_fold(0, |n, &b| Some(n + h.byte(b)?)),
            None
        );
    }

    #[test]
    fn size_updates_evict_and_a_size_above_the_setting_does_not_parse() {
        let mut sizer = Sizer::new(TABLE_SIZE);
        sizer.feed(&hex(C3[0])).expect("parses");
        assert_eq!(sizer.used, 57);
        // §6.3: a dynamic table size update to 0 empties the table.
        sizer.feed(&[0x20]).expect("parses");
        assert_eq!((sizer.used, sizer.table.len()), (0, 0));
        // Index 62 no longer exists.
        assert_eq!(sizer.feed(&[0xbe]), None);
        // 4,097 > 4,096: 0x3f then 4,097 - 31 = 4,066 as 7-bit groups.
        let mut sizer = Sizer::new(TABLE_SIZE);
        assert_eq!(sizer.feed(&[0x3f, 0xe2, 0x1f]), None);
    }

    /// One 4,000-byte field, then `refs` references to it.
    fn bomb(refs: usize) -> Vec<u8> {
        let mut block = vec![0x82, 0x86, 0x84, 0x40, 0x05];
        block.extend_from_slice(b"x-big");
        block.extend_from_slice(&[0x7f, 0xa1, 0x1e]);
        block.extend(std::iter::repeat_n(b'a', 4000));
        block.extend(std::iter::repeat_n(0xbe, refs));
        block
    }

    #[test]
    fn a_bomb_is_reported_at_the_last_byte_of_its_frame() {
        let good = headers(1, END_HEADERS, &hex(C3[0]));
        let bad = headers(3, END_HEADERS, &bomb(3000));
        let mut stream = good.clone();
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&headers(5, END_HEADERS, &[0x82]));
        let mut scanner = Scanner::new(16 * 1024);
        assert_eq!(scanner.feed(PREFACE_BYTES), None);
        assert_eq!(scanner.feed(&stream), Some(good.len() + bad.len() - 1));
        // The rest passes.
        assert_eq!(scanner.feed(&stream[good.len() + bad.len()..]), None);
    }

    #[test]
    fn padding_priority_and_continuation_are_walked() {
        // HEADERS, PADDED and PRIORITY: pad length 3, 5 priority bytes,
        // the first half of a bomb, 3 bytes of padding; then CONTINUATION.
        let block = bomb(100);
        let (first, second) = block.split_at(2000);
        let mut payload = vec![3, 0, 0, 0, 1, 16];
        payload.extend_from_slice(first);
        payload.extend_from_slice(&[0, 0, 0]);
        let mut stream = headers(1, PADDED | PRIORITY, &payload);
        let mut cont = headers(1, END_HEADERS, second);
        cont[3] = CONTINUATION;
        stream.extend_from_slice(&cont);
        // 4,037 for x-big, each reference 4,037 more: over 64 KiB after 16.
        let mut scanner = past_preface(64 * 1024);
        assert_eq!(scanner.feed(&stream), Some(stream.len() - 1));
        let mut scanner = past_preface(1 << 20);
        assert_eq!(scanner.feed(&stream), None);
    }

    #[test]
    fn a_block_that_does_not_parse_is_not_reported_however_it_is_cut() {
        // One 300-byte field, then index 0, which no table has (RFC 7541 §6.1).
        let mut block = vec![0x40, 0x01, b'x', 0x7f, 0xad, 0x01];
        block.extend(std::iter::repeat_n(b'v', 300));
        block.push(0x80);
        let frame = headers(1, END_HEADERS, &block);
        assert_eq!(past_preface(100).feed(&frame), None);
        let mut cut = past_preface(100);
        assert_eq!(cut.feed(&frame[..frame.len() - 1]), None);
        assert_eq!(cut.feed(&frame[frame.len() - 1..]), None);
    }

    proptest! {
        /// However the bytes are cut into reads, the same frame is reported.
        #[test]
        fn reads_cut_anywhere_report_the_same_byte(cuts in prop::collection::vec(1usize..600, 1..40)) {
            let mut stream = headers(1, END_HEADERS, &hex(C4[0]));
            stream.extend(headers(3, END_HEADERS, &hex(C4[1])));
            stream.extend(headers(5, END_HEADERS, &bomb(40)));
            stream.extend(headers(7, END_HEADERS, &hex(C4[2])));
            let expected = past_preface(64 * 1024).feed(&stream);
            prop_assert!(expected.is_some());
            let mut scanner = past_preface(64 * 1024);
            let (mut at, mut found) = (0, None);
            for cut in cuts.iter().cycle() {
                if at >= stream.len() {
                    break;
                }
                let end = (at + cut).min(stream.len());
                match scanner.feed(&stream[at..end]) {
                    Some(i) => {
                        found = Some(at + i);
                        break;
                    }
                    None => at = end,
                }
            }
            prop_assert_eq!(found, expected);
        }

        /// Arbitrary bytes never panic the scanner.
        #[test]
        fn garbage_is_survived(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            let _ = Scanner::new(1024).feed(&bytes);
        }
    }
}
