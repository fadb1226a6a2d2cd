//! Black-box tests of what the binary prints: the generated man page and
//! shell completions (hidden flags that need no folder), `--help`, and the
//! start-up banner.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Server, pattern, read_response};

/// Runs the binary with `args` to completion, bounded; returns status,
/// stdout and stderr.
fn run_binary(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rangeserve"))
        .args(args)
        .env_remove("RANGESERVE_DIR")
        .env_remove("RANGESERVE_PORT")
        .env_remove("RANGESERVE_BIND")
        .env_remove("RANGESERVE_HIDDEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rangeserve");
    // Read before waiting: a man page can be larger than a pipe's buffer.
    let mut out = String::new();
    let mut err = String::new();
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        stderr.read_to_string(&mut err).expect("read stderr");
        err
    });
    stdout.read_to_string(&mut out).expect("read stdout");
    err.push_str(&reader.join().expect("stderr reader"));
    let Some(status) = common::wait_timeout(&mut child, Duration::from_secs(10)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("rangeserve {args:?} still running after 10 s");
    };
    (status, out, err)
}

// ---------------------------------------------------------------- man page and completions

#[test]
fn generate_man_prints_roff_man_page_mentioning_port_without_a_folder() {
    let (status, out, err) = run_binary(&["--generate-man", "/no/such/folder"]);
    assert!(status.success(), "{status}: {err}");
    // NOTE: the roff crate may open with two lines (`.ie`/`.el`) that define
    // the apostrophe string the page uses; the page proper starts at `.TH`.
    let first = out
        .lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .unwrap_or_default();
    assert!(first.starts_with(".TH rangeserve 1"), "{out}");
    assert!(out.contains(r"\-\-port"), "{out}");
    assert!(out.contains("RANGESERVE_PORT"), "{out}");
    for hidden in [r"generate\-man", r"generate\-completions"] {
        assert!(
            !out.contains(hidden),
            "hidden flag {hidden} in the man page:\n{out}"
        );
    }
}

#[test]
fn generate_completions_prints_a_script_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (status, out, err) = run_binary(&["--generate-completions", shell]);
        assert!(status.success(), "{shell}: {status}: {err}");
        assert!(out.contains("tls-cert"), "{shell}:\n{out}");
        assert!(out.contains("rangeserve"), "{shell}:\n{out}");
    }
    let (_, bash, _) = run_binary(&["--generate-completions", "bash", "/no/such/folder"]);
    assert!(bash.contains("--tls-cert"), "{bash}");
    assert!(bash.contains("complete -F"), "{bash}");
}

#[test]
fn generate_completions_rejects_an_unknown_shell() {
    let (status, out, err) = run_binary(&["--generate-completions", "tcsh"]);
    assert!(!status.success());
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn generate_flags_are_hidden_from_help() {
    for help in ["--help", "-h"] {
        let (status, out, _) = run_binary(&[help]);
        assert!(status.success());
        assert!(out.contains("--port"), "{out}");
        for hidden in ["--generate-man", "--generate-completions"] {
            assert!(
                !out.contains(hidden),
                "{help} shows the hidden flag {hidden}:\n{out}"
            );
        }
    }
}

#[test]
fn help_groups_flags_under_headings_and_keeps_examples() {
    let (status, out, _) = run_binary(&["--help"]);
    assert!(status.success());
    for heading in [
        "Network:",
        "Files:",
        "HTTP:",
        "TLS:",
        "Logging:",
        "Examples:",
    ] {
        assert!(
            out.lines().any(|l| l == heading),
            "--help has no {heading} section:\n{out}"
        );
    }
    // The lines of a section: after its heading, up to the next heading.
    let section = |name: &str| {
        out.lines()
            .skip_while(|l| *l != format!("{name}:"))
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(section("Network").contains("--max-connections"), "{out}");
    assert!(section("Files").contains("--follow-symlinks"), "{out}");
    assert!(section("TLS").contains("--tls-key"), "{out}");
    assert!(out.contains("Example: --port 8080"), "{out}");
    assert!(out.contains("[default: 3000]"), "{out}");
}

// ---------------------------------------------------------------- start-up banner

/// Starts the server on `dir` with `args` and returns it with the stdout
/// lines up to and including the settings line (the last banner line).
fn banner(dir: &std::path::Path, args: &[&str]) -> (Child, Vec<String>) {
    let mut child = common::configure(
        &mut Command::new(env!("CARGO_BIN_EXE_rangeserve")),
        dir,
        args,
    )
    .spawn()
    .expect("start rangeserve");
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let last = line.starts_with("  listing ");
            if send.send(line).is_err() || last {
                break;
            }
        }
    });
    let mut got = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) {
        got.push(line);
    }
    (child, got)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn banner_keeps_first_line_then_prints_settings_line() {
    let dir = tempfile::tempdir().unwrap();
    let (child, lines) = banner(dir.path(), &["--bind", "127.0.0.1"]);
    stop(child);
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let prefix = format!("Serving {} at http://127.0.0.1:", root.display());
    assert_eq!(lines.len(), 2, "{lines:?}");
    let port = lines[0]
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|port| port.parse::<u16>().ok());
    assert!(port.is_some_and(|p| p != 0), "{lines:?}");
    assert!(
        lines[1].starts_with(
            "  listing on, hidden files off, symlinks contained, sendfile on, precompressed off, \
             TLS off, CORS off, max "
        ),
        "{lines:?}"
    );
    assert!(lines[1].ends_with(" connections"), "{lines:?}");
}

#[test]
fn banner_settings_line_follows_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (child, lines) = banner(
        dir.path(),
        &[
            "--no-listing",
            "--hidden",
            "--follow-symlinks",
            "--no-sendfile",
            "--precompressed",
            "--cors",
            "https://app.example",
            "--max-connections",
            "7",
        ],
    );
    stop(child);
    assert_eq!(
        lines.last().map(String::as_str),
        Some(
            "  listing off, hidden files on, symlinks followed, sendfile off, precompressed on, \
             TLS off, CORS https://app.example, max 7 connections"
        ),
        "{lines:?}"
    );
}

#[test]
fn banner_on_unspecified_address_lists_loopback_url() {
    let dir = tempfile::tempdir().unwrap();
    let (child, lines) = banner(dir.path(), &["--bind", "0.0.0.0"]);
    stop(child);
    let port = lines
        .first()
        .and_then(|l| l.strip_suffix('/'))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("port in the first line");
    assert!(lines[0].contains(" at http://0.0.0.0:"), "{lines:?}");
    let also = format!("  also at http://127.0.0.1:{port}/");
    assert!(lines.contains(&also), "{lines:?}");
    assert!(
        lines.iter().all(|l| !l.contains("also at http://[")),
        "an IPv4 socket lists no IPv6 URL: {lines:?}"
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with("  listing ")),
        "{lines:?}"
    );
}

#[test]
fn server_keeps_serving_after_stdout_is_closed_past_the_first_line() {
    // common::Server reads the first line and closes the pipe; the lines
    // after it must never make the server fail.
    let server = Server::start(&["--bind", "0.0.0.0"]);
    std::thread::sleep(Duration::from_millis(200));
    server.write("a.txt", b"hello");
    let r = server.get("/a.txt", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
}

// ---------------------------------------------------------------- start-up errors

/// Non-zero exit, and stderr is one `rangeserve: ` line containing `names`.
#[track_caller]
fn assert_one_line_failure(args: &[&str], names: &str) {
    let (status, _, err) = run_binary(args);
    assert!(!status.success(), "{args:?} exited with {status}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: stderr {err:?}");
    assert!(err.starts_with("rangeserve: "), "{args:?}: stderr {err:?}");
    assert!(
        err.contains(names),
        "{args:?}: stderr {err:?} does not name {names}"
    );
}

#[test]
fn nonexistent_folder_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    let missing = missing.to_str().unwrap();
    assert_one_line_failure(&[missing, "--port", "0"], missing);
}

#[test]
fn regular_file_as_folder_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, b"not a folder").unwrap();
    let file = file.to_str().unwrap();
    assert_one_line_failure(&[file, "--port", "0"], file);
}

#[test]
fn port_in_use_fails_with_one_line_naming_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let port = addr.port().to_string();
    let folder = dir.path().to_str().unwrap();
    assert_one_line_failure(&[folder, "--port", &port], &addr.to_string());
    drop(taken);
}

#[test]
fn version_prints_name_and_version() {
    let (status, out, _) = run_binary(&["--version"]);
    assert!(status.success());
    assert_eq!(out.trim_end(), "rangeserve 0.1.0");
}

#[test]
fn help_mentions_every_flag() {
    let (status, out, _) = run_binary(&["--help"]);
    assert!(status.success());
    for flag in [
        "--port",
        "--bind",
        "--hidden",
        "--header-timeout",
        "--shutdown-timeout",
    ] {
        assert!(out.contains(flag), "--help does not mention {flag}:\n{out}");
    }
}

// ---------------------------------------------------------------- shutdown

#[test]
fn sigterm_without_traffic_exits_zero_promptly() {
    let server = Server::start(&[]);
    // NOTE: idle for a moment first; a SIGTERM right after the banner is
    // `sigterm_right_after_banner_exits_zero` below.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = server.terminate_within(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The banner says the server is ready; a supervisor or script that sends
/// SIGTERM as soon as it reads it must get a graceful exit, not a kill by the
/// default signal action. Several starts, because it is a race.
/// Regression: the banner was printed before the SIGTERM handler was installed.
#[test]
fn sigterm_right_after_banner_exits_zero() {
    for attempt in 0..20 {
        let server = Server::start(&[]);
        let status = server.terminate_within(Duration::from_secs(5));
        assert_eq!(status.code(), Some(0), "attempt {attempt}: {status}");
    }
}

#[test]
fn sigterm_lets_download_in_flight_finish_and_refuses_new_connections() {
    const SIZE: usize = 64 << 20;
    let mut server = Server::start(&["--shutdown-timeout", "30"]);
    let content = pattern(SIZE);
    server.write("big.bin", &content);

    let mut stream = server.connect();
    let request = format!(
        "GET /big.bin HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).unwrap();
    // Read slowly at first, so the response is well under way but far from done.
    let mut received = vec![0u8; 256 << 10];
    stream.read_exact(&mut received).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    server.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(server.addr) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            // The listener closed while this handshake was in flight: the
            // kernel resets it. Not accepted; keep going until a clean refusal.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                assert!(
                    Instant::now() < deadline,
                    "no clean refusal 5 s after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("unexpected connect error after SIGTERM: {e}"),
            Ok(late) => {
                let _ = late.shutdown(Shutdown::Both);
                assert!(
                    Instant::now() < deadline,
                    "still accepting 5 s after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    assert!(
        server.wait_timeout(Duration::ZERO).is_none(),
        "exited before the download ended"
    );

    stream.read_to_end(&mut received).unwrap();
    let r = read_response(&mut received.as_slice(), false);
    assert_eq!(r.status, 200);
    assert!(
        !r.truncated,
        "download cut: {} of {SIZE} bytes",
        r.body.len()
    );
    assert!(r.body == content, "download is not byte-exact");

    let status = server
        .wait_timeout(Duration::from_secs(10))
        .expect("exit after the download");
    assert_eq!(status.code(), Some(0), "{status}");
}
