//! HTTP/2 in raw frames (RFC 9113 §4.1), for clients that must misbehave.

use std::io::Read;
use std::net::TcpStream;

pub const WINDOW_UPDATE: u8 = 0x8;
pub const RST_STREAM: u8 = 0x3;
/// SETTINGS_INITIAL_WINDOW_SIZE (§6.5.2).
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const ACK: u8 = 0x1;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("small frame");
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// One frame: (type, flags, stream, payload); `None` at end of connection.
pub fn read_frame(s: &mut TcpStream) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).ok()?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).ok()?;
    Some((head[3], head[4], stream, payload))
}

/// An HPACK string literal, not Huffman-coded (RFC 7541 §5.2), short.
pub fn hpack_str(s: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(s.len()).expect("under 127 bytes")];
    out.extend_from_slice(s);
    out
}

/// `GET path` as a header block: :method GET, :scheme http (static table),
/// :path and :authority as literals with indexed names.
pub fn get_block(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04];
    block.extend(hpack_str(path.as_bytes()));
    block.push(0x01);
    block.extend(hpack_str(b"localhost"));
    block
}
