//! Black-box tests of how a request path becomes a file: traversal and
//! symlinks never leave the root, hidden names, odd names, folders.

mod common;

use std::os::unix::fs::symlink;

use common::{LEN, Response, Server, assert_whole, pattern, server_with_fixture};

// ---------------------------------------------------------------- traversal

const SECRET: &[u8] = b"TOP-SECRET-7f3a9c";

/// A served folder with `a.txt`, and a sibling folder holding `secret.txt`.
fn server_and_secret() -> (Server, tempfile::TempDir) {
    let secret_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(secret_dir.path().join("secret.txt"), SECRET).expect("write secret");
    let server = Server::start(&[]);
    server.write("a.txt", b"public");
    (server, secret_dir)
}

#[track_caller]
fn assert_refused_without_secret(r: &Response, path: &str) {
    assert!(matches!(r.status, 400 | 404), "{path}: status {}", r.status);
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        !r.body.windows(SECRET.len()).any(|w| w == SECRET),
        "{path}: secret in body"
    );
    assert!(!body.contains("root:"), "{path}: /etc/passwd in body");
}

#[test]
fn traversal_attempts_are_refused_and_never_leak() {
    let (server, secret_dir) = server_and_secret();
    let sibling = secret_dir
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let paths = [
        format!("/../{sibling}/secret.txt"),
        format!("/%2e%2e/{sibling}/secret.txt"),
        format!("/%2E%2E/{sibling}/secret.txt"),
        format!("/a/../../{sibling}/secret.txt"),
        format!("/..%2f{sibling}%2fsecret.txt"),
        format!("/..%5c{sibling}%5csecret.txt"),
        "/../etc/passwd".to_owned(),
        "/%2e%2e/etc/passwd".to_owned(),
        "/%2E%2E/%2E%2E/etc/passwd".to_owned(),
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_owned(),
        "/sub%2f..%2f..%2fetc%2fpasswd".to_owned(),
        "/%5c..%5cetc%5cpasswd".to_owned(),
        "/a.txt%00.html".to_owned(),
        "/..%00/".to_owned(),
        "/C:/x".to_owned(),
        "/c%3a/x".to_owned(),
    ];
    for path in &paths {
        assert_refused_without_secret(&server.get(path, &[]), path);
    }
    // The public file is still served, so the refusals are about the paths.
    assert_eq!(server.get("/a.txt", &[]).body, b"public");
}

#[test]
fn double_slash_path_does_not_serve_system_files() {
    let server = server_with_fixture();
    let r = server.get("//etc/passwd", &[]);
    assert_eq!(r.status, 404);
    assert_refused_without_secret(&r, "//etc/passwd");
}

#[test]
fn symlink_to_file_outside_root_is_404() {
    let (server, secret_dir) = server_and_secret();
    symlink(
        secret_dir.path().join("secret.txt"),
        server.path().join("link.txt"),
    )
    .unwrap();
    let r = server.get("/link.txt", &[]);
    assert_eq!(r.status, 404);
    assert_refused_without_secret(&r, "/link.txt");
}

#[test]
fn symlink_to_folder_outside_root_is_404() {
    let (server, secret_dir) = server_and_secret();
    symlink(secret_dir.path(), server.path().join("out")).unwrap();
    for path in ["/out/secret.txt", "/out/", "/out"] {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 404, "{path}");
        assert_refused_without_secret(&r, path);
    }
}

#[test]
fn symlink_to_file_inside_root_is_served() {
    let server = server_with_fixture();
    server.write("sub/inner.bin", &pattern(300));
    symlink(
        server.path().join("sub/inner.bin"),
        server.path().join("alias.bin"),
    )
    .unwrap();
    symlink("a.bin", server.path().join("relative-alias.bin")).unwrap();
    assert_whole(&server.get("/alias.bin", &[]), &pattern(300));
    assert_whole(&server.get("/relative-alias.bin", &[]), &pattern(LEN));
}

// ---------------------------------------------------------------- names

#[test]
fn hidden_files_are_404_by_default() {
    let server = Server::start(&[]);
    server.write(".secret", b"dot");
    server.write("sub/.git/config", b"[core]");
    assert_eq!(server.get("/.secret", &[]).status, 404);
    assert_eq!(server.get("/sub/.git/config", &[]).status, 404);
    assert_eq!(server.get("/%2esecret", &[]).status, 404);
}

#[test]
fn hidden_files_are_served_with_hidden_flag() {
    let server = Server::start(&["--hidden"]);
    server.write(".secret", b"dot");
    server.write("sub/.git/config", b"[core]");
    let r = server.get("/.secret", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"dot"[..]));
    let r = server.get("/sub/.git/config", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"[core]"[..]));
}

#[test]
fn names_with_spaces_and_utf8_are_served() {
    let server = Server::start(&[]);
    server.write("with space.txt", &pattern(77));
    server.write("été.txt", &pattern(88));
    assert_whole(&server.get("/with%20space.txt", &[]), &pattern(77));
    assert_whole(&server.get("/%C3%A9t%C3%A9.txt", &[]), &pattern(88));
}

// ---------------------------------------------------------------- folders

#[test]
fn folder_without_slash_redirects_to_slash() {
    let server = Server::start(&[]);
    server.write("sub/index.html", b"<h1>sub</h1>");
    let r = server.get("/sub", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/"));
}

#[test]
fn folder_redirect_keeps_query() {
    let server = Server::start(&[]);
    server.write("sub/index.html", b"<h1>sub</h1>");
    let r = server.get("/sub?x=1", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/?x=1"));
}

#[test]
fn folder_with_index_serves_index_html() {
    let server = Server::start(&[]);
    server.write("sub/index.html", b"<h1>sub</h1>");
    let r = server.get("/sub/", &[]);
    assert_whole(&r, b"<h1>sub</h1>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
}

#[test]
fn folder_without_index_is_404_with_no_listing() {
    let server = Server::start(&["--no-listing"]);
    server.write("bare/file.txt", b"x");
    assert_eq!(server.get("/bare/", &[]).status, 404);
    assert_eq!(server.get("/", &[]).status, 404);
}
