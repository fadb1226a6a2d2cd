//! What the response headers promised about a file, and the one check that
//! it still holds while the bytes are sent.
//!
//! A response's ETag, Last-Modified and Content-Length are computed from one
//! `fstat` of the open handle. Every read of the file after that (a chunk
//! copied through memory, a cached small body, a sendfile) is followed by
//! [`Snapshot::verify`]: a file that changed length or modification time, or
//! was truncated under the read, ends the body with an error so the
//! connection is cut and the client never sees a response that looks complete
//! but is not the file the headers described.

use std::fs::{File, Metadata};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Changes seen by [`Snapshot::verify`] and truncations reported through
/// [`Snapshot::truncated`]: each ends one response (for `--metrics`).
static CUTS: AtomicU64 = AtomicU64::new(0);

/// Responses cut so far because their file changed under them.
pub fn cuts() -> u64 {
    CUTS.load(Ordering::Relaxed)
}

/// The identity of the file as the response headers describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub len: u64,
    pub modified: Option<SystemTime>,
}

impl Snapshot {
    pub fn of(meta: &Metadata) -> Self {
        Snapshot {
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// Checks, with an `fstat` of the handle, that `file` is still the
    /// version this snapshot describes.
    ///
    /// NOTE: callers check *after* reading, so a change that landed before
    /// or during the read is seen. An fstat costs far less than the read.
    pub fn verify(&self, file: &File) -> io::Result<()> {
        if self.holds(file)? {
            Ok(())
        } else {
            Err(Snapshot::changed())
        }
    }

    /// Whether `file` is still this version; unlike [`Snapshot::verify`], a
    /// change is not an error (nor counted): for a caller that can fall
    /// back.
    pub fn holds(&self, file: &File) -> io::Result<bool> {
        Ok(Snapshot::of(&file.metadata()?) == *self)
    }

    /// The error for a file found changed (after a read, or when an
    /// archive's member is opened again), counted as a cut.
    pub fn changed() -> io::Error {
        CUTS.fetch_add(1, Ordering::Relaxed);
        io::Error::other("the file changed while being sent")
    }

    /// The error for a file that could not be opened again (gone, or
    /// replaced by something else), counted as a cut.
    pub fn vanished(cause: io::Error) -> io::Error {
        CUTS.fetch_add(1, Ordering::Relaxed);
        io::Error::other(format!("the file went away while being sent: {cause}"))
    }

    /// The error for a read that found fewer bytes than the snapshot promised.
    pub fn truncated() -> io::Error {
        CUTS.fetch_add(1, Ordering::Relaxed);
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file was truncated while being sent",
        )
    }
}

/// One version of a file as one `fstat` saw it: what its responses'
/// headers are made from, shared by every request for that version while
/// the open-file cache knows it unchanged (`filecache.rs`).
#[derive(Debug)]
pub struct Version {
    pub snapshot: Snapshot,
    /// Names this exact version in the digest cache (`digests.rs`).
    pub key: super::digests::Key,
    /// Set when a read finds the file no longer matches the snapshot (a
    /// change no event reports, such as a write through a shared mapping):
    /// the open-file cache then stops handing this version out.
    pub stale: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// What the layers above derive from the snapshot (the handler's header
    /// values), made once per version.
    pub derived: std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>,
}

impl Version {
    pub fn of(meta: &Metadata) -> Self {
        Version {
            snapshot: Snapshot::of(meta),
            key: super::digests::Key::of(meta),
            stale: std::sync::Arc::default(),
            derived: std::sync::OnceLock::new(),
        }
    }

    /// Whether a read has found the file changed since.
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }
}

/// An open file with the version the response headers promised: what a body
/// reads from, and what the sendfile path sends.
#[derive(Debug)]
pub struct Pinned {
    pub file: std::sync::Arc<File>,
    pub snapshot: Snapshot,
    /// Set when a check finds the file changed (an archive's member: the
    /// archive's walk is then out of date).
    pub on_change: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl std::os::fd::AsFd for Pinned {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Pinned {
    /// An open file and the version the headers describe.
    pub fn new(file: std::sync::Arc<File>, snapshot: Snapshot) -> Self {
        Pinned {
            file,
            snapshot,
            on_change: None,
        }
    }

    /// See [`Snapshot::verify`].
    pub fn verify(&self) -> io::Result<()> {
        let verified = self.snapshot.verify(&self.file);
        if verified.is_err() {
            self.changed();
        }
        verified
    }

    /// [`Snapshot::truncated`], noting the change.
    pub fn truncated(&self) -> io::Error {
        self.changed();
        Snapshot::truncated()
    }

    fn changed(&self) {
        if let Some(flag) = &self.on_change {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_snapshot_holds_until_the_file_changes() {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(b"0123").expect("write");
        let snap = Snapshot::of(&f.metadata().expect("fstat"));
        assert!(snap.verify(&f).is_ok());
        f.write_all(b"4").expect("write");
        assert!(snap.verify(&f).is_err());
    }
}
