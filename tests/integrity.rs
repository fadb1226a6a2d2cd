//! Nothing is ever spliced from two versions of a file: rewrites, truncation
//! and renames during a download, with the server's own sendfile and copying
//! paths and with real resuming clients (curl, aria2c).

mod common;

use std::io::{BufReader, Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, etag_of, have_tool, parse_multipart, pattern, rewrite_same_size};

#[test]
fn file_rewritten_while_a_slow_client_downloads_is_never_complete() {
    let s = Server::start(&[]);
    let size = 64 << 20;
    s.write("big.bin", &pattern(size));
    let mut stream = s.connect();
    write!(
        stream,
        "GET /big.bin HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        common::auth_line()
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
    write!(
        stream,
        "GET /big.bin HTTP/1.1\r\nHost: x\r\n{}\r\n",
        common::auth_line()
    )
    .expect("send");
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
        "GET /big.bin HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        common::auth_line()
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
            "GET /big.bin HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
            common::auth_line()
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
