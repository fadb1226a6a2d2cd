//! Reading a folder's entries: names, types, sizes and dates, from a folder
//! the resolver already opened.
//!
//! Blocking I/O (`getdents`, `statx`), run on the blocking pool. It does not
//! sort, render or decide whether a folder is listed (`listing/` and the
//! handler do).
//!
//! Names are raw bytes: any bytes but `/` and NUL, as the file system stores them.

use std::fs::File;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::digests::Key;

/// One entry of a folder, as the listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as the file system stores it: any bytes but `/` and NUL.
    pub name: Vec<u8>,
    pub is_dir: bool,
    /// The length in bytes; 0 for a folder (its own size is file-system
    /// bookkeeping, not content).
    pub size: u64,
    /// Last modification, when the file system reports it.
    pub modified: Option<SystemTime>,
    /// The exact version of a file, to look its digest up by.
    pub version: Option<Key>,
    /// Its SHA-256 in hex, once known (filled in by the handler).
    pub sha256: Option<String>,
}

/// Lists the folder `dir` (an open handle, from the resolver).
///
/// 1. `.` and `..` are skipped; so is any name starting with `.` unless
///    `hidden` (the resolver would answer 404 for them anyway).
/// 2. Each name is `statx`ed relative to the handle, following symlinks, so
///    a link shows its target's type, size and date.
/// 3. An entry whose stat fails (a dangling symlink, a loop, a file removed
///    since the read) is skipped, as is anything but a regular file or a
///    folder (FIFOs, sockets, devices): the resolver would not serve them.
///
/// Symlinks are listed with their target's type, size and date, and only if
/// `symlink_allowed(name)` says so: the caller refuses those leading out of
/// the root, so a listing never reveals what lies outside it.
///
/// Blocking: call it on the blocking pool. The entries come in directory
/// order; sort them with `listing::sort_entries`.
pub fn read_entries(
    dir: &File,
    hidden: bool,
    symlink_allowed: &dyn Fn(&std::ffi::CStr) -> bool,
) -> io::Result<Vec<Entry>> {
    use rustix::fs::{AtFlags, FileType, StatxFlags};

    let mut entries = Vec::new();
    // NOTE: `read_from` reopens the folder (`openat(fd, ".")`), so reading
    // does not move the offset of the caller's handle.
    for dirent in rustix::fs::Dir::read_from(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." || (bytes.starts_with(b".") && !hidden) {
            continue;
        }
        let is_symlink = match dirent.file_type() {
            FileType::Symlink => true,
            FileType::Unknown => {
                rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::TYPE).is_ok_and(
                    |st| FileType::from_raw_mode(u32::from(st.stx_mode)) == FileType::Symlink,
                )
            }
            _ => false,
        };
        if is_symlink && !symlink_allowed(name) {
            continue;
        }
        let wanted = StatxFlags::TYPE
            | StatxFlags::SIZE
            | StatxFlags::MTIME
            | StatxFlags::CTIME
            | StatxFlags::INO;
        let Ok(stat) = rustix::fs::statx(dir, name, AtFlags::empty(), wanted) else {
            continue;
        };
        if stat.stx_mask & StatxFlags::TYPE.bits() == 0 {
            continue;
        }
        let is_dir = match FileType::from_raw_mode(u32::from(stat.stx_mode)) {
            FileType::Directory => true,
            FileType::RegularFile => false,
            _ => continue,
        };
        let modified = if stat.stx_mask & StatxFlags::MTIME.bits() != 0 {
            system_time(stat.stx_mtime.tv_sec, stat.stx_mtime.tv_nsec)
        } else {
            None
        };
        let all =
            (StatxFlags::SIZE | StatxFlags::MTIME | StatxFlags::CTIME | StatxFlags::INO).bits();
        let version = (!is_dir && stat.stx_mask & all == all).then(|| {
            let ns = |t: rustix::fs::StatxTimestamp| {
                i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
            };
            Key::from_parts(
                rustix::fs::makedev(stat.stx_dev_major, stat.stx_dev_minor),
                stat.stx_ino,
                stat.stx_size,
                ns(stat.stx_mtime),
                ns(stat.stx_ctime),
            )
        });
        entries.push(Entry {
            name: bytes.to_vec(),
            is_dir,
            size: if is_dir { 0 } else { stat.stx_size },
            modified,
            version,
            sha256: None,
        });
    }
    Ok(entries)
}

/// Opens the regular file `name` of the folder `dir` for reading, without
/// following a symlink (for hashing what a listing shows).
pub fn open_file(dir: &File, name: &[u8]) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// A `statx` timestamp as a `SystemTime`; `None` if it does not fit.
fn system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    let whole = Duration::from_secs(secs.unsigned_abs());
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(whole)?
    } else {
        UNIX_EPOCH.checked_sub(whole)?
    };
    base.checked_add(Duration::from_nanos(u64::from(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_entries_lists_files_and_folders_and_follows_symlinks() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path();
        std::fs::write(root.join("file.txt"), b"hello").expect("write");
        std::fs::create_dir(root.join("folder")).expect("mkdir");
        std::fs::write(root.join(".hidden"), b"secret").expect("write");
        symlink("missing", root.join("dangling")).expect("symlink");
        std::fs::write(root.join("target.bin"), vec![0u8; 1234]).expect("write");
        symlink("target.bin", root.join("link")).expect("symlink");
        std::fs::write(
            root.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"raw\xff")),
            b"x",
        )
        .expect("write non-UTF-8 name");

        let handle = File::open(root).expect("open dir");
        let mut entries = read_entries(&handle, false, &|_| true).expect("list");
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let summary: Vec<(Vec<u8>, bool, u64)> = entries
            .iter()
            .map(|e| (e.name.clone(), e.is_dir, e.size))
            .collect();
        assert_eq!(
            summary,
            [
                (b"file.txt".to_vec(), false, 5),
                (b"folder".to_vec(), true, 0),
                (b"link".to_vec(), false, 1234),
                (b"raw\xff".to_vec(), false, 1),
                (b"target.bin".to_vec(), false, 1234),
            ]
        );
        assert!(entries.iter().all(|e| e.modified.is_some()));

        let with_hidden = read_entries(&handle, true, &|_| true).expect("list");
        assert!(with_hidden.iter().any(|e| e.name == b".hidden"));
        assert!(
            !with_hidden
                .iter()
                .any(|e| e.name == b"." || e.name == b"..")
        );
        assert!(!with_hidden.iter().any(|e| e.name == b"dangling"));
    }
}
