//! Black-box tests: the real binary on 127.0.0.1:0, spoken to in raw HTTP/1.1
//! bytes over a plain `TcpStream`, so paths and headers reach the server
//! exactly as written here.
//!
//! Multiple-range requests (`bytes=0-1,5-6`) are deliberately not covered
//! here: that behaviour is being changed separately.

mod common;

use std::fs::OpenOptions;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::{FileExt, symlink};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Response, Server, pattern, read_response};

/// The length of the ordinary fixture: not a round number.
const LEN: usize = 1000;

/// A server with `a.bin` = `pattern(LEN)`.
fn server_with_fixture() -> Server {
    let server = Server::start(&[]);
    server.write("a.bin", &pattern(LEN));
    server
}

fn range(server: &Server, spec: &str) -> Response {
    server.get("/a.bin", &[&format!("Range: {spec}")])
}

/// 206 with `Content-Range: bytes first-last/total`, the matching
/// Content-Length, and exactly `content[first..=last]`.
#[track_caller]
fn assert_partial(r: &Response, first: u64, last: u64, content: &[u8]) {
    assert_eq!(r.status, 206, "status of {r:?}");
    let expected = format!("bytes {first}-{last}/{}", content.len());
    assert_eq!(r.header("content-range"), Some(expected.as_str()));
    assert_eq!(r.content_length(), Some(last - first + 1));
    assert!(!r.truncated, "body ended early");
    let (first, last) = (
        usize::try_from(first).expect("small offset"),
        usize::try_from(last).expect("small offset"),
    );
    assert!(
        r.body == content[first..=last],
        "body is not bytes {first}-{last}"
    );
}

/// 200 with the whole file and no Content-Range.
#[track_caller]
fn assert_whole(r: &Response, content: &[u8]) {
    assert_eq!(r.status, 200, "status of {:?}", (r.status, &r.headers));
    assert_eq!(r.header("content-range"), None);
    assert_eq!(r.content_length(), Some(content.len() as u64));
    assert!(!r.truncated, "body ended early");
    assert!(r.body == content, "body is not the whole file");
}

/// 416 with `Content-Range: bytes */total`.
#[track_caller]
fn assert_unsatisfiable(r: &Response, total: u64) {
    assert_eq!(r.status, 416, "status of {:?}", (r.status, &r.headers));
    let expected = format!("bytes */{total}");
    assert_eq!(r.header("content-range"), Some(expected.as_str()));
}

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
    let mut request = format!("HEAD {path} HTTP/1.1\r\nHost: {}\r\n", server.addr);
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

// ---------------------------------------------------------------- protocol

#[test]
fn http_1_0_range_request_returns_206_with_exact_slice() {
    let server = server_with_fixture();
    let r = server.raw("GET /a.bin HTTP/1.0\r\nRange: bytes=100-199");
    assert_partial(&r, 100, 199, &pattern(LEN));
}

#[test]
fn two_requests_on_one_keep_alive_connection_are_both_answered() {
    let server = server_with_fixture();
    let content = pattern(LEN);
    let stream = server.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;

    let first = format!(
        "GET /a.bin HTTP/1.1\r\nHost: {}\r\nRange: bytes=0-9\r\n\r\n",
        server.addr
    );
    writer.write_all(first.as_bytes()).unwrap();
    let r = read_response(&mut reader, false);
    assert_partial(&r, 0, 9, &content);
    assert_ne!(r.header("connection"), Some("close"));

    let second = format!(
        "GET /a.bin HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    writer.write_all(second.as_bytes()).unwrap();
    assert_whole(&read_response(&mut reader, false), &content);
}

// ---------------------------------------------------------------- headers

#[test]
fn file_responses_carry_accept_ranges_validators_and_content_type() {
    let server = Server::start(&[]);
    server.write("t.txt", b"text\n");
    server.write("blob.xyzunknown", b"\x00\x01");
    server.write("page.html", b"<p>hi</p>");
    for (path, content_type) in [
        ("/t.txt", "text/plain; charset=utf-8"),
        ("/blob.xyzunknown", "application/octet-stream"),
        ("/page.html", "text/html; charset=utf-8"),
    ] {
        for r in [
            server.get(path, &[]),
            server.get(path, &["Range: bytes=0-0"]),
            server.request("HEAD", path, &[]),
        ] {
            assert!(matches!(r.status, 200 | 206), "{path}: {}", r.status);
            assert_eq!(r.header("accept-ranges"), Some("bytes"), "{path}");
            assert_eq!(r.header("content-type"), Some(content_type), "{path}");
            let modified = r
                .header("last-modified")
                .unwrap_or_else(|| panic!("{path}"));
            assert!(
                modified.ends_with(" GMT"),
                "{path}: Last-Modified {modified}"
            );
            let etag = r
                .header("etag")
                .unwrap_or_else(|| panic!("{path}: no ETag"));
            assert!(
                etag.starts_with('"') && etag.ends_with('"'),
                "{path}: ETag {etag}"
            );
        }
    }
}

#[test]
fn etag_is_strong_stable_and_changes_with_content() {
    let server = Server::start(&[]);
    server.write("a.txt", b"first version");
    let etag = |server: &Server| server.get("/a.txt", &[]).header("etag").unwrap().to_owned();
    let one = etag(&server);
    assert!(
        one.starts_with('"'),
        "ETag {one} is not a quoted strong tag"
    );
    assert!(!one.starts_with("W/"), "ETag {one} is weak");
    assert_eq!(etag(&server), one, "ETag changed between two requests");
    server.write("a.txt", b"the second, longer version");
    let two = etag(&server);
    assert!(!two.starts_with("W/"));
    assert_ne!(two, one, "ETag did not change after the file was rewritten");
}

// ---------------------------------------------------------------- methods

#[test]
fn missing_file_is_404() {
    let server = server_with_fixture();
    assert_eq!(server.get("/nope.bin", &[]).status, 404);
    assert_eq!(server.get("/no/such/dir/file", &[]).status, 404);
}

#[test]
fn unsupported_methods_are_405_with_allow() {
    let server = server_with_fixture();
    for method in ["POST", "PUT", "DELETE"] {
        let r = server.request(method, "/a.bin", &["Content-Length: 0"]);
        assert_eq!(r.status, 405, "{method}");
        let allow = r
            .header("allow")
            .unwrap_or_else(|| panic!("{method}: no Allow"));
        assert!(
            allow.contains("GET") && allow.contains("HEAD"),
            "{method}: Allow {allow}"
        );
    }
    // The file is untouched.
    assert_whole(&server.get("/a.bin", &[]), &pattern(LEN));
}

#[test]
fn options_is_204_with_allow() {
    let server = server_with_fixture();
    let r = server.request("OPTIONS", "/a.bin", &[]);
    assert_eq!(r.status, 204);
    let allow = r.header("allow").expect("Allow");
    assert!(
        allow.contains("GET") && allow.contains("HEAD"),
        "Allow {allow}"
    );
}

// ---------------------------------------------------------------- traversal

const SECRET: &[u8] = b"TOP-SECRET-7f3a9c";

/// A served folder with `a.txt`, and a sibling folder holding `secret.txt`.
fn server_and_secret() -> (Server, tempfile::TempDir) {
    let secret_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(secret_dir.path().join("secret.txt"), SECRET).expect("write secret");
    let server = Server::start(&[]);
    server.write("a.txt", b"public");
    (server, secret_dir)
}

#[track_caller]
fn assert_refused_without_secret(r: &Response, path: &str) {
    assert!(matches!(r.status, 400 | 404), "{path}: status {}", r.status);
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        !r.body.windows(SECRET.len()).any(|w| w == SECRET),
        "{path}: secret in body"
    );
    assert!(!body.contains("root:"), "{path}: /etc/passwd in body");
}

#[test]
fn traversal_attempts_are_refused_and_never_leak() {
    let (server, secret_dir) = server_and_secret();
    let sibling = secret_dir
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let paths = [
        format!("/../{sibling}/secret.txt"),
        format!("/%2e%2e/{sibling}/secret.txt"),
        format!("/%2E%2E/{sibling}/secret.txt"),
        format!("/a/../../{sibling}/secret.txt"),
        format!("/..%2f{sibling}%2fsecret.txt"),
        format!("/..%5c{sibling}%5csecret.txt"),
        "/../etc/passwd".to_owned(),
        "/%2e%2e/etc/passwd".to_owned(),
        "/%2E%2E/%2E%2E/etc/passwd".to_owned(),
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_owned(),
        "/sub%2f..%2f..%2fetc%2fpasswd".to_owned(),
        "/%5c..%5cetc%5cpasswd".to_owned(),
        "/a.txt%00.html".to_owned(),
        "/..%00/".to_owned(),
        "/C:/x".to_owned(),
        "/c%3a/x".to_owned(),
    ];
    for path in &paths {
        assert_refused_without_secret(&server.get(path, &[]), path);
    }
    // The public file is still served, so the refusals are about the paths.
    assert_eq!(server.get("/a.txt", &[]).body, b"public");
}

#[test]
fn double_slash_path_does_not_serve_system_files() {
    let server = server_with_fixture();
    let r = server.get("//etc/passwd", &[]);
    assert_eq!(r.status, 404);
    assert_refused_without_secret(&r, "//etc/passwd");
}

#[test]
fn symlink_to_file_outside_root_is_404() {
    let (server, secret_dir) = server_and_secret();
    symlink(
        secret_dir.path().join("secret.txt"),
        server.path().join("link.txt"),
    )
    .unwrap();
    let r = server.get("/link.txt", &[]);
    assert_eq!(r.status, 404);
    assert_refused_without_secret(&r, "/link.txt");
}

#[test]
fn symlink_to_folder_outside_root_is_404() {
    let (server, secret_dir) = server_and_secret();
    symlink(secret_dir.path(), server.path().join("out")).unwrap();
    for path in ["/out/secret.txt", "/out/", "/out"] {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 404, "{path}");
        assert_refused_without_secret(&r, path);
    }
}

#[test]
fn symlink_to_file_inside_root_is_served() {
    let server = server_with_fixture();
    server.write("sub/inner.bin", &pattern(300));
    symlink(
        server.path().join("sub/inner.bin"),
        server.path().join("alias.bin"),
    )
    .unwrap();
    symlink("a.bin", server.path().join("relative-alias.bin")).unwrap();
    assert_whole(&server.get("/alias.bin", &[]), &pattern(300));
    assert_whole(&server.get("/relative-alias.bin", &[]), &pattern(LEN));
}

// ---------------------------------------------------------------- names

#[test]
fn hidden_files_are_404_by_default() {
    let server = Server::start(&[]);
    server.write(".secret", b"dot");
    server.write("sub/.git/config", b"[core]");
    assert_eq!(server.get("/.secret", &[]).status, 404);
    assert_eq!(server.get("/sub/.git/config", &[]).status, 404);
    assert_eq!(server.get("/%2esecret", &[]).status, 404);
}

#[test]
fn hidden_files_are_served_with_hidden_flag() {
    let server = Server::start(&["--hidden"]);
    server.write(".secret", b"dot");
    server.write("sub/.git/config", b"[core]");
    let r = server.get("/.secret", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"dot"[..]));
    let r = server.get("/sub/.git/config", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"[core]"[..]));
}

#[test]
fn names_with_spaces_and_utf8_are_served() {
    let server = Server::start(&[]);
    server.write("with space.txt", &pattern(77));
    server.write("été.txt", &pattern(88));
    assert_whole(&server.get("/with%20space.txt", &[]), &pattern(77));
    assert_whole(&server.get("/%C3%A9t%C3%A9.txt", &[]), &pattern(88));
}

// ---------------------------------------------------------------- folders

#[test]
fn folder_without_slash_redirects_to_slash() {
    let server = Server::start(&[]);
    server.write("sub/index.html", b"<h1>sub</h1>");
    let r = server.get("/sub", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/"));
}

#[test]
fn folder_redirect_keeps_query() {
    let server = Server::start(&[]);
    server.write("sub/index.html", b"<h1>sub</h1>");
    let r = server.get("/sub?x=1", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/?x=1"));
}

#[test]
fn folder_with_index_serves_index_html() {
    let server = Server::start(&[]);
    server.write("sub/index.html", b"<h1>sub</h1>");
    let r = server.get("/sub/", &[]);
    assert_whole(&r, b"<h1>sub</h1>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
}

#[test]
fn folder_without_index_is_404_with_no_listing() {
    let server = Server::start(&["--no-listing"]);
    server.write("bare/file.txt", b"x");
    assert_eq!(server.get("/bare/", &[]).status, 404);
    assert_eq!(server.get("/", &[]).status, 404);
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

// ---------------------------------------------------------------- command line

/// Runs the binary with `args`, bounded; returns status, stdout and stderr.
fn run_binary(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rangeserve"))
        .args(args)
        .env_remove("RANGESERVE_DIR")
        .env_remove("RANGESERVE_PORT")
        .env_remove("RANGESERVE_BIND")
        .env_remove("RANGESERVE_HIDDEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rangeserve");
    let Some(status) = common::wait_timeout(&mut child, Duration::from_secs(10)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("rangeserve {args:?} still running after 10 s");
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)
        .expect("read stderr");
    (status, out, err)
}

/// Non-zero exit, and stderr is one `rangeserve: ` line containing `names`.
#[track_caller]
fn assert_one_line_failure(args: &[&str], names: &str) {
    let (status, _, err) = run_binary(args);
    assert!(!status.success(), "{args:?} exited with {status}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: stderr {err:?}");
    assert!(err.starts_with("rangeserve: "), "{args:?}: stderr {err:?}");
    assert!(
        err.contains(names),
        "{args:?}: stderr {err:?} does not name {names}"
    );
}

#[test]
fn nonexistent_folder_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    let missing = missing.to_str().unwrap();
    assert_one_line_failure(&[missing, "--port", "0"], missing);
}

#[test]
fn regular_file_as_folder_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, b"not a folder").unwrap();
    let file = file.to_str().unwrap();
    assert_one_line_failure(&[file, "--port", "0"], file);
}

#[test]
fn port_in_use_fails_with_one_line_naming_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let port = addr.port().to_string();
    let folder = dir.path().to_str().unwrap();
    assert_one_line_failure(&[folder, "--port", &port], &addr.to_string());
    drop(taken);
}

#[test]
fn version_prints_name_and_version() {
    let (status, out, _) = run_binary(&["--version"]);
    assert!(status.success());
    assert_eq!(out.trim_end(), "rangeserve 0.1.0");
}

#[test]
fn help_mentions_every_flag() {
    let (status, out, _) = run_binary(&["--help"]);
    assert!(status.success());
    for flag in [
        "--port",
        "--bind",
        "--hidden",
        "--header-timeout",
        "--shutdown-timeout",
    ] {
        assert!(out.contains(flag), "--help does not mention {flag}:\n{out}");
    }
}

// ---------------------------------------------------------------- shutdown

#[test]
fn sigterm_without_traffic_exits_zero_promptly() {
    let server = Server::start(&[]);
    // NOTE: idle for a moment first; a SIGTERM right after the banner is
    // `sigterm_right_after_banner_exits_zero` below.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = server.terminate_within(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The banner says the server is ready; a supervisor or script that sends
/// SIGTERM as soon as it reads it must get a graceful exit, not a kill by the
/// default signal action. Several starts, because it is a race.
/// Regression: the banner was printed before the SIGTERM handler was installed.
#[test]
fn sigterm_right_after_banner_exits_zero() {
    for attempt in 0..20 {
        let server = Server::start(&[]);
        let status = server.terminate_within(Duration::from_secs(5));
        assert_eq!(status.code(), Some(0), "attempt {attempt}: {status}");
    }
}

#[test]
fn sigterm_lets_download_in_flight_finish_and_refuses_new_connections() {
    const SIZE: usize = 64 << 20;
    let mut server = Server::start(&["--shutdown-timeout", "30"]);
    let content = pattern(SIZE);
    server.write("big.bin", &content);

    let mut stream = server.connect();
    let request = format!(
        "GET /big.bin HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).unwrap();
    // Read slowly at first, so the response is well under way but far from done.
    let mut received = vec![0u8; 256 << 10];
    stream.read_exact(&mut received).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    server.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(server.addr) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            // The listener closed while this handshake was in flight: the
            // kernel resets it. Not accepted; keep going until a clean refusal.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                assert!(
                    Instant::now() < deadline,
                    "no clean refusal 5 s after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("unexpected connect error after SIGTERM: {e}"),
            Ok(late) => {
                let _ = late.shutdown(Shutdown::Both);
                assert!(
                    Instant::now() < deadline,
                    "still accepting 5 s after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    assert!(
        server.wait_timeout(Duration::ZERO).is_none(),
        "exited before the download ended"
    );

    stream.read_to_end(&mut received).unwrap();
    let r = read_response(&mut received.as_slice(), false);
    assert_eq!(r.status, 200);
    assert!(
        !r.truncated,
        "download cut: {} of {SIZE} bytes",
        r.body.len()
    );
    assert!(r.body == content, "download is not byte-exact");

    let status = server
        .wait_timeout(Duration::from_secs(10))
        .expect("exit after the download");
    assert_eq!(status.code(), Some(0), "{status}");
}

// ---------------------------------------------------------------- timeouts

#[test]
fn incomplete_request_head_is_closed_after_header_timeout() {
    let server = Server::start(&["--header-timeout", "1"]);
    // Timed from before the connection exists: the server's clock cannot
    // start earlier, so closing sooner than the timeout is a real fault.
    let started = Instant::now();
    let mut stream = server.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut sink = Vec::new();
    let closed = loop {
        let mut buf = [0u8; 1024];
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => sink.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false;
            }
            Err(_) => break true, // reset counts as closed
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "server keeps sending"
        );
    };
    let elapsed = started.elapsed();
    assert!(closed, "connection still open after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "closed only after {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed before the timeout ({elapsed:?})"
    );
}
