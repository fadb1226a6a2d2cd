//! TLS (`--tls-cert`/`--tls-key`) and HTTP/2, with curl and raw clients.

mod common;

use std::process::Command;

use common::{Server, certificate, have_tool, pattern};

/// Runs curl and returns (HTTP version, status, body).
fn curl(args: &[&str], url: &str) -> (String, u16, Vec<u8>) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "30",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    let text = out.stdout;
    let split = text.iter().rposition(|&b| b == b'\n').expect("trailer");
    let trailer = String::from_utf8_lossy(&text[split + 1..]).to_string();
    let (version, status) = trailer.split_once(' ').expect("version and status");
    (
        version.to_string(),
        status.parse().expect("status"),
        text[..split].to_vec(),
    )
}

#[test]
fn https_with_h2_and_http1_serves_ranges_byte_exact() {
    if !have_tool("curl") {
        return;
    }
    let keys = tempfile::tempdir().expect("dir");
    let (cert, key) = certificate(keys.path());
    let (cert, key) = (cert.to_str().expect("path"), key.to_str().expect("path"));
    let s = Server::start(&["--tls-cert", cert, "--tls-key", key]);
    let data = pattern(3 << 20);
    s.write("f.bin", &data);
    let url = format!("https://localhost:{}/f.bin", s.addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", s.addr.port());
    let base = ["--cacert", cert, "--resolve", &resolve];
    let (version, status, body) = curl(
        &[&base[..], &["--http2", "-r", "1000-2999999"]].concat(),
        &url,
    );
    assert_eq!((version.as_str(), status), ("2", 206));
    assert_eq!(body, data[1000..3_000_000]);
    let (version, status, body) = curl(&[&base[..], &["--http1.1", "-r", "0-9"]].concat(), &url);
    assert_eq!(
        (version.as_str(), status, body.as_slice()),
        ("1.1", 206, &data[..10])
    );
    let (_, status, body) = curl(&[&base[..], &["--http2"]].concat(), &url);
    assert_eq!((status, body.len()), (200, data.len()));
    assert!(body == data, "whole file over h2 differs");
}

#[test]
fn h2c_prior_knowledge_serves_ranges_multipart_and_preconditions() {
    if !have_tool("curl") {
        return;
    }
    let s = Server::start(&[]);
    let data = pattern(100_000);
    s.write("f.bin", &data);
    let url = s.url("/f.bin");
    let h2c = ["--http2-prior-knowledge"];
    let (version, status, body) = curl(&[&h2c[..], &["-r", "10-19"]].concat(), &url);
    assert_eq!(
        (version.as_str(), status, body.as_slice()),
        ("2", 206, &data[10..20])
    );
    let (_, status, body) = curl(&[&h2c[..], &["-r", "0-9,50000-50009"]].concat(), &url);
    assert_eq!(status, 206);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("Content-Range: bytes 50000-50009/100000"),
        "multipart over h2"
    );
    let etag = s
        .get("/f.bin", &[])
        .header("etag")
        .expect("etag")
        .to_string();
    let inm = format!("If-None-Match: {etag}");
    let (_, status, _) = curl(&[&h2c[..], &["-H", &inm]].concat(), &url);
    assert_eq!(status, 304);
    let (_, status, body) = curl(
        &[&h2c[..], &["-r", "5-", "-H", "If-Range: \"stale\""]].concat(),
        &url,
    );
    assert_eq!((status, body.len()), (200, data.len()));
}

#[test]
fn a_bad_certificate_is_one_clear_start_up_line() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("nope.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_rangeserve"))
        .arg(dir.path())
        .args(["--port", "0", "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("rangeserve: cannot read TLS certificate"),
        "{stderr}"
    );
}
