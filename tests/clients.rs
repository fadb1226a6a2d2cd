//! Black-box tests with real clients: resuming with `wget -c` and
//! `curl -C -`, and reassembling a file from many small ranges. Each test is
//! skipped (with a message) where the client is not installed, except in CI.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Server, pattern};

/// Runs `curl` with `args` in `dir`; bounded by `--max-time`, never via a proxy.
fn curl(dir: &Path, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--noproxy", "*", "--max-time", "60"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run curl")
}

/// Runs `wget` with `args` in `dir`, ignoring any wgetrc; bounded by its own
/// timeout and a single try, never via a proxy.
fn wget(dir: &Path, args: &[&str]) -> Output {
    Command::new("wget")
        .args(["--no-config", "--no-proxy", "--timeout=30", "--tries=1"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run wget")
}

#[track_caller]
fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} exited with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[track_caller]
fn assert_same_bytes(actual: &[u8], expected: &[u8]) {
    assert_eq!(actual.len(), expected.len(), "length differs");
    let first_difference = actual.iter().zip(expected).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "first differing byte");
}

#[test]
fn curl_range_returns_exactly_first_ten_bytes() {
    if !common::have_tool("curl") {
        return;
    }
    let server = Server::start(&[]);
    server.write("a.bin", &pattern(1000));
    let here = tempfile::tempdir().unwrap();
    let out = curl(
        here.path(),
        &["-s", "-H", "Range: bytes=0-9", &server.url("/a.bin")],
    );
    assert_success(&out, "curl");
    assert_eq!(out.stdout, pattern(1000)[..10]);
}

#[test]
fn curl_fail_flag_exits_zero_for_a_file_and_non_zero_for_404() {
    if !common::have_tool("curl") {
        return;
    }
    let server = Server::start(&[]);
    server.write("a.bin", &pattern(1000));
    let here = tempfile::tempdir().unwrap();
    let out = curl(here.path(), &["-s", "-f", &server.url("/a.bin")]);
    assert_success(&out, "curl -s -f");
    assert_same_bytes(&out.stdout, &pattern(1000));
    let out = curl(here.path(), &["-s", "-f", &server.url("/missing.bin")]);
    assert_eq!(out.status.code(), Some(22), "curl -f on a 404");
}

#[test]
fn wget_continue_resumes_a_partial_download() {
    if !common::have_tool("wget") {
        return;
    }
    let content = pattern(3 << 20);
    let server = Server::start(&[]);
    server.write("big.bin", &content);
    let downloads = tempfile::tempdir().unwrap();
    let local = downloads.path().join("big.bin");
    std::fs::write(&local, &content[..1 << 20]).unwrap();

    let out = wget(downloads.path(), &["-q", "-c", &server.url("/big.bin")]);
    assert_success(&out, "wget -c");
    assert_same_bytes(&std::fs::read(&local).unwrap(), &content);
}

/// `wget -c` restarts from scratch when the server ignores the Range, and
/// the result would still look right; bytes on disk that differ from the
/// server's show that it appended the rest instead.
#[test]
fn wget_continue_appends_to_the_bytes_already_on_disk() {
    if !common::have_tool("wget") {
        return;
    }
    let content = pattern(3 << 20);
    let server = Server::start(&[]);
    server.write("big.bin", &content);
    let downloads = tempfile::tempdir().unwrap();
    let local = downloads.path().join("big.bin");
    let mut partial = content[..1 << 20].to_vec();
    partial[..8].copy_from_slice(b"ON-DISK!");
    std::fs::write(&local, &partial).unwrap();

    let out = wget(downloads.path(), &["-q", "-c", &server.url("/big.bin")]);
    assert_success(&out, "wget -c");
    let mut expected = partial;
    expected.extend_from_slice(&content[1 << 20..]);
    assert_same_bytes(&std::fs::read(&local).unwrap(), &expected);
}

#[test]
fn wget_continue_on_a_complete_file_leaves_it_unchanged() {
    if !common::have_tool("wget") {
        return;
    }
    let content = pattern(100_003);
    let server = Server::start(&[]);
    server.write("done.bin", &content);
    let downloads = tempfile::tempdir().unwrap();
    let local = downloads.path().join("done.bin");
    std::fs::write(&local, &content).unwrap();

    let out = wget(downloads.path(), &["-q", "-c", &server.url("/done.bin")]);
    assert_success(&out, "wget -c on a complete file");
    assert_same_bytes(&std::fs::read(&local).unwrap(), &content);
    let names: Vec<_> = std::fs::read_dir(downloads.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["done.bin"], "wget left other files");
}

#[test]
fn curl_continue_resumes_a_partial_download() {
    if !common::have_tool("curl") {
        return;
    }
    let content = pattern(3 << 20);
    let server = Server::start(&[]);
    server.write("big.bin", &content);
    let downloads = tempfile::tempdir().unwrap();
    let local = downloads.path().join("big.bin");
    std::fs::write(&local, &content[..1 << 20]).unwrap();

    let out = curl(
        downloads.path(),
        &[
            "-s",
            "-f",
            "-C",
            "-",
            "-o",
            "big.bin",
            &server.url("/big.bin"),
        ],
    );
    assert_success(&out, "curl -C -");
    assert_same_bytes(&std::fs::read(&local).unwrap(), &content);
}

/// Parses `bytes first-last/total`.
fn content_range(value: &str) -> (u64, u64, u64) {
    let parse = || -> Option<(u64, u64, u64)> {
        let (span, total) = value.strip_prefix("bytes ")?.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        Some((first.parse().ok()?, last.parse().ok()?, total.parse().ok()?))
    };
    parse().unwrap_or_else(|| panic!("bad Content-Range {value:?}"))
}

/// Fetches `bytes=first-last` with curl: the Content-Range and the body.
fn curl_range(server: &Server, dir: &Path, path: &str, first: u64, last: u64) -> (String, Vec<u8>) {
    let range = format!("Range: bytes={first}-{last}");
    let out = curl(
        dir,
        &["-s", "-f", "-D", "-", "-H", &range, &server.url(path)],
    );
    assert_success(&out, "curl -D -");
    let end = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&out.stdout[..end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 206"), "curl got {head}");
    let value = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-range")
                .then(|| value.trim().to_owned())
        })
        .expect("Content-Range");
    (value, out.stdout[end + 4..].to_vec())
}

#[test]
fn ten_byte_ranges_reassemble_the_whole_file() {
    if !common::have_tool("curl") {
        return;
    }
    const SIZE: usize = 1003; // not a multiple of 10: the last range is short
    let content = pattern(SIZE);
    let server = Server::start(&[]);
    server.write("f.bin", &content);
    let here = tempfile::tempdir().unwrap();

    let mut assembled = Vec::new();
    let mut next = 0u64;
    let mut total = None;
    let mut via_curl = 0;
    for step in 0..=SIZE / 10 + 1 {
        if total == Some(next) {
            break;
        }
        let last = next + 9;
        // Most ranges over raw HTTP; every tenth, and the last one, with curl.
        let (value, body) = if step % 10 == 0 || next + 10 >= SIZE as u64 {
            via_curl += 1;
            curl_range(&server, here.path(), "/f.bin", next, last)
        } else {
            let r = server.get("/f.bin", &[&format!("Range: bytes={next}-{last}")]);
            assert_eq!(r.status, 206, "bytes={next}-{last}");
            (
                r.header("content-range").expect("Content-Range").to_owned(),
                r.body,
            )
        };
        let (first, got_last, got_total) = content_range(&value);
        assert_eq!(first, next, "{value}");
        assert!(got_last <= last, "{value}");
        assert_eq!(body.len() as u64, got_last - first + 1, "{value}");
        assert!(
            total.is_none_or(|t| t == got_total),
            "total changed: {value}"
        );
        total = Some(got_total);
        assembled.extend_from_slice(&body);
        next = got_last + 1;
    }
    assert_eq!(total, Some(SIZE as u64), "never reached the end");
    assert_eq!(next, SIZE as u64);
    assert!(via_curl >= 3, "curl fetched only {via_curl} ranges");
    assert_same_bytes(&assembled, &content);
}
