//! The open-file cache never serves a file a path no longer names: every
//! change to the folders on the way is seen by the very next request. Each
//! test first requests the path so the file is cached, then changes the
//! folder, then requests again at once (no sleep: the guarantee is that a
//! request arriving after a change sees it).

mod common;

use std::os::unix::fs::symlink;

use common::Server;

fn body_of(server: &Server, path: &str) -> (u16, Vec<u8>) {
    let r = server.get(path, &[]);
    (r.status, r.body)
}

#[test]
fn a_file_replaced_by_rename_is_served_new_at_once() {
    let server = Server::start(&[]);
    server.write("f.txt", b"version 0");
    for i in 1..=200 {
        assert_eq!(
            body_of(&server, "/f.txt").1,
            format!("version {}", i - 1).as_bytes()
        );
        let tmp = server.write("incoming.tmp", format!("version {i}").as_bytes());
        std::fs::rename(tmp, server.path().join("f.txt")).expect("rename");
    }
    assert_eq!(body_of(&server, "/f.txt").1, b"version 200");
}

#[test]
fn a_deleted_file_is_404_at_once() {
    let server = Server::start(&[]);
    let path = server.write("gone.txt", b"here");
    assert_eq!(body_of(&server, "/gone.txt"), (200, b"here".to_vec()));
    std::fs::remove_file(path).expect("remove");
    assert_eq!(body_of(&server, "/gone.txt").0, 404);
}

#[test]
fn a_renamed_parent_folder_is_seen_at_once() {
    let server = Server::start(&[]);
    server.write("a/b/c/f.txt", b"old tree");
    assert_eq!(body_of(&server, "/a/b/c/f.txt").1, b"old tree");
    // Swap the outermost folder: only a watch on the root sees it.
    std::fs::rename(server.path().join("a"), server.path().join("a.old")).expect("rename");
    server.write("a/b/c/f.txt", b"new tree");
    assert_eq!(body_of(&server, "/a/b/c/f.txt").1, b"new tree");
    // And a middle one.
    std::fs::rename(server.path().join("a/b"), server.path().join("a/b.old")).expect("rename");
    assert_eq!(body_of(&server, "/a/b/c/f.txt").0, 404);
    server.write("a/b/c/f.txt", b"newer tree");
    assert_eq!(body_of(&server, "/a/b/c/f.txt").1, b"newer tree");
}

#[test]
fn an_index_html_replaced_is_served_new_and_removed_falls_back_to_listing() {
    let server = Server::start(&[]);
    server.write("site/index.html", b"<p>one</p>");
    assert_eq!(body_of(&server, "/site/").1, b"<p>one</p>");
    let tmp = server.write("site/next.tmp", b"<p>two</p>");
    std::fs::rename(tmp, server.path().join("site/index.html")).expect("rename");
    assert_eq!(body_of(&server, "/site/").1, b"<p>two</p>");
    std::fs::remove_file(server.path().join("site/index.html")).expect("remove");
    let r = server.get("/site/", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "a listing now"
    );
    assert!(!r.body.windows(3).any(|w| w == b"two"), "not the old index");
}

#[test]
fn a_path_through_a_symlink_follows_the_symlink_when_it_changes() {
    let server = Server::start(&[]);
    server.write("v1/data.bin", b"release 1");
    server.write("v2/data.bin", b"release 2");
    let link = server.path().join("current");
    symlink("v1", &link).expect("symlink");
    assert_eq!(body_of(&server, "/current/data.bin").1, b"release 1");
    assert_eq!(body_of(&server, "/current/data.bin").1, b"release 1");
    // Repoint the link atomically, as deploy scripts do.
    let next = server.path().join("current.next");
    symlink("v2", &next).expect("symlink");
    std::fs::rename(&next, &link).expect("rename");
    assert_eq!(body_of(&server, "/current/data.bin").1, b"release 2");
    // A change inside the target folder, which is not watched for this path.
    let tmp = server.write("v2/next.tmp", b"release 2, fixed");
    std::fs::rename(tmp, server.path().join("v2/data.bin")).expect("rename");
    assert_eq!(body_of(&server, "/current/data.bin").1, b"release 2, fixed");
}

#[test]
fn a_file_rewritten_in_place_gets_new_validators_at_once() {
    let server = Server::start(&[]);
    let path = server.write("doc.txt", b"short");
    let first = server.get("/doc.txt", &[]);
    std::fs::write(&path, b"a longer text").expect("rewrite");
    let second = server.get("/doc.txt", &[]);
    assert_eq!(second.body, b"a longer text");
    assert_eq!(second.content_length(), Some(13));
    assert_ne!(first.header("etag"), second.header("etag"));
}

#[test]
fn many_files_beyond_the_cache_capacity_are_all_served_right() {
    // With a 256 open-file limit the cache holds 16 files: 100 files make it
    // start over several times. Every answer must still be the right file.
    let dir = tempfile::tempdir().expect("temp dir");
    for i in 0..100 {
        std::fs::write(dir.path().join(format!("{i}.txt")), format!("file {i}")).expect("write");
    }
    let Some(server) = Server::start_limited(dir, 256, &["--max-connections", "32"]) else {
        return;
    };
    for round in 0..3 {
        for i in 0..100 {
            let (status, body) = body_of(&server, &format!("/{i}.txt"));
            assert_eq!(status, 200, "round {round}, file {i}");
            assert_eq!(body, format!("file {i}").as_bytes(), "round {round}");
        }
    }
}

#[test]
fn no_file_cache_serves_the_same() {
    let server = Server::start(&["--no-file-cache"]);
    server.write("f.txt", b"one");
    assert_eq!(body_of(&server, "/f.txt").1, b"one");
    let tmp = server.write("t.tmp", b"two");
    std::fs::rename(tmp, server.path().join("f.txt")).expect("rename");
    assert_eq!(body_of(&server, "/f.txt").1, b"two");
}

#[test]
fn a_deleted_file_is_closed_without_waiting_for_a_request() {
    // Its disk space is freed only when the last handle closes.
    let server = Server::start(&[]);
    let path = server.write("huge.iso", b"pretend this is 50 GB");
    assert_eq!(body_of(&server, "/huge.iso").0, 200);
    let held = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .expect("list the server's descriptors")
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .any(|target| target.to_string_lossy().contains("huge.iso"))
    };
    assert!(held(), "cached, so held open");
    std::fs::remove_file(path).expect("remove");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while held() {
        assert!(
            std::time::Instant::now() < deadline,
            "still open 5 s after it was deleted"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

// The version of a cached file (its length and modification time, and the
// validators made from them) is kept until the file's own watch reports a
// change: these change the file without touching its folder.

#[test]
fn a_file_appended_to_in_place_gets_new_validators_every_time() {
    let server = Server::start(&[]);
    let path = server.write("log.txt", b"0");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open for append");
    let mut etags = std::collections::HashSet::new();
    for i in 1..=100 {
        let r = server.get("/log.txt", &[]);
        assert_eq!(r.content_length(), Some(i), "request {i}");
        assert_eq!(r.body.len(), usize::try_from(i).expect("small"));
        assert!(etags.insert(r.header("etag").expect("etag").to_owned()));
        std::io::Write::write_all(&mut file, b"1").expect("append");
    }
}

#[test]
fn a_write_through_a_hard_link_outside_the_folder_is_seen_at_once() {
    let server = Server::start(&[]);
    let path = server.write("data.bin", b"old bytes");
    let elsewhere = tempfile::tempdir_in(server.path().parent().expect("parent")).expect("dir");
    let link = elsewhere.path().join("link");
    std::fs::hard_link(&path, &link).expect("hard link");
    let first = server.get("/data.bin", &[]);
    assert_eq!(first.body, b"old bytes");
    std::fs::write(&link, b"new bytes, longer").expect("write through the link");
    let second = server.get("/data.bin", &[]);
    assert_eq!(second.body, b"new bytes, longer");
    assert_ne!(first.header("etag"), second.header("etag"));
}

#[test]
fn a_touched_file_gets_a_new_last_modified_at_once() {
    let server = Server::start(&[]);
    let path = server.write("t.txt", b"same bytes");
    let first = server.get("/t.txt", &[]);
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    let earlier = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    file.set_modified(earlier).expect("set mtime");
    let second = server.get("/t.txt", &[]);
    assert_ne!(
        first.header("last-modified"),
        second.header("last-modified")
    );
    assert_eq!(
        second.header("last-modified"),
        Some("Sun, 09 Sep 2001 01:46:40 GMT")
    );
}

/// A write through a shared memory mapping sends no inotify event; the
/// kernel records it in the modification time at the first write to each
/// clean page. A conditional request that reads no bytes must still see it.
#[test]
fn a_write_through_a_shared_mapping_is_seen_by_a_conditional_request() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    assert!(
        common::have_tool("python3"),
        "python3 is needed to write through a mapping"
    );
    let server = Server::start(&[]);
    let path = server.write("mapped.bin", b"0123456789");
    let first = server.get("/mapped.bin", &[]);
    let etag = first.header("etag").expect("etag").to_owned();
    // Later than the cached version's time, at any timestamp granularity.
    std::thread::sleep(std::time::Duration::from_millis(50));
    // The mapping's file stays open until stdin closes: no IN_CLOSE_WRITE.
    let script = "import mmap, os, sys\n\
                  fd = os.open(sys.argv[1], os.O_RDWR)\n\
                  os.fsync(fd)\n\
                  m = mmap.mmap(fd, 0)\n\
                  m[0:5] = b'XXXXX'\n\
                  print('written', flush=True)\n\
                  sys.stdin.read()\n";
    let mut writer = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    let stdout = writer.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "written");

    let if_none_match = format!("If-None-Match: {etag}");
    let revalidated = server.get("/mapped.bin", &[&if_none_match]);
    let head = server.request("HEAD", "/mapped.bin", &[]);
    let again = server.get("/mapped.bin", &[]);
    drop(writer.stdin.take());
    let _ = writer.wait();

    assert_eq!(revalidated.status, 200, "the old ETag no longer matches");
    assert_eq!(revalidated.body, b"XXXXX56789");
    assert_ne!(revalidated.header("etag"), Some(etag.as_str()));
    assert_eq!(head.header("etag"), revalidated.header("etag"));
    assert_eq!(again.body, b"XXXXX56789");
    assert_eq!(again.header("etag"), revalidated.header("etag"));
}
