//! Validators (RFC 9110 §8.8): the strong ETag and Last-Modified of a file.
//!
//! Pure: computed from a length and a modification time, never from the
//! inode or anything else local to one machine, so two replicas holding the
//! same file with the same mtime give the same validators.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The validators of one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// A strong entity tag, quotes included (RFC 9110 §8.8.3).
    pub etag: String,
    /// The modification time, whole seconds, never later than `now` (§8.8.2.1).
    pub last_modified: Option<SystemTime>,
}

impl Validators {
    /// Validators for a file of `len` bytes last modified at `modified`,
    /// as seen at `now`.
    ///
    /// The ETag is `"<len>-<seconds>.<nanoseconds>"` in hex: strong, because
    /// any write changes the mtime, and precise to the filesystem's
    /// sub-second resolution so two writes in one second differ.
    pub fn new(len: u64, modified: Option<SystemTime>, now: SystemTime) -> Self {
        let etag = match modified.map(|m| m.duration_since(UNIX_EPOCH)) {
            Some(Ok(d)) => format!("\"{len:x}-{:x}.{:x}\"", d.as_secs(), d.subsec_nanos()),
            Some(Err(before)) => {
                let d = before.duration();
                format!("\"{len:x}--{:x}.{:x}\"", d.as_secs(), d.subsec_nanos())
            }
            None => format!("\"{len:x}\""),
        };
        let last_modified = modified.map(|m| truncate_to_seconds(m.min(now)));
        Validators {
            etag,
            last_modified,
        }
    }
}

/// HTTP dates have whole seconds (RFC 9110 §5.6.7).
fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::from_secs(1_800_000_000);

    #[test]
    fn etag_is_strong_and_depends_on_length_and_nanoseconds() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let v = Validators::new(10, Some(t), UNIX_EPOCH + NOW);
        assert_eq!(v.etag, "\"a-6553f100.5\"");
        assert!(!v.etag.starts_with("W/"));
        let later = Validators::new(10, Some(t + Duration::from_nanos(1)), UNIX_EPOCH + NOW);
        assert_ne!(v.etag, later.etag);
        assert_ne!(v.etag, Validators::new(11, Some(t), UNIX_EPOCH + NOW).etag);
    }

    #[test]
    fn last_modified_is_whole_seconds_and_not_in_the_future() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999);
        let v = Validators::new(1, Some(t), UNIX_EPOCH + NOW);
        assert_eq!(
            v.last_modified,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        let future = UNIX_EPOCH + NOW + Duration::from_secs(3600);
        let v = Validators::new(1, Some(future), UNIX_EPOCH + NOW);
        assert_eq!(v.last_modified, Some(UNIX_EPOCH + NOW));
    }

    #[test]
    fn times_before_the_epoch_still_give_distinct_tags() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        let v = Validators::new(1, Some(before), UNIX_EPOCH + NOW);
        assert_ne!(
            v.etag,
            Validators::new(
                1,
                Some(UNIX_EPOCH + Duration::from_secs(5)),
                UNIX_EPOCH + NOW
            )
            .etag
        );
    }
}
