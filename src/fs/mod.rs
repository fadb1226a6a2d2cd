//! Files: every file descriptor the server opens is opened here.
//!
//! - `path`: the request path, decoded strictly (pure, fuzzed);
//! - `root`: opening what a path names beneath the served folder, with
//!   kernel-enforced confinement, and its metadata from the open handle;
//! - `filecache`: files kept open between requests, forgotten on any change
//!   to the folders that lead to them (inotify);
//! - `entries`: reading a folder's entries for a listing;
//! - `tree`: a folder's whole tree for an archive, its members opened
//!   again, and the inotify watches that say when a walk is out of date;
//! - `snapshot`: what the response headers promised about a file, checked
//!   again while its bytes are sent.
//!
//! Nothing here imports `http/`: files know nothing of requests beyond a
//! decoded path. [`ResolveError`] is the one place where an errno becomes a
//! reason a request is refused; the handler turns the reason into a status.

pub mod digests;
pub mod entries;
mod filecache;
pub mod path;
pub mod root;
pub mod snapshot;
pub mod tree;
pub mod walk;

pub use filecache::{OpenFiles, SWEEP};

use std::io;

use rustix::io::Errno;

/// Why a request path does not lead to a file.
#[derive(Debug)]
pub enum ResolveError {
    /// The path can never name a file under the root: 400 with the reason.
    BadRequest(&'static str),
    /// Nothing servable is there, or it is hidden, or it lies outside the root: 404.
    NotFound,
    /// It exists but the server may not read it: 403.
    Forbidden,
    /// It may not be served, for the reason given (an archive over its
    /// limits, or holding what may not be read): 403 with the reason.
    Refused(String),
    /// The process or the system is out of file descriptors (EMFILE,
    /// ENFILE): 503, worth a retry shortly.
    Busy(io::Error),
    /// An unexpected I/O failure: 500, logged with the cause.
    Io(io::Error),
}

impl From<io::Error> for ResolveError {
    /// The one errno mapping: errors a client's path can cause are 404/403,
    /// running out of descriptors is [`ResolveError::Busy`], the rest are
    /// faults.
    fn from(err: io::Error) -> Self {
        use io::ErrorKind as K;
        let errno = err.raw_os_error().map(Errno::from_raw_os_error);
        match err.kind() {
            K::NotFound | K::NotADirectory | K::InvalidFilename => ResolveError::NotFound,
            K::PermissionDenied => ResolveError::Forbidden,
            _ if errno == Some(Errno::LOOP) => ResolveError::NotFound,
            _ if matches!(errno, Some(Errno::MFILE | Errno::NFILE)) => ResolveError::Busy(err),
            _ => ResolveError::Io(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_errno(errno: Errno) -> ResolveError {
        ResolveError::from(io::Error::from_raw_os_error(errno.raw_os_error()))
    }

    #[test]
    fn errnos_map_to_one_reason_each() {
        assert!(matches!(from_errno(Errno::NOENT), ResolveError::NotFound));
        assert!(matches!(from_errno(Errno::NOTDIR), ResolveError::NotFound));
        assert!(matches!(from_errno(Errno::LOOP), ResolveError::NotFound));
        assert!(matches!(from_errno(Errno::ACCESS), ResolveError::Forbidden));
        assert!(matches!(from_errno(Errno::MFILE), ResolveError::Busy(_)));
        assert!(matches!(from_errno(Errno::NFILE), ResolveError::Busy(_)));
        assert!(matches!(from_errno(Errno::IO), ResolveError::Io(_)));
    }
}
