//! multipart/byteranges over the wire against the real binary (RFC 9110
//! §14.6): parts byte-exact and in order, coalescing, and floods of ranges.

mod common;

use common::{Server, parse_multipart, pattern};

#[test]
fn multipart_parts_parse_back_byte_exact_in_request_order() {
    let s = Server::start(&[]);
    let data = pattern(10_000);
    s.write("f.bin", &data);
    let r = s.get("/f.bin", &["Range: bytes=5000-5099, 0-9,9990-"]);
    assert_eq!(r.status, 206);
    assert!(!r.truncated);
    assert_eq!(r.content_length(), Some(r.body.len() as u64));
    let parts = parse_multipart(r.header("content-type").expect("type"), &r.body);
    let expected = [
        ("5000-5099/10000", 5000..5100),
        ("0-9/10000", 0..10),
        ("9990-9999/10000", 9990..10000),
    ];
    assert_eq!(parts.len(), expected.len());
    for ((range, bytes), (want_range, span)) in parts.iter().zip(expected) {
        assert_eq!(range, want_range);
        assert_eq!(bytes, &data[span]);
    }
}

#[test]
fn multipart_head_matches_get_headers() {
    let s = Server::start(&[]);
    s.write("f.bin", &pattern(10_000));
    let get = s.get("/f.bin", &["Range: bytes=0-9,5000-5009"]);
    let head = s.request("HEAD", "/f.bin", &["Range: bytes=0-9,5000-5009"]);
    assert_eq!(head.status, 206);
    assert_eq!(head.content_length(), get.content_length());
    assert!(
        head.header("content-type")
            .expect("type")
            .starts_with("multipart/byteranges; boundary=")
    );
}

#[test]
fn nearby_ranges_coalesce_into_a_single_part() {
    let s = Server::start(&[]);
    let data = pattern(10_000);
    s.write("f.bin", &data);
    let r = s.get("/f.bin", &["Range: bytes=0-9,20-29,15-24"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 0-29/10000"));
    assert_eq!(r.body, data[..30]);
}

#[test]
fn two_hundred_open_ranges_are_answered_with_no_more_than_the_file() {
    let s = Server::start(&[]);
    s.write("f.bin", &pattern(100_000));
    let header = format!("Range: bytes={}", vec!["0-"; 200].join(","));
    let r = s.get("/f.bin", &[&header]);
    assert!(r.status == 200 || r.status == 206);
    assert_eq!(r.body.len(), 100_000);
    let spread: Vec<String> = (0..199).map(|i| format!("{}-", i * 10)).collect();
    let r = s.get("/f.bin", &[&format!("Range: bytes={}", spread.join(","))]);
    assert_eq!(r.status, 206);
    assert!(r.body.len() <= 100_000 + 1024, "{} bytes", r.body.len());
}

#[test]
fn too_many_ranges_serve_the_whole_file_once() {
    let s = Server::start(&[]);
    s.write("f.bin", &pattern(1_000_000));
    let specs: Vec<String> = (0..1000)
        .map(|i| format!("{}-{}", i * 1000, i * 1000))
        .collect();
    let r = s.get("/f.bin", &[&format!("Range: bytes={}", specs.join(","))]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1_000_000);
}

#[test]
fn unsatisfiable_specs_are_dropped_and_none_left_is_416() {
    let s = Server::start(&[]);
    s.write("f.bin", &pattern(1000));
    let r = s.get("/f.bin", &["Range: bytes=5000-6000,0-4"]);
    assert_eq!(
        (r.status, r.header("content-range")),
        (206, Some("bytes 0-4/1000"))
    );
    let r = s.get("/f.bin", &["Range: bytes=5000-6000,7000-"]);
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */1000"))
    );
}
