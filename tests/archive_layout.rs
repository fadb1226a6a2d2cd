//! The tar layout (`rangeserve::archive::tar`) written out for a real tree
//! and read back by GNU tar, bsdtar and Python's tarfile: every file equal
//! to its original. (Serving folders as archives is not wired up yet.)

mod common;

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use rangeserve::archive::tar::{Kind, Layout, Member, Part};

/// Members for every entry under `root`, sorted by name bytes, folders
/// before what they hold.
fn members(root: &Path, at: &Path, out: &mut Vec<(Member, std::path::PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(at)
        .expect("read")
        .map(|e| e.expect("entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        let since = meta
            .modified()
            .expect("mtime")
            .duration_since(UNIX_EPOCH)
            .expect("after 1970");
        let name = path
            .strip_prefix(root)
            .expect("inside")
            .as_os_str()
            .as_encoded_bytes()
            .to_vec();
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        let member = Member {
            name,
            kind,
            size: if meta.is_dir() { 0 } else { meta.len() },
            mtime: (
                i64::try_from(since.as_secs()).expect("secs"),
                since.subsec_nanos(),
            ),
            mode: meta.permissions().mode() & 0o7777,
        };
        out.push((member, path.clone()));
        if meta.is_dir() {
            members(root, &path, out);
        }
    }
}

#[test]
fn gnu_tar_bsdtar_and_python_extract_the_layout_exactly() {
    let tree = tempfile::tempdir().expect("dir");
    let root = tree.path().join("folder");
    common::archive_fixture(&root, 70_001);

    let mut list = Vec::new();
    members(&root, &root, &mut list);
    let layout = Layout::new(&list.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>());
    let mut bytes = Vec::new();
    for part in layout.parts(0..layout.len()) {
        match part {
            Part::Bytes(b) => bytes.extend_from_slice(&b),
            Part::Zeros(n) => bytes.resize(bytes.len() + usize::try_from(n).expect("small"), 0),
            Part::Data { index, offset, len } => {
                let mut f = std::fs::File::open(&list[index].1).expect("open");
                f.seek(SeekFrom::Start(offset)).expect("seek");
                let mut chunk = vec![0u8; usize::try_from(len).expect("small")];
                f.read_exact(&mut chunk).expect("read");
                bytes.extend(chunk);
            }
        }
    }
    assert_eq!(bytes.len() as u64, layout.len());
    let archive = tree.path().join("folder.tar");
    std::fs::write(&archive, &bytes).expect("write");

    for tool in common::TAR_READERS {
        if !common::have_tool(tool) {
            continue;
        }
        let out = tempfile::tempdir().expect("dir");
        let status = common::extract(tool, &archive, out.path());
        assert!(
            status.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        for (member, original) in &list {
            let extracted = out.path().join(std::ffi::OsStr::from_bytes(&member.name));
            match member.kind {
                Kind::Dir => assert!(extracted.is_dir(), "{tool}: {}", extracted.display()),
                Kind::File => {
                    assert_eq!(
                        std::fs::read(&extracted).expect("extracted"),
                        std::fs::read(original).expect("original"),
                        "{tool}: {}",
                        extracted.display()
                    );
                }
            }
        }
        let mtime = std::fs::metadata(out.path().join("subsecond"))
            .expect("meta")
            .modified()
            .expect("mtime");
        assert_eq!(
            mtime.duration_since(UNIX_EPOCH).expect("epoch").as_secs(),
            1_700_000_000,
            "{tool}"
        );
    }
}
