//! Access and error logs on stderr.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// Runs the server with `args` and no RUST_LOG, makes one request for a
/// 5-byte file, stops it with SIGTERM, and returns what it wrote to stderr.
fn stderr_after_one_request(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("f.txt"), b"hello").expect("file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rangeserve"))
        .arg(dir.path())
        .args(["--port", "0"])
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let addr = banner
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.strip_suffix('/'))
        .expect("addr");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut response = Vec::new();
    s.read_to_end(&mut response).expect("response");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let _ = child.wait();
    stderr
}

#[test]
fn json_access_log_line_has_the_fields_at_the_top_level() {
    let stderr = stderr_after_one_request(&["--log-format", "json"]);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["target"] == "rangeserve::access")
        .unwrap_or_else(|| panic!("no access line in {stderr}"));
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["message"], "complete");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/f.txt");
    assert_eq!(access["status"], 206);
    assert_eq!(access["range"], "bytes=0-1");
    assert_eq!(
        (access["sent"].as_u64(), access["promised"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        access["peer"]
            .as_str()
            .expect("peer")
            .starts_with("127.0.0.1:")
    );
    assert!(access["timestamp"].is_string());
    assert!(
        access["ms"].is_u64(),
        "duration is a number: {}",
        access["ms"]
    );
}

#[test]
fn text_access_log_is_the_default_and_quiet_silences_it() {
    let stderr = stderr_after_one_request(&[]);
    assert!(
        stderr.contains("rangeserve::access") && stderr.contains("status=206"),
        "{stderr}"
    );
    let stderr = stderr_after_one_request(&["--quiet"]);
    assert!(!stderr.contains("rangeserve::access"), "{stderr}");
}
