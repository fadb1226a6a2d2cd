//! Files kept open between requests, forgotten on any change to the folders
//! that lead to them.
//!
//! Opening a file by path is the costliest system call of a small-file
//! request (a path walk, a new file description, and a `close` later). This
//! cache maps a request path to a file already open, so a repeated request
//! skips both. It remembers *which file a path names* and the file's
//! [`Version`] (its metadata, as one `fstat` saw it, and the header values
//! made from it); the bytes are read fresh on every request, with positioned
//! reads, and each read is checked against the version with an `fstat`
//! (`snapshot.rs`).
//!
//! A version is kept until the file itself reports a change: each cached
//! file has an inotify watch of its own (on the inode, so writes through any
//! hard link are seen) for `IN_MODIFY` (write, truncate, fallocate, copy or
//! splice into it), `IN_ATTRIB` (times, permissions, links) and
//! `IN_CLOSE_WRITE`. Such an event drops that file's version only; the next
//! request `fstat`s it again. A write through a shared memory mapping sends
//! no event: the check after each read sees its new modification time, cuts
//! that response, and marks the version stale, so the next request `fstat`s
//! again.
//!
//! What a path names changes only when a folder on the way changes: a
//! rename, a delete, a create, or new permissions. Every folder from the root
//! down to a cached file is watched with inotify, and every request first
//! drains the inotify queue (one non-blocking `read`): any event at all forgets
//! every entry. Because the kernel queues the event before the renaming call
//! returns, a request that arrives after a change never gets the old file.
//!
//! NOTE: the correctness argument needs three things, each enforced here:
//! 1. Watches before the open: a new entry's folders are watched first, the
//!    file is opened after, and the entry is kept only if no event arrived in
//!    between ([`OpenFiles::insert`] compares a generation).
//! 2. No symlinks on the way: a symlink's target folder is not watched, so a
//!    path is cached only if it opens with `RESOLVE_NO_SYMLINKS`; other paths
//!    are served as before, by opening them each time.
//! 3. Local file systems only: inotify does not see changes made by another
//!    machine (NFS, SMB, FUSE, 9p, virtiofs), so files elsewhere are not cached.
//!
//! One change sends no event: mounting a file system over a folder on the
//! way. A cached file beneath that folder would still be served until any
//! other change; `--no-file-cache` is for folders that get mounted over while
//! being served.
//!
//! The cache holds at most `capacity` entries (open file descriptors); when it
//! is full it starts over, dropping the inotify instance and all its watches.
//! Between requests the events are also read once a second, so a file that was
//! deleted or replaced is closed (and its disk space freed) even if no request
//! comes.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

use super::path::RequestPath;
use super::snapshot::Version;

/// How often [`OpenFiles::sweep`] should run. Correctness never depends on
/// it (every request drains the events first); it bounds how long a deleted
/// or replaced file stays open while no request comes.
pub const SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// A file a request path named when it was cached.
#[derive(Debug, Clone)]
pub struct Cached {
    pub file: Arc<File>,
    /// Relative to the root (for the media type): `sub/index.html` for `/sub/`.
    pub path: Arc<Path>,
    /// The watch on the file itself.
    wd: i32,
}

/// What the cache knows of a cached file's version.
#[derive(Debug)]
pub enum Known {
    /// Unchanged since it was read: no `fstat` needed.
    Version(Arc<Version>),
    /// Changed, or never read: `fstat` it and hand the result to
    /// [`OpenFiles::keep_version`] with this stamp.
    Unknown(Stamp),
}

/// A point in the cache's history: an entry made from an open after it,
/// or a version read after it ([`OpenFiles::keep_version`]), is kept only
/// if no event arrived since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    generation: u64,
    file_events: u64,
}

/// What the cache knows of a request path.
#[derive(Debug)]
pub enum Lookup {
    Hit(Cached, Known),
    /// Not cached yet: worth trying to remember after opening it.
    Miss,
    /// Seen before and not cacheable (a symlink on the way, a remote file
    /// system): open it every time without trying again.
    Uncacheable,
}

/// The open-file cache of one root.
#[derive(Debug)]
pub struct OpenFiles {
    /// `/proc/self/fd/N` for the root's handle: watches are added by path,
    /// and this one resolves from the handle, not from the root's name.
    root: PathBuf,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    inotify: OwnedFd,
    /// Bumped whenever entries are forgotten.
    generation: u64,
    /// Events on cached files' own watches, counted.
    file_events: u64,
    entries: HashMap<RequestPath, Cached>,
    /// The watch of every cached file (kept until the instance starts
    /// over, so its events are never taken for a folder's), with the
    /// version read since its last event, if any.
    versions: HashMap<i32, Option<Arc<Version>>>,
    uncacheable: HashSet<RequestPath>,
    /// Folders (relative to the root, `""` for the root) watched since the
    /// last change; after a change they are watched again by path, since a
    /// watch follows its folder if it is renamed.
    watched: HashSet<PathBuf>,
    /// Watches added to this inotify instance, to bound them.
    watches: usize,
    /// Lookups that found the file open, and those that did not.
    hits: u64,
    misses: u64,
}

/// Folder events that can change what a path names (or whether it may be
/// read): entries created, deleted or renamed, attributes changed, or the
/// folder itself deleted or renamed. File contents are not watched: they are
/// read, and their metadata `fstat`ed, on every request anyway.
fn folder_events() -> WatchFlags {
    WatchFlags::ATTRIB
        | WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::MOVE_SELF
        | WatchFlags::ONLYDIR
        | WatchFlags::DONT_FOLLOW
}

/// Events on a cached file itself that can change its bytes or metadata.
/// Its folders' watches report what can change which file a path names.
fn file_events() -> WatchFlags {
    WatchFlags::MODIFY | WatchFlags::ATTRIB | WatchFlags::CLOSE_WRITE
}

/// The same for the root, reached through `/proc/self/fd/N`: a symlink to
/// it that must be followed.
pub(super) fn root_events() -> WatchFlags {
    folder_events() - WatchFlags::DONT_FOLLOW
}

impl OpenFiles {
    /// A cache for the root open as `root`, holding at most `capacity` files.
    /// Fails where inotify or `/proc` is unavailable.
    pub fn new(root: &File, capacity: usize) -> io::Result<Self> {
        let root = PathBuf::from(format!("/proc/self/fd/{}", root.as_raw_fd()));
        let inotify = fresh_inotify()?;
        // Fails early, at start-up, where /proc is not mounted.
        inotify::add_watch(&inotify, &root, root_events())?;
        let watched = HashSet::from([PathBuf::new()]);
        Ok(OpenFiles {
            root,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                inotify,
                generation: 0,
                file_events: 0,
                entries: HashMap::new(),
                versions: HashMap::new(),
                uncacheable: HashSet::new(),
                watched,
                watches: 1,
                hits: 0,
                misses: 0,
            }),
        })
    }

    /// What is cached for `key`, valid as of this call: pending change
    /// events are drained first, and any forgets everything.
    pub fn get(&self, key: &RequestPath) -> Lookup {
        let mut state = self.lock();
        state.drain();
        if let Some(cached) = state.entries.get(key) {
            let version = state.versions.get(&cached.wd).and_then(Option::as_ref);
            let known = match version {
                Some(version) if !version.is_stale() => Known::Version(Arc::clone(version)),
                _ => Known::Unknown(state.stamp()),
            };
            let hit = Lookup::Hit(cached.clone(), known);
            state.hits += 1;
            hit
        } else {
            state.misses += 1;
            if state.uncacheable.contains(key) {
                Lookup::Uncacheable
            } else {
                Lookup::Miss
            }
        }
    }

    /// Keeps `version` (read with an `fstat` after `stamp` was taken) as
    /// the current version of the cached file `cached`, unless any event
    /// arrived since `stamp`.
    pub fn keep_version(&self, cached: &Cached, stamp: Stamp, version: Arc<Version>) {
        let mut state = self.lock();
        state.drain();
        if state.stamp() != stamp {
            return;
        }
        if let Some(slot) = state.versions.get_mut(&cached.wd) {
            *slot = Some(version);
        }
    }

    /// Lookups so far: (found open, not found).
    pub fn stats(&self) -> (u64, u64) {
        let state = self.lock();
        (state.hits, state.misses)
    }

    /// Reads pending change events, closing the files they void, without
    /// waiting for a request: a deleted file's space is freed only when its
    /// last handle closes. Run about once a second ([`SWEEP`]).
    pub fn sweep(&self) {
        self.lock().drain();
    }

    /// The current point in history, to pass to [`OpenFiles::insert`]. Take it
    /// before [`OpenFiles::watch`] and the open.
    fn ticket(&self) -> Stamp {
        let mut state = self.lock();
        // Changes already queued must not void the entry about to be made.
        state.drain();
        state.stamp()
    }

    /// Watches every folder from the root down to `dir` (relative to the
    /// root), outermost first, so a folder swapped in while this runs is
    /// seen by its parent's watch.
    fn watch(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        if state.watches > self.capacity.saturating_mul(4) {
            state.start_over()?;
        }
        if !state.watched.contains(Path::new("")) {
            inotify::add_watch(&state.inotify, &self.root, root_events())?;
            state.watches += 1;
            state.watched.insert(PathBuf::new());
        }
        let mut at = PathBuf::new();
        for component in dir.components() {
            at.push(component);
            if state.watched.contains(&at) {
                continue;
            }
            inotify::add_watch(&state.inotify, self.root.join(&at), folder_events())?;
            state.watches += 1;
            state.watched.insert(at.clone());
        }
        Ok(())
    }

    /// Watches the open `file` itself for changes to its bytes or
    /// metadata; returns the watch.
    fn watch_file(&self, file: &File) -> io::Result<i32> {
        let mut state = self.lock();
        // The handle's /proc path: the watch is on the open file's inode,
        // whatever its name is by now.
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let wd = inotify::add_watch(&state.inotify, path, file_events())?;
        if let std::collections::hash_map::Entry::Vacant(slot) = state.versions.entry(wd) {
            slot.insert(None);
            state.watches += 1;
        }
        Ok(wd)
    }

    /// Keeps `cached` for `key`, with `version` read after its watch was
    /// added, unless anything changed since `ticket`.
    fn insert(&self, ticket: Stamp, key: RequestPath, cached: Cached, version: Arc<Version>) {
        let mut state = self.lock();
        state.drain();
        if state.stamp() != ticket {
            return;
        }
        if state.entries.len() >= self.capacity && state.start_over().is_err() {
            return;
        }
        // After a start-over the file's watch is gone with the old instance.
        if let Some(slot) = state.versions.get_mut(&cached.wd) {
            *slot = Some(version);
            state.entries.insert(key, cached);
        }
    }

    /// Caches the file `key` names, at `path` beneath the open folder `root`,
    /// by the protocol the module docs argue:
    /// 1. take a [`Stamp`] (the point in history the entry must survive);
    /// 2. watch every folder from the root down to the file's;
    /// 3. open it again with no symlink allowed on the way (a symlink's
    ///    target folder would not be watched);
    /// 4. watch the open file itself, then `fstat` it: its [`Version`];
    /// 5. keep it only if it is a regular file on a local file system
    ///    ([`is_local`]) and no change arrived since the ticket.
    ///
    /// A path that fails any step is remembered as uncacheable until the
    /// next change, and served by opening it every time.
    pub fn remember(&self, root: &File, key: &RequestPath, path: &Path) {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let ticket = self.ticket();
        if let Err(e) = self.watch(path.parent().unwrap_or(Path::new(""))) {
            tracing::debug!(path = %path.display(), error = %e, "not caching: cannot watch its folders");
            self.refuse(ticket, key.clone());
            return;
        }
        let strict =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let opened = rustix::fs::openat2(root, path, flags, Mode::empty(), strict)
            .map(File::from)
            .map_err(io::Error::from);
        let watched = opened.and_then(|file| {
            // Watched before the fstat: a change after it is an event.
            let wd = self.watch_file(&file)?;
            let meta = file.metadata()?;
            Ok((file, wd, meta))
        });
        match watched {
            Ok((file, wd, meta)) if meta.is_file() && is_local(&file) => {
                let cached = Cached {
                    file: Arc::new(file),
                    path: Arc::from(path),
                    wd,
                };
                self.insert(ticket, key.clone(), cached, Arc::new(Version::of(&meta)));
            }
            _ => self.refuse(ticket, key.clone()),
        }
    }

    /// Remembers that `key` is not cacheable, until the next change.
    fn refuse(&self, ticket: Stamp, key: RequestPath) {
        let mut state = self.lock();
        if state.generation == ticket.generation && state.uncacheable.len() < self.capacity {
            state.uncacheable.insert(key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing inside can be left half-updated by a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn stamp(&self) -> Stamp {
        Stamp {
            generation: self.generation,
            file_events: self.file_events,
        }
    }

    /// Reads every pending event. An event on a cached file's own watch
    /// drops that file's version; any other event (a folder's, an
    /// overflow), or a failure to read, forgets all entries.
    fn drain(&mut self) {
        // Room for at least one event with the longest name; left
        // uninitialised, as this runs on every request.
        let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
        let mut reader = inotify::Reader::new(&self.inotify, &mut buf);
        let mut forget = false;
        let failed = loop {
            match reader.next() {
                Ok(event) => {
                    let wd = event.wd();
                    if event.events().contains(inotify::ReadFlags::IGNORED) {
                        // A watch is gone (its file or folder deleted):
                        // entries under it would get no further events.
                        self.versions.remove(&wd);
                        forget = true;
                    } else if let Some(version) = self.versions.get_mut(&wd) {
                        *version = None;
                        self.file_events += 1;
                    } else {
                        forget = true;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break None,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => break Some(e),
            }
        };
        if forget {
            self.forget();
        }
        if let Some(e) = failed {
            tracing::warn!(error = %e, "cannot read file change events; starting over");
            self.forget();
            let _ = self.start_over();
        }
    }

    fn forget(&mut self) {
        self.entries.clear();
        self.uncacheable.clear();
        self.watched.clear();
        self.versions
            .values_mut()
            .for_each(|version| *version = None);
        self.generation += 1;
    }

    /// Forgets everything and drops every watch with the inotify instance;
    /// [`OpenFiles::watch`] adds them again as files are cached.
    fn start_over(&mut self) -> io::Result<()> {
        self.forget();
        self.versions.clear();
        self.inotify = fresh_inotify()?;
        self.watches = 0;
        Ok(())
    }
}

fn fresh_inotify() -> io::Result<OwnedFd> {
    Ok(inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?)
}

/// Whether inotify sees every change to files on the file system holding
/// `file`: true for local disk and memory file systems, false for network
/// and FUSE ones (and anything unknown).
pub(super) fn is_local(file: &File) -> bool {
    // Magic numbers from linux/magic.h and statfs(2).
    const LOCAL: [i64; 8] = [
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x0102_1994, // tmpfs
        0xF2F5_2010, // f2fs
        0x2FC1_2FC1, // zfs
        0x794C_7630, // overlayfs
        0x3153_464A, // jfs
    ];
    // f_type is i64 here but narrower on some targets.
    #[allow(clippy::useless_conversion)]
    let local = |s: rustix::fs::StatFs| LOCAL.contains(&i64::from(s.f_type));
    rustix::fs::fstatfs(file).is_ok_and(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::path::decode;

    struct Fixture {
        dir: tempfile::TempDir,
        files: OpenFiles,
        /// Watches are added through this handle's `/proc/self/fd` path.
        root: File,
    }

    fn fixture(capacity: usize) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = File::open(dir.path()).expect("open root");
        let files = OpenFiles::new(&root, capacity).expect("inotify");
        Fixture { dir, files, root }
    }

    /// Caches `name` as a request for it would.
    fn cache(fx: &Fixture, name: &str) {
        fx.files.remember(&fx.root, &key(name), Path::new(name));
    }

    /// The version the cache hands out for `name` without an `fstat`.
    fn known(fx: &Fixture, name: &str) -> Option<Arc<Version>> {
        match fx.files.get(&key(name)) {
            Lookup::Hit(_, Known::Version(version)) => Some(version),
            Lookup::Hit(_, Known::Unknown(_)) => None,
            other => panic!("{name} is not cached: {other:?}"),
        }
    }

    fn key(name: &str) -> RequestPath {
        decode(&format!("/{name}"), false).expect("plain path")
    }

    #[test]
    fn an_entry_is_a_hit_until_its_folder_changes() {
        let fx = fixture(8);
        std::fs::write(fx.dir.path().join("a"), b"1").expect("write");
        cache(&fx, "a");
        assert!(matches!(fx.files.get(&key("a")), Lookup::Hit(..)));
        std::fs::write(fx.dir.path().join("b"), b"2").expect("write");
        assert!(matches!(fx.files.get(&key("a")), Lookup::Miss));
    }

    #[test]
    fn an_entry_opened_across_a_change_is_not_kept() {
        let fx = fixture(8);
        std::fs::write(fx.dir.path().join("a"), b"1").expect("write");
        let ticket = fx.files.ticket();
        fx.files.watch(Path::new("")).expect("watch");
        let file = File::open(fx.dir.path().join("a")).expect("open");
        let wd = fx.files.watch_file(&file).expect("watch file");
        let version = Arc::new(Version::of(&file.metadata().expect("fstat")));
        std::fs::rename(fx.dir.path().join("a"), fx.dir.path().join("moved")).expect("rename");
        let cached = Cached {
            file: Arc::new(file),
            path: Arc::from(Path::new("a")),
            wd,
        };
        fx.files.insert(ticket, key("a"), cached, version);
        assert!(matches!(fx.files.get(&key("a")), Lookup::Miss));
    }

    #[test]
    fn refusals_are_forgotten_on_change_too() {
        let fx = fixture(8);
        fx.files.refuse(fx.files.ticket(), key("x"));
        assert!(matches!(fx.files.get(&key("x")), Lookup::Uncacheable));
        std::fs::write(fx.dir.path().join("x"), b"").expect("write");
        assert!(matches!(fx.files.get(&key("x")), Lookup::Miss));
    }

    #[test]
    fn a_full_cache_starts_over_and_stays_bounded() {
        let fx = fixture(3);
        for i in 0..10 {
            std::fs::write(fx.dir.path().join(i.to_string()), b"").expect("write");
        }
        for i in 0..10 {
            cache(&fx, &i.to_string());
            let state = fx.files.lock();
            assert!(state.entries.len() <= 3, "{} entries", state.entries.len());
        }
        assert!(matches!(fx.files.get(&key("9")), Lookup::Hit(..)));
    }

    #[test]
    fn a_write_drops_that_files_version_only() {
        let fx = fixture(8);
        std::fs::write(fx.dir.path().join("a"), b"1").expect("write");
        std::fs::write(fx.dir.path().join("b"), b"2").expect("write");
        cache(&fx, "a");
        cache(&fx, "b");
        let before = known(&fx, "a").expect("a version after caching");
        assert_eq!(before.snapshot.len, 1);
        assert!(known(&fx, "b").is_some());

        let mut a = std::fs::OpenOptions::new()
            .append(true)
            .open(fx.dir.path().join("a"))
            .expect("open for append");
        std::io::Write::write_all(&mut a, b"23").expect("append");
        // Still open, still cached; its version must be read again.
        assert!(known(&fx, "a").is_none());
        assert!(known(&fx, "b").is_some(), "b is untouched");
    }

    #[test]
    fn a_version_read_after_a_stamp_is_kept_unless_an_event_came_between() {
        let fx = fixture(8);
        std::fs::write(fx.dir.path().join("a"), b"1").expect("write");
        cache(&fx, "a");
        std::fs::write(fx.dir.path().join("a"), b"22").expect("rewrite");
        let Lookup::Hit(cached, Known::Unknown(stamp)) = fx.files.get(&key("a")) else {
            panic!("a rewritten file's version is unknown");
        };
        let fresh = Arc::new(Version::of(&cached.file.metadata().expect("fstat")));
        assert_eq!(fresh.snapshot.len, 2);
        // A write between the stamp and the keeping: not kept.
        std::fs::write(fx.dir.path().join("a"), b"333").expect("rewrite");
        fx.files.keep_version(&cached, stamp, fresh);
        assert!(known(&fx, "a").is_none());

        let Lookup::Hit(cached, Known::Unknown(stamp)) = fx.files.get(&key("a")) else {
            panic!("still unknown");
        };
        let fresh = Arc::new(Version::of(&cached.file.metadata().expect("fstat")));
        fx.files.keep_version(&cached, stamp, fresh);
        assert_eq!(known(&fx, "a").expect("kept").snapshot.len, 3);
    }

    #[test]
    fn a_write_through_another_hard_link_drops_the_version() {
        let fx = fixture(8);
        let elsewhere = tempfile::tempdir_in(fx.dir.path().parent().expect("parent"))
            .expect("unwatched folder");
        std::fs::write(fx.dir.path().join("a"), b"1").expect("write");
        let link = elsewhere.path().join("a-link");
        std::fs::hard_link(fx.dir.path().join("a"), &link).expect("hard link");
        cache(&fx, "a");
        assert!(known(&fx, "a").is_some());
        let mut other = std::fs::OpenOptions::new()
            .write(true)
            .open(&link)
            .expect("open the other link");
        std::io::Write::write_all(&mut other, b"9").expect("write through it");
        assert!(known(&fx, "a").is_none());
    }

    #[test]
    fn a_stale_version_is_not_handed_out() {
        let fx = fixture(8);
        std::fs::write(fx.dir.path().join("a"), b"1").expect("write");
        cache(&fx, "a");
        let version = known(&fx, "a").expect("version");
        version
            .stale
            .store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(known(&fx, "a").is_none());
    }

    #[test]
    fn local_file_systems_are_recognised() {
        let file = tempfile::tempfile().expect("temp file");
        // The temp folder of a build machine is a local disk or tmpfs.
        assert!(is_local(&file));
    }
}
