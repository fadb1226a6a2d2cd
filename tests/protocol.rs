//! Black-box tests of the HTTP/1 exchange around a file: versions, keep-alive,
//! the headers every file response carries, methods and timeouts.

mod common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use common::{
    LEN, Server, assert_partial, assert_whole, pattern, read_response, server_with_fixture,
};

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

/// An idle keep-alive connection is parked between requests (hyper's
/// connection ended, the socket kept): requests sent right after a
/// response, after a pause, pipelined in one write, and split across the
/// pause are each answered exactly once, in order, and the connection stays
/// open throughout.
#[test]
fn requests_around_a_parked_connection_are_answered_once_each_in_order() {
    let server = server_with_fixture();
    let content = pattern(LEN);
    let stream = server.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let request = |first: usize, last: usize| {
        format!(
            "GET /a.bin HTTP/1.1\r\nHost: {}\r\n{}Range: bytes={first}-{last}\r\n\r\n",
            server.addr,
            common::auth_line()
        )
    };
    // Back to back: the next request often arrives as the last response ends.
    for i in 0..300 {
        writer.write_all(request(i, i + 9).as_bytes()).unwrap();
        let r = read_response(&mut reader, false);
        assert_partial(&r, i as u64, i as u64 + 9, &content);
        assert_ne!(r.header("connection"), Some("close"));
    }
    // Pipelined, three in one write, then after a pause.
    for round in 0..3 {
        let three = [request(0, 0), request(1, 2), request(3, 5)].concat();
        writer.write_all(three.as_bytes()).unwrap();
        for (first, last) in [(0, 0), (1, 2), (3, 5)] {
            assert_partial(&read_response(&mut reader, false), first, last, &content);
        }
        std::thread::sleep(Duration::from_millis(if round == 0 { 0 } else { 200 }));
    }
    // A head split across a pause, the first half sent while parked.
    let split = request(7, 8);
    let (head, tail) = split.split_at(20);
    writer.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writer.write_all(tail.as_bytes()).unwrap();
    assert_partial(&read_response(&mut reader, false), 7, 8, &content);
    // Nothing more was sent: no extra response is waiting.
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut extra = [0u8; 1];
    match reader.read(&mut extra) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected silence, got {other:?}"),
    }
}

/// `Connection: close` and HTTP/1.0 still close the connection after the
/// response (it is not parked).
#[test]
fn a_request_that_asks_to_close_is_closed_not_parked() {
    let server = server_with_fixture();
    for head in [
        "GET /a.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
        "GET /a.bin HTTP/1.0\r\n",
    ] {
        let mut stream = server.connect();
        write!(stream, "{head}{}\r\n", common::auth_line()).unwrap();
        let mut all = Vec::new();
        let started = Instant::now();
        stream.read_to_end(&mut all).expect("read to the end");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{head}: closed at once"
        );
        assert!(
            all.starts_with(b"HTTP/1.") && all[8..13] == *b" 200 ",
            "{head}"
        );
    }
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

/// With one CPU to run on, the server uses a current-thread runtime (no
/// worker threads): keep-alive HTTP/1.1, ranges, a sendfile body, HTTP/2
/// and a graceful stop all work as they do on a multi-threaded one.
#[test]
fn on_one_cpu_the_current_thread_runtime_serves_every_protocol_and_stops_gracefully() {
    assert!(common::have_tool("curl"), "curl is needed for HTTP/2");
    let dir = tempfile::tempdir().expect("temp dir");
    let small = pattern(4096);
    let large = pattern(8 << 20);
    std::fs::write(dir.path().join("small.bin"), &small).expect("write");
    std::fs::write(dir.path().join("large.bin"), &large).expect("write");
    let Some(server) = Server::start_on_one_cpu(dir, &[]) else {
        panic!("taskset is needed to run the server on one CPU");
    };
    let threads = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .expect("threads")
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .collect::<Vec<_>>();
    assert!(
        !threads
            .iter()
            .any(|name| name.starts_with("tokio-rt-worker")),
        "worker threads on one CPU: {threads:?}"
    );

    let mut stream = server.connect();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    for _ in 0..3 {
        stream
            .write_all(b"GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let r = common::read_response(&mut reader, false);
        assert_eq!((r.status, r.body.as_slice()), (200, small.as_slice()));
    }
    let r = server.get("/large.bin", &["Range: bytes=1000000-1000099"]);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (206, &large[1_000_000..1_000_100])
    );
    let r = server.get("/large.bin", &[]);
    assert!(r.status == 200 && r.body == large, "whole file differs");
    let h2 = std::process::Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "-",
            "-w",
            "%{http_version}",
        ])
        .arg(server.url("/small.bin"))
        .output()
        .expect("curl");
    let (body, version) = h2.stdout.split_at(h2.stdout.len().saturating_sub(1));
    assert_eq!((version, body), (&b"2"[..], small.as_slice()));

    let status = server.terminate_within(Duration::from_secs(10));
    assert!(status.success(), "exit {status:?}");
}
