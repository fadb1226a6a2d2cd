//! Black-box tests of what the binary prints: the generated man page and
//! shell completions (hidden flags that need no folder), `--help`, and the
//! start-up banner.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::Server;

/// Runs the binary with `args` to completion, bounded; returns status,
/// stdout and stderr.
fn run_binary(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rangeserve"))
        .args(args)
        .env_remove("RANGESERVE_DIR")
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
    assert!(
        !out.contains("generate"),
        "hidden flags in the man page:\n{out}"
    );
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
        assert!(
            !out.contains("--generate"),
            "{help} shows a hidden flag:\n{out}"
        );
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
