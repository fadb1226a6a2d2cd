//! Headers file-server users expect beyond the core: Cache-Control and CORS.

mod common;

use common::Server;

#[test]
fn cache_control_is_sent_on_file_responses_and_304() {
    let s = Server::start(&["--cache-control", "public, max-age=3600"]);
    s.write("f.txt", b"hello");
    let r = s.get("/f.txt", &[]);
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    let etag = r.header("etag").expect("etag").to_string();
    let r = s.get("/f.txt", &["Range: bytes=0-1"]);
    assert_eq!(
        (r.status, r.header("cache-control")),
        (206, Some("public, max-age=3600"))
    );
    let r = s.get("/f.txt", &[&format!("If-None-Match: {etag}")]);
    assert_eq!(
        (r.status, r.header("cache-control")),
        (304, Some("public, max-age=3600"))
    );
    assert_eq!(s.get("/missing", &[]).header("cache-control"), None);
}

#[test]
fn no_cache_control_by_default() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    assert_eq!(s.get("/f.txt", &[]).header("cache-control"), None);
}

#[test]
fn cors_any_origin_exposes_the_range_headers() {
    let s = Server::start(&["--cors"]);
    s.write("f.txt", b"hello");
    let r = s.get(
        "/f.txt",
        &["Origin: https://app.example", "Range: bytes=0-1"],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let exposed = r.header("access-control-expose-headers").expect("exposed");
    for h in [
        "Content-Range",
        "Accept-Ranges",
        "ETag",
        "Content-Length",
        "Content-Encoding",
    ] {
        assert!(exposed.contains(h), "{h} not in {exposed}");
    }
}

#[test]
fn cors_preflight_is_answered() {
    let s = Server::start(&["--cors"]);
    let r = s.request(
        "OPTIONS",
        "/f.txt",
        &[
            "Origin: https://app.example",
            "Access-Control-Request-Method: GET",
            "Access-Control-Request-Headers: range",
        ],
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-allow-methods")
            .expect("methods")
            .contains("GET")
    );
    assert!(
        r.header("access-control-allow-headers")
            .expect("headers")
            .contains("Range")
    );
    assert!(r.header("access-control-max-age").is_some());
}

#[test]
fn cors_with_one_origin_answers_only_that_origin() {
    let s = Server::start(&["--cors", "https://app.example"]);
    s.write("f.txt", b"hello");
    let r = s.get("/f.txt", &["Origin: https://app.example"]);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    let r = s.get("/f.txt", &["Origin: https://other.example"]);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn no_cors_headers_by_default() {
    let s = Server::start(&[]);
    s.write("f.txt", b"hello");
    let r = s.get("/f.txt", &["Origin: https://app.example"]);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn a_bad_cors_origin_is_a_start_up_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rangeserve"))
        .args([".", "--cors", "app.example"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an origin"));
}
