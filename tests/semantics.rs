//! Conditional requests, multipart/byteranges and resume integrity, over the
//! wire against the real binary (RFC 9110 §13, §14.6).

mod common;

use std::io::{BufReader, Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, have_tool, pattern, read_response};

fn etag_of(server: &Server, path: &str) -> String {
    let r = server.request("HEAD", path, &[]);
    r.header("etag")
        .expect("ETag on every file response")
        .to_string()
}

fn last_modified_of(server: &Server, path: &str) -> String {
    let r = server.request("HEAD", path, &[]);
    r.header("last-modified")
        .expect("Last-Modified")
        .to_string()
}

/// Rewrites `name` with new bytes of the same length and makes sure the
/// modification time moves (coarse filesystem clocks may not tick otherwise).
fn rewrite_same_size(server: &Server, name: &str, contents: &[u8]) {
    let path = server.path().join(name);
    let before = std::fs::metadata(&path)
        .expect("fixture")
        .modified()
        .expect("mtime");
    std::fs::write(&path, contents).expect("rewrite");
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open fixture");
    file.set_modified(before + Duration::from_secs(2))
        .expect("set mtime");
}

#[test]
fn if_none_match_current_etag_is_304_without_body_and_keeps_validators() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let etag = etag_of(&s, "/f.txt");
    for value in [
        etag.clone(),
        format!("W/{etag}"),
        "*".into(),
        format!("\"x\", {etag}"),
    ] {
        let r = s.get("/f.txt", &[&format!("If-None-Match: {value}")]);
        assert_eq!(r.status, 304, "{value}");
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.header("last-modified").is_some());
        assert!(r.body.is_empty());
    }
    let r = s.get("/f.txt", &["If-None-Match: \"other\""]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn if_modified_since_is_304_when_not_newer() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let lm = last_modified_of(&s, "/f.txt");
    let r = s.get("/f.txt", &[&format!("If-Modified-Since: {lm}")]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = s.get(
        "/f.txt",
        &["If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"],
    );
    assert_eq!(r.status, 200);
    let r = s.get("/f.txt", &["If-Modified-Since: not a date"]);
    assert_eq!(r.status, 200);
}

#[test]
fn if_match_mismatch_is_412_without_file_bytes() {
    let s = Server::start(&[]);
    s.write("f.txt", b"secret-ish content");
    let etag = etag_of(&s, "/f.txt");
    let r = s.get("/f.txt", &["If-Match: \"other\""]);
    assert_eq!(r.status, 412);
    assert!(!String::from_utf8_lossy(&r.body).contains("content"));
    let r = s.get("/f.txt", &[&format!("If-Match: \"a,b\", {etag}")]);
    assert_eq!(r.status, 200);
    let r = s.get("/f.txt", &[&format!("If-Match: W/{etag}")]);
    assert_eq!(r.status, 412, "If-Match uses strong comparison");
}

#[test]
fn if_unmodified_since_earlier_is_412() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let r = s.get(
        "/f.txt",
        &["If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT"],
    );
    assert_eq!(r.status, 412);
    let lm = last_modified_of(&s, "/f.txt");
    let r = s.get("/f.txt", &[&format!("If-Unmodified-Since: {lm}")]);
    assert_eq!(r.status, 200);
}

#[test]
fn precedence_if_match_beats_if_none_match() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let etag = etag_of(&s, "/f.txt");
    let r = s.get(
        "/f.txt",
        &["If-Match: \"other\"", &format!("If-None-Match: {etag}")],
    );
    assert_eq!(r.status, 412);
}

#[test]
fn if_none_match_on_several_header_lines_is_one_list() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let etag = etag_of(&s, "/f.txt");
    let r = s.get(
        "/f.txt",
        &["If-None-Match: \"a\"", &format!("If-None-Match: {etag}")],
    );
    assert_eq!(r.status, 304);
}

#[test]
fn if_range_current_etag_applies_the_range() {
    let s = Server::start(&[]);
    s.write("f.bin", &pattern(1000));
    let etag = etag_of(&s, "/f.bin");
    let r = s.get(
        "/f.bin",
        &["Range: bytes=100-", &format!("If-Range: {etag}")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-999/1000"));
    assert_eq!(r.body, pattern(1000)[100..]);
}

#[test]
fn if_range_with_stale_or_weak_etag_sends_full_body() {
    let s = Server::start(&[]);
    s.write("f.bin", &pattern(1000));
    let etag = etag_of(&s, "/f.bin");
    for value in [
        "\"stale\"".to_string(),
        format!("W/{etag}"),
        "garbage".into(),
    ] {
        let r = s.get(
            "/f.bin",
            &["Range: bytes=100-", &format!("If-Range: {value}")],
        );
        assert_eq!(r.status, 200, "If-Range: {value}");
        assert_eq!(r.header("content-range"), None);
        assert_eq!(r.body, pattern(1000));
    }
}

#[test]
fn if_range_by_date_needs_exact_last_modified() {
    let s = Server::start(&[]);
    s.write("f.bin", &pattern(1000));
    let lm = last_modified_of(&s, "/f.bin");
    let r = s.get("/f.bin", &["Range: bytes=0-9", &format!("If-Range: {lm}")]);
    assert_eq!(r.status, 206);
    let r = s.get(
        "/f.bin",
        &[
            "Range: bytes=0-9",
            "If-Range: Thu, 01 Jan 1970 00:00:00 GMT",
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1000);
}

#[test]
fn resume_with_old_etag_after_same_size_rewrite_gets_the_new_file_whole() {
    let s = Server::start(&[]);
    let old = pattern(4096);
    s.write("f.bin", &old);
    let old_etag = etag_of(&s, "/f.bin");
    let new: Vec<u8> = old.iter().map(|b| b.wrapping_add(1)).collect();
    rewrite_same_size(&s, "f.bin", &new);
    assert_ne!(etag_of(&s, "/f.bin"), old_etag);
    let r = s.get(
        "/f.bin",
        &["Range: bytes=2048-", &format!("If-Range: {old_etag}")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, new);
}

/// Parses a multipart/byteranges body back into (Content-Range, bytes) parts,
/// checking the framing strictly.
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    let delimiter = format!("--{boundary}");
    let mut rest = body;
    let mut parts = Vec::new();
    let mut first = true;
    loop {
        if !first {
            rest = rest.strip_prefix(b"\r\n").expect("CRLF before a delimiter");
        }
        first = false;
        rest = rest.strip_prefix(delimiter.as_bytes()).expect("delimiter");
        if let Some(end) = rest.strip_prefix(b"--\r\n") {
            assert!(end.is_empty(), "bytes after the close delimiter");
            return parts;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let head_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part head");
        let head = std::str::from_utf8(&rest[..head_end]).expect("ASCII part head");
        rest = &rest[head_end + 4..];
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: bytes "))
            .expect("part Content-Range")
            .to_string();
        assert!(
            head.lines().any(|l| l.starts_with("Content-Type: ")),
            "part Content-Type"
        );
        let (span, _) = range.split_once('/').expect("total");
        let (a, b) = span.split_once('-').expect("span");
        let len = b.parse::<usize>().expect("last") - a.parse::<usize>().expect("first") + 1;
        parts.push((range.clone(), rest[..len].to_vec()));
        rest = &rest[len..];
    }
}

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

#[test]
fn file_rewritten_while_a_slow_client_downloads_is_never_complete() {
    let s = Server::start(&[]);
    let size = 64 << 20;
    s.write("big.bin", &pattern(size));
    let mut stream = s.connect();
    write!(
        stream,
        "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    // Read the head and the first MiB slowly, then rewrite the file in place.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte).expect("head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"));
    let mut first = vec![0u8; 1 << 20];
    reader.read_exact(&mut first).expect("first MiB");
    let changed: Vec<u8> = pattern(size).iter().map(|b| b ^ 0xff).collect();
    rewrite_same_size(&s, "big.bin", &changed);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    let received = first.len() + rest.len();
    assert!(
        received < size,
        "received a complete {received}-byte body of a changed file"
    );
}

#[test]
fn file_truncated_while_sending_cuts_the_connection() {
    let s = Server::start(&[]);
    let size = 32 << 20;
    let path = s.write("big.bin", &pattern(size));
    let mut stream = s.connect();
    write!(stream, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    let mut reader = BufReader::new(stream);
    let mut byte = [0u8; 1];
    reader.read_exact(&mut byte).expect("first byte");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(1000)
        .expect("truncate");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(
        rest.len() < size,
        "the connection must be cut, not padded or completed"
    );
}

#[test]
fn file_replaced_by_rename_keeps_streaming_the_old_version_whole() {
    let s = Server::start(&[]);
    let size = 32 << 20;
    let old = pattern(size);
    s.write("big.bin", &old);
    let mut stream = s.connect();
    write!(
        stream,
        "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    let mut byte = [0u8; 1];
    reader.read_exact(&mut byte).expect("first byte");
    let replacement = s.write("replacement.tmp", b"new and short");
    std::fs::rename(replacement, s.path().join("big.bin")).expect("rename over");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("the rest");
    let body_start = rest
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    assert_eq!(&rest[body_start..], &old[..]);
}

#[test]
fn keep_alive_connection_survives_conditional_responses() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let etag = etag_of(&s, "/f.txt");
    let stream = s.connect();
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    write!(
        writer,
        "GET /f.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
    )
    .expect("1");
    assert_eq!(read_response(&mut reader, false).status, 304);
    write!(
        writer,
        "GET /f.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"x\"\r\n\r\n"
    )
    .expect("2");
    assert_eq!(read_response(&mut reader, false).status, 412);
    write!(
        writer,
        "GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("3");
    let r = read_response(&mut reader, false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn curl_resume_with_stale_if_range_never_splices() {
    if !have_tool("curl") {
        return;
    }
    let s = Server::start(&[]);
    let old = pattern(2 << 20);
    s.write("f.bin", &old);
    let old_etag = etag_of(&s, "/f.bin");
    let new: Vec<u8> = old.iter().map(|b| b ^ 0x55).collect();
    rewrite_same_size(&s, "f.bin", &new);

    let downloads = tempfile::tempdir().expect("temp dir");
    let local = downloads.path().join("f.bin");
    std::fs::write(&local, &old[..1 << 20]).expect("partial download");
    let status = Command::new("curl")
        .args([
            "-s",
            "-C",
            "-",
            "-H",
            &format!("If-Range: {old_etag}"),
            "-o",
        ])
        .arg(&local)
        .arg(s.url("/f.bin"))
        .status()
        .expect("run curl");
    let got = std::fs::read(&local).expect("read download");
    // curl refuses to resume when the server answers 200 (exit 33, "cannot
    // resume"); either way the file on disk must be one version, never both.
    assert!(
        got == old[..1 << 20] || got == new,
        "spliced file of {} bytes",
        got.len()
    );
    assert_eq!(status.code(), Some(33));
    let status = Command::new("curl")
        .args(["-s", "-f", "-o"])
        .arg(&local)
        .arg(s.url("/f.bin"))
        .status()
        .expect("run curl");
    assert!(status.success());
    assert_eq!(std::fs::read(&local).expect("read download"), new);
}

#[test]
fn aria2c_with_eight_connections_downloads_byte_exact() {
    if !have_tool("aria2c") {
        return;
    }
    let s = Server::start(&[]);
    let data = pattern(64 << 20);
    s.write("data.bin", &data);
    let downloads = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let output = Command::new("aria2c")
        .args([
            "-x",
            "8",
            "-s",
            "8",
            "-k",
            "1M",
            "-q",
            "--allow-overwrite=true",
        ])
        .args([
            "--auto-file-renaming=false",
            "--file-allocation=none",
            "--timeout=30",
        ])
        .arg("-d")
        .arg(downloads.path())
        .args(["-o", "data.bin"])
        .arg(s.url("/data.bin"))
        .output()
        .expect("run aria2c");
    assert!(
        output.status.success(),
        "aria2c: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    let got = std::fs::read(downloads.path().join("data.bin")).expect("downloaded file");
    assert!(got == data, "aria2c's file differs from the original");
}

/// The copying path (`--no-sendfile`, and every HTTP/2 response) keeps the
/// same guarantees as the sendfile path.
mod copying_path {
    use super::*;

    #[test]
    fn whole_file_range_and_multipart_are_byte_exact() {
        let s = Server::start(&["--no-sendfile"]);
        let data = pattern(3 << 20);
        s.write("f.bin", &data);
        assert_eq!(s.get("/f.bin", &[]).body, data);
        let r = s.get("/f.bin", &["Range: bytes=1000000-2999999"]);
        assert_eq!((r.status, &r.body[..]), (206, &data[1_000_000..3_000_000]));
        let r = s.get("/f.bin", &["Range: bytes=0-9,2000000-2000009"]);
        let parts = parse_multipart(r.header("content-type").expect("type"), &r.body);
        assert_eq!(parts[1].1, data[2_000_000..2_000_010]);
    }

    #[test]
    fn file_rewritten_while_downloading_is_never_complete() {
        let s = Server::start(&["--no-sendfile"]);
        let size = 64 << 20;
        s.write("big.bin", &pattern(size));
        let mut stream = s.connect();
        write!(
            stream,
            "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut reader = BufReader::new(stream);
        let mut first = vec![0u8; 1 << 20];
        reader.read_exact(&mut first).expect("first MiB");
        rewrite_same_size(&s, "big.bin", &vec![7u8; size]);
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        assert!(
            first.len() + rest.len() < size + 200,
            "a changed file was sent complete"
        );
    }
}
