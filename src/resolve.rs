//! Request path → a file inside the root, or the reason it is refused.
//!
//! Two steps, kept apart so the first can be tested and fuzzed without a disk:
//! 1. [`decode`] (pure) percent-decodes the path into segments and refuses any
//!    that could name something outside the root or that is hidden.
//! 2. [`Root::open_target`] (metadata I/O: open and fstat) opens
//!    the file relative to a handle of the root with kernel-enforced
//!    confinement, refuses symlinks that lead out of the root, and reads the
//!    metadata from the open handle so headers and bytes describe one file.
//!
//! It does not decide what to send; that is the handler's job.

use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::filecache::{self, Cached, Lookup, OpenFiles};

/// Why a request path does not lead to a file.
#[derive(Debug)]
pub enum ResolveError {
    /// The path can never name a file under the root: 400 with the reason.
    BadRequest(&'static str),
    /// Nothing servable is there, or it is hidden, or it lies outside the root: 404.
    NotFound,
    /// It exists but the server may not read it: 403.
    Forbidden,
    /// An unexpected I/O failure: 500, logged with the cause.
    Io(io::Error),
}

impl From<io::Error> for ResolveError {
    /// Maps the errors a client's path can cause to 404/403; the rest are faults.
    fn from(err: io::Error) -> Self {
        use io::ErrorKind as K;
        match err.kind() {
            K::NotFound | K::NotADirectory | K::InvalidFilename => ResolveError::NotFound,
            K::PermissionDenied => ResolveError::Forbidden,
            _ if err.raw_os_error() == Some(libc::ELOOP) => ResolveError::NotFound,
            _ => ResolveError::Io(err),
        }
    }
}

/// A decoded request path: segments that are each safe to join onto the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestPath {
    segments: Vec<Vec<u8>>,
    /// The path ended in `/` (or was `/`): the client asked for a folder.
    pub trailing_slash: bool,
}

/// Characters that stay percent-encoded in a path segment we write back
/// (RFC 3986 §3.3 `pchar`, minus what would change the meaning).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl RequestPath {
    /// The path relative to the root, for joining onto it.
    pub fn relative(&self) -> PathBuf {
        self.segments.iter().map(|s| OsStr::from_bytes(s)).collect()
    }

    /// The decoded path for people to read: `/a b/été/` (lossy for names
    /// that are not UTF-8), with a trailing slash when `as_dir`.
    pub fn display(&self, as_dir: bool) -> String {
        let names: Vec<_> = self
            .segments
            .iter()
            .map(|s| String::from_utf8_lossy(s))
            .collect();
        let slash = if as_dir && !names.is_empty() { "/" } else { "" };
        format!("/{}{slash}", names.join("/"))
    }

    /// The canonical URL path of this target, re-encoded, with a trailing
    /// slash when `as_dir`. Used for redirects, so it never starts with `//`.
    pub fn url_path(&self, as_dir: bool) -> String {
        let mut url = String::from("/");
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                url.push('/');
            }
            match std::str::from_utf8(segment) {
                Ok(s) => url.extend(utf8_percent_encode(s, SEGMENT)),
                Err(_) => url.extend(percent_encoding::percent_encode(segment, SEGMENT)),
            }
        }
        if as_dir && !self.segments.is_empty() {
            url.push('/');
        }
        url
    }
}

/// Decodes the path of a request target (RFC 9112 §3.2 origin-form, the part
/// before `?`) into segments that cannot leave the root.
///
/// 1. It must start with `/`; empty segments (`//`) are skipped.
/// 2. Each segment is percent-decoded; a `%` not followed by two hex digits is a 400.
/// 3. A decoded segment is refused with 400 if it is `.` or `..`, contains `/`
///    (from `%2F`), `\`, or NUL, or starts like a drive (`C:`). Nothing is
///    normalised away: a client that sends these is asking for something else.
/// 4. A segment starting with `.` is hidden: 404 unless `hidden` is allowed.
pub fn decode(path: &str, hidden: bool) -> Result<RequestPath, ResolveError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(ResolveError::BadRequest("the path must start with /"));
    };
    let mut segments = Vec::new();
    for raw in rest.split('/').filter(|s| !s.is_empty()) {
        let segment = percent_decode_strict(raw.as_bytes()).ok_or(ResolveError::BadRequest(
            "malformed percent-encoding in the path",
        ))?;
        match segment.as_slice() {
            b"." | b".." => return Err(ResolveError::BadRequest("dot segments are not allowed")),
            [drive, b':', ..] if drive.is_ascii_alphabetic() => {
                return Err(ResolveError::BadRequest("drive prefixes are not allowed"));
            }
            s if s.contains(&b'/') || s.contains(&b'\\') => {
                return Err(ResolveError::BadRequest("encoded slashes are not allowed"));
            }
            s if s.contains(&0) => return Err(ResolveError::BadRequest("NUL in the path")),
            [b'.', ..] if !hidden => return Err(ResolveError::NotFound),
            _ => segments.push(segment),
        }
    }
    let trailing_slash = path.ends_with('/');
    Ok(RequestPath {
        segments,
        trailing_slash,
    })
}

/// Percent-decodes bytes; `None` when a `%` is not followed by two hex digits.
fn percent_decode_strict(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let hi = char::from(hex[0]).to_digit(16)?;
            let lo = char::from(hex[1]).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

/// What a request path leads to on disk.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // made once per request and moved once
pub enum Target {
    /// A regular file, open (perhaps shared with other requests, see
    /// [`crate::filecache`]), with the metadata of the open handle and its
    /// path relative to the root (for the media type).
    File {
        file: Arc<File>,
        meta: Metadata,
        path: PathBuf,
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
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&path)?;
        Ok(Root {
            dir,
            path,
            follow_symlinks,
            files: None,
        })
    }

    /// Keeps up to `capacity` files open between requests
    /// ([`crate::filecache`]). Fails where inotify or `/proc` is unavailable.
    /// Returns the cache, for [`OpenFiles::sweep`].
    pub fn cache_open_files(&mut self, capacity: usize) -> io::Result<Arc<OpenFiles>> {
        let files = Arc::new(OpenFiles::new(&self.dir, capacity)?);
        self.files = Some(Arc::clone(&files));
        Ok(files)
    }

    /// Opens what `request` names, from the open-file cache when it has it
    /// (then only `fstat`ed), otherwise by [`Root::open_uncached`]; a file
    /// opened that way is then offered to the cache.
    pub fn open_target(&self, request: &RequestPath) -> Result<Target, ResolveError> {
        let Some(files) = &self.files else {
            return self.open_uncached(request);
        };
        match files.get(request) {
            Lookup::Hit(Cached { file, path }) => {
                let meta = file.metadata()?;
                return Ok(Target::File { file, meta, path });
            }
            Lookup::Uncacheable => return self.open_uncached(request),
            Lookup::Miss => {}
        }
        let target = self.open_uncached(request)?;
        if let Target::File { path, .. } = &target {
            self.remember(files, request, path);
        }
        Ok(target)
    }

    /// Caches the file `request` names, at `path`: its folders are watched
    /// first, then it is opened again with no symlink allowed on the way (a
    /// symlink's target folder would not be watched), and it is kept if it
    /// is a regular file on a local file system and nothing changed meanwhile.
    fn remember(&self, files: &OpenFiles, request: &RequestPath, path: &Path) {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let ticket = files.ticket();
        if let Err(e) = files.watch(path.parent().unwrap_or(Path::new(""))) {
            tracing::debug!(path = %path.display(), error = %e, "not caching: cannot watch its folders");
            files.refuse(ticket, request.clone());
            return;
        }
        let strict =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let opened = rustix::fs::openat2(&self.dir, path, flags, Mode::empty(), strict)
            .map(File::from)
            .map_err(io::Error::from)
            .and_then(|file| file.metadata().map(|meta| (file, meta)));
        match opened {
            Ok((file, meta)) if meta.is_file() && filecache::is_local(&file) => {
                let cached = Cached {
                    file: Arc::new(file),
                    path: path.to_owned(),
                };
                files.insert(ticket, request.clone(), cached);
            }
            _ => files.refuse(ticket, request.clone()),
        }
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
            meta,
            path,
        })
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
    pub fn list(
        &self,
        request: &RequestPath,
        dir: &File,
        hidden: bool,
    ) -> io::Result<Vec<crate::listing::Entry>> {
        let base = request.relative();
        let allowed = |name: &std::ffi::CStr| {
            self.follow_symlinks
                || self
                    .open_beneath(&base.join(OsStr::from_bytes(name.to_bytes())))
                    .is_ok()
        };
        crate::listing::read_entries(dir, hidden, &allowed)
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
    ///    anywhere, `..` is still impossible (refused by [`decode`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segments(path: &str) -> Vec<String> {
        let decoded = decode(path, false).unwrap();
        decoded
            .segments
            .iter()
            .map(|s| String::from_utf8(s.clone()).unwrap())
            .collect()
    }

    fn is_bad(path: &str) -> bool {
        matches!(decode(path, true), Err(ResolveError::BadRequest(_)))
    }

    #[test]
    fn plain_paths_decode_to_segments() {
        assert_eq!(segments("/"), Vec::<String>::new());
        assert_eq!(segments("/a/b.txt"), ["a", "b.txt"]);
        assert_eq!(segments("//a///b"), ["a", "b"]);
        assert_eq!(segments("/with%20space.txt"), ["with space.txt"]);
        assert_eq!(segments("/%C3%A9t%C3%A9.txt"), ["été.txt"]);
        assert_eq!(segments("/été.txt"), ["été.txt"]);
        assert_eq!(segments("/100%25"), ["100%"]);
    }

    #[test]
    fn traversal_attempts_are_bad_requests() {
        for p in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/x",
            "/%2E%2E",
            "/.",
            "/a/./b",
            "/a%2fb",
            "/a%2Fb",
            "/..%2f",
            "/a%5cb",
            "/a\\b",
            "/%00",
            "/a%00.txt",
            "/C:/x",
            "/c%3a/x",
            "/%",
            "/%2",
            "/%zz",
            "relative",
            "*",
        ] {
            assert!(is_bad(p), "{p} should be refused");
        }
    }

    #[test]
    fn hidden_segments_are_not_found_unless_allowed() {
        assert!(matches!(
            decode("/.env", false),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            decode("/a/.git/config", false),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            decode("/%2Eenv", false),
            Err(ResolveError::NotFound)
        ));
        assert!(decode("/.env", true).is_ok());
        assert!(decode("/a.b/c.", false).is_ok());
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert!(decode("/", false).unwrap().trailing_slash);
        assert!(decode("/sub/", false).unwrap().trailing_slash);
        assert!(!decode("/sub", false).unwrap().trailing_slash);
    }

    #[test]
    fn url_path_reencodes_and_never_starts_with_two_slashes() {
        let p = decode("//evil.example/x", false).unwrap();
        assert_eq!(p.url_path(true), "/evil.example/x/");
        let p = decode("/a%20b/%C3%A9/%3F%23", false).unwrap();
        assert_eq!(p.url_path(true), "/a%20b/%C3%A9/%3F%23/");
        assert_eq!(decode("/", false).unwrap().url_path(true), "/");
    }

    proptest! {
        #[test]
        fn decoded_paths_stay_inside_the_root(path in "/[a-zA-Z0-9%./\\\\:_ -]{0,30}") {
            if let Ok(decoded) = decode(&path, true) {
                let rel = decoded.relative();
                prop_assert!(rel.is_relative());
                for c in rel.components() {
                    prop_assert!(matches!(c, std::path::Component::Normal(_)), "{:?} in {:?}", c, path);
                }
                prop_assert!(!decoded.url_path(false).starts_with("//"));
            }
        }

        #[test]
        fn url_path_decodes_back_to_the_same_segments(names in proptest::collection::vec("[^/\\\\\\x00.][^/\\\\\\x00]{0,8}", 0..4)) {
            let names: Vec<String> = names.into_iter().filter(|n| !(n.len() > 1 && n.as_bytes()[1] == b':')).collect();
            let original = RequestPath { segments: names.iter().map(|n| n.as_bytes().to_vec()).collect(), trailing_slash: false };
            let again = decode(&original.url_path(false), true).unwrap();
            prop_assert_eq!(again.segments, original.segments);
        }
    }
}
