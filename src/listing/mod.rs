//! Folder listings: the entries of a folder, sorted, as an HTML page or a
//! JSON array, with the headers that go with them.
//!
//! Pure: the entries come from `fs/entries.rs` (read on the blocking pool);
//! [`parse_sort`] reads the sort order from the query, [`sort_entries`]
//! applies it, [`Page::render`] writes the body with `html.rs` or `json.rs`,
//! chosen by `http::negotiate::wants_json`.
//!
//! It does not decide *whether* a folder is listed or open the folder: that
//! is the handler's job.
//!
//! Names are raw bytes: a name that is not UTF-8 is shown lossily but linked
//! by its exact bytes, percent-encoded, so the link still opens the file.

mod calendar;
mod html;
mod json;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::time::SystemTime;

use hyper::header::{self, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_encode};

pub use crate::fs::entries::Entry;
pub use html::render_html;
pub use json::render_json;

/// The column a listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Name,
    Size,
    Date,
}

impl SortKey {
    /// The value of `sort=` in a query.
    fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Date => "date",
        }
    }
}

/// How a listing is sorted. The default is by name, ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

/// Reads the sort order from a query string (without or with its `?`):
/// `sort=name|size|date` and `order=asc|desc`.
///
/// Unknown keys and values are ignored (a listing never fails over its
/// query); when a parameter repeats, the last known value wins.
pub fn parse_sort(query: Option<&str>) -> Sort {
    let mut sort = Sort::default();
    let query = query.unwrap_or("");
    let query = query.strip_prefix('?').unwrap_or(query);
    for pair in query.split('&') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        match name {
            "sort" => {
                for key in [SortKey::Name, SortKey::Size, SortKey::Date] {
                    if value.eq_ignore_ascii_case(key.as_str()) {
                        sort.key = key;
                    }
                }
            }
            "order" if value.eq_ignore_ascii_case("asc") => sort.descending = false,
            "order" if value.eq_ignore_ascii_case("desc") => sort.descending = true,
            _ => {}
        }
    }
    sort
}

/// Sorts entries for display.
///
/// 1. Folders always come before files, whatever the order.
/// 2. Then by the key, reversed when `descending`: names compare
///    case-insensitively (Unicode lowercase), ties broken by the raw bytes so
///    the order is total; a missing date sorts before any date.
/// 3. Equal sizes or dates fall back to the name, always ascending, so
///    flipping the order of the size column does not shuffle equal files.
pub fn sort_entries(entries: &mut [Entry], sort: Sort) {
    entries.sort_by(|a, b| {
        let by_key = match sort.key {
            SortKey::Name => compare_names(&a.name, &b.name),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Date => a.modified.cmp(&b.modified),
        };
        let by_key = if sort.descending {
            by_key.reverse()
        } else {
            by_key
        };
        b.is_dir
            .cmp(&a.is_dir)
            .then(by_key)
            .then_with(|| compare_names(&a.name, &b.name))
    });
}

/// Case-insensitive order of two names, then their raw bytes.
fn compare_names(a: &[u8], b: &[u8]) -> Ordering {
    // Lowercased lazily: no allocation for UTF-8 names, and most pairs
    // differ in their first letters.
    let (la, lb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    la.chars()
        .flat_map(char::to_lowercase)
        .cmp(lb.chars().flat_map(char::to_lowercase))
        .then_with(|| a.cmp(b))
}

/// Characters percent-encoded in a link to an entry: everything that could
/// end the attribute, change how the reference parses, or is not URL-safe.
///
/// NOTE: beyond the resolver's `SEGMENT` set this encodes `:` (a name like
/// `javascript:x` would otherwise be read as a URL scheme), `'` and `&` (so
/// the link is the same in HTML, JSON and a shell), and `[`, `]`.
const HREF: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The link to an entry, relative to its folder so the page works under
/// any prefix; folders end in `/`. Non-ASCII bytes are always encoded. A
/// page opened by a signed folder link (`link`, its query) hands the link on.
fn href(entry: &Entry, link: Option<&str>) -> String {
    let mut href: String = percent_encode(&entry.name, HREF).collect();
    if entry.is_dir {
        href.push('/');
    }
    if let Some(link) = link {
        href.push('?');
        href.push_str(link);
    }
    href
}

/// The name as shown: lossy UTF-8, folders with a trailing `/`.
fn display_name(entry: &Entry) -> Cow<'_, str> {
    let name = String::from_utf8_lossy(&entry.name);
    if entry.is_dir {
        Cow::Owned(format!("{name}/"))
    } else {
        name
    }
}

/// The folder's own archive (`?archive=tar`), as a listing offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    /// Served; its size not computed (a JSON listing carries only links,
    /// so its folder is not walked).
    Offered,
    /// Served, this many bytes long.
    Ready(u64),
    /// Not served, for this reason (over the limits, unreadable files).
    Refused(String),
}

/// The link of a folder's archive, relative to the folder at `href` (`""`
/// for the folder itself), carrying a signed link's query.
fn archive_href(href: &str, link: Option<&str>) -> String {
    let folder = href.split('?').next().unwrap_or_default();
    match link {
        Some(link) => format!("{folder}?archive=tar&{link}"),
        None => format!("{folder}?archive=tar"),
    }
}

/// A rendered listing: its body and the headers that describe it.
#[derive(Debug)]
pub struct Page {
    pub body: String,
    json: bool,
}

impl Page {
    /// Sorts `entries` by the query's order and renders them as JSON when
    /// `json`, else as an HTML page titled with `display_path`. `link` is
    /// the query of the signed link that opened the page, if one did.
    pub fn render(
        mut entries: Vec<Entry>,
        display_path: &str,
        query: Option<&str>,
        json: bool,
        link: Option<&str>,
        download: Option<&Download>,
        now: SystemTime,
    ) -> Self {
        let sort = parse_sort(query);
        sort_entries(&mut entries, sort);
        let body = if json {
            render_json(&entries, link, download.is_some())
        } else {
            render_html(display_path, &entries, sort, link, download, now)
        };
        Page { body, json }
    }

    /// The response headers of the page, Content-Length aside: its media
    /// type, `Vary: Accept` (JSON or HTML depends on it), `no-cache` (a
    /// folder changes without its URL changing), and for HTML a content
    /// security policy that allows nothing but the inline style.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let content_type = if self.json {
            "application/json"
        } else {
            "text/html; charset=utf-8"
        };
        let mut headers = vec![
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::VARY, HeaderValue::from_static("Accept")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ];
        if !self.json {
            headers.push((
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            ));
        }
        headers
    }
}

/// Entries for the tests of the listing's rooms.
#[cfg(test)]
pub(crate) mod testing {
    use super::Entry;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2026-11-21T14:00:00Z.
    pub const NOW: u64 = 1_795_269_600;

    pub fn file(name: &str, size: u64, secs: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            is_dir: false,
            size,
            modified: Some(UNIX_EPOCH + Duration::from_secs(secs)),
            version: None,
            sha256: None,
        }
    }

    pub fn dir(name: &str, secs: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            is_dir: true,
            size: 0,
            modified: Some(UNIX_EPOCH + Duration::from_secs(secs)),
            version: None,
            sha256: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{dir, file};
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn names(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect()
    }

    #[test]
    fn folders_come_first_in_every_order() {
        let sample = || {
            vec![
                file("b.txt", 10, 300),
                dir("Zeta", 100),
                file("A.txt", 30, 100),
                dir("alpha", 200),
                file("c.txt", 20, 200),
            ]
        };
        let sorted = |key, descending| {
            let mut entries = sample();
            sort_entries(&mut entries, Sort { key, descending });
            names(&entries)
        };
        assert_eq!(
            sorted(SortKey::Name, false),
            ["alpha", "Zeta", "A.txt", "b.txt", "c.txt"]
        );
        assert_eq!(
            sorted(SortKey::Name, true),
            ["Zeta", "alpha", "c.txt", "b.txt", "A.txt"]
        );
        assert_eq!(
            sorted(SortKey::Size, false),
            ["alpha", "Zeta", "b.txt", "c.txt", "A.txt"]
        );
        assert_eq!(
            sorted(SortKey::Size, true),
            ["alpha", "Zeta", "A.txt", "c.txt", "b.txt"]
        );
        assert_eq!(
            sorted(SortKey::Date, false),
            ["Zeta", "alpha", "A.txt", "c.txt", "b.txt"]
        );
        assert_eq!(
            sorted(SortKey::Date, true),
            ["alpha", "Zeta", "b.txt", "c.txt", "A.txt"]
        );
    }

    #[test]
    fn names_differing_only_in_case_keep_a_stable_order() {
        let mut entries = vec![
            file("a", 1, 0),
            file("B", 1, 0),
            file("A", 1, 0),
            file("b", 1, 0),
        ];
        sort_entries(&mut entries, Sort::default());
        assert_eq!(names(&entries), ["A", "a", "B", "b"]);
    }

    #[test]
    fn equal_sizes_fall_back_to_name_ascending() {
        let mut entries = vec![file("b", 5, 0), file("a", 5, 0), file("c", 9, 0)];
        let sort = Sort {
            key: SortKey::Size,
            descending: true,
        };
        sort_entries(&mut entries, sort);
        assert_eq!(names(&entries), ["c", "a", "b"]);
    }

    #[test]
    fn parse_sort_defaults_and_ignores_garbage() {
        let default = Sort::default();
        assert_eq!(
            default,
            Sort {
                key: SortKey::Name,
                descending: false
            }
        );
        assert_eq!(parse_sort(None), default);
        assert_eq!(parse_sort(Some("")), default);
        assert_eq!(parse_sort(Some("sort=colour&order=sideways&&=&x")), default);
        assert_eq!(parse_sort(Some("%73ort=size")), default);
        assert_eq!(
            parse_sort(Some("sort=size&order=desc")),
            Sort {
                key: SortKey::Size,
                descending: true
            }
        );
        assert_eq!(
            parse_sort(Some("?order=desc&sort=DATE")),
            Sort {
                key: SortKey::Date,
                descending: true
            }
        );
        assert_eq!(
            parse_sort(Some("sort=date&sort=bogus&order=desc&order=asc")),
            Sort {
                key: SortKey::Date,
                descending: false
            }
        );
    }

    /// Names as a directory can hold them: any bytes but `/` and NUL.
    fn raw_name() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            any::<u8>().prop_filter("no / or NUL", |b| *b != b'/' && *b != 0),
            1..24,
        )
    }

    proptest! {
        #[test]
        fn sorting_puts_folders_first_and_orders_by_the_key(
            raw in proptest::collection::btree_map(raw_name(), (any::<bool>(), 0u64..4, proptest::option::of(0u64..4)), 0..12),
            key in prop_oneof![Just(SortKey::Name), Just(SortKey::Size), Just(SortKey::Date)],
            descending in any::<bool>(),
        ) {
            let mut entries: Vec<Entry> = raw.into_iter().map(|(name, (is_dir, size, secs))| Entry {
                name, is_dir, size,
                modified: secs.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
                version: None,
                sha256: None,
            }).collect();
            let before = entries.len();
            let sort = Sort { key, descending };
            sort_entries(&mut entries, sort);
            prop_assert_eq!(entries.len(), before);
            for pair in entries.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                prop_assert!(a.is_dir >= b.is_dir);
                if a.is_dir == b.is_dir {
                    let by_key = match key {
                        SortKey::Name => compare_names(&a.name, &b.name),
                        SortKey::Size => a.size.cmp(&b.size),
                        SortKey::Date => a.modified.cmp(&b.modified),
                    };
                    let by_key = if descending { by_key.reverse() } else { by_key };
                    prop_assert_ne!(by_key, Ordering::Greater);
                }
            }
            // Name order reversed is exactly the descending order (names are unique).
            if key == SortKey::Name {
                let mut flipped = entries.clone();
                sort_entries(&mut flipped, Sort { key, descending: !descending });
                let (dirs, files): (Vec<_>, Vec<_>) = entries.iter().partition(|e| e.is_dir);
                let expect: Vec<_> = dirs.into_iter().rev().chain(files.into_iter().rev()).cloned().collect();
                prop_assert_eq!(flipped, expect);
            }
        }
    }
}
