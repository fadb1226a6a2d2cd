//! The range, conditional, multipart and integrity suites again, with a
//! password file, rate limits and a per-client connection cap on
//! (`common::guarded`): access control and pacing must not change a byte of
//! any range, precondition or change detection.

// Each included suite declares its own `mod common;`, as it does when it
// runs alone: the helpers are loaded once per suite on purpose.
#![allow(clippy::duplicate_mod)]

#[path = "ranges.rs"]
mod ranges;

#[path = "conditional.rs"]
mod conditional;

#[path = "multipart.rs"]
mod multipart;

#[path = "integrity.rs"]
mod integrity;

mod common;

/// Guarded mode is really on: without the password, 401.
#[test]
fn guarded_mode_asks_for_the_password() {
    use std::io::{BufReader, Write};
    assert!(common::guarded());
    let server = common::Server::start(&[]);
    server.write("f.txt", b"x");
    let mut stream = server.connect();
    write!(
        stream,
        "GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let response = common::read_response(&mut BufReader::new(stream), false);
    assert_eq!(response.status, 401);
    assert_eq!(server.get("/f.txt", &[]).status, 200);
}
