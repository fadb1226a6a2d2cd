//! Conditional requests over the wire against the real binary (RFC 9110 §13):
//! validators, precedence, If-Range, and resumes after a file changes.

mod common;

use std::io::{BufReader, Write};

use common::{Server, etag_of, pattern, read_response, rewrite_same_size};

fn last_modified_of(server: &Server, path: &str) -> String {
    let r = server.request("HEAD", path, &[]);
    r.header("last-modified")
        .expect("Last-Modified")
        .to_string()
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
        "GET /f.txt HTTP/1.1\r\nHost: x\r\n{}If-None-Match: {etag}\r\n\r\n",
        common::auth_line()
    )
    .expect("1");
    assert_eq!(read_response(&mut reader, false).status, 304);
    write!(
        writer,
        "GET /f.txt HTTP/1.1\r\nHost: x\r\n{}If-Match: \"x\"\r\n\r\n",
        common::auth_line()
    )
    .expect("2");
    assert_eq!(read_response(&mut reader, false).status, 412);
    write!(
        writer,
        "GET /f.txt HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        common::auth_line()
    )
    .expect("3");
    let r = read_response(&mut reader, false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}
