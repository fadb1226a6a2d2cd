//! Hostile HTTP/2 clients (RFC 9113): streams that never grant window, header
//! lists far beyond the limit, and connections closed by the server, which
//! must always say so with GOAWAY first. Spoken with the h2 crate as a client,
//! or in raw frames where the client must misbehave.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use common::h2raw::{
    DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PREFACE, SETTINGS, frame, get_block, hpack_str,
    read_frame,
};
use common::{Server, certificate, pattern};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// An h2 client connection that grants no window to any stream: the server
/// may send headers but not one byte of a body. Over TLS (h2 by ALPN) when
/// given the server's certificate, else h2c.
async fn stalling_client(server: &Server, tls: Option<&Path>) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut builder = h2::client::Builder::new();
    builder.initial_window_size(0);
    let Some(cert) = tls else {
        let (client, connection) = builder.handshake::<_, Bytes>(tcp).await.expect("h2c");
        tokio::spawn(connection);
        return client;
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert).expect("PEM") {
        roots.add(cert.expect("certificate")).expect("trusted");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (client, connection) = builder.handshake::<_, Bytes>(tls).await.expect("h2");
    tokio::spawn(connection);
    client
}

fn get(server: &Server, method: &str, path: &str) -> hyper::Request<()> {
    hyper::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", server.addr))
        .body(())
        .expect("request")
}

/// The number of streams the server advertises (`SETTINGS_MAX_CONCURRENT_STREAMS`).
const STREAMS: usize = 100;

/// The stated bound on what a stalled stream costs the server, state and
/// all (README, "HTTP/2 under hostile clients").
const PER_STALLED_STREAM_KIB: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_streams_hold_no_file_bytes_and_are_reset_after_the_send_timeout() {
    let server = Server::start(&["--send-timeout", "2"]);
    stalled_streams(&server, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bounds_hold_over_tls() {
    let keys = tempfile::tempdir().expect("dir");
    let (cert, key) = certificate(keys.path());
    let (c, k) = (cert.to_str().expect("path"), key.to_str().expect("path"));
    let server = Server::start(&["--send-timeout", "2", "--tls-cert", c, "--tls-key", k]);
    stalled_streams(&server, Some(&cert)).await;
}

/// Opens the advertised number of streams with no window on one connection:
/// RSS stays within the stated bound, every stream is reset with CANCEL after
/// the send timeout, and the connection still serves.
async fn stalled_streams(server: &Server, tls: Option<&Path>) {
    server.write("big.bin", &pattern(8 << 20));
    // Warm the server's allocator and the file's cache entry first, with
    // one connection of the same kind.
    let warm = stalling_client(server, tls).await;
    let mut ready = warm.ready().await.expect("a stream slot");
    let (response, _) = ready
        .send_request(get(server, "HEAD", "/big.bin"), true)
        .expect("send request");
    assert_eq!(response.await.expect("HEAD").status(), 200);
    drop(ready);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib(server.pid());

    let client = stalling_client(server, tls).await;
    let mut bodies = Vec::new();
    for _ in 0..STREAMS {
        let mut ready = client.clone().ready().await.expect("a stream slot");
        let (response, _) = ready
            .send_request(get(server, "GET", "/big.bin"), true)
            .expect("send request");
        bodies.push(response);
    }
    let mut streams = Vec::new();
    for response in bodies {
        let response = response.await.expect("response headers");
        assert_eq!(response.status(), 200);
        streams.push(response.into_body());
    }
    let opened = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = rss_kib(server.pid()).saturating_sub(before);
    assert!(
        grown <= STREAMS as u64 * PER_STALLED_STREAM_KIB,
        "{STREAMS} stalled streams grew RSS by {grown} KiB"
    );

    for body in &mut streams {
        let next = tokio::time::timeout(Duration::from_secs(10), body.data())
            .await
            .expect("reset within the send timeout");
        let err = next.expect("an end").expect_err("no data without window");
        assert_eq!(err.reason(), Some(h2::Reason::CANCEL), "{err}");
    }
    let waited = opened.elapsed();
    assert!(
        (Duration::from_millis(1000)..Duration::from_secs(8)).contains(&waited),
        "reset after {waited:?}, send timeout 2 s"
    );

    // The connection itself is unaffected.
    let mut ready = client.ready().await.expect("a stream slot");
    let (response, _) = ready
        .send_request(get(server, "HEAD", "/big.bin"), true)
        .expect("send request");
    let response = response.await.expect("HEAD after the resets");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-length")
            .map(|v| v.as_bytes()),
        Some(&b"8388608"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_window_is_served_byte_exact_in_paced_chunks() {
    let server = Server::start(&[]);
    let data = pattern(3 << 20);
    server.write("f.bin", &data);
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(16 * 1024)
        .handshake::<_, Bytes>(tcp)
        .await
        .expect("h2 handshake");
    tokio::spawn(connection);
    let mut ready = client.ready().await.expect("ready");
    let (response, _) = ready
        .send_request(get(&server, "GET", "/f.bin"), true)
        .expect("send");
    let mut body = response.await.expect("response").into_body();
    let mut got = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("data");
        assert!(chunk.len() <= 16 * 1024, "never beyond the window");
        got.extend_from_slice(&chunk);
        body.flow_control()
            .release_capacity(chunk.len())
            .expect("release");
    }
    assert!(got == data, "body is not the file");
}

const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Whether a response header block says 431, which is not in HPACK's static
/// table: a literal, plain or Huffman-coded (RFC 7541 Appendix B: `4` 011010,
/// `3` 011001, `1` 00001, then EOS padding).
fn is_431(block: &[u8]) -> bool {
    block
        .windows(3)
        .any(|w| w == b"431" || w == [0x69, 0x90, 0xff])
}

/// Opens a raw HTTP/2 connection: preface and empty SETTINGS sent.
fn raw_h2(server: &Server) -> TcpStream {
    let mut s = server.connect();
    s.write_all(PREFACE).expect("preface");
    s.write_all(&frame(SETTINGS, 0, 0, &[])).expect("settings");
    s
}

/// A header list of one 4,000-byte field added to the dynamic table, then
/// `refs` references to it (RFC 7541 §6.1): with 3,000, about 7 KB encoded
/// and 12 MB decoded.
fn bomb_block(refs: usize) -> Vec<u8> {
    let mut block = get_block("/small.txt");
    // Literal with incremental indexing, new name (§6.2.1); value length
    // 4,000 as a 7-bit-prefix integer: 127, then 3,873 in two groups.
    block.push(0x40);
    block.extend(hpack_str(b"x-big"));
    block.extend_from_slice(&[0x7f, 0xa1, 0x1e]);
    block.extend(std::iter::repeat_n(b'a', 4000));
    // Indexed field 62: the first dynamic-table entry.
    block.extend(std::iter::repeat_n(0xbe, refs));
    block
}

#[test]
fn an_oversized_header_list_is_refused_after_the_request_before_it_is_answered() {
    let server = Server::start(&[]);
    let small = pattern(5000);
    server.write("small.txt", &small);
    let mut s = raw_h2(&server);
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut sent = frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &get_block("/small.txt"),
    );
    sent.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        3,
        &bomb_block(3000),
    ));
    s.write_all(&sent).expect("requests");

    let (mut body, mut first_done, mut refused, mut goaway) = (Vec::new(), false, false, None);
    while let Some((kind, flags, stream, payload)) = read_frame(&mut s) {
        match (kind, stream) {
            (DATA, 1) => {
                body.extend_from_slice(&payload);
                first_done |= flags & END_STREAM != 0;
            }
            (HEADERS, 3) => refused |= is_431(&payload),
            (GOAWAY, 0) => {
                let code = u32::from_be_bytes(payload[4..8].try_into().expect("code"));
                goaway = Some(code);
                break;
            }
            _ => {}
        }
        if first_done && refused {
            break;
        }
    }
    assert!(
        first_done && body == small,
        "the request before the oversized one is answered whole"
    );
    assert!(
        refused || goaway == Some(ENHANCE_YOUR_CALM),
        "431 or GOAWAY ENHANCE_YOUR_CALM, got 431: {refused}, GOAWAY: {goaway:?}"
    );
    // Still serving others.
    assert_eq!(server.get("/small.txt", &[]).status, 200);
}

#[test]
fn a_header_list_over_the_limit_gets_431_and_the_connection_goes_on() {
    let server = Server::start(&["--max-header-size", "8192"]);
    server.write("small.txt", &pattern(5000));
    let mut s = raw_h2(&server);
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // About 12 KB decoded: over 8 KiB, under the four times h2 tolerates.
    let mut sent = frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &get_block("/small.txt"),
    );
    sent.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &bomb_block(2)));
    sent.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        5,
        &get_block("/small.txt"),
    ));
    s.write_all(&sent).expect("requests");

    let mut done = [false; 3];
    let mut refused = false;
    while let Some((kind, flags, stream, payload)) = read_frame(&mut s) {
        match (kind, stream) {
            (HEADERS, 3) => {
                refused |= is_431(&payload);
                done[1] |= flags & END_STREAM != 0;
            }
            (DATA, 1 | 5) => done[stream as usize / 2] |= flags & END_STREAM != 0,
            (GOAWAY, _) => panic!("GOAWAY: the connection must go on"),
            _ => {}
        }
        if done == [true; 3] {
            break;
        }
    }
    assert!(refused, "431 on stream 3");
    assert_eq!(done, [true; 3], "streams 1, 3 and 5 all ended");
}

/// Reads frames until the connection ends; the GOAWAY's error code and last
/// stream id, if one came first. Panics if the connection is still open
/// after `limit`.
fn goaway_before_close(s: &mut TcpStream, limit: Duration) -> Option<(u32, u32)> {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut goaway = None;
    loop {
        let mut head = [0u8; 9];
        match s.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("still open after {limit:?}")
            }
            Err(_) => return goaway,
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        if s.read_exact(&mut payload).is_err() {
            return goaway;
        }
        if head[3] == GOAWAY {
            let last = u32::from_be_bytes(payload[0..4].try_into().expect("id")) & 0x7fff_ffff;
            let code = u32::from_be_bytes(payload[4..8].try_into().expect("code"));
            goaway = Some((code, last));
        }
    }
}

#[test]
fn an_idle_connection_gets_goaway_before_it_is_closed() {
    let server = Server::start(&["--idle-timeout", "1"]);
    server.write("a.txt", b"hello");
    let mut s = raw_h2(&server);
    s.write_all(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &get_block("/a.txt"),
    ))
    .expect("request");
    let started = Instant::now();
    let goaway = goaway_before_close(&mut s, Duration::from_secs(10));
    assert_eq!(goaway, Some((0, 1)), "GOAWAY NO_ERROR, last stream 1");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[test]
fn a_graceful_stop_sends_goaway_before_closing() {
    let server = Server::start(&["--shutdown-timeout", "2"]);
    server.write("a.txt", b"hello");
    let mut s = raw_h2(&server);
    // Read the server's SETTINGS first, so the connection is established.
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (kind, ..) = read_frame(&mut s).expect("server settings");
    assert_eq!(kind, SETTINGS);
    server.signal("TERM");
    let goaway = goaway_before_close(&mut s, Duration::from_secs(10));
    assert_eq!(goaway.map(|(code, _)| code), Some(0), "GOAWAY NO_ERROR");
}
