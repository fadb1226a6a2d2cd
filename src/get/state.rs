//! What `rangeget` remembers beside `FILE.part` (in `FILE.part.state`), so a
//! rerun resumes: the URL, the length, the validator the bytes belong to, the
//! announced digest, and which byte ranges are on disk.
//!
//! A small line-based text file (`key value`), written whole to a temporary
//! name and renamed over the old one, so a crash leaves the old state or the
//! new one, never half of either. Pure apart from [`State::load`] and
//! [`State::save`].

use std::io;
use std::path::Path;

/// The state of one download.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    pub url: String,
    pub length: u64,
    /// A strong ETag, or else the Last-Modified date: what `If-Range` sends.
    pub validator: Option<String>,
    /// `Repr-Digest` as the server stated it (`sha-256=:…:`).
    pub digest: Option<String>,
    /// Byte ranges on disk, `[start, end)`, sorted, disjoint, not touching.
    pub done: Vec<(u64, u64)>,
}

impl State {
    /// Records that `[start, end)` is on disk, merging with neighbours.
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        self.done.push((start, end));
        self.done.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.done.len());
        for &(s, e) in &self.done {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.done = merged;
    }

    /// Bytes on disk.
    pub fn have(&self) -> u64 {
        self.done.iter().map(|(s, e)| e - s).sum()
    }

    /// The ranges still missing of `[0, length)`.
    pub fn missing(&self) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for &(s, e) in &self.done {
            if s > at {
                gaps.push((at, s.min(self.length)));
            }
            at = at.max(e);
        }
        if at < self.length {
            gaps.push((at, self.length));
        }
        gaps.retain(|(s, e)| s < e);
        gaps
    }

    /// `missing` cut into at most `jobs` pieces of at least `min` bytes
    /// each (the last ones may be shorter), largest gaps split first.
    pub fn segments(&self, jobs: usize, min: u64) -> Vec<(u64, u64)> {
        let mut pieces = self.missing();
        while pieces.len() < jobs.max(1) {
            let Some((i, &(s, e))) = pieces.iter().enumerate().max_by_key(|(_, (s, e))| e - s)
            else {
                break;
            };
            if e - s < 2 * min.max(1) {
                break;
            }
            let mid = s + (e - s) / 2;
            pieces[i] = (s, mid);
            pieces.insert(i + 1, (mid, e));
        }
        pieces
    }

    pub fn to_text(&self) -> String {
        let done: Vec<String> = self.done.iter().map(|(s, e)| format!("{s}-{e}")).collect();
        format!(
            "rangeget-state 1\nurl {}\nlength {}\nvalidator {}\ndigest {}\ndone {}\n",
            self.url,
            self.length,
            self.validator.as_deref().unwrap_or("-"),
            self.digest.as_deref().unwrap_or("-"),
            if done.is_empty() {
                "-".to_owned()
            } else {
                done.join(",")
            }
        )
    }

    /// Parses [`State::to_text`]; `None` for anything else.
    pub fn from_text(text: &str) -> Option<State> {
        let mut lines = text.lines();
        (lines.next()? == "rangeget-state 1").then_some(())?;
        let mut field = |name: &str| {
            let line = lines.next()?;
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            Some((value != "-").then(|| value.to_owned()))
        };
        let url = field("url")??;
        let length = field("length")??.parse().ok()?;
        let validator = field("validator")?;
        let digest = field("digest")?;
        let done_text = field("done")?;
        let mut state = State {
            url,
            length,
            validator,
            digest,
            done: Vec::new(),
        };
        for range in done_text.iter().flat_map(|t| t.split(',')) {
            let (s, e) = range.split_once('-')?;
            let (s, e): (u64, u64) = (s.parse().ok()?, e.parse().ok()?);
            (s < e && e <= length).then_some(())?;
            state.add(s, e);
        }
        Some(state)
    }

    /// The state in `path`, if it is there and readable as one.
    pub fn load(path: &Path) -> Option<State> {
        State::from_text(&std::fs::read_to_string(path).ok()?)
    }

    /// Writes the state to `path` (via a temporary file and a rename).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let fresh = path.with_extension("state-new");
        std::fs::write(&fresh, self.to_text())?;
        std::fs::rename(&fresh, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_merge_and_gaps_are_what_is_left() {
        let mut s = State {
            length: 100,
            ..State::default()
        };
        s.add(10, 20);
        s.add(30, 40);
        s.add(20, 30);
        assert_eq!(s.done, [(10, 40)]);
        assert_eq!(s.missing(), [(0, 10), (40, 100)]);
        assert_eq!(s.have(), 30);
        s.add(0, 100);
        assert!(s.missing().is_empty());
    }

    #[test]
    fn segments_split_the_largest_gaps_down_to_the_minimum() {
        let s = State {
            length: 8 << 20,
            ..State::default()
        };
        assert_eq!(s.segments(8, 1 << 20).len(), 8);
        assert_eq!(s.segments(8, 4 << 20).len(), 2, "none under the minimum");
        assert_eq!(s.segments(1, 1).len(), 1);
    }

    #[test]
    fn text_round_trips_and_junk_is_refused() {
        let mut s = State {
            url: "http://x/a b".into(),
            length: 1000,
            validator: Some("\"abc\"".into()),
            digest: Some("sha-256=:AAAA:".into()),
            done: Vec::new(),
        };
        s.add(0, 10);
        s.add(500, 600);
        assert_eq!(State::from_text(&s.to_text()), Some(s.clone()));
        let empty = State {
            url: "u".into(),
            ..State::default()
        };
        assert_eq!(State::from_text(&empty.to_text()), Some(empty));
        assert_eq!(State::from_text("rangeget-state 2\n"), None);
        let past_the_end = s.to_text().replace("500-600", "500-2000");
        assert_eq!(State::from_text(&past_the_end), None);
    }

    proptest! {
        /// Whatever ranges are added, done and missing tile [0, length)
        /// exactly, and segments cover exactly what is missing.
        #[test]
        fn done_and_missing_tile_the_file(
            length in 1u64..10_000,
            adds in proptest::collection::vec((0u64..10_000, 0u64..2_000), 0..20),
            jobs in 1usize..10,
        ) {
            let mut s = State { length, ..State::default() };
            for (start, len) in adds {
                let start = start % length;
                s.add(start, (start + len).min(length));
            }
            let mut all: Vec<(u64, u64)> = s.done.iter().copied().chain(s.missing()).collect();
            all.sort_unstable();
            let mut at = 0;
            for (a, b) in all {
                prop_assert_eq!(a, at);
                at = b;
            }
            prop_assert_eq!(at, length);
            let covered: u64 = s.segments(jobs, 100).iter().map(|(a, b)| b - a).sum();
            prop_assert_eq!(covered, length - s.have());
        }
    }
}
