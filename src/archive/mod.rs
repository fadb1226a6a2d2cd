//! Folders as archives: `GET /folder/?archive=tar` answers with a
//! deterministic, uncompressed tar of the folder whose every byte has a
//! fixed position, so ranges, If-Range, multipart and resumes work on a
//! folder as on a file.
//!
//! - `tar`: the pure byte layout (ustar headers, PAX records, padding) and
//!   the mapping of a byte range to header bytes and member file slices;
//! - [`Archive`]: a walked tree (`fs/tree.rs`) with its layout, ETag and
//!   Last-Modified;
//! - [`Archives`]: archives kept between requests, one per folder version,
//!   so the connections and segments of one download walk the tree once.
//!
//! The members are the folder itself, named after it (`files` for the
//! served root), then its tree in the walk's order; owner fields are fixed,
//! so the same files with the same names, sizes, times and modes give the
//! same bytes and ETag on every machine.

pub mod tar;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::OnceCell;

use crate::fs::ResolveError;
use crate::fs::snapshot::Pinned;
use crate::fs::tree::{self, Limits, Tree, Watcher};
use tar::{Kind, Layout, Member, Part};

/// The name of the served root's own member (it has no name of its own in
/// the URL, and its name on disk differs between machines).
pub const ROOT_NAME: &[u8] = b"files";

/// The query that asks for a folder's archive.
pub const QUERY: &str = "archive=tar";

/// What a query asks of a folder: `None` for no archive, `Some(Ok)` for
/// the tar, `Some(Err)` for an archive format not served.
pub fn requested(query: Option<&str>) -> Option<Result<(), &'static str>> {
    let value = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("archive="))?;
    Some(if value == "tar" {
        Ok(())
    } else {
        Err("only archive=tar is served")
    })
}

/// A folder's archive: the walked tree and the byte layout of its tar.
#[derive(Debug)]
pub struct Archive {
    tree: Tree,
    layout: Layout,
    /// A strong ETag, quotes included: a hash of every member's name, kind,
    /// size, time and mode.
    pub etag: String,
    /// The newest member's modification time.
    pub modified: Option<SystemTime>,
    /// Counted in the cache's budget ([`Archives`]).
    counted: std::sync::atomic::AtomicBool,
}

impl Archive {
    /// The archive of `tree`, its members under the folder name `name`.
    pub fn new(tree: Tree, name: &[u8]) -> io::Result<Archive> {
        let (secs, nanos, mode) = tree.folder()?;
        let mut members = Vec::with_capacity(tree.nodes.len() + 1);
        members.push(Member {
            name: name.to_vec(),
            kind: Kind::Dir,
            size: 0,
            mtime: (secs, nanos),
            mode,
        });
        for node in &tree.nodes {
            let mut path = Vec::with_capacity(name.len() + 1 + node.path.len());
            path.extend_from_slice(name);
            path.push(b'/');
            path.extend_from_slice(&node.path);
            members.push(Member {
                name: path,
                kind: if node.is_dir { Kind::Dir } else { Kind::File },
                size: node.size,
                mtime: node.mtime,
                mode: node.mode,
            });
        }
        let layout = Layout::new(&members);
        let etag = etag(&members);
        let newest = members.iter().map(|m| m.mtime).max();
        let modified = newest.and_then(|(secs, nanos)| {
            let secs = u64::try_from(secs).ok()?;
            UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
        });
        Ok(Archive {
            tree,
            layout,
            etag,
            modified,
            counted: false.into(),
        })
    }

    /// The archive's length in bytes.
    pub fn len(&self) -> u64 {
        self.layout.len()
    }

    /// Never: an archive has at least its end blocks.
    pub fn is_empty(&self) -> bool {
        self.layout.is_empty()
    }

    /// Files and folders in it, the folder itself included.
    pub fn members(&self) -> usize {
        self.tree.nodes.len() + 1
    }

    /// The first stretch of the bytes `range` (see [`Layout::part`]).
    pub fn part(&self, range: std::ops::Range<u64>) -> Option<Part<'_>> {
        self.layout.part(range)
    }

    /// Opens member `index` (of the layout) again for its bytes, checked to
    /// be the version walked ([`Tree::open`]).
    pub fn open(&self, index: usize) -> io::Result<Pinned> {
        // Member 0 is the folder itself, which has no data.
        let node = index
            .checked_sub(1)
            .ok_or_else(|| io::Error::other("the folder member has no data"))?;
        self.tree.open(node)
    }
}

/// `"tar-"` and 32 hex digits of the SHA-256 of the members' records.
fn etag(members: &[Member]) -> String {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    for m in members {
        hash.update(&(m.name.len() as u64).to_be_bytes());
        hash.update(&m.name);
        hash.update(&[u8::from(m.kind == Kind::Dir)]);
        hash.update(&m.size.to_be_bytes());
        hash.update(&m.mtime.0.to_be_bytes());
        hash.update(&m.mtime.1.to_be_bytes());
        hash.update(&m.mode.to_be_bytes());
    }
    let digest = hash.finish();
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"tar-{hex}\"")
}

/// Archives kept between requests, keyed by folder (device, inode) and
/// name, and forgotten on any change their [`Watcher`] sees.
///
/// NOTE: a tree is cached only if every folder of it was watched before it
/// was read, so a change during the walk is an event the next lookup sees.
/// Concurrent requests for one folder wait for one walk. The archives kept
/// hold at most [`BUDGET`] members in all (a few hundred bytes each: names,
/// numbers, offsets; header blocks are made again when sent), and at most
/// [`MAX_KEPT`] folders open; beyond either the others are forgotten.
#[derive(Debug)]
pub struct Archives {
    hidden: bool,
    limits: Limits,
    state: Mutex<State>,
}

type Key = (u64, u64, Vec<u8>);

/// The most members the kept archives hold together (about 60 MB).
pub const BUDGET: usize = 200_000;

/// The most archives kept: each holds its folder open (a descriptor), and
/// every listing page walks its folder for the archive's size.
pub const MAX_KEPT: usize = 1024;

#[derive(Debug)]
struct State {
    /// `None` where inotify is unavailable: nothing is cached.
    watcher: Option<Arc<Watcher>>,
    entries: HashMap<Key, Arc<OnceCell<Walked>>>,
    /// Members of the archives counted in `entries`.
    members: usize,
}

impl Archives {
    pub fn new(hidden: bool, limits: Limits) -> Self {
        let watcher = Watcher::new()
            .inspect_err(|e| tracing::warn!(error = %e, "inotify unavailable: archives are walked on every request"))
            .ok()
            .map(Arc::new);
        Archives {
            hidden,
            limits,
            state: Mutex::new(State {
                watcher,
                entries: HashMap::new(),
                members: 0,
            }),
        }
    }

    /// The archive of the folder open as `dir`, named `name` inside it:
    /// cached, or walked now on the blocking pool. A refusal (over the
    /// limits, unreadable) is cached like an archive, so a client asking
    /// again does not walk again.
    pub async fn get(&self, dir: File, name: &[u8]) -> Result<Arc<Archive>, ResolveError> {
        let meta = dir.metadata()?;
        let key = (meta.dev(), meta.ino(), name.to_vec());
        let (cell, watcher) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.forget_changed();
            let watcher = state.watcher.clone().filter(|_| Watcher::sees(&dir));
            let cell = watcher.as_ref().map(|_| {
                Arc::clone(
                    state
                        .entries
                        .entry(key.clone())
                        .or_insert_with(|| Arc::new(OnceCell::new())),
                )
            });
            (cell, watcher)
        };
        let (hidden, limits, name) = (self.hidden, self.limits, name.to_vec());
        let build = || async move {
            let walked = tokio::task::spawn_blocking(move || {
                let tree = match tree::walk(dir, hidden, limits, watcher.as_deref()) {
                    Ok(tree) => tree,
                    Err(stopped) => {
                        return match stopped.error.reason() {
                            Some(reason) if stopped.watched => Ok(Walked::Refused(reason)),
                            _ => Err(ResolveError::from(stopped.error)),
                        };
                    }
                };
                let watched = tree.watched;
                let archive = Archive::new(tree, &name)?;
                Ok(Walked::Archive(Arc::new(archive), watched))
            })
            .await;
            walked.unwrap_or_else(|e| Err(ResolveError::Io(io::Error::other(e))))
        };
        let walked = match &cell {
            Some(cell) => cell.get_or_try_init(build).await?.clone(),
            None => build().await?,
        };
        match walked {
            Walked::Archive(archive, watched) => {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if !watched {
                    // Out of watches: not worth keeping, it would never be told.
                    state.entries.remove(&key);
                } else if let Some(cell) = cell.filter(|cell| {
                    // Still the kept one, and not counted yet.
                    state
                        .entries
                        .get(&key)
                        .is_some_and(|kept| Arc::ptr_eq(kept, cell))
                        && !archive.counted.swap(true, Relaxed)
                }) {
                    state.members += archive.members();
                    if state.members > BUDGET || state.entries.len() > MAX_KEPT {
                        // Over the budget: keep only this one.
                        state.entries.clear();
                        state.entries.insert(key, cell);
                        state.members = archive.members();
                    }
                }
                Ok(archive)
            }
            Walked::Refused(reason) => Err(ResolveError::Refused(reason)),
        }
    }
}

/// What a walk gave: an archive (and whether every folder of it is
/// watched), or a lasting refusal.
#[derive(Debug, Clone)]
enum Walked {
    Archive(Arc<Archive>, bool),
    Refused(String),
}

impl State {
    /// Forgets every archive if anything changed since the last look, and
    /// those found stale while being sent; starts a new watcher when the
    /// current one is full.
    fn forget_changed(&mut self) {
        let Some(watcher) = &self.watcher else {
            return;
        };
        if watcher.changed() {
            self.entries.clear();
            self.members = 0;
        } else {
            let mut gone = 0;
            self.entries.retain(|_, cell| match cell.get() {
                Some(Walked::Archive(archive, _)) if archive.tree.is_stale() => {
                    if archive.counted.load(Relaxed) {
                        gone += archive.members();
                    }
                    false
                }
                _ => true,
            });
            self.members = self.members.saturating_sub(gone);
        }
        if watcher.is_full() {
            self.entries.clear();
            self.members = 0;
            self.watcher = Watcher::new().ok().map(Arc::new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_asks_for_tar_only() {
        assert_eq!(requested(None), None);
        assert_eq!(requested(Some("sort=name")), None);
        assert_eq!(requested(Some("archive=tar")), Some(Ok(())));
        assert_eq!(requested(Some("sig=x&archive=tar")), Some(Ok(())));
        assert!(matches!(requested(Some("archive=zip")), Some(Err(_))));
    }

    fn archive_of(path: &std::path::Path) -> Archive {
        let tree = tree::walk(
            File::open(path).expect("open"),
            false,
            Limits::default(),
            None,
        )
        .expect("walk");
        Archive::new(tree, b"top").expect("archive")
    }

    #[test]
    fn the_etag_follows_names_sizes_times_and_modes_not_inodes() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let a = tmp.path().join("a");
        std::fs::create_dir_all(a.join("sub")).expect("mkdir");
        std::fs::write(a.join("sub/f"), b"data").expect("write");
        let first = archive_of(&a);
        assert_eq!(first.etag, archive_of(&a).etag, "stable");
        assert_eq!(first.members(), 3);
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&a)
            .arg(tmp.path().join("b"))
            .status()
            .expect("cp");
        assert!(status.success());
        assert_eq!(first.etag, archive_of(&tmp.path().join("b")).etag, "a copy");
        std::fs::write(a.join("g"), b"").expect("add");
        assert_ne!(first.etag, archive_of(&a).etag, "a file added");
    }

    #[tokio::test]
    async fn at_most_max_kept_folders_are_kept_open() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let archives = Archives::new(false, Limits::default());
        for i in 0..MAX_KEPT + 8 {
            let dir = tmp.path().join(format!("d{i}"));
            std::fs::create_dir(&dir).expect("mkdir");
            let open = File::open(&dir).expect("open");
            archives.get(open, b"d").await.expect("archive");
            let kept = archives.state.lock().expect("lock").entries.len();
            assert!(kept <= MAX_KEPT + 1, "{kept} kept");
        }
    }

    #[tokio::test]
    async fn archives_are_walked_once_per_version() {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::write(tmp.path().join("f"), b"1").expect("write");
        let archives = Archives::new(false, Limits::default());
        let open = || File::open(tmp.path()).expect("open");
        let first = archives.get(open(), b"t").await.expect("archive");
        let again = archives.get(open(), b"t").await.expect("archive");
        assert!(Arc::ptr_eq(&first, &again), "cached");
        std::fs::write(tmp.path().join("f"), b"22").expect("rewrite");
        let changed = archives.get(open(), b"t").await.expect("archive");
        assert!(
            !Arc::ptr_eq(&first, &changed),
            "walked again after a change"
        );
        assert_ne!(first.etag, changed.etag);
    }
}
