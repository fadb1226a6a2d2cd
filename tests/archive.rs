//! Folder archives (`/folder/?archive=tar`) against the real binary: read
//! back by GNU tar, bsdtar and Python's tarfile; resumed by curl, wget,
//! aria2c and rangeget; cut when a file changes under them; refused with
//! the reason beyond the limits.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use common::{Reap, Server, have_tool, pattern};

const ARCHIVE: &str = "/data/?archive=tar";

/// A test tree under `root/data`: nested folders, a UTF-8 name, a 150-byte
/// name, an empty file, an empty folder, a sub-second time; and what must
/// never appear: a hidden file, symlinks out of the folder, a FIFO.
fn fill(root: &Path) {
    let data = root.join("data");
    common::archive_fixture(&data, 300_001);
    std::fs::write(data.join("nested/small.txt"), b"small\n").expect("file");
    std::fs::write(data.join(".hidden"), b"secret").expect("file");
    std::fs::write(root.join("outside.txt"), b"outside").expect("file");
    std::os::unix::fs::symlink("../outside.txt", data.join("out-link")).expect("symlink");
    std::os::unix::fs::symlink("/etc/hostname", data.join("abs-link")).expect("symlink");
    let fifo = data.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
}

/// Every file and folder under `dir` (relative paths, folders with `/`),
/// sorted, each with its bytes.
fn contents(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, Option<Vec<u8>>)>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(base).expect("inside").to_path_buf();
            let kind = std::fs::symlink_metadata(&path).expect("lstat").file_type();
            if !kind.is_dir() && !kind.is_file() {
                // Symlinks and FIFOs: never in an archive.
                continue;
            }
            if path.is_dir() {
                out.push((relative, None));
                walk(base, &path, out);
            } else {
                out.push((relative, Some(std::fs::read(&path).expect("read"))));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// What the archive of `root/data` must extract to: the tree without what
/// must never appear.
fn expected(root: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut out = vec![(PathBuf::from("data"), None)];
    for (path, bytes) in contents(&root.join("data")) {
        let name = path.to_string_lossy();
        if name.starts_with(".hidden") {
            continue;
        }
        out.push((Path::new("data").join(path), bytes));
    }
    out.sort();
    out
}

fn run(command: &mut Command) -> Output {
    let out = command.stdin(Stdio::null()).output().expect("run");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_archive_extracts_with_gnu_tar_bsdtar_and_python_to_the_originals() {
    let server = Server::start(&[]);
    fill(server.path());
    let got = server.get(ARCHIVE, &[]);
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("application/x-tar"));
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"data.tar\"")
    );
    assert_eq!(got.header("accept-ranges"), Some("bytes"));
    assert_eq!(got.content_length(), Some(got.body.len() as u64));
    let etag = got.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with("\"tar-"), "a strong ETag: {etag}");
    // The newest entry's time (the file just written, or a folder).
    assert!(got.header("last-modified").is_some());

    let head = server.request("HEAD", ARCHIVE, &[]);
    for name in ["etag", "last-modified", "content-length", "content-type"] {
        assert_eq!(head.header(name), got.header(name), "HEAD and GET: {name}");
    }
    let again = server.get(ARCHIVE, &[]);
    assert_eq!(again.header("etag"), Some(etag.as_str()), "stable");
    assert!(again.body == got.body, "the same bytes");

    let work = tempfile::tempdir().expect("dir");
    let archive = work.path().join("data.tar");
    std::fs::write(&archive, &got.body).expect("write");
    let want = expected(server.path());
    for tool in common::TAR_READERS {
        if !have_tool(tool) {
            continue;
        }
        let out = tempfile::tempdir_in(work.path()).expect("dir");
        let extracted = common::extract(tool, &archive, out.path());
        assert!(
            extracted.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&extracted.stderr)
        );
        assert!(
            contents(out.path()) == want,
            "{tool} extracts the originals"
        );
        let mtime = std::fs::metadata(out.path().join("data/subsecond"))
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(
            mtime,
            UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000),
            "{tool} restores the sub-second time"
        );
    }
}

#[test]
fn ranges_if_range_and_multipart_apply_as_to_a_file() {
    let server = Server::start(&[]);
    fill(server.path());
    let whole = server.get(ARCHIVE, &[]).body;
    let etag = server
        .get(ARCHIVE, &[])
        .header("etag")
        .expect("etag")
        .to_owned();
    let total = whole.len();

    // Every range of a stride that crosses headers, data and padding.
    for first in (0..total).step_by(7_777) {
        let last = (first + 1_000).min(total - 1);
        let r = server.get(ARCHIVE, &[&format!("Range: bytes={first}-{last}")]);
        assert_eq!(r.status, 206);
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/{total}").as_str())
        );
        assert!(r.body == whole[first..=last], "bytes {first}-{last}");
    }
    let r = server.get(ARCHIVE, &["Range: bytes=0-99,-100"]);
    assert_eq!(r.status, 206);
    let parts = common::parse_multipart(r.header("content-type").expect("type"), &r.body);
    assert_eq!(parts.len(), 2);
    assert!(parts[0].1 == whole[..100] && parts[1].1 == whole[total - 100..]);

    let resumed = server.get(
        ARCHIVE,
        &["Range: bytes=1000-", &format!("If-Range: {etag}")],
    );
    assert_eq!(resumed.status, 206);
    assert!(resumed.body == whole[1000..]);
    assert_eq!(
        server
            .get(ARCHIVE, &[&format!("If-None-Match: {etag}")])
            .status,
        304
    );
    assert_eq!(server.get(ARCHIVE, &["If-Match: \"tar-0000\""]).status, 412);
    let past = server.get(ARCHIVE, &[&format!("Range: bytes={total}-")]);
    assert_eq!(past.status, 416);

    // A file added: a new ETag, and a resume with the old one gets the
    // whole new archive.
    std::thread::sleep(Duration::from_millis(20));
    server.write("data/added.txt", b"new");
    let fresh = server.get(ARCHIVE, &[]);
    assert_ne!(fresh.header("etag"), Some(etag.as_str()), "a new ETag");
    let stale = server.get(
        ARCHIVE,
        &["Range: bytes=1000-", &format!("If-Range: {etag}")],
    );
    assert_eq!(stale.status, 200, "an old If-Range gets the whole archive");
    assert!(stale.body == fresh.body);
    assert!(stale.body.windows(14).any(|w| w == b"data/added.txt"));
}

#[test]
fn a_copy_made_with_cp_a_has_the_same_etag_and_bytes() {
    let first = Server::start(&[]);
    fill(first.path());
    let copy = tempfile::tempdir().expect("dir");
    run(Command::new("cp")
        .arg("-a")
        .arg(first.path().join("data"))
        .arg(copy.path()));
    let second = Server::start_in(copy, &[]);
    let (a, b) = (first.get(ARCHIVE, &[]), second.get(ARCHIVE, &[]));
    assert_eq!(a.header("etag"), b.header("etag"));
    assert_eq!(a.header("last-modified"), b.header("last-modified"));
    assert!(a.body == b.body, "byte-identical on a replica");
}

#[test]
fn the_listing_offers_the_archive_with_its_size() {
    let server = Server::start(&[]);
    fill(server.path());
    let size = server.get(ARCHIVE, &[]).body.len();
    let page = server.get("/data/", &[]);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("<a href=\"?archive=tar\" download>Download this folder</a>"),
        "{html}"
    );
    assert!(html.contains(&format!("title=\"{size} bytes\"")), "{html}");
    assert!(
        page.header("link")
            .is_some_and(|l| l.starts_with("<?archive=tar>"))
    );
    let json = server.get("/", &["Accept: application/json"]);
    let json = String::from_utf8_lossy(&json.body);
    assert!(json.contains("\"archive\":\"data/?archive=tar\""), "{json}");
    // The served root is named `files` inside its archive.
    let root = server.get("/?archive=tar", &[]);
    assert_eq!(
        root.header("content-disposition"),
        Some("attachment; filename=\"files.tar\"")
    );
    assert!(root.body.windows(11).any(|w| w == b"files/data/"));
}

#[test]
fn limits_refuse_with_a_reason_and_no_listing_means_no_archive() {
    let server = Server::start(&["--archive-max-entries", "5", "--archive-max-depth", "2"]);
    for i in 0..6 {
        server.write(&format!("many/f{i}"), b"x");
    }
    server.write("deep/1/2/3/f", b"x");
    server.write("fits/1/f", b"x");
    let many = server.get("/many/?archive=tar", &[]);
    assert_eq!(many.status, 403);
    let reason = String::from_utf8_lossy(&many.body);
    assert!(reason.contains("more than 5 files and folders"), "{reason}");
    let deep = server.get("/deep/?archive=tar", &[]);
    assert_eq!(deep.status, 403);
    assert!(String::from_utf8_lossy(&deep.body).contains("more than 2 levels"));
    assert_eq!(server.get("/fits/?archive=tar", &[]).status, 200);
    let listing = String::from_utf8_lossy(&server.get("/many/", &[]).body).into_owned();
    assert!(
        listing.contains("cannot be downloaded as one archive"),
        "{listing}"
    );
    // Removing a file lifts the refusal.
    std::fs::remove_file(server.path().join("many/f0")).expect("remove");
    assert_eq!(server.get("/many/?archive=tar", &[]).status, 200);
    assert_eq!(server.get("/fits/?archive=zip", &[]).status, 400);

    for flag in ["--no-listing", "--no-archive"] {
        let off = Server::start(&[flag]);
        off.write("d/f", b"x");
        assert_eq!(off.get("/d/?archive=tar", &[]).status, 404, "{flag}");
    }
}

/// A file the server may not read refuses the archive up front. The server
/// runs as `nobody` when the tests run as root (root reads everything).
#[test]
fn an_unreadable_file_refuses_the_archive_up_front() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::create_dir(dir.path().join("d")).expect("dir");
    std::fs::write(dir.path().join("d/ok"), b"ok").expect("file");
    let secret = dir.path().join("d/secret");
    std::fs::write(&secret, b"secret").expect("file");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let id = run(Command::new("id").arg("-u"));
    let root = String::from_utf8_lossy(&id.stdout).trim() == "0";
    if root && !have_tool("setpriv") {
        return;
    }
    let mut command = if root {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_rangeserve"));
        command
    } else {
        Command::new(env!("CARGO_BIN_EXE_rangeserve"))
    };
    let (child, addr) = common::launch(common::configure(&mut command, dir.path(), &[]));
    let _server = Reap(child);
    let head = format!(
        "GET /d/?archive=tar HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        common::auth_line()
    );
    let r = common::exchange(addr, &head).expect("answer");
    assert_eq!(r.status, 403);
    let reason = String::from_utf8_lossy(&r.body);
    assert!(reason.contains("may not read"), "{reason}");
}

/// curl -C -, wget -c and aria2c -x 8 resume or split the archive and end
/// with exactly its bytes.
#[test]
fn curl_wget_and_aria2c_resume_to_byte_identical_archives() {
    let server = Server::start(&[]);
    fill(server.path());
    server.write("data/large.bin", &pattern(5 << 20));
    let whole = server.get(ARCHIVE, &[]).body;
    let url = server.url(ARCHIVE);
    let work = tempfile::tempdir().expect("dir");

    if have_tool("curl") {
        let local = work.path().join("curl.tar");
        std::fs::write(&local, &whole[..1 << 20]).expect("partial");
        run(Command::new("curl")
            .args([
                "--noproxy",
                "*",
                "--max-time",
                "60",
                "-s",
                "-f",
                "-C",
                "-",
                "-o",
            ])
            .arg(&local)
            .arg(&url));
        assert!(std::fs::read(&local).expect("read") == whole, "curl -C -");
    }
    if have_tool("wget") {
        let dir = tempfile::tempdir_in(work.path()).expect("dir");
        let local = dir.path().join("data.tar");
        std::fs::write(&local, &whole[..(3 << 20) + 17]).expect("partial");
        run(Command::new("wget")
            .args([
                "--no-config",
                "--no-proxy",
                "--timeout=30",
                "--tries=1",
                "-q",
                "-c",
                "-O",
            ])
            .arg(&local)
            .arg(&url)
            .current_dir(dir.path()));
        assert!(std::fs::read(&local).expect("read") == whole, "wget -c");
    }
    if have_tool("aria2c") {
        let dir = tempfile::tempdir_in(work.path()).expect("dir");
        run(Command::new("aria2c")
            .args(["-x", "8", "-s", "8", "-k", "1M", "--max-tries=3"])
            .args([
                "--summary-interval=0",
                "--console-log-level=warn",
                "-o",
                "a.tar",
                "-d",
            ])
            .arg(dir.path())
            .arg(&url)
            .stdout(Stdio::null()));
        assert!(
            std::fs::read(dir.path().join("a.tar")).expect("read") == whole,
            "aria2c -x 8"
        );
    }
}

/// rangeget killed in the middle of a rate-limited download, then run
/// again, resumes and ends with the archive's exact bytes.
#[test]
fn rangeget_killed_and_run_again_resumes_the_archive() {
    let server = Server::start(&["--limit-rate", "1M"]);
    fill(server.path());
    server.write("data/large.bin", &pattern(5 << 20));
    let whole = server.get(ARCHIVE, &["Range: bytes=0-"]).body;
    let url = server.url(ARCHIVE);
    let dir = tempfile::tempdir().expect("dir");
    let rangeget = env!("CARGO_BIN_EXE_rangeget");
    let child = Command::new(rangeget)
        .args([url.as_str(), "-j", "4", "-q", "-o", "data.tar"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .spawn()
        .expect("run rangeget");
    let mut child = Reap(child);
    std::thread::sleep(Duration::from_millis(800));
    let _ = child.0.kill();
    let _ = child.0.wait();
    assert!(dir.path().join("data.tar.part").exists(), "a part is kept");
    let out = run(Command::new(rangeget)
        .args([url.as_str(), "-j", "4", "-o", "data.tar"])
        .current_dir(dir.path()));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("resuming data.tar"), "{said}");
    assert!(
        std::fs::read(dir.path().join("data.tar")).expect("read") == whole,
        "byte-identical"
    );
}

/// Members rewritten while a slow download of the archive is under way cut
/// the connection: fewer bytes than Content-Length, never an archive that
/// looks complete.
#[test]
fn a_file_rewritten_during_a_slow_download_cuts_it() {
    let server = Server::start(&["--limit-rate", "256K"]);
    server.write("data/a.bin", &pattern(1 << 20));
    server.write("data/b.bin", &pattern(1 << 20));
    let mut stream = server.connect();
    let head = format!(
        "GET {ARCHIVE} HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        common::auth_line()
    );
    stream.write_all(head.as_bytes()).expect("send");
    let mut got = vec![0u8; 64 * 1024];
    let mut read = 0;
    while read < got.len() {
        read += stream.read(&mut got[read..]).expect("read");
    }
    let text = String::from_utf8_lossy(&got[..read]).into_owned();
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a length");
    // Rewrite both files (same length, new bytes): the one being sent and
    // the one still ahead.
    server.write("data/a.bin", &vec![b'A'; 1 << 20]);
    server.write("data/b.bin", &vec![b'B'; 1 << 20]);
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let body_start = text.find("\r\n\r\n").expect("end of head") + 4;
    let body = read - body_start + rest.len();
    assert!(body < length, "cut: {body} of {length} bytes");
    // A member changed before the body reached it gives no byte: it is
    // checked when opened. (One being sent may have given part of a frame
    // of new bytes before the check after each send, as for a single file.)
    assert!(!rest.windows(64).any(|w| w.iter().all(|&b| b == b'B')));
}

/// A sparse file past 4 GiB: the right length before the first byte, the
/// right bytes at the far end, and GNU tar reads the whole stream.
#[test]
fn a_sparse_file_past_4_gib_is_served_and_read_back() {
    const SIZE: u64 = (4 << 30) + (1 << 29) + 123;
    let server = Server::start(&[]);
    let big = server.path().join("big");
    std::fs::create_dir(&big).expect("dir");
    let file = std::fs::File::create(big.join("sparse.bin")).expect("create");
    file.set_len(SIZE).expect("sparse");
    let marker = b"the far end of a sparse file";
    std::os::unix::fs::FileExt::write_at(&file, marker, 4 << 30).expect("marker");
    std::os::unix::fs::FileExt::write_at(&file, b"END", SIZE - 3).expect("marker");
    // Whole seconds: no PAX header for a sub-second time.
    let second = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    file.set_modified(second).expect("mtime");
    drop(file);
    std::fs::File::open(&big)
        .and_then(|dir| dir.set_modified(second))
        .expect("folder mtime");

    // Folder header, file header, data, padding, two end blocks.
    let padding = (512 - SIZE % 512) % 512;
    let total = 512 + 512 + SIZE + padding + 1024;
    let head = server.request("HEAD", "/big/?archive=tar", &[]);
    assert_eq!(head.content_length(), Some(total));
    let at = 1024 + (4u64 << 30);
    let r = server.get(
        "/big/?archive=tar",
        &[&format!(
            "Range: bytes={at}-{}",
            at + marker.len() as u64 - 1
        )],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, marker);
    let end = 1024 + SIZE - 3;
    let r = server.get(
        "/big/?archive=tar",
        &[&format!("Range: bytes={end}-{}", end + 2)],
    );
    assert_eq!(r.body, b"END");

    if !have_tool("tar") || !have_tool("curl") {
        return;
    }
    let mut curl = Command::new("curl")
        .args(["--noproxy", "*", "--max-time", "300", "-s", "-f"])
        .arg(server.url("/big/?archive=tar"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let stdout = curl.stdout.take().expect("stdout");
    let listed = Command::new("tar")
        .args(["-tvf", "-"])
        .stdin(stdout)
        .output()
        .expect("tar");
    assert!(curl.wait().expect("curl").success());
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(&format!(" {SIZE} ")) && listed.contains("big/sparse.bin"),
        "{listed}"
    );
}
