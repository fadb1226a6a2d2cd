//! `--precompressed`: `file.ext.br`, `.zst` or `.gz` served as the
//! representation of `file.ext` by Accept-Encoding, ranges over its bytes.

mod common;

use common::{Response, Server, pattern};

/// `a.js` and its three sidecars, each of different bytes and length
/// (the server never decompresses, so any bytes do).
fn with_sidecars(args: &[&str]) -> Server {
    let s = Server::start(args);
    s.write("a.js", &pattern(1000));
    for (suffix, len) in [(".br", 700), (".zst", 600), (".gz", 800)] {
        let bytes: Vec<u8> = pattern(len + 13).into_iter().skip(13).rev().collect();
        s.write(&format!("a.js{suffix}"), &bytes);
    }
    s
}

fn sidecar(s: &Server, coding: Option<&str>) -> Vec<u8> {
    let suffix = match coding {
        None => "",
        Some("br") => ".br",
        Some("zstd") => ".zst",
        Some("gzip") => ".gz",
        Some(other) => panic!("no sidecar for {other}"),
    };
    std::fs::read(s.path().join(format!("a.js{suffix}"))).expect("fixture")
}

fn accepting(s: &Server, method: &str, accept: &str, more: &[&str]) -> Response {
    let accept = format!("Accept-Encoding: {accept}");
    let headers: Vec<&str> = std::iter::once(accept.as_str())
        .chain(more.iter().copied())
        .collect();
    s.request(method, "/a.js", &headers)
}

fn varies_on_accept_encoding(r: &Response) -> bool {
    r.headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("vary")
            && v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
    })
}

#[test]
fn accept_encoding_chooses_the_sidecar_and_ranges_cover_its_bytes() {
    let s = with_sidecars(&["--precompressed"]);
    let identity_type = s.get("/a.js", &[]).header("content-type").map(String::from);
    for (accept, chosen) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("GZIP, Zstd", Some("zstd")),
        ("gzip", Some("gzip")),
        ("x-gzip", Some("gzip")),
        ("br;q=0.5, gzip;q=0.9, zstd;q=0.7", Some("gzip")),
        ("br;q=0, gzip", Some("gzip")),
        ("br;q=0, zstd;q=0, gzip;q=0", None),
        ("identity;q=0, zstd;q=0.2", Some("zstd")),
        ("identity;q=0, deflate", None),
        ("*", Some("br")),
        ("br;q=2, gzip", Some("gzip")),
        ("identity", None),
        ("deflate", None),
        ("", None),
    ] {
        let expected = sidecar(&s, chosen);
        let r = accepting(&s, "GET", accept, &["Range: bytes=100-199"]);
        assert_eq!(r.status, 206, "Accept-Encoding: {accept}");
        assert_eq!(
            r.header("content-encoding"),
            chosen,
            "Accept-Encoding: {accept}"
        );
        assert_eq!(r.body, expected[100..200], "Accept-Encoding: {accept}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes 100-199/{}", expected.len()).as_str())
        );
        assert_eq!(r.header("content-type"), identity_type.as_deref());
        assert!(varies_on_accept_encoding(&r), "{:?}", r.headers);

        let r = accepting(&s, "GET", accept, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, expected, "Accept-Encoding: {accept}");
        assert_eq!(r.content_length(), Some(expected.len() as u64));
    }
    // No Accept-Encoding at all: the file as it is.
    let r = s.get("/a.js", &[]);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, pattern(1000));
}

#[test]
fn each_encoding_has_its_own_strong_etag_and_if_range_follows_it() {
    let s = with_sidecars(&["--precompressed"]);
    let codings = ["br", "zstd", "gzip", "identity"];
    let etags: Vec<String> = codings
        .iter()
        .map(|c| {
            let r = accepting(&s, "GET", c, &[]);
            let etag = r.header("etag").expect("etag").to_string();
            assert!(etag.starts_with('"'), "{etag} is strong");
            etag
        })
        .collect();
    for (i, a) in etags.iter().enumerate() {
        for b in &etags[i + 1..] {
            assert_ne!(a, b);
        }
    }
    let (br, identity) = (&etags[0], &etags[3]);
    let resume = |etag: &str| {
        let if_range = format!("If-Range: {etag}");
        accepting(&s, "GET", "br", &["Range: bytes=10-", &if_range])
    };
    let r = resume(br);
    assert_eq!((r.status, r.header("content-encoding")), (206, Some("br")));
    assert_eq!(r.body, sidecar(&s, Some("br"))[10..]);
    let r = resume(identity);
    assert_eq!((r.status, r.header("content-encoding")), (200, Some("br")));
    assert_eq!(r.body, sidecar(&s, Some("br")));

    let none_match = format!("If-None-Match: {br}");
    assert_eq!(accepting(&s, "GET", "br", &[&none_match]).status, 304);
    let r = accepting(&s, "GET", "gzip", &[&none_match]);
    assert_eq!(
        (r.status, r.header("content-encoding")),
        (200, Some("gzip"))
    );
    let not_modified = accepting(&s, "GET", "br", &[&none_match]);
    assert!(varies_on_accept_encoding(&not_modified));
    assert_eq!(not_modified.header("etag"), Some(br.as_str()));
}

#[test]
fn head_sends_the_headers_get_would() {
    let s = with_sidecars(&["--precompressed"]);
    for extra in [&[][..], &["Range: bytes=5-9"][..]] {
        let get = accepting(&s, "GET", "zstd, gzip", extra);
        let head = accepting(&s, "HEAD", "zstd, gzip", extra);
        let without_date = |r: &Response| {
            r.headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(head.status, get.status);
        assert_eq!(without_date(&head), without_date(&get));
        assert_eq!(head.header("content-encoding"), Some("zstd"));
        assert!(head.body.is_empty());
    }
}

#[test]
fn without_a_sidecar_the_file_is_sent_as_is_with_vary() {
    let s = Server::start(&["--precompressed"]);
    s.write("plain.txt", b"hello, world");
    s.write("only.txt.br", b"orphan");
    let r = s.get("/plain.txt", &["Accept-Encoding: br, zstd, gzip"]);
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.header("content-encoding"), &r.body[..]),
        (None, &b"hello, world"[..])
    );
    assert!(varies_on_accept_encoding(&r));
    // The original decides whether the file exists.
    assert_eq!(s.get("/only.txt", &["Accept-Encoding: br"]).status, 404);
}

#[test]
fn without_the_flag_sidecars_are_ignored() {
    let s = with_sidecars(&[]);
    let r = s.get(
        "/a.js",
        &["Accept-Encoding: br, zstd, gzip", "Range: bytes=0-9"],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, pattern(1000)[..10]);
    assert!(!varies_on_accept_encoding(&r));
}

#[test]
fn out_of_range_and_several_ranges_refer_to_the_encoded_length() {
    let s = with_sidecars(&["--precompressed"]);
    let r = accepting(&s, "GET", "br", &["Range: bytes=900-"]);
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */700"))
    );
    // Several ranges of an encoded file: the whole file, not multipart.
    let r = accepting(&s, "GET", "br", &["Range: bytes=0-1,500-501"]);
    assert_eq!((r.status, r.header("content-encoding")), (200, Some("br")));
    assert_eq!(r.body, sidecar(&s, Some("br")));
}

#[test]
fn a_large_sidecar_streams_byte_exact_with_and_without_sendfile() {
    for args in [
        &["--precompressed"][..],
        &["--precompressed", "--no-sendfile"],
    ] {
        let s = Server::start(args);
        s.write("big.bin", &pattern(10));
        let encoded: Vec<u8> = pattern(700_000).into_iter().rev().collect();
        s.write("big.bin.gz", &encoded);
        let r = s.get("/big.bin", &["Accept-Encoding: gzip", "Range: bytes=1000-"]);
        assert_eq!((r.status, r.truncated), (206, false), "{args:?}");
        assert_eq!(r.body, encoded[1000..], "{args:?}");
        let r = s.get("/big.bin", &["Accept-Encoding: gzip"]);
        assert_eq!(
            (r.status, r.header("content-encoding")),
            (200, Some("gzip"))
        );
        assert_eq!(r.body, encoded, "{args:?}");
    }
}

#[test]
fn a_sidecar_symlink_leading_out_of_the_folder_is_not_served() {
    let outside = tempfile::tempdir().expect("temp dir");
    let secret = outside.path().join("secret");
    std::fs::write(&secret, b"outside the root").expect("write secret");
    let s = Server::start(&["--precompressed"]);
    s.write("page.html", b"<p>inside</p>");
    std::os::unix::fs::symlink(&secret, s.path().join("page.html.br")).expect("symlink");
    let r = s.get("/page.html", &["Accept-Encoding: br"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, b"<p>inside</p>");
}
