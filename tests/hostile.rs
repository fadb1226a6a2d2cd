//! Hostile clients and a hostile filesystem: limits, RFC 9112 framing rules,
//! and containment under a symlink-swapping race.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Server, read_response};

/// Sends raw bytes on a new connection and reads one response.
fn send(server: &Server, bytes: &[u8]) -> common::Response {
    let mut s = server.connect();
    s.write_all(bytes).expect("send");
    read_response(&mut BufReader::new(s), false)
}

/// Seconds until the server closes `stream`, reading (and discarding) what
/// it sends; `None` if still open after `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// Reads until the server ends the connection (or 5 s pass without a
/// byte); how many bytes arrived.
fn drain(stream: &mut TcpStream) -> usize {
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        received += n;
    }
    received
}

#[test]
fn over_long_request_target_is_414() {
    let s = Server::start(&[]);
    let target = format!("/{}", "a".repeat(9000));
    let r = s.get(&target, &[]);
    assert_eq!(r.status, 414);
}

#[test]
fn over_large_headers_are_431() {
    let s = Server::start(&["--max-header-size", "16384"]);
    let big = format!("X-Big: {}", "b".repeat(20_000));
    assert_eq!(s.get("/", &[&big]).status, 431);
    let many: Vec<String> = (0..200).map(|i| format!("X-{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(s.get("/", &many).status, 431);
}

#[test]
fn http_1_1_without_host_is_400() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let r = send(&s, b"GET /f.txt HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(!String::from_utf8_lossy(&r.body).contains("hello"));
}

#[test]
fn two_host_headers_are_400() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let r = send(
        &s,
        b"GET /f.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn http_1_0_without_host_is_served() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let r = send(&s, b"GET /f.txt HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn content_length_with_transfer_encoding_closes_the_connection() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let mut stream = s.connect();
    // RFC 9112 §6.1: answer, then close, so a smuggled request is never read.
    stream
        .write_all(
            b"GET /f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
              0\r\n\r\nGET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .expect("send");
    let mut all = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = stream.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert_eq!(
        text.matches("HTTP/1.1 ").count(),
        1,
        "exactly one response, then close: {text}"
    );
}

#[test]
fn a_body_on_get_does_not_desynchronise_the_connection() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let stream = s.connect();
    let mut writer = stream.try_clone().expect("clone");
    writer
        .write_all(
            b"GET /f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 22\r\n\r\nGET /secret HTTP/1.1\r\n\
              GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect("send");
    let mut reader = BufReader::new(stream);
    let first = read_response(&mut reader, false);
    let second = read_response(&mut reader, false);
    assert_eq!((first.status, first.body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(
        (second.status, second.body.as_slice()),
        (200, &b"hello"[..])
    );
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_before() {
    let s = Server::start(&["--idle-timeout", "2", "--header-timeout", "1"]);
    s.write("f.txt", b"hello");
    let stream = s.connect();
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert_eq!(read_response(&mut reader, false).status, 200);
    let mut stream = reader.into_inner();
    let closed = closed_within(&mut stream, Duration::from_secs(6)).expect("closed when idle");
    // Idle is measured from the end of the response: longer than the 1 s
    // header timeout, about the 2 s idle timeout.
    assert!(
        closed > Duration::from_millis(1500),
        "closed after {closed:?}"
    );
    assert!(
        closed < Duration::from_millis(3500),
        "closed after {closed:?}"
    );
}

#[test]
fn a_second_request_on_an_idle_connection_within_the_timeout_is_served() {
    let s = Server::start(&["--idle-timeout", "3", "--header-timeout", "1"]);
    s.write("f.txt", b"hello");
    let stream = s.connect();
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert_eq!(read_response(&mut reader, false).status, 200);
    std::thread::sleep(Duration::from_millis(1800));
    writer
        .write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send again");
    assert_eq!(read_response(&mut reader, false).status, 200);
}

#[test]
fn a_client_that_never_reads_is_dropped_at_the_send_timeout() {
    let s = Server::start(&["--send-timeout", "1"]);
    let file = std::fs::File::create(s.path().join("big.bin")).expect("create");
    file.set_len(256 << 20).expect("sparse");
    let mut stream = s.connect();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    std::thread::sleep(Duration::from_secs(4));
    // Whatever was buffered arrives, then the end: far short of 256 MiB.
    let received = drain(&mut stream);
    assert!(
        received < 128 << 20,
        "received {received} bytes from a dropped download"
    );
}

#[test]
fn a_stalled_download_on_a_reused_connection_is_cut_at_the_send_timeout() {
    let s = Server::start(&["--send-timeout", "1", "--idle-timeout", "30"]);
    s.write("f.txt", b"hello");
    let file = std::fs::File::create(s.path().join("big.bin")).expect("create");
    file.set_len(256 << 20).expect("sparse");
    let stream = s.connect();
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert_eq!(read_response(&mut reader, false).status, 200);
    std::thread::sleep(Duration::from_millis(500));
    writer
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    std::thread::sleep(Duration::from_secs(3));
    let received = drain(&mut reader.into_inner());
    assert!(
        received < 128 << 20,
        "received {received} bytes: the stall was not cut in time"
    );
}

#[test]
fn connections_beyond_the_limit_wait_and_are_then_served() {
    let s = Server::start(&["--max-connections", "2"]);
    s.write("f.txt", b"hello");
    let held: Vec<TcpStream> = (0..2).map(|_| s.connect()).collect();
    for mut h in &held {
        h.write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut third = s.connect();
    third
        .write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    assert!(
        third.read(&mut buf).is_err(),
        "a third connection is not served while two are held"
    );
    drop(held);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let r = read_response(&mut BufReader::new(third), false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

/// A symlink swapped back and forth between a folder inside the root and one
/// outside, while requests race through it: the kernel-enforced open never
/// lets a byte from outside through.
#[test]
fn symlink_swap_race_cannot_escape_the_root() {
    let s = Server::start(&[]);
    let outside = tempfile::tempdir().expect("outside dir");
    std::fs::write(outside.path().join("f.txt"), b"SECRET-OUTSIDE").expect("secret");
    s.write("real/f.txt", b"inside");
    let root = s.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, root, outside) = (
            Arc::clone(&stop),
            root.clone(),
            outside.path().to_path_buf(),
        );
        std::thread::spawn(move || {
            let tmp = root.join("swap.tmp");
            let mut swaps = 0u32;
            while !stop.load(Ordering::Relaxed) && swaps < 1_000_000 {
                let target = if swaps % 2 == 0 {
                    root.join("real")
                } else {
                    outside.clone()
                };
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&target, &tmp).expect("symlink");
                std::fs::rename(&tmp, root.join("dir")).expect("swap");
                swaps += 1;
            }
            swaps
        })
    };
    let started = Instant::now();
    let (mut inside, mut refused) = (0, 0);
    while started.elapsed() < Duration::from_secs(3) {
        let r = s.get("/dir/f.txt", &[]);
        assert!(
            !String::from_utf8_lossy(&r.body).contains("SECRET"),
            "escaped the root"
        );
        match r.status {
            200 => inside += 1,
            _ => refused += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 100, "the race needs swaps: {swaps}");
    assert!(
        inside > 0 && refused > 0,
        "both sides of the race seen: {inside} served, {refused} refused"
    );
}

#[test]
fn follow_symlinks_serves_targets_outside_the_root() {
    let s = Server::start(&["--follow-symlinks"]);
    let outside = tempfile::tempdir().expect("outside dir");
    std::fs::write(outside.path().join("shared.txt"), b"shared").expect("file");
    std::os::unix::fs::symlink(outside.path().join("shared.txt"), s.path().join("link.txt"))
        .expect("symlink");
    let r = s.get("/link.txt", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"shared"[..]));
}

#[test]
fn absolute_symlink_pointing_inside_the_root_is_served() {
    let s = Server::start(&[]);
    let target = s.write("data/file.txt", b"inside");
    std::os::unix::fs::symlink(&target, s.path().join("abs.txt")).expect("symlink");
    let r = s.get("/abs.txt", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"inside"[..]));
}
