//! `Repr-Digest` (RFC 9530): asked for with `Want-Repr-Digest`, or sent by
//! `--digest`; computed in the background, never stale, kept across
//! restarts.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Server, pattern};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        b64(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
    )
}

fn sha512(bytes: &[u8]) -> String {
    format!(
        "sha-512=:{}:",
        b64(ring::digest::digest(&ring::digest::SHA512, bytes).as_ref())
    )
}

const WANT: &str = "Want-Repr-Digest: sha-256=10, sha-512=3";

/// Asks for `path` until its response carries a digest (10 s at most).
fn digest_once_known(server: &Server, path: &str, headers: &[&str]) -> common::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = server.get(path, headers);
        if r.header("repr-digest").is_some() || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cache_args(dir: &tempfile::TempDir) -> [String; 2] {
    [
        "--digest-cache".into(),
        dir.path().join("digests.tsv").display().to_string(),
    ]
}

#[test]
fn a_wanted_digest_comes_once_hashed_on_200_206_head_and_304() {
    let cache = tempfile::tempdir().expect("dir");
    let args = cache_args(&cache);
    let server = Server::start(&[&args[0], &args[1]]);
    let content = pattern(300_000);
    server.write("f.bin", &content);
    let first = server.get("/f.bin", &[WANT]);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("repr-digest"),
        None,
        "not known yet: sent without, never delayed"
    );
    let r = digest_once_known(&server, "/f.bin", &[WANT]);
    assert_eq!(r.header("repr-digest"), Some(sha256(&content).as_str()));
    let partial = server.get("/f.bin", &[WANT, "Range: bytes=10-19"]);
    assert_eq!(partial.status, 206);
    assert_eq!(
        partial.header("repr-digest"),
        Some(sha256(&content).as_str()),
        "the whole representation's"
    );
    let head = server.request("HEAD", "/f.bin", &[WANT]);
    assert_eq!(head.header("repr-digest"), Some(sha256(&content).as_str()));
    let etag = r.header("etag").expect("etag").to_owned();
    let inm = format!("If-None-Match: {etag}");
    let not_modified = server.get("/f.bin", &[WANT, &inm]);
    assert_eq!(not_modified.status, 304);
    assert_eq!(
        not_modified.header("repr-digest"),
        Some(sha256(&content).as_str())
    );
    // SHA-512 is computed once first asked for: absent, then present.
    let want512 = "Want-Repr-Digest: sha-512=9, sha-256=1";
    let r = digest_once_known(&server, "/f.bin", &[want512]);
    assert_eq!(r.header("repr-digest"), Some(sha512(&content).as_str()));
    assert_eq!(
        server.get("/f.bin", &[]).header("repr-digest"),
        None,
        "unasked"
    );
    assert_eq!(
        server
            .get("/f.bin", &["Want-Repr-Digest: sha-256=0, md5=10"])
            .header("repr-digest"),
        None
    );
}

#[test]
fn a_sidecar_gets_its_own_digest() {
    let cache = tempfile::tempdir().expect("dir");
    let args = cache_args(&cache);
    let server = Server::start(&[&args[0], &args[1], "--precompressed"]);
    server.write("a.txt", b"plain text, plain text, plain text");
    server.write("a.txt.gz", b"pretend these are gzip bytes");
    let r = digest_once_known(&server, "/a.txt", &[WANT, "Accept-Encoding: gzip"]);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(
        r.header("repr-digest"),
        Some(sha256(b"pretend these are gzip bytes").as_str())
    );
    let r = digest_once_known(&server, "/a.txt", &[WANT]);
    assert_eq!(
        r.header("repr-digest"),
        Some(sha256(b"plain text, plain text, plain text").as_str())
    );
}

#[test]
fn a_digest_is_never_stale_after_an_in_place_rewrite() {
    let cache = tempfile::tempdir().expect("dir");
    let args = cache_args(&cache);
    let server = Server::start(&[&args[0], &args[1]]);
    let old = pattern(50_000);
    let path = server.write("f", &old);
    let r = digest_once_known(&server, "/f", &[WANT]);
    assert_eq!(r.header("repr-digest"), Some(sha256(&old).as_str()));
    // Same length, and the old modification time put back.
    let mtime = std::fs::metadata(&path)
        .expect("meta")
        .modified()
        .expect("mtime");
    let mut new = old.clone();
    new[100] ^= 0xFF;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .write_all(&new)
        .expect("rewrite");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_modified(mtime)
        .expect("mtime");
    for _ in 0..50 {
        let r = server.get("/f", &[WANT]);
        assert_eq!(r.body, new);
        let digest = r.header("repr-digest");
        assert!(
            digest.is_none() || digest == Some(sha256(&new).as_str()),
            "stale digest {digest:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let r = digest_once_known(&server, "/f", &[WANT]);
    assert_eq!(r.header("repr-digest"), Some(sha256(&new).as_str()));
}

#[test]
fn five_hundred_requests_for_an_unhashed_file_start_one_job() {
    let cache = tempfile::tempdir().expect("dir");
    let args = cache_args(&cache);
    // A port free now, for the metrics listener.
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let metrics_flag = metrics.to_string();
    let server = Server::start(&[&args[0], &args[1], "--metrics", &metrics_flag]);
    let big = server.path().join("big");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(512 << 20).expect("sparse 512 MiB");
    server.write("small", b"small");
    let addr = server.addr;
    let threads: Vec<_> = (0..500)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.write_all(b"HEAD /big HTTP/1.1\r\nHost: x\r\nWant-Repr-Digest: sha-256=1\r\nConnection: close\r\n\r\n")
                    .expect("send");
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out);
                String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200")
            })
        })
        .collect();
    // The server keeps answering others quickly while it hashes.
    let started = Instant::now();
    let r = server.get("/small", &[]);
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    for t in threads {
        assert!(t.join().expect("thread"), "every request answered 200");
    }
    let r = digest_once_known(&server, "/big", &["Want-Repr-Digest: sha-256=1"]);
    assert!(r.header("repr-digest").is_some());
    let (status, metrics) = metrics_of(metrics);
    assert_eq!(status, 200);
    let done = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rangeserve_digest_jobs_done_total "))
        .expect("digest jobs metric");
    assert_eq!(done, "1", "one job for 500 requests");
}

/// The metrics page at `addr`: (status, whole response).
fn metrics_of(addr: std::net::SocketAddr) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, out)
}

#[test]
fn with_digest_every_file_is_hashed_and_the_cache_survives_a_restart() {
    let cache = tempfile::tempdir().expect("dir");
    let args = cache_args(&cache);
    let dir = tempfile::tempdir().expect("dir");
    let content = pattern(200_000);
    std::fs::create_dir(dir.path().join("sub")).expect("dir");
    std::fs::write(dir.path().join("sub/f"), &content).expect("file");
    let server = Server::start_in(dir, &[&args[0], &args[1], "--digest"]);
    let r = digest_once_known(&server, "/sub/f", &[]);
    assert_eq!(
        r.header("repr-digest"),
        Some(sha256(&content).as_str()),
        "sent unasked"
    );
    let stored = std::fs::read_to_string(cache.path().join("digests.tsv")).expect("cache file");
    assert_eq!(stored.lines().count(), 1, "{stored}");
    server.signal("TERM");
    assert!(server_exited(&server));

    // A restart reads it back: the first request already has the digest.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rangeserve"));
    common::configure(&mut command, server.path(), &[&args[0], &args[1]]);
    let (child, addr) = common::launch(&mut command);
    let _child = common::Reap(child);
    let mut s = TcpStream::connect(addr).expect("connect");
    let head = format!("HEAD /sub/f HTTP/1.1\r\nHost: x\r\n{WANT}\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let expected = format!("repr-digest: {}", sha256(&content));
    assert!(
        out.to_lowercase().contains(&expected.to_lowercase()),
        "{out}"
    );
}

/// Whether `server`'s process has exited within 10 s (it stays a `Server`,
/// so its folder lives on).
fn server_exited(server: &Server) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(server.addr).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_digest_cache_inside_the_served_folder_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rangeserve"))
        .arg(dir.path())
        .arg("--digest-cache")
        .arg(dir.path().join("sub/digests.tsv"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("must not be inside the served folder"),
        "{said}"
    );
}

#[test]
fn a_folder_lists_known_digests_and_sha256sums_checks_them() {
    let cache = tempfile::tempdir().expect("dir");
    let args = cache_args(&cache);
    let server = Server::start(&[&args[0], &args[1]]);
    let a = pattern(10_000);
    server.write("a.bin", &a);
    server.write("b b.txt", b"second file");
    let first = server.get("/?sha256sums", &[]);
    assert_eq!(first.status, 200);
    let text = String::from_utf8(first.body).expect("utf-8");
    assert!(
        text.contains("# pending: a.bin\n") && text.contains("# pending: b b.txt\n"),
        "{text}"
    );
    // Queued by that request: soon known.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sums = loop {
        let r = server.get("/?sha256sums", &[]);
        let text = String::from_utf8(r.body).expect("utf-8");
        if !text.contains("pending") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let hex = |bytes: &[u8]| -> String {
        ring::digest::digest(&ring::digest::SHA256, bytes)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(
        sums,
        format!("{}  a.bin\n{}  b b.txt\n", hex(&a), hex(b"second file"))
    );
    let json = server.get("/", &["Accept: application/json"]);
    let listing: serde_json::Value = serde_json::from_slice(&json.body).expect("json");
    assert_eq!(listing[0]["name"], "a.bin");
    assert_eq!(listing[0]["sha256"], hex(&a));

    if common::have_tool("sha256sum") {
        std::fs::write(server.path().join("SHA256SUMS"), &sums).expect("write");
        let check = std::process::Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(server.path())
            .output()
            .expect("run sha256sum");
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}
