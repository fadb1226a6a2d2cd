//! Digests of whole files for `Repr-Digest`, computed in the background and
//! never on a request's path: SHA-256 always, SHA-512 too (in the same
//! read) once a client has asked for it, since it costs about three times
//! as much (1.4 against 0.5 GB/s on this machine).
//!
//! - A digest describes exactly one version of one file: it is keyed by
//!   [`Key`] (device, inode, length, modification and change times to the
//!   nanosecond), read from the open handle. The hash is computed from that
//!   same handle, and kept only if an `fstat` afterwards still gives the
//!   same key; a file changed while being hashed is discarded.
//! - Jobs: at most one per key (500 requests for one unhashed file start
//!   one job), at most [`RUNNING`] at once on the blocking pool, and at most
//!   [`QUEUED`] waiting; beyond that a request simply gets no digest yet.
//! - Known digests are appended to a cache file outside the served folder
//!   and read back at start-up, so a restart does not rehash; an entry is
//!   used only for a file whose key is identical.
//!
//! It owns the cache file and reads files through handles it is given; it
//! knows nothing of HTTP fields.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ring::digest::{Context, SHA256, SHA512};
use tokio::sync::Semaphore;

/// Hashing jobs running at once.
pub const RUNNING: usize = 2;
/// Jobs waiting for a turn, at most.
pub const QUEUED: usize = 1024;
/// Bytes read per step of a job.
const READ: usize = 1 << 20;
/// A job this long says how far it got, at info, this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Entries kept in the cache file when it is compacted at start-up.
const KEEP: usize = 200_000;

/// What makes one version of one file exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    dev: u64,
    ino: u64,
    len: u64,
    modified: i128,
    changed: i128,
}

impl Key {
    pub fn of(meta: &std::fs::Metadata) -> Key {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Key {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: ns(meta.mtime(), meta.mtime_nsec()),
            changed: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The key of a `statx` of the file (`fs/entries.rs`): the same values
    /// `fstat` gives, the device as `makedev(major, minor)`.
    pub fn from_parts(dev: u64, ino: u64, len: u64, modified: i128, changed: i128) -> Key {
        Key {
            dev,
            ino,
            len,
            modified,
            changed,
        }
    }

    fn to_line(self, sums: &Sums) -> String {
        format!(
            "v1 {} {} {} {} {} {} {}\n",
            self.dev,
            self.ino,
            self.len,
            self.modified,
            self.changed,
            hex(&sums.sha256),
            sums.sha512
                .as_ref()
                .map_or_else(|| "-".to_owned(), |s| hex(s))
        )
    }

    fn from_line(line: &str) -> Option<(Key, Sums)> {
        let mut words = line.split(' ');
        (words.next()? == "v1").then_some(())?;
        let key = Key {
            dev: words.next()?.parse().ok()?,
            ino: words.next()?.parse().ok()?,
            len: words.next()?.parse().ok()?,
            modified: words.next()?.parse().ok()?,
            changed: words.next()?.parse().ok()?,
        };
        let sums = Sums {
            sha256: unhex(words.next()?)?,
            sha512: match words.next()? {
                "-" => None,
                text => Some(unhex(text)?),
            },
        };
        words.next().is_none().then_some((key, sums))
    }
}

/// The digests of one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sums {
    pub sha256: [u8; 32],
    /// Computed only once a client has asked for it.
    pub sha512: Option<[u8; 64]>,
}

/// The digests known, and the jobs that will add to them.
#[derive(Debug)]
pub struct Digests {
    state: Mutex<State>,
    running: Semaphore,
    /// Where known digests are appended; `None`: kept in memory only.
    store: Option<PathBuf>,
    done: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    known: HashMap<Key, Sums>,
    pending: HashSet<Key>,
}

impl Digests {
    /// Digests kept in `store` (read now, compacted, then appended to), or in
    /// memory only.
    ///
    /// # Errors
    ///
    /// The cache file's folder cannot be created, or the file cannot be
    /// written.
    pub fn open(store: Option<PathBuf>) -> io::Result<Arc<Self>> {
        let mut known = HashMap::new();
        if let Some(path) = &store {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut entries = Vec::new();
            match File::open(path) {
                Ok(file) => {
                    for line in io::BufReader::new(file).lines() {
                        if let Some(entry) = Key::from_line(&line?) {
                            entries.push(entry);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            // Later lines are newer; keep the newest line of each of the
            // newest KEEP distinct keys.
            let mut kept = Vec::new();
            for (key, sums) in entries.into_iter().rev() {
                if known.len() >= KEEP {
                    break;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = known.entry(key) {
                    slot.insert(sums);
                    kept.push((key, sums));
                }
            }
            let text: String = kept.iter().rev().map(|(k, s)| k.to_line(s)).collect();
            // NOTE: one temporary name per process: servers sharing the
            // default cache may start at the same time.
            let fresh = path.with_extension(format!("tmp.{}", std::process::id()));
            std::fs::write(&fresh, text)?;
            std::fs::rename(&fresh, path)?;
        }
        Ok(Arc::new(Digests {
            state: Mutex::new(State {
                known,
                pending: HashSet::new(),
            }),
            running: Semaphore::new(RUNNING),
            store,
            done: AtomicU64::new(0),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The digests of the version `key` names, if known.
    pub fn get(&self, key: &Key) -> Option<Sums> {
        self.lock().known.get(key).copied()
    }

    /// (jobs queued or running, jobs finished), for `--metrics`.
    pub fn stats(&self) -> (u64, u64) {
        let pending = self.lock().pending.len() as u64;
        (pending, self.done.load(Ordering::Relaxed))
    }

    /// Hashes `file` (whose version is `key`; `name` is for the log) in the
    /// background, unless it is known, already queued, or the queue is full.
    /// Returns at once. Must run inside the runtime.
    /// With `sha512`, SHA-512 is computed too (and a version known without
    /// it is hashed again).
    pub fn queue(self: &Arc<Self>, file: Arc<File>, key: Key, name: &Path, sha512: bool) {
        {
            let mut state = self.lock();
            let known = state
                .known
                .get(&key)
                .is_some_and(|s| s.sha512.is_some() || !sha512);
            if known || state.pending.contains(&key) {
                return;
            }
            if state.pending.len() >= QUEUED {
                tracing::debug!(path = %name.display(), "digest queue full; not queued");
                return;
            }
            state.pending.insert(key);
        }
        let (digests, name) = (Arc::clone(self), name.to_path_buf());
        tokio::spawn(async move {
            digests.run(file, key, name, sha512).await;
        });
    }

    /// Hashes `file` now (waiting for a turn), for the background walk,
    /// which goes one file at a time. Nothing happens if it is known or
    /// queued.
    pub async fn hash_now(self: &Arc<Self>, file: Arc<File>, key: Key, name: PathBuf) {
        {
            let mut state = self.lock();
            if state.known.contains_key(&key) || !state.pending.insert(key) {
                return;
            }
        }
        self.run(file, key, name, false).await;
    }

    /// One job: wait for a turn, hash on the blocking pool, keep the result
    /// if the file is still the version `key` names.
    async fn run(self: &Arc<Self>, file: Arc<File>, key: Key, name: PathBuf, sha512: bool) {
        let permit = self.running.acquire().await;
        let digests = Arc::clone(self);
        let hashed = tokio::task::spawn_blocking(move || {
            let sums = hash(&file, key.len, &name, sha512)?;
            let still = Key::of(&file.metadata()?) == key;
            Ok::<_, io::Error>((sums, still, name))
        })
        .await;
        drop(permit);
        let outcome = match hashed {
            Ok(Ok((sums, true, name))) => {
                digests.remember(key, sums, &name);
                None
            }
            Ok(Ok((_, false, name))) => {
                Some(format!("{} changed while being hashed", name.display()))
            }
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = outcome {
            tracing::debug!(reason = %why, "digest discarded");
        }
        self.lock().pending.remove(&key);
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn remember(&self, key: Key, sums: Sums, name: &Path) {
        self.lock().known.insert(key, sums);
        let Some(store) = &self.store else { return };
        let appended = File::options()
            .append(true)
            .create(true)
            .open(store)
            .and_then(|mut f| f.write_all(key.to_line(&sums).as_bytes()));
        if let Err(e) = appended {
            tracing::warn!(file = %store.display(), error = %e, "cannot write the digest cache");
        }
        tracing::debug!(path = %name.display(), "digest known");
    }
}

/// SHA-256, and SHA-512 when `with_sha512`, of the first `len` bytes of
/// `file`, in one read (`name` is for the progress log). Blocking. A file
/// shorter than `len` is an error (it changed).
pub fn hash(file: &File, len: u64, name: &Path, with_sha512: bool) -> io::Result<Sums> {
    let mut sha256 = Context::new(&SHA256);
    let mut sha512 = with_sha512.then(|| Context::new(&SHA512));
    let mut buf = vec![0u8; READ];
    let (mut at, start) = (0u64, Instant::now());
    let mut told = start;
    while at < len {
        let want = usize::try_from((len - at).min(READ as u64)).unwrap_or(READ);
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while being hashed",
            ));
        }
        sha256.update(&buf[..n]);
        if let Some(sha512) = &mut sha512 {
            sha512.update(&buf[..n]);
        }
        at += n as u64;
        if told.elapsed() >= PROGRESS_EVERY {
            told = Instant::now();
            tracing::info!(path = %name.display(), done = at, of = len, "hashing");
        }
    }
    if start.elapsed() >= PROGRESS_EVERY {
        tracing::info!(path = %name.display(), bytes = len, secs = start.elapsed().as_secs(), "hashed");
    }
    let mut sums = Sums {
        sha256: [0; 32],
        sha512: None,
    };
    sums.sha256.copy_from_slice(sha256.finish().as_ref());
    if let Some(sha512) = sha512 {
        let mut bytes = [0; 64];
        bytes.copy_from_slice(sha512.finish().as_ref());
        sums.sha512 = Some(bytes);
    }
    Ok(sums)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Hex of a SHA-256, as `sha256sum` prints it.
pub fn sha256_hex(sums: &Sums) -> String {
    hex(&sums.sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn a_key_changes_with_any_rewrite_even_same_length_and_mtime() {
        let (_dir, path) = file_with(b"0123");
        let before = Key::of(&std::fs::metadata(&path).unwrap());
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, b"abcd").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let after = Key::of(&std::fs::metadata(&path).unwrap());
        assert_eq!(before.len, after.len);
        assert_eq!(before.modified, after.modified);
        assert_ne!(before, after, "the change time still moved");
    }

    #[test]
    fn hashes_match_sha256sum_and_sha512sum() {
        let (_dir, path) = file_with(b"abc");
        let sums = hash(&File::open(&path).unwrap(), 3, &path, true).unwrap();
        assert_eq!(
            sha256_hex(&sums),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hex(&sums.sha512.unwrap()).starts_with("ddaf35a193617aba"));
        let err = hash(&File::open(&path).unwrap(), 4, &path, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn cache_lines_round_trip_and_junk_is_skipped() {
        let (_dir, path) = file_with(b"abc");
        let key = Key::of(&std::fs::metadata(&path).unwrap());
        let sums = hash(&File::open(&path).unwrap(), 3, &path, false).unwrap();
        let line = key.to_line(&sums);
        assert_eq!(Key::from_line(line.trim_end()), Some((key, sums)));
        let sums = hash(&File::open(&path).unwrap(), 3, &path, true).unwrap();
        let line = key.to_line(&sums);
        assert_eq!(Key::from_line(line.trim_end()), Some((key, sums)));
        assert_eq!(Key::from_line("v1 1 2 3"), None);
        assert_eq!(Key::from_line(&line.trim_end().replace("v1", "v2")), None);
    }

    #[tokio::test]
    async fn a_stored_digest_survives_a_restart_only_for_the_same_version() {
        let (dir, path) = file_with(b"hello");
        let store = dir.path().join("cache/digests.tsv");
        let digests = Digests::open(Some(store.clone())).unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let key = Key::of(&file.metadata().unwrap());
        digests.hash_now(Arc::clone(&file), key, path.clone()).await;
        assert!(digests.get(&key).is_some());
        assert_eq!(digests.stats(), (0, 1));
        drop(digests);

        let again = Digests::open(Some(store.clone())).unwrap();
        assert_eq!(
            again.get(&key),
            Digests::open(Some(store.clone())).unwrap().get(&key)
        );
        assert!(again.get(&key).is_some(), "read back from the cache file");
        // A later line for the same version (with SHA-512 now) wins over
        // the earlier one, and compaction keeps one line per version.
        let with512 = hash(&file, 5, &path, true).unwrap();
        let line = key.to_line(&with512);
        let mut cache = File::options().append(true).open(&store).unwrap();
        cache.write_all(line.as_bytes()).unwrap();
        drop(cache);
        let reread = Digests::open(Some(store.clone())).unwrap();
        assert_eq!(reread.get(&key), Some(with512));
        assert_eq!(std::fs::read_to_string(&store).unwrap(), line);
        std::fs::write(&path, b"HELLO").unwrap();
        let changed = Key::of(&std::fs::metadata(&path).unwrap());
        assert!(again.get(&changed).is_none(), "never for another version");
    }
}
