//! Test support: start the real binary on 127.0.0.1:0 in a temp folder, and
//! speak raw HTTP/1.1 bytes to it over a plain `TcpStream`.
#![allow(dead_code)] // each test file uses a different part of it

pub mod h2raw;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Adds to `command` (the binary, or a wrapper such as prlimit running it)
/// what every test start needs: the folder, a free port, quiet logs, and
/// stdout piped for the banner.
pub fn configure<'c>(command: &'c mut Command, dir: &Path, args: &[&str]) -> &'c mut Command {
    command
        .arg(dir)
        .args(["--port", "0"])
        .args(guard_args())
        .args(args)
        .env("RUST_LOG", "warn")
        // The default digest cache, kept out of the user's home.
        .env("XDG_CACHE_HOME", env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
}

/// Whether this test binary runs its suites with access control and limits
/// on (`tests/guarded.rs` includes the range, conditional, multipart and
/// integrity suites): every server then asks for a password and paces its
/// bodies, and every request the helpers send carries the password.
pub fn guarded() -> bool {
    static GUARDED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *GUARDED.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.file_name()?.to_str().map(|n| n.starts_with("guarded")))
            .unwrap_or(false)
    })
}

/// The credentials of guarded mode, as `user:password` and as a header line.
pub const GUARD_CREDENTIALS: &str = "test:test";
const GUARD_AUTHORIZATION: &str = "Authorization: Basic dGVzdDp0ZXN0\r\n";
/// `htpasswd -nbB -C 4 test test`.
const GUARD_USERS: &str = "test:$2y$04$QUDCqnHHGcvCDyiGLqNePedtzroWQEzXuswaOz58fd91VK7sPHHYO\n";

/// The `Authorization` line (with its CRLF) that requests need in guarded
/// mode; empty otherwise.
pub fn auth_line() -> &'static str {
    if guarded() { GUARD_AUTHORIZATION } else { "" }
}

/// The flags guarded mode adds: a password file, rate limits high enough
/// not to slow the suites but low enough to pace every body, and a
/// per-client connection cap no suite reaches.
fn guard_args() -> Vec<String> {
    if !guarded() {
        return Vec::new();
    }
    let users = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guarded-users");
    if !users.exists() {
        std::fs::write(&users, GUARD_USERS).expect("write the password file");
    }
    [
        "--auth-file",
        users.to_str().expect("UTF-8 path"),
        "--limit-rate",
        "256M",
        "--limit-rate-after",
        "64K",
        "--limit-rate-per-ip",
        "1G",
        "--max-connections-per-ip",
        "10000",
    ]
    .map(String::from)
    .to_vec()
}

/// Spawns `command` (set up by [`configure`], and adjusted after) and reads
/// the banner's first line for the address the server listens on.
pub fn launch(command: &mut Command) -> (Child, SocketAddr) {
    let mut child = command.spawn().expect("start rangeserve");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("banner line");
    let addr = line
        .trim()
        .rsplit(" at ")
        .next()
        .and_then(|u| {
            u.strip_prefix("http://")
                .or_else(|| u.strip_prefix("https://"))
        })
        .and_then(|u| u.split_once('/'))
        .and_then(|(u, _)| u.parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("unexpected banner {line:?}");
    };
    (child, addr)
}

/// A running `rangeserve`, killed by PID on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server on a fresh temp folder, with extra flags.
    pub fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, args)
    }

    /// Starts the server on `dir` (which `setup` may have filled first).
    pub fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Server {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_rangeserve")), dir, args)
    }

    /// Starts the server on `dir` with an open-file limit of `nofile`
    /// (soft and hard), under `prlimit`; `None` when prlimit is missing.
    pub fn start_limited(dir: tempfile::TempDir, nofile: u32, args: &[&str]) -> Option<Server> {
        if !have_tool("prlimit") {
            return None;
        }
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_rangeserve"));
        Some(Self::spawn(command, dir, args))
    }

    /// Starts the server on `dir` allowed to run on one CPU only (under
    /// `taskset -c 0`); `None` when taskset is missing.
    pub fn start_on_one_cpu(dir: tempfile::TempDir, args: &[&str]) -> Option<Server> {
        if !have_tool("taskset") {
            return None;
        }
        let mut command = Command::new("taskset");
        command
            .args(["-c", "0"])
            .arg(env!("CARGO_BIN_EXE_rangeserve"));
        Some(Self::spawn(command, dir, args))
    }

    fn spawn(mut command: Command, dir: tempfile::TempDir, args: &[&str]) -> Server {
        let (child, addr) = launch(configure(&mut command, dir.path(), args));
        Server { child, addr, dir }
    }

    /// Writes a file under the served folder, creating parent folders.
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write fixture");
        path
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of `path`, with the password in guarded mode.
    pub fn url(&self, path: &str) -> String {
        if guarded() {
            format!("http://{GUARD_CREDENTIALS}@{}{path}", self.addr)
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream
    }

    /// Sends one raw request on a new connection and reads the response.
    /// `head` is the request line and headers without the final blank line;
    /// `Connection: close` is added so the response ends with the connection.
    pub fn raw(&self, head: &str) -> Response {
        let mut stream = self.connect();
        let request = format!("{head}\r\n{}Connection: close\r\n\r\n", auth_line());
        stream.write_all(request.as_bytes()).expect("send");
        let is_head = head.starts_with("HEAD ");
        read_response(&mut BufReader::new(stream), is_head)
    }

    /// `GET {path}` with extra header lines (each `Name: value`).
    pub fn get(&self, path: &str, headers: &[&str]) -> Response {
        self.request("GET", path, headers)
    }

    pub fn request(&self, method: &str, path: &str, headers: &[&str]) -> Response {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}", self.addr);
        for h in headers {
            head.push_str("\r\n");
            head.push_str(h);
        }
        self.raw(&head)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a name `kill` knows, such as `TERM`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the server to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_timeout(&mut self.child, limit)
    }

    /// Sends SIGTERM and waits up to `limit` for the exit status; panics if
    /// the server is still running then.
    pub fn terminate_within(mut self, limit: Duration) -> ExitStatus {
        self.signal("TERM");
        self.wait_timeout(limit)
            .unwrap_or_else(|| panic!("rangeserve still running {limit:?} after SIGTERM"))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for rangeserve")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to `limit` for `child` to exit; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body ended before Content-Length said it would.
    pub truncated: bool,
}

impl Response {
    /// The value of the only header `name` (case-insensitive); panics on duplicates.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "duplicate header {name}");
        first
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .map(|v| v.parse().expect("numeric Content-Length"))
    }
}

/// Reads one response: status line, headers, and a body framed by
/// Content-Length (or to the end of the connection). HEAD has no body.
pub fn read_response<R: BufRead>(reader: &mut R, is_head: bool) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header has a colon");
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
        truncated: false,
    };
    let no_body = is_head || status == 204 || status == 304 || (100..200).contains(&status);
    if no_body {
        return response;
    }
    match response.content_length() {
        Some(len) => {
            let mut limited = reader.take(len);
            let _ = limited.read_to_end(&mut response.body);
            response.truncated = (response.body.len() as u64) < len;
        }
        None => {
            let _ = reader.read_to_end(&mut response.body);
        }
    }
    response
}

/// One request (`head`, raw bytes) on a new connection to `addr`, read to
/// the end: the response, or why there is none (refused, reset, closed
/// early, or a body shorter or longer than its Content-Length).
pub fn exchange(addr: SocketAddr, head: &str) -> Result<Response, String> {
    let error = |e: std::io::Error| e.to_string();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(error)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(error)?;
    s.write_all(head.as_bytes()).map_err(error)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(error)?;
    if raw.is_empty() {
        return Err("connection closed with no response".into());
    }
    let is_head = head.starts_with("HEAD");
    let r = read_response(&mut BufReader::new(&raw[..]), is_head);
    if !is_head && r.content_length().is_some_and(|n| n != r.body.len() as u64) {
        return Err(format!(
            "status {}: {} of {:?} body bytes",
            r.status,
            r.body.len(),
            r.content_length()
        ));
    }
    Ok(r)
}

/// Deterministic, position-dependent bytes, so a misplaced slice shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 251) % 251).expect("below 251"))
        .collect()
}

/// True when `tool --version` (or `tool -v`) runs. In CI a missing tool is a failure;
/// elsewhere the test says it is skipped and why.
pub fn have_tool(tool: &str) -> bool {
    // nginx and haproxy answer `-v`, the rest `--version`.
    let runs = |flag: &str| {
        Command::new(tool)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ok = runs("--version") || runs("-v");
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: {tool} is not installed; .ci/run installs it");
    }
    ok
}

// ---------------------------------------------------------------- the ordinary fixture

/// The length of the ordinary fixture: not a round number.
pub const LEN: usize = 1000;

/// A server with `a.bin` = `pattern(LEN)`.
pub fn server_with_fixture() -> Server {
    let server = Server::start(&[]);
    server.write("a.bin", &pattern(LEN));
    server
}

pub fn range(server: &Server, spec: &str) -> Response {
    server.get("/a.bin", &[&format!("Range: {spec}")])
}

/// 206 with `Content-Range: bytes first-last/total`, the matching
/// Content-Length, and exactly `content[first..=last]`.
#[track_caller]
pub fn assert_partial(r: &Response, first: u64, last: u64, content: &[u8]) {
    assert_eq!(r.status, 206, "status of {r:?}");
    let expected = format!("bytes {first}-{last}/{}", content.len());
    assert_eq!(r.header("content-range"), Some(expected.as_str()));
    assert_eq!(r.content_length(), Some(last - first + 1));
    assert!(!r.truncated, "body ended early");
    let (first, last) = (
        usize::try_from(first).expect("small offset"),
        usize::try_from(last).expect("small offset"),
    );
    assert!(
        r.body == content[first..=last],
        "body is not bytes {first}-{last}"
    );
}

/// 200 with the whole file and no Content-Range.
#[track_caller]
pub fn assert_whole(r: &Response, content: &[u8]) {
    assert_eq!(r.status, 200, "status of {:?}", (r.status, &r.headers));
    assert_eq!(r.header("content-range"), None);
    assert_eq!(r.content_length(), Some(content.len() as u64));
    assert!(!r.truncated, "body ended early");
    assert!(r.body == content, "body is not the whole file");
}

/// 416 with `Content-Range: bytes */total`.
#[track_caller]
pub fn assert_unsatisfiable(r: &Response, total: u64) {
    assert_eq!(r.status, 416, "status of {:?}", (r.status, &r.headers));
    let expected = format!("bytes */{total}");
    assert_eq!(r.header("content-range"), Some(expected.as_str()));
}

// ---------------------------------------------------------------- validators and multipart

pub fn etag_of(server: &Server, path: &str) -> String {
    let r = server.request("HEAD", path, &[]);
    r.header("etag")
        .expect("ETag on every file response")
        .to_string()
}

/// Rewrites `name` with new bytes of the same length and makes sure the
/// modification time moves (coarse filesystem clocks may not tick otherwise).
pub fn rewrite_same_size(server: &Server, name: &str, contents: &[u8]) {
    let path = server.path().join(name);
    let before = std::fs::metadata(&path)
        .expect("fixture")
        .modified()
        .expect("mtime");
    std::fs::write(&path, contents).expect("rewrite");
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open fixture");
    file.set_modified(before + Duration::from_secs(2))
        .expect("set mtime");
}

/// Parses a multipart/byteranges body back into (Content-Range, bytes) parts,
/// checking the framing strictly.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    let delimiter = format!("--{boundary}");
    let mut rest = body;
    let mut parts = Vec::new();
    let mut first = true;
    loop {
        if !first {
            rest = rest.strip_prefix(b"\r\n").expect("CRLF before a delimiter");
        }
        first = false;
        rest = rest.strip_prefix(delimiter.as_bytes()).expect("delimiter");
        if let Some(end) = rest.strip_prefix(b"--\r\n") {
            assert!(end.is_empty(), "bytes after the close delimiter");
            return parts;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let head_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part head");
        let head = std::str::from_utf8(&rest[..head_end]).expect("ASCII part head");
        rest = &rest[head_end + 4..];
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: bytes "))
            .expect("part Content-Range")
            .to_string();
        assert!(
            head.lines().any(|l| l.starts_with("Content-Type: ")),
            "part Content-Type"
        );
        let (span, _) = range.split_once('/').expect("total");
        let (a, b) = span.split_once('-').expect("span");
        let len = b.parse::<usize>().expect("last") - a.parse::<usize>().expect("first") + 1;
        parts.push((range.clone(), rest[..len].to_vec()));
        rest = &rest[len..];
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, as PEM files.
pub fn certificate(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let cert = rcgen::generate_simple_self_signed(names).expect("certificate");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("cert file");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("key file");
    (cert_path, key_path)
}

/// A child process killed by PID and reaped when this goes out of scope,
/// a failed assertion included.
pub struct Reap(pub Child);

impl Reap {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server with worker processes (nginx): stopped by SIGTERM to its PID,
/// which stops the workers, and SIGKILLed only if it is still running 10 s
/// later.
pub struct Terminate(pub Child);

impl Drop for Terminate {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        if wait_timeout(&mut self.0, Duration::from_secs(10)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The tar readers an archive must satisfy: GNU tar, bsdtar and Python's
/// tarfile.
pub const TAR_READERS: [&str; 3] = ["tar", "bsdtar", "python3"];

/// Extracts `archive` into `out` with `tool` (one of [`TAR_READERS`]).
pub fn extract(tool: &str, archive: &Path, out: &Path) -> std::process::Output {
    let mut command = Command::new(tool);
    if tool == "python3" {
        command
            .arg("-c")
            .arg("import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='tar')")
            .arg(archive)
            .arg(out);
    } else {
        command.arg("-xf").arg(archive).arg("-C").arg(out);
    }
    command.output().expect("run the reader")
}

/// A tree for archive tests under `root` (created): nested folders with a
/// `data_len`-byte file, an empty folder, a UTF-8 name, a 150-byte name, an
/// empty file, and a file with a sub-second modification time.
pub fn archive_fixture(root: &Path, data_len: usize) {
    std::fs::create_dir_all(root.join("nested/deeper")).expect("dirs");
    std::fs::create_dir(root.join("empty dir")).expect("dir");
    std::fs::write(root.join("nested/deeper/data.bin"), pattern(data_len)).expect("file");
    std::fs::write(root.join("été 🎉.txt"), "UTF-8 name\n").expect("file");
    std::fs::write(root.join(format!("{}.txt", "n".repeat(146))), b"long name").expect("file");
    std::fs::write(root.join("empty"), b"").expect("file");
    let odd = root.join("subsecond");
    std::fs::write(&odd, b"time").expect("file");
    std::fs::File::options()
        .write(true)
        .open(&odd)
        .expect("open")
        .set_modified(std::time::UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000))
        .expect("mtime");
}
