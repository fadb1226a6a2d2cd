//! A decoded request path → a file open inside the root, or the reason it
//! is refused.
//!
//! [`Root::open_target`] (metadata I/O: open and fstat) opens the file
//! relative to a handle of the root with kernel-enforced confinement, refuses
//! symlinks that lead out of the root, and reads the metadata from the open
//! handle so headers and bytes describe one file. The path was decoded and
//! checked before (`path.rs`).
//!
//! It does not decide what to send; that is the handler's job.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ResolveError;
use super::entries::{self, Entry};
use super::filecache::{Cached, Known, Lookup, OpenFiles};
use super::path::RequestPath;
use super::snapshot::Version;

/// What a request path leads to on disk.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // made once per request and moved once
pub enum Target {
    /// A regular file, open (perhaps shared with other requests, see
    /// `filecache.rs`), with its version (the metadata of the open handle,
    /// read now or known unchanged since) and its path relative to the
    /// root (for the media type).
    File {
        file: Arc<File>,
        version: Arc<Version>,
        /// Shared with the open-file cache: no copy per request.
        path: Arc<Path>,
    },
    /// A folder asked for without its trailing slash: redirect to it.
    AddSlash,
    /// A folder, with its trailing slash, that has no `index.html`.
    Directory { dir: File },
}

/// The served folder, held open: every file is opened relative to this
/// handle, so renaming or replacing path components above it changes nothing.
#[derive(Debug)]
pub struct Root {
    dir: File,
    path: PathBuf,
    follow_symlinks: bool,
    files: Option<Arc<OpenFiles>>,
}

impl Root {
    /// Opens the folder at `path` (absolute and canonical). With
    /// `follow_symlinks`, symlinks may lead outside it.
    pub fn open(path: PathBuf, follow_symlinks: bool) -> io::Result<Root> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = File::from(rustix::fs::open(&path, flags, Mode::empty())?);
        Ok(Root {
            dir,
            path,
            follow_symlinks,
            files: None,
        })
    }

    /// Keeps up to `capacity` files open between requests
    /// (`filecache.rs`). Fails where inotify or `/proc` is unavailable.
    /// Returns the cache, for [`OpenFiles::sweep`].
    pub fn cache_open_files(&mut self, capacity: usize) -> io::Result<Arc<OpenFiles>> {
        let files = Arc::new(OpenFiles::new(&self.dir, capacity)?);
        self.files = Some(Arc::clone(&files));
        Ok(files)
    }

    /// The open-file cache's lookups (hits, misses); `None` without it.
    pub fn cache_stats(&self) -> Option<(u64, u64)> {
        self.files.as_ref().map(|files| files.stats())
    }

    /// Opens what `request` names, from the open-file cache when it has it
    /// (`fstat`ed only if the cache has no version of it: changed since it
    /// was last read, or never), otherwise by [`Root::open_uncached`]; a
    /// file opened that way is then offered to the cache.
    pub fn open_target(&self, request: &RequestPath) -> Result<Target, ResolveError> {
        let Some(files) = &self.files else {
            return self.open_uncached(request);
        };
        match files.get(request) {
            Lookup::Hit(cached, known) => {
                let version = match known {
                    Known::Version(version) => version,
                    Known::Unknown(stamp) => {
                        let version = Arc::new(Version::of(&cached.file.metadata()?));
                        files.keep_version(&cached, stamp, Arc::clone(&version));
                        version
                    }
                };
                let Cached { file, path, .. } = cached;
                return Ok(Target::File {
                    file,
                    version,
                    path,
                });
            }
            Lookup::Uncacheable => return self.open_uncached(request),
            Lookup::Miss => {}
        }
        let target = self.open_uncached(request)?;
        if let Target::File { path, .. } = &target {
            files.remember(&self.dir, request, path);
        }
        Ok(target)
    }

    /// Opens what `request` names.
    ///
    /// 1. Open it beneath the root (see [`Root::open_beneath`]) and `fstat`
    ///    the open handle: from here on the file cannot change identity.
    /// 2. A folder: without a trailing slash, [`Target::AddSlash`]; with one,
    ///    its `index.html` by the same steps, or else [`Target::Directory`].
    /// 3. Anything but a regular file (device, socket, FIFO): 404.
    ///
    /// Metadata only (open, fstat): fast enough to run on a runtime thread.
    fn open_uncached(&self, request: &RequestPath) -> Result<Target, ResolveError> {
        let mut path = request.relative();
        let (mut file, mut meta) = self.open_beneath(&path)?;
        if meta.is_dir() {
            if !request.trailing_slash {
                return Ok(Target::AddSlash);
            }
            path.push("index.html");
            match self.open_beneath(&path) {
                Ok(opened) => (file, meta) = opened,
                Err(ResolveError::NotFound) => return Ok(Target::Directory { dir: file }),
                Err(e) => return Err(e),
            }
        }
        if !meta.is_file() {
            return Err(ResolveError::NotFound);
        }
        Ok(Target::File {
            file: Arc::new(file),
            version: Arc::new(Version::of(&meta)),
            path: path.into(),
        })
    }

    /// Opens the folder `request` names (with its trailing slash), whether or
    /// not it has an `index.html`: for its archive. Anything but a folder is
    /// 404. Metadata only (open, fstat).
    pub fn open_folder(&self, request: &RequestPath) -> Result<File, ResolveError> {
        let (dir, meta) = self.open_beneath(&request.relative())?;
        if meta.is_dir() && request.trailing_slash {
            Ok(dir)
        } else {
            Err(ResolveError::NotFound)
        }
    }

    /// Opens the sibling of the file at `path` (relative to the root, as in
    /// [`Target::File`]) whose name adds `suffix`, such as `a.js` → `a.js.br`,
    /// with the same confinement as every other open ([`Root::open_beneath`]).
    ///
    /// `Ok(None)` when there is no such regular file (missing, a folder, a
    /// symlink leading out): a sidecar that is not there is not an error.
    /// Metadata only (open, fstat).
    pub fn open_sibling(
        &self,
        path: &Path,
        suffix: &str,
    ) -> Result<Option<(File, Metadata)>, ResolveError> {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        match self.open_beneath(Path::new(&name)) {
            Ok((file, meta)) if meta.is_file() => Ok(Some((file, meta))),
            Ok(_) | Err(ResolveError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists the folder `dir` that `request` named: hidden names only with
    /// `hidden`, and symlinks only if they could be opened (so none leading
    /// out of the root, unless symlinks may be followed). Blocking.
    pub fn list(&self, request: &RequestPath, dir: &File, hidden: bool) -> io::Result<Vec<Entry>> {
        let base = request.relative();
        let allowed = |name: &std::ffi::CStr| {
            self.follow_symlinks
                || self
                    .open_beneath(&base.join(OsStr::from_bytes(name.to_bytes())))
                    .is_ok()
        };
        entries::read_entries(dir, hidden, &allowed)
    }

    /// Opens `relative` (made only of normal components) beneath the root.
    ///
    /// NOTE: containment is enforced by the kernel at open time, not checked
    /// before it, so a symlink swapped in between cannot lead out (no
    /// time-of-check/time-of-use race):
    /// 1. `openat2(RESOLVE_BENEATH)` from the root handle: relative symlinks
    ///    that stay inside work; anything that would resolve outside fails.
    /// 2. It also fails (EXDEV) on an absolute symlink, even one pointing
    ///    inside. Then the path is canonicalized, and if it lies under the
    ///    root it is opened again with `RESOLVE_NO_SYMLINKS`, so a symlink
    ///    swapped in after the check makes the open fail instead of escape.
    /// 3. With `--follow-symlinks`, a plain `openat`: symlinks may go
    ///    anywhere, `..` is still impossible (refused by `path::decode`).
    ///
    /// Opened non-blocking so a FIFO cannot hang the thread.
    fn open_beneath(&self, relative: &Path) -> Result<(File, Metadata), ResolveError> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let opened = if self.follow_symlinks {
            rustix::fs::openat(&self.dir, relative, flags, Mode::empty())
        } else {
            let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(&self.dir, relative, flags, Mode::empty(), beneath) {
                Err(rustix::io::Errno::XDEV) => {
                    let canonical = std::fs::canonicalize(self.path.join(relative))?;
                    let inside = canonical
                        .strip_prefix(&self.path)
                        .map_err(|_| ResolveError::NotFound)?;
                    let inside = if inside.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        inside
                    };
                    let strict = beneath | ResolveFlags::NO_SYMLINKS;
                    rustix::fs::openat2(&self.dir, inside, flags, Mode::empty(), strict)
                }
                other => other,
            }
        };
        let file = File::from(opened.map_err(io::Error::from)?);
        let meta = file.metadata()?;
        Ok((file, meta))
    }
}
