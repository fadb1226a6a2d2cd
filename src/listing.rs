//! Directory listings: the entries of an open folder, sorted, as an HTML page
//! or a JSON array.
//!
//! Two parts, kept apart so the second is tested without a disk:
//! 1. [`read_entries`] (blocking I/O, run on the blocking pool) reads the
//!    entries of a folder the resolver already opened, following symlinks
//!    for their size and date.
//! 2. The pure part: [`parse_sort`] reads the sort order from the query,
//!    [`sort_entries`] applies it, [`render_html`] and [`render_json`] write
//!    the body, [`wants_json`] picks between them from `Accept`.
//!
//! It does not decide *whether* a folder is listed, open the folder, or
//! build the response (headers, status): that is the handler's job.
//!
//! Names are raw bytes: a name that is not UTF-8 is shown lossily but linked
//! by its exact bytes, percent-encoded, so the link still opens the file.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{AsciiSet, CONTROLS, percent_encode};

/// One entry of a folder, as the listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as the file system stores it: any bytes but `/` and NUL.
    pub name: Vec<u8>,
    pub is_dir: bool,
    /// The length in bytes; 0 for a folder (its own size is file-system
    /// bookkeeping, not content).
    pub size: u64,
    /// Last modification, when the file system reports it.
    pub modified: Option<SystemTime>,
}

/// Lists the folder `dir` (an open handle, from the resolver).
///
/// 1. `.` and `..` are skipped; so is any name starting with `.` unless
///    `hidden` (the resolver would answer 404 for them anyway).
/// 2. Each name is `statx`ed relative to the handle, following symlinks, so
///    a link shows its target's type, size and date.
/// 3. An entry whose stat fails (a dangling symlink, a loop, a file removed
///    since the read) is skipped, as is anything but a regular file or a
///    folder (FIFOs, sockets, devices): the resolver would not serve them.
///
/// Symlinks are listed with their target's type, size and date, and only if
/// `symlink_allowed(name)` says so: the caller refuses those leading out of
/// the root, so a listing never reveals what lies outside it.
///
/// Blocking: call it on the blocking pool. The entries come in directory
/// order; sort them with [`sort_entries`].
pub fn read_entries(
    dir: &File,
    hidden: bool,
    symlink_allowed: &dyn Fn(&std::ffi::CStr) -> bool,
) -> io::Result<Vec<Entry>> {
    use rustix::fs::{AtFlags, FileType, StatxFlags};

    let mut entries = Vec::new();
    // NOTE: `read_from` reopens the folder (`openat(fd, ".")`), so reading
    // does not move the offset of the caller's handle.
    for dirent in rustix::fs::Dir::read_from(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." || (bytes.starts_with(b".") && !hidden) {
            continue;
        }
        let is_symlink = match dirent.file_type() {
            FileType::Symlink => true,
            FileType::Unknown => {
                rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::TYPE).is_ok_and(
                    |st| FileType::from_raw_mode(u32::from(st.stx_mode)) == FileType::Symlink,
                )
            }
            _ => false,
        };
        if is_symlink && !symlink_allowed(name) {
            continue;
        }
        let wanted = StatxFlags::TYPE | StatxFlags::SIZE | StatxFlags::MTIME;
        let Ok(stat) = rustix::fs::statx(dir, name, AtFlags::empty(), wanted) else {
            continue;
        };
        if stat.stx_mask & StatxFlags::TYPE.bits() == 0 {
            continue;
        }
        let is_dir = match FileType::from_raw_mode(u32::from(stat.stx_mode)) {
            FileType::Directory => true,
            FileType::RegularFile => false,
            _ => continue,
        };
        let modified = if stat.stx_mask & StatxFlags::MTIME.bits() != 0 {
            system_time(stat.stx_mtime.tv_sec, stat.stx_mtime.tv_nsec)
        } else {
            None
        };
        entries.push(Entry {
            name: bytes.to_vec(),
            is_dir,
            size: if is_dir { 0 } else { stat.stx_size },
            modified,
        });
    }
    Ok(entries)
}

/// A `statx` timestamp as a `SystemTime`; `None` if it does not fit.
fn system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    let whole = Duration::from_secs(secs.unsigned_abs());
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(whole)?
    } else {
        UNIX_EPOCH.checked_sub(whole)?
    };
    base.checked_add(Duration::from_nanos(u64::from(nanos)))
}

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
/// any prefix; folders end in `/`. Non-ASCII bytes are always encoded.
fn href(entry: &Entry) -> String {
    let mut href: String = percent_encode(&entry.name, HREF).collect();
    if entry.is_dir {
        href.push('/');
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

/// Appends `text` escaped for HTML text and quoted attributes.
fn push_html(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A size in binary units with one decimal (`1.5 MiB`); bytes below 1 KiB.
fn human_size(size: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if size < 1024 {
        return format!("{size} B");
    }
    // Integer tenths, rounded half up: no float rounding surprises.
    let size = u128::from(size);
    let mut unit = 0;
    let mut scale: u128 = 1024;
    while unit + 1 < UNITS.len() && size >= scale * 1024 {
        unit += 1;
        scale *= 1024;
    }
    let mut tenths = (size * 10 + scale / 2) / scale;
    // NOTE: 1023.96 KiB rounds to 1024.0: show 1.0 MiB instead.
    if tenths >= 10240 && unit + 1 < UNITS.len() {
        unit += 1;
        tenths = (size * 10 + scale * 512) / (scale * 1024);
    }
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// A UTC date and time of day, split into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

/// Whole seconds since the Unix epoch, rounded down (also before 1970).
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let floor = i64::from(d.subsec_nanos() > 0);
            (-secs).saturating_sub(floor)
        }
    }
}

/// The UTC calendar fields of `t` (proleptic Gregorian calendar).
fn civil(t: SystemTime) -> Civil {
    let secs = unix_seconds(t);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's `civil_from_days`: eras of 400 years start on March 1.
    // Days fit easily: |days| ≤ i64::MAX / 86400, far from overflow here.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day % 3600 / 60,
        second: of_day % 60,
    }
}

/// `YYYY-MM-DD HH:MM`, UTC, for the page.
fn format_minutes(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// RFC 3339 in UTC (`2026-11-21T14:00:00Z`); `None` outside years
/// 0000–9999, which RFC 3339 cannot write.
fn format_rfc3339(t: SystemTime) -> Option<String> {
    let c = civil(t);
    (0..=9999).contains(&c.year).then(|| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    })
}

/// Inline style: no external assets. On narrow screens the date column is
/// hidden and long names wrap anywhere, so the table never scrolls sideways.
const STYLE: &str = "\
:root{color-scheme:light dark;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;line-height:1.4}
body{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;font-weight:600;margin:0 0 1rem;overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse}
th,td{padding:.45rem .5rem;text-align:left;vertical-align:top}
th{border-bottom:2px solid #8886;white-space:nowrap}
tbody tr:nth-child(even){background:#8881}
tbody tr:hover{background:#8883}
td.name{width:100%;overflow-wrap:anywhere;word-break:break-word}
.size,.date{white-space:nowrap;font-variant-numeric:tabular-nums}
.size{text-align:right}
a{text-decoration:none}
a:hover,a:focus{text-decoration:underline}
th a{color:inherit}
tr.dir td.name a{font-weight:600}
footer{margin-top:1rem;font-size:.85rem;opacity:.75}
@media (max-width:500px){body{padding:.5rem}th,td{padding:.55rem .3rem}.date{display:none}}
";

/// Writes the listing of `url_path` (the decoded path, shown, never linked)
/// as a complete HTML5 page.
///
/// 1. Entries are shown in the given order: sort them first with
///    [`sort_entries`] and pass the same `sort`, which marks the active
///    column header (an arrow and `aria-sort`); clicking it flips the order,
///    clicking another sorts by it ascending.
/// 2. Every link is relative (`name`, `folder/`, `../`, `?sort=…`), so the
///    page works wherever the folder is mounted.
/// 3. Every name and the path are HTML-escaped; links are percent-encoded.
///
/// `now` is the time printed in the footer; passing it keeps this pure.
pub fn render_html(url_path: &str, entries: &[Entry], sort: Sort, now: SystemTime) -> String {
    let mut out = String::with_capacity(2048 + entries.len() * 200);
    let mut title = String::new();
    push_html(&mut title, url_path);

    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>Index of {title}</title>");
    let _ = write!(out, "<style>\n{STYLE}</style>\n</head>\n<body>\n");
    let _ = writeln!(out, "<h1>Index of {title}</h1>");
    out.push_str("<table>\n<thead><tr>");
    for (key, label, class) in [
        (SortKey::Name, "Name", "name"),
        (SortKey::Size, "Size", "size"),
        (SortKey::Date, "Modified", "date"),
    ] {
        let active = sort.key == key;
        let descending = active && !sort.descending;
        let order = if descending { "desc" } else { "asc" };
        let (aria, arrow) = match (active, sort.descending) {
            (false, _) => ("", ""),
            (true, false) => (" aria-sort=\"ascending\"", " \u{25b2}"),
            (true, true) => (" aria-sort=\"descending\"", " \u{25bc}"),
        };
        let _ = write!(
            out,
            "<th class=\"{class}\"{aria}><a href=\"?sort={}&amp;order={order}\">{label}{arrow}</a></th>",
            key.as_str()
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");

    if url_path != "/" {
        out.push_str(
            "<tr class=\"dir parent\"><td class=\"name\"><a href=\"../\">../</a></td>\
             <td class=\"size\"></td><td class=\"date\"></td></tr>\n",
        );
    }
    for entry in entries {
        let mut name = String::new();
        push_html(&mut name, &display_name(entry));
        // NOTE: the href holds only unreserved ASCII and `%XX`; escaping it
        // anyway keeps the attribute safe if `HREF` ever shrinks.
        let mut link = String::new();
        push_html(&mut link, &href(entry));
        let class = if entry.is_dir { "dir" } else { "file" };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td class=\"name\"><a href=\"{link}\">{name}</a></td>"
        );
        if entry.is_dir {
            out.push_str("<td class=\"size\">\u{2014}</td>");
        } else {
            let _ = write!(
                out,
                "<td class=\"size\" title=\"{} bytes\">{}</td>",
                entry.size,
                human_size(entry.size)
            );
        }
        match entry.modified {
            Some(t) => {
                let datetime = format_rfc3339(t).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "<td class=\"date\"><time datetime=\"{datetime}\">{}</time></td></tr>",
                    format_minutes(t)
                );
            }
            None => out.push_str("<td class=\"date\"></td></tr>\n"),
        }
    }
    out.push_str("</tbody>\n</table>\n");

    let folders = entries.iter().filter(|e| e.is_dir).count();
    let files = entries.len() - folders;
    let _ = write!(
        out,
        "<footer>{}, {} \u{b7} {} UTC</footer>\n</body>\n</html>\n",
        count(folders, "folder", "folders"),
        count(files, "file", "files"),
        format_minutes(now)
    );
    out
}

/// `1 file`, `2 files`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Appends `text` as a JSON string (RFC 8259 §7): quotes, backslashes and
/// control characters escaped, everything else as UTF-8.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes the entries, in the given order, as a JSON array, one object a
/// line:
/// `{"name": …, "type": "file"|"dir", "size": N, "modified": RFC 3339 or null, "href": …}`.
///
/// `name` is the lossy UTF-8 name (without a trailing `/`); `href` is the
/// exact link, relative to the folder, percent-encoded from the raw bytes.
pub fn render_json(entries: &[Entry]) -> String {
    let mut out = String::with_capacity(2 + entries.len() * 128);
    out.push('[');
    for (i, entry) in entries.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str("{\"name\":");
        push_json_string(&mut out, &String::from_utf8_lossy(&entry.name));
        let kind = if entry.is_dir { "dir" } else { "file" };
        let _ = write!(
            out,
            ",\"type\":\"{kind}\",\"size\":{},\"modified\":",
            entry.size
        );
        match entry.modified.and_then(format_rfc3339) {
            Some(date) => push_json_string(&mut out, &date),
            None => out.push_str("null"),
        }
        out.push_str(",\"href\":");
        push_json_string(&mut out, &href(entry));
        out.push('}');
    }
    out.push_str("\n]\n");
    out
}

/// Whether an `Accept` header (RFC 9110 §12.5.1) prefers JSON to HTML: it
/// lists `application/json` with a weight above 0, and `text/html` not at
/// all or with a lower weight.
///
/// Wildcards count for neither, so a browser (`text/html,…,*/*;q=0.8`) and
/// a bare `*/*` get HTML. A header that is not UTF-8, or a media range with
/// a malformed weight, counts as not asking for JSON.
pub fn wants_json(accept: Option<&[u8]>) -> bool {
    let Some(Ok(accept)) = accept.map(std::str::from_utf8) else {
        return false;
    };
    let (mut json, mut html) = (None::<u16>, None::<u16>);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let mut weight = Some(1000);
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    weight = parse_qvalue(value.trim());
                }
            }
        }
        let Some(weight) = weight else {
            continue;
        };
        let slot = if media.eq_ignore_ascii_case("application/json") {
            &mut json
        } else if media.eq_ignore_ascii_case("text/html") {
            &mut html
        } else {
            continue;
        };
        *slot = Some(slot.map_or(weight, |w| w.max(weight)));
    }
    match json {
        Some(json) => json > 0 && html.is_none_or(|html| html < json),
        None => false,
    }
}

/// A weight (RFC 9110 §12.4.2: `0[.ddd]` or `1[.000]`) in thousandths.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = fraction
        .bytes()
        .zip([100, 10, 1])
        .map(|(digit, place)| u16::from(digit - b'0') * place)
        .sum();
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file(name: &str, size: u64, secs: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            is_dir: false,
            size,
            modified: Some(UNIX_EPOCH + Duration::from_secs(secs)),
        }
    }

    fn dir(name: &str, secs: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            is_dir: true,
            size: 0,
            modified: Some(UNIX_EPOCH + Duration::from_secs(secs)),
        }
    }

    fn names(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect()
    }

    /// 2026-11-21T14:00:00Z.
    const NOW: u64 = 1_795_269_600;

    fn page(entries: &[Entry]) -> String {
        render_html(
            "/d/",
            entries,
            Sort::default(),
            UNIX_EPOCH + Duration::from_secs(NOW),
        )
    }

    /// The `href` and text of the first entry link of a page.
    fn first_link(html: &str) -> (String, String) {
        let marker = "<tr class=\"file\"><td class=\"name\"><a href=\"";
        let marker_dir = "<tr class=\"dir\"><td class=\"name\"><a href=\"";
        let start = html
            .find(marker)
            .map(|i| i + marker.len())
            .or_else(|| html.find(marker_dir).map(|i| i + marker_dir.len()))
            .expect("an entry row");
        let rest = &html[start..];
        let end_href = rest.find('"').expect("end of href");
        let text_start = end_href + "\">".len();
        let end_text = rest.find("</a>").expect("end of link");
        (
            rest[..end_href].to_owned(),
            rest[text_start..end_text].to_owned(),
        )
    }

    #[test]
    fn names_are_escaped_in_text_and_encoded_in_links() {
        let html = page(&[file("<b>&\"'.txt", 1, 0)]);
        let (href, text) = first_link(&html);
        assert_eq!(text, "&lt;b&gt;&amp;&quot;&#39;.txt");
        assert_eq!(href, "%3Cb%3E%26%22%27.txt");
        assert!(!html.contains("<b>"));
        assert!(!html.contains("&\"'"));
    }

    #[test]
    fn the_path_is_escaped_in_title_and_heading() {
        let html = render_html("/<i>\"x\"/", &[], Sort::default(), UNIX_EPOCH);
        assert!(html.contains("<title>Index of /&lt;i&gt;&quot;x&quot;/</title>"));
        assert!(html.contains("<h1>Index of /&lt;i&gt;&quot;x&quot;/</h1>"));
        assert!(!html.contains("<i>"));
    }

    #[test]
    fn spaces_and_utf8_are_percent_encoded() {
        let html = page(&[file("été file.txt", 1, 0)]);
        let (href, text) = first_link(&html);
        assert_eq!(href, "%C3%A9t%C3%A9%20file.txt");
        assert_eq!(text, "été file.txt");
    }

    #[test]
    fn percent_signs_in_names_are_encoded() {
        let html = page(&[file("100%41.txt", 1, 0)]);
        assert_eq!(first_link(&html).0, "100%2541.txt");
    }

    #[test]
    fn scheme_like_names_stay_relative_links() {
        let html = page(&[file("javascript:alert(1)", 1, 0)]);
        assert_eq!(first_link(&html).0, "javascript%3Aalert(1)");
    }

    #[test]
    fn folders_get_a_trailing_slash_in_text_and_link() {
        let html = page(&[dir("my folder", 0)]);
        assert_eq!(
            first_link(&html),
            ("my%20folder/".to_owned(), "my folder/".to_owned())
        );
    }

    #[test]
    fn non_utf8_names_link_their_exact_bytes() {
        let entry = Entry {
            name: b"caf\xe9 \xff.txt".to_vec(),
            is_dir: false,
            size: 3,
            modified: None,
        };
        let html = page(std::slice::from_ref(&entry));
        let (href, text) = first_link(&html);
        assert_eq!(href, "caf%E9%20%FF.txt");
        assert_eq!(text, "caf\u{fffd} \u{fffd}.txt");
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&[entry])).expect("valid JSON");
        assert_eq!(json[0]["name"], "caf\u{fffd} \u{fffd}.txt");
        assert_eq!(json[0]["href"], "caf%E9%20%FF.txt");
        assert_eq!(json[0]["modified"], serde_json::Value::Null);
    }

    #[test]
    fn parent_link_is_absent_at_the_root_and_present_below() {
        let at_root = render_html("/", &[], Sort::default(), UNIX_EPOCH);
        assert!(!at_root.contains("href=\"../\""));
        let below = render_html("/a/b/", &[], Sort::default(), UNIX_EPOCH);
        assert!(below.contains("<a href=\"../\">../</a>"));
    }

    #[test]
    fn page_is_complete_html5_without_external_assets() {
        let html = page(&[file("a", 1, 0)]);
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(
            html.contains(
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            )
        );
        assert!(html.contains("<title>Index of /d/</title>"));
        assert!(html.contains("@media (max-width:500px)"));
        assert!(html.trim_end().ends_with("</html>"));
        for external in ["<script", "<link", "src=", "http:", "https:"] {
            assert!(!html.contains(external), "{external}");
        }
        assert!(html.contains("<footer>0 folders, 1 file \u{b7} 2026-11-21 14:00 UTC</footer>"));
    }

    #[test]
    fn headers_link_to_sorts_and_the_active_one_toggles() {
        let html = render_html("/", &[], Sort::default(), UNIX_EPOCH);
        assert!(html.contains(
            "<th class=\"name\" aria-sort=\"ascending\"><a href=\"?sort=name&amp;order=desc\">Name \u{25b2}</a></th>"
        ));
        assert!(
            html.contains("<th class=\"size\"><a href=\"?sort=size&amp;order=asc\">Size</a></th>")
        );
        assert!(
            html.contains(
                "<th class=\"date\"><a href=\"?sort=date&amp;order=asc\">Modified</a></th>"
            )
        );
        let sort = Sort {
            key: SortKey::Date,
            descending: true,
        };
        let html = render_html("/", &[], sort, UNIX_EPOCH);
        assert!(html.contains(
            "<th class=\"date\" aria-sort=\"descending\"><a href=\"?sort=date&amp;order=asc\">Modified \u{25bc}</a></th>"
        ));
        assert!(html.contains("<a href=\"?sort=name&amp;order=asc\">Name</a>"));
    }

    #[test]
    fn sizes_show_human_units_with_the_exact_count_in_the_title() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1_572_864), "1.5 MiB");
        assert_eq!(human_size(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(human_size(3 << 40), "3.0 TiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
        let html = page(&[file("big.iso", 1_572_864, 0)]);
        assert!(html.contains("<td class=\"size\" title=\"1572864 bytes\">1.5 MiB</td>"));
    }

    #[test]
    fn dates_are_utc_minutes_on_the_page_and_rfc3339_in_json() {
        let t = UNIX_EPOCH + Duration::from_secs(NOW + 59);
        assert_eq!(format_minutes(t), "2026-11-21 14:00");
        assert_eq!(format_rfc3339(t).as_deref(), Some("2026-11-21T14:00:59Z"));
        assert_eq!(format_minutes(UNIX_EPOCH), "1970-01-01 00:00");
        // 2000 was a leap year, 1900 was not.
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        let before = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(
            format_rfc3339(before).as_deref(),
            Some("1969-12-31T23:59:59Z")
        );
        let html = page(&[file("a", 1, NOW)]);
        assert!(html.contains(
            "<td class=\"date\"><time datetime=\"2026-11-21T14:00:00Z\">2026-11-21 14:00</time></td>"
        ));
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

    #[test]
    fn json_has_one_object_per_entry_in_order() {
        let entries = [
            dir("sub dir", NOW),
            file("a\"b\\c\n\u{1}.txt", 1_572_864, NOW),
            Entry {
                modified: None,
                ..file("x", 0, 0)
            },
        ];
        let out = render_json(&entries);
        assert!(out.contains("\\u0001"), "{out}");
        let json: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            json,
            serde_json::json!([
                {"name": "sub dir", "type": "dir", "size": 0,
                 "modified": "2026-11-21T14:00:00Z", "href": "sub%20dir/"},
                {"name": "a\"b\\c\n\u{1}.txt", "type": "file", "size": 1_572_864,
                 "modified": "2026-11-21T14:00:00Z", "href": "a%22b%5Cc%0A%01.txt"},
                {"name": "x", "type": "file", "size": 0, "modified": null, "href": "x"},
            ])
        );
        let empty: serde_json::Value = serde_json::from_str(&render_json(&[])).expect("valid JSON");
        assert_eq!(empty, serde_json::json!([]));
    }

    #[test]
    fn wants_json_only_when_json_beats_html() {
        let yes = |h: &str| wants_json(Some(h.as_bytes()));
        assert!(!wants_json(None));
        assert!(!yes(""));
        assert!(!yes("*/*"));
        assert!(!yes(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(yes("application/json"));
        assert!(yes("Application/JSON"));
        assert!(yes("application/json, */*;q=0.5"));
        assert!(yes("text/html;q=0.5, application/json"));
        assert!(yes("application/json;q=0.9, text/html;q=0.8"));
        assert!(!yes("application/json;q=0.8, text/html;q=0.8"));
        assert!(!yes("application/json, text/html"));
        assert!(!yes("application/json;q=0"));
        assert!(!yes("application/json;q=0.000"));
        assert!(!yes("application/json;q=2"));
        assert!(!yes("application/json;q=banana"));
        assert!(yes("application/json ; charset=utf-8 ; q=1.000"));
        assert!(!wants_json(Some(b"application/json\xff")));
    }

    #[test]
    fn read_entries_lists_files_and_folders_and_follows_symlinks() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path();
        std::fs::write(root.join("file.txt"), b"hello").expect("write");
        std::fs::create_dir(root.join("folder")).expect("mkdir");
        std::fs::write(root.join(".hidden"), b"secret").expect("write");
        symlink("missing", root.join("dangling")).expect("symlink");
        std::fs::write(root.join("target.bin"), vec![0u8; 1234]).expect("write");
        symlink("target.bin", root.join("link")).expect("symlink");
        std::fs::write(
            root.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"raw\xff")),
            b"x",
        )
        .expect("write non-UTF-8 name");

        let handle = File::open(root).expect("open dir");
        let mut entries = read_entries(&handle, false, &|_| true).expect("list");
        sort_entries(&mut entries, Sort::default());
        let summary: Vec<(Vec<u8>, bool, u64)> = entries
            .iter()
            .map(|e| (e.name.clone(), e.is_dir, e.size))
            .collect();
        assert_eq!(
            summary,
            [
                (b"folder".to_vec(), true, 0),
                (b"file.txt".to_vec(), false, 5),
                (b"link".to_vec(), false, 1234),
                (b"raw\xff".to_vec(), false, 1),
                (b"target.bin".to_vec(), false, 1234),
            ]
        );
        assert!(entries.iter().all(|e| e.modified.is_some()));

        let with_hidden = read_entries(&handle, true, &|_| true).expect("list");
        assert!(with_hidden.iter().any(|e| e.name == b".hidden"));
        assert!(
            !with_hidden
                .iter()
                .any(|e| e.name == b"." || e.name == b"..")
        );
        assert!(!with_hidden.iter().any(|e| e.name == b"dangling"));
    }

    /// Names as a directory can hold them: any bytes but `/` and NUL, with
    /// the characters that matter to HTML and URLs drawn often.
    fn raw_name() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            2 => any::<u8>().prop_filter("no / or NUL", |b| *b != b'/' && *b != 0),
            1 => proptest::sample::select(b"%<>\"'&:#? \\A1.\xc3\xa9".to_vec()),
        ];
        proptest::collection::vec(byte, 1..24)
    }

    /// Counts the characters that make HTML markup.
    fn markup(html: &str) -> [usize; 4] {
        ['<', '>', '"', '\''].map(|c| html.matches(c).count())
    }

    proptest! {
        #[test]
        fn any_name_is_escaped_and_its_link_decodes_to_its_bytes(name in raw_name(), is_dir in any::<bool>()) {
            let entry = Entry { name: name.clone(), is_dir, size: 7, modified: None };
            let html = page(std::slice::from_ref(&entry));
            // The markup is the same as for a harmless name: nothing injected.
            let benign = page(&[Entry { name: b"a".to_vec(), ..entry.clone() }]);
            prop_assert_eq!(markup(&html), markup(&benign));
            let (href, text) = first_link(&html);
            let lossy = String::from_utf8_lossy(&name).into_owned();
            if lossy.contains('<') || lossy.contains('"') {
                prop_assert!(!text.contains(&lossy));
            }
            prop_assert!(!text.contains(['<', '>', '"', '\'']));
            let mut escaped = String::new();
            push_html(&mut escaped, &display_name(&entry));
            prop_assert_eq!(text, escaped);
            let href = href.strip_suffix('/').filter(|_| is_dir).unwrap_or(&href);
            let decoded: Vec<u8> = percent_encoding::percent_decode(href.as_bytes()).collect();
            prop_assert_eq!(decoded, name.clone());
            prop_assert!(href.bytes().all(|b| b.is_ascii_alphanumeric() || b"%-._~!$()*+,;=@".contains(&b)), "{}", href);

            let json: serde_json::Value = serde_json::from_str(&render_json(&[entry])).expect("valid JSON");
            prop_assert_eq!(&json[0]["name"], &serde_json::Value::String(lossy));
        }

        #[test]
        fn any_path_is_escaped(path in "/[^\\x00]{0,30}") {
            let html = render_html(&path, &[], Sort::default(), UNIX_EPOCH);
            // The root has no parent row; compare like with like.
            let benign = if path == "/" { "/" } else { "/x/" };
            let benign = render_html(benign, &[], Sort::default(), UNIX_EPOCH);
            prop_assert_eq!(markup(&html), markup(&benign));
        }

        #[test]
        fn sorting_puts_folders_first_and_orders_by_the_key(
            raw in proptest::collection::btree_map(raw_name(), (any::<bool>(), 0u64..4, proptest::option::of(0u64..4)), 0..12),
            key in prop_oneof![Just(SortKey::Name), Just(SortKey::Size), Just(SortKey::Date)],
            descending in any::<bool>(),
        ) {
            let mut entries: Vec<Entry> = raw.into_iter().map(|(name, (is_dir, size, secs))| Entry {
                name, is_dir, size,
                modified: secs.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
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

        #[test]
        fn human_sizes_stay_within_their_unit(size in any::<u64>()) {
            let shown = human_size(size);
            let (number, unit) = shown.split_once(' ').expect("number and unit");
            if size < 1024 {
                prop_assert_eq!(unit, "B");
                prop_assert_eq!(number.parse::<u64>().ok(), Some(size));
            } else {
                let (whole, tenth) = number.split_once('.').expect("one decimal");
                prop_assert_eq!(tenth.len(), 1);
                let whole: u64 = whole.parse().expect("digits");
                prop_assert!((1..1024).contains(&whole), "{}", shown);
            }
        }

        #[test]
        fn dates_agree_with_httpdate(secs in 0u64..253_402_300_800) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let ours = format_rfc3339(t).expect("years 1970-9999");
            let theirs = httpdate::fmt_http_date(t);
            let back = httpdate::parse_http_date(&theirs).expect("httpdate round trip");
            prop_assert_eq!(back, t);
            // "Sun, 06 Nov 1994 08:49:37 GMT" → compare field by field.
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let parts: Vec<&str> = theirs.split([' ', ':']).collect();
            let month = months.iter().position(|m| *m == parts[2]).expect("month") + 1;
            let expected = format!("{}-{:02}-{}T{}:{}:{}Z", parts[3], month, parts[1], parts[4], parts[5], parts[6]);
            prop_assert_eq!(ours, expected);
        }

        #[test]
        fn wants_json_never_panics(accept in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = wants_json(Some(&accept));
        }
    }
}
