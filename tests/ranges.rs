//! Black-box tests of `Range` (RFC 9110 §14): the real binary on 127.0.0.1:0,
//! spoken to in raw HTTP/1.1 bytes, single ranges of ordinary, empty and
//! very large files, and HEAD beside GET.

mod common;

use std::fs::OpenOptions;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;

use common::{
    LEN, Response, Server, assert_partial, assert_unsatisfiable, assert_whole, pattern, range,
    read_response, server_with_fixture,
};

// ---------------------------------------------------------------- ranges

#[test]
fn first_ten_bytes_return_206_with_exact_slice() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "bytes=0-9"), 0, 9, &pattern(LEN));
}

#[test]
fn open_ended_range_returns_rest_of_file() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "bytes=10-"), 10, 999, &pattern(LEN));
}

#[test]
fn suffix_range_returns_last_bytes() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "bytes=-10"), 990, 999, &pattern(LEN));
}

#[test]
fn range_from_zero_to_end_is_206_not_200() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "bytes=0-"), 0, 999, &pattern(LEN));
}

#[test]
fn last_pos_past_end_is_clamped_to_end() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "bytes=990-5000"), 990, 999, &pattern(LEN));
}

#[test]
fn suffix_longer_than_file_returns_whole_file() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "bytes=-5000"), 0, 999, &pattern(LEN));
}

#[test]
fn first_pos_at_end_is_unsatisfiable() {
    let server = server_with_fixture();
    assert_unsatisfiable(&range(&server, "bytes=1000-"), 1000);
    assert_unsatisfiable(&range(&server, "bytes=1000-1005"), 1000);
}

#[test]
fn first_pos_past_end_is_unsatisfiable() {
    let server = server_with_fixture();
    assert_unsatisfiable(&range(&server, "bytes=1001-"), 1000);
    assert_unsatisfiable(&range(&server, "bytes=5000-6000"), 1000);
}

#[test]
fn zero_length_suffix_is_unsatisfiable() {
    let server = server_with_fixture();
    assert_unsatisfiable(&range(&server, "bytes=-0"), 1000);
}

#[test]
fn malformed_range_is_ignored_with_200_whole_file() {
    let server = server_with_fixture();
    for spec in [
        "bytes=abc",
        "bytes=5-1",
        "bytes=",
        "bytes=1-2-3",
        "bytes=--1",
        "bytes",
    ] {
        let r = range(&server, spec);
        assert_eq!(r.status, 200, "Range: {spec}");
        assert_whole(&r, &pattern(LEN));
    }
}

#[test]
fn unknown_range_unit_is_ignored_with_200_whole_file() {
    let server = server_with_fixture();
    assert_whole(&range(&server, "items=0-1"), &pattern(LEN));
}

#[test]
fn range_unit_is_case_insensitive() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "Bytes=0-1"), 0, 1, &pattern(LEN));
    assert_partial(&range(&server, "BYTES=2-3"), 2, 3, &pattern(LEN));
}

#[test]
fn whitespace_around_range_spec_is_allowed() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "bytes= 0-1"), 0, 1, &pattern(LEN));
    assert_partial(&range(&server, "bytes=\t4-6 "), 4, 6, &pattern(LEN));
}

#[test]
fn leading_zeros_in_positions_are_accepted() {
    let server = server_with_fixture();
    assert_partial(&range(&server, "bytes=0005-0007"), 5, 7, &pattern(LEN));
    assert_partial(&range(&server, "bytes=-0010"), 990, 999, &pattern(LEN));
}

#[test]
fn last_pos_beyond_u64_max_is_clamped_to_end() {
    let server = server_with_fixture();
    let r = range(&server, "bytes=0-99999999999999999999999");
    assert_partial(&r, 0, 999, &pattern(LEN));
    let r = range(&server, "bytes=-99999999999999999999999");
    assert_partial(&r, 0, 999, &pattern(LEN));
}

#[test]
fn first_pos_beyond_u64_max_is_unsatisfiable() {
    let server = server_with_fixture();
    assert_unsatisfiable(&range(&server, "bytes=99999999999999999999999-"), 1000);
}

// ---------------------------------------------------------------- empty file

/// No header and no body of the response claims `bytes 0-0/0`.
#[track_caller]
fn assert_no_zero_zero_range(r: &Response) {
    for (name, value) in &r.headers {
        assert!(!value.contains("0-0/0"), "{name}: {value}");
    }
    let body = String::from_utf8_lossy(&r.body);
    assert!(!body.contains("0-0/0"), "body {body:?}");
}

#[test]
fn any_range_of_empty_file_is_unsatisfiable() {
    let server = Server::start(&[]);
    server.write("empty.txt", b"");
    for spec in ["bytes=0-", "bytes=-5", "bytes=0-0"] {
        let r = server.get("/empty.txt", &[&format!("Range: {spec}")]);
        assert_unsatisfiable(&r, 0);
        assert_no_zero_zero_range(&r);
    }
}

#[test]
fn empty_file_without_range_is_200_with_zero_length() {
    let server = Server::start(&[]);
    server.write("empty.txt", b"");
    let r = server.get("/empty.txt", &[]);
    assert_whole(&r, b"");
    assert_no_zero_zero_range(&r);
    let r = server.request("HEAD", "/empty.txt", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(0));
    assert_no_zero_zero_range(&r);
}

// ---------------------------------------------------------------- HEAD

/// Sends HEAD on a fresh connection; returns the response and whatever bytes
/// followed it before the server closed the connection.
fn head_and_rest(server: &Server, path: &str, headers: &[&str]) -> (Response, Vec<u8>) {
    let mut stream = server.connect();
    let mut request = format!(
        "HEAD {path} HTTP/1.1\r\nHost: {}\r\n{}",
        server.addr,
        common::auth_line()
    );
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, true);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    (response, rest)
}

/// Headers without Date, names lowercased, sorted.
fn comparable_headers(r: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n != "date")
        .collect();
    headers.sort();
    headers
}

#[track_caller]
fn assert_head_matches_get(server: &Server, headers: &[&str], status: u16) {
    let get = server.get("/a.bin", headers);
    let (head, rest) = head_and_rest(server, "/a.bin", headers);
    assert_eq!(get.status, status);
    assert_eq!(head.status, get.status);
    assert_eq!(comparable_headers(&head), comparable_headers(&get));
    assert!(rest.is_empty(), "HEAD sent {} body bytes", rest.len());
}

#[test]
fn head_has_same_headers_as_get_and_no_body() {
    let server = server_with_fixture();
    assert_head_matches_get(&server, &[], 200);
}

#[test]
fn head_of_range_has_same_headers_as_get_and_no_body() {
    let server = server_with_fixture();
    assert_head_matches_get(&server, &["Range: bytes=10-19"], 206);
}

#[test]
fn head_of_unsatisfiable_range_has_same_headers_as_get_and_no_body() {
    let server = server_with_fixture();
    assert_head_matches_get(&server, &["Range: bytes=5000-"], 416);
}

// ---------------------------------------------------------------- large offsets

const BIG: u64 = 5 << 30;
const MARKERS: [(u64, &[u8; 16]); 3] = [
    ((1 << 31) - 8, b"<across 2^31 ..>"),
    ((1 << 32) - 8, b"<across 2^32 ..>"),
    (BIG - 16, b"<the very end. >"),
];

/// The bytes `first..=last` of the sparse file: zeros and the markers.
fn sparse_slice(first: u64, last: u64) -> Vec<u8> {
    let mut out = vec![0u8; usize::try_from(last - first + 1).expect("a small range")];
    for (at, marker) in MARKERS {
        for (i, b) in marker.iter().enumerate() {
            let pos = at + i as u64;
            if (first..=last).contains(&pos) {
                out[usize::try_from(pos - first).expect("inside the range")] = *b;
            }
        }
    }
    out
}

#[track_caller]
fn assert_sparse_range(server: &Server, spec: &str, first: u64, last: u64) {
    let r = server.get("/big.img", &[&format!("Range: {spec}")]);
    assert_eq!(r.status, 206, "{spec}");
    let expected = format!("bytes {first}-{last}/{BIG}");
    assert_eq!(r.header("content-range"), Some(expected.as_str()), "{spec}");
    assert_eq!(r.content_length(), Some(last - first + 1), "{spec}");
    assert!(r.body == sparse_slice(first, last), "{spec}: wrong bytes");
}

#[test]
fn ranges_past_2_pow_31_and_2_pow_32_return_exact_bytes() {
    let server = Server::start(&[]);
    let file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(server.path().join("big.img"))
        .unwrap();
    file.set_len(BIG).unwrap();
    for (at, marker) in MARKERS {
        file.write_all_at(marker, at).unwrap();
    }
    drop(file);

    let head = server.request("HEAD", "/big.img", &[]);
    assert_eq!((head.status, head.content_length()), (200, Some(BIG)));
    for (at, _) in MARKERS {
        assert_sparse_range(&server, &format!("bytes={at}-{}", at + 15), at, at + 15);
    }
    let (a, b) = (1u64 << 31, 1u64 << 32);
    assert_sparse_range(
        &server,
        &format!("bytes={}-{}", a - 100, a + 99),
        a - 100,
        a + 99,
    );
    assert_sparse_range(&server, &format!("bytes={}-{}", b - 4, b + 3), b - 4, b + 3);
    assert_sparse_range(&server, &format!("bytes={a}-{}", a + 7), a, a + 7);
    assert_sparse_range(&server, "bytes=-16", BIG - 16, BIG - 1);
    assert_sparse_range(&server, &format!("bytes={}-", BIG - 16), BIG - 16, BIG - 1);
    assert_sparse_range(
        &server,
        &format!("bytes={}-{}", BIG - 16, u64::MAX),
        BIG - 16,
        BIG - 1,
    );
    let r = server.get("/big.img", &[&format!("Range: bytes={BIG}-")]);
    assert_unsatisfiable(&r, BIG);
}
