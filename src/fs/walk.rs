//! `--digest`: every served file hashed in the background, from start-up on,
//! and again after it changes.
//!
//! The walk lists the regular files under the root (hidden ones only with
//! `--hidden`; symlinks are not followed, so nothing outside the root is
//! read), then hashes them one at a time through [`Digests::hash_now`],
//! which skips versions already known (from the cache file too). It walks
//! again every [`REWALK`], so a file changed, added or replaced gets its
//! new digest without waiting for a request; requests for a file not yet
//! hashed queue it sooner.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::digests::{Digests, Key};

/// How often the folder is walked again.
pub const REWALK: Duration = Duration::from_secs(60);
/// Files listed per walk, at most.
const MAX_FILES: usize = 1_000_000;

/// Runs forever: walk, hash what is new, wait, walk again.
pub async fn hash_all(root: PathBuf, hidden: bool, digests: Arc<Digests>) {
    loop {
        let started = Instant::now();
        let listing = {
            let root = root.clone();
            tokio::task::spawn_blocking(move || list(&root, hidden)).await
        };
        let files = listing.unwrap_or_default();
        let mut hashed = 0usize;
        for path in &files {
            let name = path.strip_prefix(&root).unwrap_or(path).to_path_buf();
            let path = path.clone();
            let opened = tokio::task::spawn_blocking(move || {
                let file = File::open(&path)?;
                let meta = file.metadata()?;
                Ok::<_, std::io::Error>((file, meta))
            })
            .await;
            let Ok(Ok((file, meta))) = opened else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let key = Key::of(&meta);
            if digests.get(&key).is_none() {
                digests.hash_now(Arc::new(file), key, name).await;
                hashed += 1;
            }
        }
        if hashed > 0 {
            tracing::info!(
                files = files.len(),
                hashed,
                secs = started.elapsed().as_secs(),
                "digests ready for the served files"
            );
        }
        tokio::time::sleep(REWALK).await;
    }
}

/// Regular files under `root`, depth first, sorted by name. Blocking.
fn list(root: &Path, hidden: bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            if !hidden && entry.file_name().as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            // NOTE: the entry's own type: a symlink is neither, so not followed.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
                if files.len() >= MAX_FILES {
                    return files;
                }
            }
        }
    }
    files
}
