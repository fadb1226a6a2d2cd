//! A folder's whole tree, for an archive of it: the walk, the members
//! opened again when their bytes are sent, and the change detection that
//! says when a walk is out of date.
//!
//! The walk obeys the listing's rules and a few of its own:
//! - names starting with `.` only with `hidden`;
//! - FIFOs, sockets and devices are skipped (never opened);
//! - a symlink is followed only if it resolves inside the walked folder
//!   (`openat2` with `RESOLVE_BENEATH` from the folder's handle, so an
//!   absolute symlink is skipped too) and only to a regular file, whose
//!   content then stands in the archive under the symlink's name; symlinks
//!   to folders are skipped, so a tree has no loops and no file twice by
//!   way of its folder;
//! - every regular file is opened for reading during the walk, so a file
//!   the server may not read refuses the whole archive up front
//!   ([`WalkError::Forbidden`]) instead of failing in the middle of it;
//! - at most [`Limits::entries`] entries and [`Limits::depth`] levels of
//!   folders.
//!
//! Blocking I/O (`getdents`, `openat2`, `fstat`): run it on the blocking
//! pool. Siblings come sorted by their name's bytes and a folder's contents
//! follow it, so the same tree always gives the same order.
//!
//! Change detection: a [`Watcher`] (inotify) watches every folder of a
//! walked tree, before the folder is read, for any change to its entries
//! or to their contents (`IN_MODIFY`, `IN_ATTRIB`, `IN_CLOSE_WRITE`,
//! `IN_CREATE`, `IN_DELETE`, `IN_MOVED_*` and the folder's own deletion or
//! move): the same events the open-file cache relies on, plus those of file
//! contents. A file written through a path outside the tree (a hard link,
//! a symlink's target in a hidden folder) sends no event to these watches;
//! the check made when each member is opened again catches it (the
//! response is cut and the tree marked [`Tree::is_stale`]).

use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::ResolveError;
use super::snapshot::{Pinned, Snapshot};

/// How much of a tree a walk takes on before it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Files and folders, the walked folder not counted.
    pub entries: usize,
    /// Levels of folders below the walked one.
    pub depth: usize,
}

impl Default for Limits {
    /// 100,000 entries and 64 levels: a walk of that many entries takes
    /// well under a second from the page cache, and its layout about 100 MB
    /// of headers at worst (a 512-byte header per member, 1 KiB with a PAX
    /// header).
    fn default() -> Self {
        Limits {
            entries: 100_000,
            depth: 64,
        }
    }
}

/// One file or folder of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The path from the walked folder, `/`-separated, no leading `/`.
    pub path: Vec<u8>,
    pub is_dir: bool,
    /// Data bytes (0 for a folder).
    pub size: u64,
    /// Modification time: seconds since the epoch and nanoseconds.
    pub mtime: (i64, u32),
    /// Permission bits.
    pub mode: u32,
    /// What the file was when walked, checked when it is opened again.
    snapshot: Snapshot,
}

/// Why a tree cannot be walked.
#[derive(Debug)]
pub enum WalkError {
    /// More entries than the limit allows.
    TooMany(usize),
    /// Folders nested deeper than the limit allows.
    TooDeep(usize),
    /// A file or folder in it may not be read.
    Forbidden,
    Io(io::Error),
}

/// A walk that stopped before its end.
#[derive(Debug)]
pub struct Stopped {
    pub error: WalkError,
    /// Every folder read so far was watched: a refusal (too many, too deep,
    /// unreadable) then lasts until an event, since only a change to what
    /// was read can lift it.
    pub watched: bool,
}

impl WalkError {
    /// Why the archive is refused, for a refusal that lasts as long as the
    /// folder does not change; `None` for an I/O failure.
    pub fn reason(&self) -> Option<String> {
        Some(match self {
            WalkError::TooMany(limit) => format!(
                "this folder has more than {limit} files and folders, too many for one archive"
            ),
            WalkError::TooDeep(limit) => format!(
                "this folder nests folders more than {limit} levels deep, too deep for one archive"
            ),
            WalkError::Forbidden => {
                "this folder holds a file or folder the server may not read".to_string()
            }
            WalkError::Io(_) => return None,
        })
    }
}

impl From<WalkError> for ResolveError {
    fn from(err: WalkError) -> Self {
        match (err.reason(), err) {
            (Some(reason), _) => ResolveError::Refused(reason),
            (None, WalkError::Io(e)) => ResolveError::from(e),
            (None, _) => ResolveError::Io(io::Error::other("a walk failed")),
        }
    }
}

impl From<Errno> for WalkError {
    fn from(errno: Errno) -> Self {
        if errno == Errno::ACCESS || errno == Errno::PERM {
            WalkError::Forbidden
        } else {
            WalkError::Io(errno.into())
        }
    }
}

/// A walked tree: its folder, held open, and its nodes in archive order.
#[derive(Debug)]
pub struct Tree {
    dir: File,
    pub nodes: Vec<Node>,
    /// Every folder of it is watched by the [`Watcher`] it was walked with.
    pub watched: bool,
    stale: Arc<AtomicBool>,
}

impl Tree {
    /// Opens node `index` again, for its bytes, and checks it is still the
    /// file the walk saw (length and modification time, as for any file
    /// response). A change is an error, counted as a cut, and marks the tree
    /// stale; so does any later change the returned handle's checks see.
    /// Metadata only (open, fstat).
    pub fn open(&self, index: usize) -> io::Result<Pinned> {
        let node = self
            .nodes
            .get(index)
            .ok_or_else(|| io::Error::other("no such member"))?;
        let opened = open_beneath(&self.dir, &node.path, OFlags::RDONLY)
            .map_err(io::Error::from)
            .and_then(|fd| {
                let file = File::from(fd);
                let snapshot = Snapshot::of(&file.metadata()?);
                Ok((file, snapshot))
            });
        match opened {
            Ok((file, snapshot)) if snapshot == node.snapshot => Ok(Pinned {
                file: Arc::new(file),
                snapshot,
                on_change: Some(Arc::clone(&self.stale)),
            }),
            Ok(_) => {
                self.stale.store(true, Ordering::Relaxed);
                Err(Snapshot::changed())
            }
            Err(e) => {
                self.stale.store(true, Ordering::Relaxed);
                Err(Snapshot::vanished(e))
            }
        }
    }

    /// Whether a member was found changed while being sent: the tree no
    /// longer describes the folder.
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    /// The walked folder's own modification time and mode.
    pub fn folder(&self) -> io::Result<(i64, u32, u32)> {
        let meta = self.dir.metadata()?;
        Ok((meta.mtime(), nanos(&meta), meta.mode() & 0o7777))
    }
}

/// Walks the folder `dir`, watching each of its folders with `watcher`
/// (when given) before reading it. See the module comment for the rules.
pub fn walk(
    dir: File,
    hidden: bool,
    limits: Limits,
    watcher: Option<&Watcher>,
) -> Result<Tree, Stopped> {
    let mut walk = Walk {
        top: &dir,
        hidden,
        limits,
        watcher,
        watched: watcher.is_some(),
        nodes: Vec::new(),
    };
    let walked = walk.visit(&dir, &mut Vec::new(), 0);
    let watched = walk.watched;
    walked.map_err(|error| Stopped { error, watched })?;
    let nodes = walk.nodes;
    Ok(Tree {
        dir,
        nodes,
        watched,
        stale: Arc::new(AtomicBool::new(false)),
    })
}

struct Walk<'a> {
    top: &'a File,
    hidden: bool,
    limits: Limits,
    watcher: Option<&'a Watcher>,
    watched: bool,
    nodes: Vec<Node>,
}

impl Walk<'_> {
    /// Adds the entries of the folder `dir` (at `prefix`, empty or ending
    /// with `/`), `depth` levels below the top, and those of its folders.
    fn visit(&mut self, dir: &File, prefix: &mut Vec<u8>, depth: usize) -> Result<(), WalkError> {
        if let Some(watcher) = self.watcher {
            if self.watched && watcher.watch(dir).is_err() {
                // Out of watches: still served, but walked every time.
                self.watched = false;
            }
        }
        let mut names = Vec::new();
        for dirent in rustix::fs::Dir::read_from(dir)? {
            let dirent = dirent?;
            let name = dirent.file_name().to_bytes();
            if name == b"." || name == b".." || (name.starts_with(b".") && !self.hidden) {
                continue;
            }
            names.push((name.to_vec(), dirent.file_type()));
        }
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, mut kind) in names {
            if self.nodes.len() >= self.limits.entries {
                return Err(WalkError::TooMany(self.limits.entries));
            }
            if kind == FileType::Unknown {
                let Ok(stat) = rustix::fs::statx(
                    dir,
                    name.as_slice(),
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    rustix::fs::StatxFlags::TYPE,
                ) else {
                    continue;
                };
                kind = FileType::from_raw_mode(u32::from(stat.stx_mode));
            }
            let start = prefix.len();
            prefix.extend_from_slice(&name);
            let added = match kind {
                FileType::Directory => self.folder(dir, &name, prefix, depth),
                FileType::RegularFile => self.file(dir, &name, prefix),
                FileType::Symlink => self.symlink(prefix),
                _ => Ok(()),
            };
            prefix.truncate(start);
            added?;
        }
        Ok(())
    }

    fn folder(
        &mut self,
        parent: &File,
        name: &[u8],
        path: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), WalkError> {
        if depth + 1 > self.limits.depth {
            return Err(WalkError::TooDeep(self.limits.depth));
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let sub = match rustix::fs::openat(parent, name, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            // Gone, or replaced by something else since it was read.
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let meta = sub.metadata().map_err(WalkError::Io)?;
        self.nodes.push(node(path.clone(), &meta));
        path.push(b'/');
        self.visit(&sub, path, depth + 1)
    }

    fn file(&mut self, parent: &File, name: &[u8], path: &[u8]) -> Result<(), WalkError> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = match rustix::fs::openat(parent, name, flags | OFlags::NOCTTY, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(Errno::NOENT | Errno::LOOP) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata().map_err(WalkError::Io)?;
        if meta.is_file() {
            self.nodes.push(node(path.to_vec(), &meta));
        }
        Ok(())
    }

    /// A symlink at `path`: its target's content if it is a regular file
    /// inside the walked folder; skipped otherwise.
    fn symlink(&mut self, path: &[u8]) -> Result<(), WalkError> {
        // O_PATH first: a symlink to a device or FIFO must not open it.
        let Ok(fd) = open_beneath(self.top, path, OFlags::PATH) else {
            return Ok(());
        };
        let is_file = rustix::fs::fstat(&fd)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile);
        if !is_file {
            return Ok(());
        }
        let file = match open_beneath(self.top, path, OFlags::RDONLY) {
            Ok(fd) => File::from(fd),
            Err(Errno::NOENT | Errno::LOOP | Errno::XDEV) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata().map_err(WalkError::Io)?;
        if meta.is_file() {
            self.nodes.push(node(path.to_vec(), &meta));
        }
        Ok(())
    }
}

fn node(path: Vec<u8>, meta: &std::fs::Metadata) -> Node {
    let is_dir = meta.is_dir();
    Node {
        path,
        is_dir,
        size: if is_dir { 0 } else { meta.len() },
        mtime: (meta.mtime(), nanos(meta)),
        mode: meta.mode() & 0o7777,
        snapshot: Snapshot::of(meta),
    }
}

fn nanos(meta: &std::fs::Metadata) -> u32 {
    u32::try_from(meta.mtime_nsec()).unwrap_or(0)
}

/// Opens `path` (relative, no `..`) beneath the folder `top`: symlinks on the
/// way may not lead out of it, absolute ones not at all.
fn open_beneath(top: &File, path: &[u8], flags: OFlags) -> Result<OwnedFd, Errno> {
    // openat2 refuses O_PATH with other flags than these.
    let flags = if flags.contains(OFlags::PATH) {
        flags | OFlags::CLOEXEC
    } else {
        flags | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY
    };
    let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    rustix::fs::openat2(top, path, flags, Mode::empty(), beneath)
}

/// An inotify instance watching the folders of walked trees: any event
/// means some tree walked with it may be out of date.
#[derive(Debug)]
pub struct Watcher {
    inotify: OwnedFd,
    watches: std::sync::atomic::AtomicUsize,
}

/// The most watches one [`Watcher`] adds; the caller starts a new one
/// (forgetting what the old one guarded) when [`Watcher::is_full`].
const MAX_WATCHES: usize = 16_384;

impl Watcher {
    /// Fails where inotify is unavailable.
    pub fn new() -> io::Result<Watcher> {
        let inotify = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        Ok(Watcher {
            inotify,
            watches: 0.into(),
        })
    }

    /// Whether inotify sees every change to the file system holding `dir`
    /// (a local one); trees elsewhere are walked every time.
    pub fn sees(dir: &File) -> bool {
        super::filecache::is_local(dir)
    }

    /// Watches the folder `dir` (by its handle) for changes to its entries
    /// and their contents.
    fn watch(&self, dir: &File) -> io::Result<()> {
        if self.is_full() {
            return Err(io::Error::other("too many watches"));
        }
        let path = format!("/proc/self/fd/{}", dir.as_raw_fd());
        // The open-file cache's folder events (through the handle's
        // /proc link), and those of file contents.
        let events = super::filecache::root_events() | WatchFlags::MODIFY | WatchFlags::CLOSE_WRITE;
        inotify::add_watch(&self.inotify, path, events)?;
        self.watches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Whether it holds as many watches as it may.
    pub fn is_full(&self) -> bool {
        self.watches.load(Ordering::Relaxed) >= MAX_WATCHES
    }

    /// Reads every queued event; true if there was any (or the queue
    /// overflowed). Never waits.
    pub fn changed(&self) -> bool {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut any = false;
        loop {
            let mut reader = inotify::Reader::new(&self.inotify, &mut buf);
            match reader.next() {
                Ok(_) => any = true,
                Err(Errno::AGAIN) => return any,
                Err(Errno::INTR) => {}
                // Unreadable: say changed, the safe answer.
                Err(_) => return true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn paths(tree: &Tree) -> Vec<String> {
        tree.nodes
            .iter()
            .map(|n| {
                let mut p = String::from_utf8_lossy(&n.path).into_owned();
                if n.is_dir {
                    p.push('/');
                }
                p
            })
            .collect()
    }

    fn open(path: &std::path::Path) -> File {
        File::open(path).expect("open folder")
    }

    #[test]
    fn walks_sorted_depth_first_with_the_listing_rules() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let top = tmp.path().join("top");
        std::fs::create_dir_all(top.join("b/inner")).expect("mkdir");
        std::fs::create_dir(top.join("a")).expect("mkdir");
        std::fs::write(top.join("a/x"), b"xx").expect("write");
        std::fs::write(top.join("b/inner/y"), b"y").expect("write");
        std::fs::write(top.join("c"), b"c").expect("write");
        std::fs::write(top.join(".hidden"), b"h").expect("write");
        std::fs::write(tmp.path().join("outside"), b"o").expect("write");
        symlink("../outside", top.join("out")).expect("symlink");
        symlink("/etc/hostname", top.join("absolute")).expect("symlink");
        symlink("c", top.join("d")).expect("symlink");
        symlink("b", top.join("e")).expect("symlink");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            top.join("fifo").as_path(),
            FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .expect("mkfifo");

        let tree = walk(open(&top), false, Limits::default(), None).expect("walk");
        assert_eq!(
            paths(&tree),
            ["a/", "a/x", "b/", "b/inner/", "b/inner/y", "c", "d"]
        );
        let d = tree.nodes.iter().find(|n| n.path == b"d").expect("d");
        assert_eq!(d.size, 1, "a symlink inside stands for its target");
        let with_hidden = walk(open(&top), true, Limits::default(), None).expect("walk");
        assert_eq!(paths(&with_hidden)[0], ".hidden");

        let pinned = tree.open(1).expect("a/x opens again");
        assert_eq!(pinned.snapshot.len, 2);
        std::fs::write(top.join("a/x"), b"changed").expect("rewrite");
        assert!(tree.open(1).is_err(), "a changed member is refused");
        assert!(tree.is_stale());
    }

    #[test]
    fn limits_refuse_with_the_reason() {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(tmp.path().join("1/2/3")).expect("mkdir");
        for i in 0..5 {
            std::fs::write(tmp.path().join(format!("f{i}")), b"").expect("write");
        }
        let few = Limits {
            entries: 4,
            depth: 64,
        };
        let shallow = Limits {
            entries: 100,
            depth: 2,
        };
        let dir = || open(tmp.path());
        assert!(matches!(
            walk(dir(), false, few, None),
            Err(Stopped {
                error: WalkError::TooMany(4),
                ..
            })
        ));
        assert!(matches!(
            walk(dir(), false, shallow, None),
            Err(Stopped {
                error: WalkError::TooDeep(2),
                ..
            })
        ));
        let fits = Limits {
            entries: 8,
            depth: 3,
        };
        assert_eq!(walk(dir(), false, fits, None).expect("walk").nodes.len(), 8);
    }

    #[test]
    fn a_watcher_sees_changes_to_entries_and_contents() {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(tmp.path().join("sub")).expect("mkdir");
        std::fs::write(tmp.path().join("sub/f"), b"1").expect("write");
        let watcher = Watcher::new().expect("inotify");
        let tree = walk(open(tmp.path()), false, Limits::default(), Some(&watcher)).expect("walk");
        assert!(tree.watched);
        assert!(!watcher.changed());
        std::fs::write(tmp.path().join("sub/f"), b"2").expect("rewrite");
        assert!(watcher.changed(), "a write in a subfolder");
        assert!(!watcher.changed(), "drained");
        std::fs::write(tmp.path().join("new"), b"").expect("create");
        assert!(watcher.changed(), "a new file at the top");
    }
}
