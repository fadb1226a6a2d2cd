//! Folder listings: HTML and JSON, escaping, sorting, hidden names, symlinks.

mod common;

use common::Server;

#[test]
fn folder_without_index_is_listed_with_escaped_names_and_encoded_links() {
    let s = Server::start(&[]);
    s.write("docs/<b>&\"'.txt", b"x");
    s.write("docs/with space é.txt", b"hello");
    s.write("docs/.hidden", b"h");
    s.write("docs/inner/file.txt", b"x");
    let r = s.get("/docs/", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let page = String::from_utf8(r.body).expect("UTF-8 page");
    assert!(
        page.contains("&lt;b&gt;&amp;&quot;&#39;.txt"),
        "escaped name"
    );
    assert!(!page.contains("<b>&"), "raw name never appears");
    assert!(page.contains("href=\"with%20space%20%C3%A9.txt\""));
    assert!(page.contains("href=\"inner/\""));
    assert!(page.contains("href=\"../\""));
    assert!(!page.contains(".hidden"));
    assert!(
        page.find("inner/").expect("folder") < page.find("with%20space").expect("file"),
        "folders first"
    );
}

#[test]
fn listing_shows_hidden_names_only_with_hidden() {
    let s = Server::start(&["--hidden"]);
    s.write("docs/.hidden", b"h");
    let page = String::from_utf8(s.get("/docs/", &[]).body).expect("page");
    assert!(page.contains(".hidden"));
}

#[test]
fn listing_as_json_when_asked() {
    let s = Server::start(&[]);
    s.write("docs/a.txt", b"12345");
    s.write("docs/sub/b.txt", b"x");
    let r = s.get("/docs/", &["Accept: application/json"]);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let listing: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    let entries = listing.as_array().expect("array");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["name"], "sub");
    assert_eq!(entries[0]["type"], "dir");
    assert_eq!(entries[1]["name"], "a.txt");
    assert_eq!(entries[1]["size"], 5);
    assert_eq!(entries[1]["href"], "a.txt");
}

#[test]
fn listing_sorts_by_size_and_date_from_the_query() {
    let s = Server::start(&[]);
    s.write("d/small.txt", b"1");
    s.write("d/large.txt", &[b'x'; 5000]);
    let json = |q: &str| {
        let r = s.get(&format!("/d/{q}"), &["Accept: application/json"]);
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
        v.as_array()
            .expect("array")
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(json("?sort=size&order=desc"), ["large.txt", "small.txt"]);
    assert_eq!(json("?sort=size&order=asc"), ["small.txt", "large.txt"]);
    assert_eq!(json("?sort=name"), ["large.txt", "small.txt"]);
}

#[test]
fn listing_never_shows_symlinks_that_lead_out_of_the_root() {
    let s = Server::start(&[]);
    let outside = tempfile::tempdir().expect("dir");
    std::fs::write(outside.path().join("secret.txt"), b"s").expect("secret");
    s.write("d/inside.txt", b"i");
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        s.path().join("d/out-link"),
    )
    .expect("link");
    std::os::unix::fs::symlink("inside.txt", s.path().join("d/in-link")).expect("link");
    let page = String::from_utf8(s.get("/d/", &[]).body).expect("page");
    assert!(!page.contains("out-link"));
    assert!(page.contains("in-link"));
}

#[test]
fn head_of_a_listing_matches_get() {
    let s = Server::start(&[]);
    s.write("d/a.txt", b"a");
    let get = s.get("/d/", &[]);
    let head = s.request("HEAD", "/d/", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(get.body.len() as u64));
}
