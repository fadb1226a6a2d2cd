//! `rangeget` against rangeserve, a server that lies, nginx, and Python's
//! http.server (no ranges).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Reap, Server, Terminate, have_tool, pattern};

const RANGEGET: &str = env!("CARGO_BIN_EXE_rangeget");

fn rangeget(dir: &Path, args: &[&str]) -> Output {
    Command::new(RANGEGET)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run rangeget")
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A rangeserve with `--digest` whose file `name` has its digest known.
fn hashed_server(name: &str, content: &[u8], extra: &[&str]) -> Server {
    let cache =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rangeget-{}.tsv", std::process::id()));
    let cache = cache.to_str().expect("utf-8").to_owned();
    let mut args = vec!["--digest", "--digest-cache", &cache];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    server.write(name, content);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server
        .get(
            &format!("/{name}"),
            &["Want-Repr-Digest: sha-256=1", "Range: bytes=0-0"],
        )
        .header("repr-digest")
        .is_none()
    {
        assert!(Instant::now() < deadline, "never hashed");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

#[test]
fn a_download_with_eight_connections_is_verified() {
    let content = pattern(9 << 20);
    let server = hashed_server("big.bin", &content, &[]);
    let out_dir = tempfile::tempdir().expect("dir");
    let out = rangeget(out_dir.path(), &[&server.url("/big.bin"), "-j", "8"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("SHA-256 verified"), "{}", said(&out));
    assert!(std::fs::read(out_dir.path().join("big.bin")).expect("file") == content);
    assert!(!out_dir.path().join("big.bin.part").exists());
    assert!(!out_dir.path().join("big.bin.part.state").exists());
}

/// Starts rangeget on `url` into `dir`, SIGKILLs it after `after`, and
/// checks it left a part and a state behind.
fn killed_midway(dir: &Path, url: &str, after: Duration) {
    let child = Command::new(RANGEGET)
        .args([url, "-j", "4", "-q", "-o", "f.bin"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .spawn()
        .expect("run rangeget");
    let mut child = Reap(child);
    std::thread::sleep(after);
    let _ = child.0.kill();
    let _ = child.0.wait();
    assert!(dir.join("f.bin.part").exists(), "the part is kept");
    let state = std::fs::read_to_string(dir.join("f.bin.part.state")).expect("the state is kept");
    assert!(state.starts_with("rangeget-state 1\n"), "{state}");
    assert!(!dir.join("f.bin").exists());
}

#[test]
fn killed_and_run_again_it_resumes_byte_exact() {
    let content = pattern(6 << 20);
    // 1 MiB/s per connection: four connections need about 1.5 s.
    let server = hashed_server("f.bin", &content, &["--limit-rate", "1M"]);
    let dir = tempfile::tempdir().expect("dir");
    killed_midway(
        dir.path(),
        &server.url("/f.bin"),
        Duration::from_millis(700),
    );
    let out = rangeget(
        dir.path(),
        &[&server.url("/f.bin"), "-j", "4", "-o", "f.bin"],
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("resuming f.bin"), "{}", said(&out));
    assert!(said(&out).contains("SHA-256 verified"), "{}", said(&out));
    assert!(std::fs::read(dir.path().join("f.bin")).expect("file") == content);
}

#[test]
fn a_file_changed_between_runs_starts_over_and_ends_with_the_new_file() {
    let content = pattern(6 << 20);
    let server = hashed_server("f.bin", &content, &["--limit-rate", "1M"]);
    let dir = tempfile::tempdir().expect("dir");
    killed_midway(
        dir.path(),
        &server.url("/f.bin"),
        Duration::from_millis(700),
    );
    let mut new = content.clone();
    new.iter_mut().take(4096).for_each(|b| *b ^= 0x55);
    new.truncate(5 << 20);
    let path = server.write("f.bin", &new);
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_modified(later)
        .expect("mtime");
    let out = rangeget(
        dir.path(),
        &[&server.url("/f.bin"), "-j", "4", "-o", "f.bin"],
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("the file changed on the server"),
        "{}",
        said(&out)
    );
    assert!(
        std::fs::read(dir.path().join("f.bin")).expect("file") == new,
        "the new file, never a splice"
    );
}

#[test]
fn a_wrong_sha256_exits_5_and_keeps_the_part() {
    let content = pattern(100_000);
    let server = hashed_server("f.bin", &content, &[]);
    let dir = tempfile::tempdir().expect("dir");
    let wrong = "0".repeat(64);
    let out = rangeget(dir.path(), &[&server.url("/f.bin"), "--sha256", &wrong]);
    assert_eq!(out.status.code(), Some(5), "{}", said(&out));
    assert!(said(&out).contains("verification failed"), "{}", said(&out));
    assert!(dir.path().join("f.bin.part").exists());
    assert!(!dir.path().join("f.bin").exists());
}

/// `tests/support/liar.py MODE` on a free port.
fn liar(mode: &str) -> Option<(Reap, SocketAddr)> {
    if !have_tool("python3") {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/liar.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start liar.py");
    let mut port = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut port)
        .expect("port");
    let port: u16 = port.trim().parse().expect("a port");
    Some((Reap(child), SocketAddr::from(([127, 0, 0, 1], port))))
}

#[test]
fn a_server_that_lies_about_the_digest_or_corrupts_bytes_fails_verification() {
    for mode in ["digest", "corrupt"] {
        let Some((_server, addr)) = liar(mode) else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let out = rangeget(dir.path(), &[&format!("http://{addr}/data.bin"), "-j", "3"]);
        assert_eq!(out.status.code(), Some(5), "{mode}: {}", said(&out));
        assert!(dir.path().join("data.bin.part").exists(), "{mode}");
    }
}

#[test]
fn python_http_server_without_ranges_downloads_in_one_stream() {
    if !have_tool("python3") {
        return;
    }
    let www = tempfile::tempdir().expect("dir");
    let content = pattern(2 << 20);
    std::fs::write(www.path().join("f.bin"), &content).expect("file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(www.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start http.server");
    let _server = Reap(server);
    let url = format!("http://127.0.0.1:{port}/f.bin");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "http.server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = tempfile::tempdir().expect("dir");
    let out = rangeget(dir.path(), &[&url, "-j", "4"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("does not support ranges"),
        "{}",
        said(&out)
    );
    assert!(
        said(&out).contains("could not be verified"),
        "{}",
        said(&out)
    );
    assert!(std::fs::read(dir.path().join("f.bin")).expect("file") == content);
}

#[test]
fn nginx_without_digests_completes_and_says_it_is_unverified() {
    if !have_tool("nginx") {
        return;
    }
    let work = tempfile::tempdir().expect("dir");
    let www: PathBuf = work.path().join("www");
    std::fs::create_dir(&www).expect("dir");
    let content = pattern(5 << 20);
    std::fs::write(www.join("f.bin"), &content).expect("file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let w = work.path().display();
    let config = format!(
        "worker_processes 1;\npid {w}/nginx.pid;\nerror_log {w}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n access_log off;\n client_body_temp_path {w}/body;\n proxy_temp_path {w}/proxy;\n\
         fastcgi_temp_path {w}/fastcgi;\n uwsgi_temp_path {w}/uwsgi;\n scgi_temp_path {w}/scgi;\n\
         server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
        www.display()
    );
    let conf = work.path().join("nginx.conf");
    std::fs::write(&conf, config).expect("config");
    let nginx = Command::new("nginx")
        .arg("-e")
        .arg(work.path().join("error.log"))
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let _nginx = Terminate(nginx);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = tempfile::tempdir().expect("dir");
    let out = rangeget(
        dir.path(),
        &[&format!("http://127.0.0.1:{port}/f.bin"), "-j", "4"],
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("could not be verified"),
        "{}",
        said(&out)
    );
    assert!(std::fs::read(dir.path().join("f.bin")).expect("file") == content);
}

#[test]
fn ctrl_c_keeps_the_part_and_names_the_command_that_resumes() {
    let content = pattern(4 << 20);
    let server = hashed_server("f.bin", &content, &["--limit-rate", "1M"]);
    let dir = tempfile::tempdir().expect("dir");
    let child = Command::new(RANGEGET)
        .args([&server.url("/f.bin"), "-o", "f.bin"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rangeget");
    let mut child = Reap(child);
    std::thread::sleep(Duration::from_millis(800));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status =
        common::wait_timeout(&mut child.0, Duration::from_secs(10)).expect("exits on Ctrl-C");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut stderr)
        .expect("read");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "To resume: rangeget {} -o f.bin",
            server.url("/f.bin")
        )),
        "{stderr}"
    );
    let state = std::fs::read_to_string(dir.path().join("f.bin.part.state")).expect("state saved");
    assert!(!state.contains("done -\n"), "some bytes recorded: {state}");
    let out = rangeget(
        dir.path(),
        &[&server.url("/f.bin"), "-o", "f.bin", "-j", "4"],
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(std::fs::read(dir.path().join("f.bin")).expect("file") == content);
}

#[test]
fn https_with_a_private_ca_is_verified() {
    let certs = tempfile::tempdir().expect("dir");
    let (cert, key) = common::certificate(certs.path());
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    if !have_tool("curl") {
        return;
    }
    let content = pattern(1 << 20);
    let www = tempfile::tempdir().expect("dir");
    std::fs::write(www.path().join("f.bin"), &content).expect("file");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("rangeget-tls-{}.tsv", std::process::id()));
    let cache = cache.to_str().expect("utf-8");
    let server = Server::start_in(
        www,
        &[
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--digest",
            "--digest-cache",
            cache,
        ],
    );
    let url = format!("https://localhost:{}/f.bin", server.addr.port());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let head = Command::new("curl")
            .args(["-sI", "--cacert", cert, "--resolve"])
            .arg(format!("localhost:{}:127.0.0.1", server.addr.port()))
            .arg(&url)
            .output()
            .expect("run curl");
        if String::from_utf8_lossy(&head.stdout)
            .to_lowercase()
            .contains("repr-digest")
        {
            break;
        }
        assert!(Instant::now() < deadline, "never hashed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().expect("dir");
    let untrusted = rangeget(dir.path(), &[&url, "-q"]);
    assert_eq!(
        untrusted.status.code(),
        Some(3),
        "an unknown CA is refused: {}",
        said(&untrusted)
    );
    let out = rangeget(dir.path(), &[&url, "--cacert", cert, "-j", "2"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("SHA-256 verified"), "{}", said(&out));
    assert!(std::fs::read(dir.path().join("f.bin")).expect("file") == content);
}
