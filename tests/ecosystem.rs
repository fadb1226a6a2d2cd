//! What file-server users expect beyond the core: caching headers, CORS.

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

mod http2_and_tls {
    use super::*;
    use common::{have_tool, pattern};
    use std::path::PathBuf;
    use std::process::Command;

    /// A self-signed certificate for localhost and 127.0.0.1, as PEM files.
    fn certificate(dir: &std::path::Path) -> (PathBuf, PathBuf) {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let cert = rcgen::generate_simple_self_signed(names).expect("certificate");
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).expect("cert file");
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("key file");
        (cert_path, key_path)
    }

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
        let (version, status, body) =
            curl(&[&base[..], &["--http1.1", "-r", "0-9"]].concat(), &url);
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
}

mod logs {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::process::{Command, Stdio};

    /// Runs the server with `args` and no RUST_LOG, makes one request for a
    /// 5-byte file, stops it with SIGTERM, and returns what it wrote to stderr.
    fn stderr_after_one_request(args: &[&str]) -> String {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("f.txt"), b"hello").expect("file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_rangeserve"))
            .arg(dir.path())
            .args(["--port", "0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start");
        let mut banner = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut banner)
            .expect("banner");
        let addr = banner
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.strip_suffix('/'))
            .expect("addr");
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(
            b"GET /f.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n",
        )
        .expect("send");
        let mut response = Vec::new();
        s.read_to_end(&mut response).expect("response");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("read stderr");
        let _ = child.wait();
        stderr
    }

    #[test]
    fn json_access_log_line_has_the_fields_at_the_top_level() {
        let stderr = stderr_after_one_request(&["--log-format", "json"]);
        let lines: Vec<serde_json::Value> = stderr
            .lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect();
        let access = lines
            .iter()
            .find(|l| l["target"] == "rangeserve::access")
            .unwrap_or_else(|| panic!("no access line in {stderr}"));
        assert_eq!(access["level"], "INFO");
        assert_eq!(access["message"], "complete");
        assert_eq!(access["method"], "GET");
        assert_eq!(access["path"], "/f.txt");
        assert_eq!(access["status"], 206);
        assert_eq!(access["range"], "bytes=0-1");
        assert_eq!(
            (access["sent"].as_u64(), access["promised"].as_u64()),
            (Some(2), Some(2))
        );
        assert!(
            access["peer"]
                .as_str()
                .expect("peer")
                .starts_with("127.0.0.1:")
        );
        assert!(access["timestamp"].is_string());
        assert!(
            access["ms"].is_u64(),
            "duration is a number: {}",
            access["ms"]
        );
    }

    #[test]
    fn text_access_log_is_the_default_and_quiet_silences_it() {
        let stderr = stderr_after_one_request(&[]);
        assert!(
            stderr.contains("rangeserve::access") && stderr.contains("status=206"),
            "{stderr}"
        );
        let stderr = stderr_after_one_request(&["--quiet"]);
        assert!(!stderr.contains("rangeserve::access"), "{stderr}");
    }
}

mod precompressed {
    //! `--precompressed`: `file.ext.br`, `.zst` or `.gz` served as the
    //! representation of `file.ext` by Accept-Encoding, ranges over its bytes.
    use super::*;
    use common::{Response, pattern};

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
}
