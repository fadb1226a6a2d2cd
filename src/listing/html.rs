//! A folder listing as a complete HTML5 page: no scripts, no external
//! assets, every name escaped and every link percent-encoded.
//!
//! Pure: entries in, text out.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::calendar::{format_minutes, format_rfc3339};
use super::{Download, Entry, Sort, SortKey, archive_href, display_name, href};

/// Appends `text` escaped for HTML text and quoted attributes.
pub(super) fn push_html(out: &mut String, text: &str) {
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
pub fn render_html(
    url_path: &str,
    entries: &[Entry],
    sort: Sort,
    link: Option<&str>,
    download: Option<&Download>,
    now: SystemTime,
) -> String {
    // A signed folder link travels on every link of the page.
    let mut carried = String::new();
    if let Some(link) = link {
        push_html(&mut carried, &format!("&{link}"));
    }
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
            "<th class=\"{class}\"{aria}><a href=\"?sort={}&amp;order={order}{carried}\">{label}{arrow}</a></th>",
            key.as_str()
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");

    if url_path != "/" {
        let mut parent = String::from("../");
        if let Some(link) = link {
            push_html(&mut parent, &format!("?{link}"));
        }
        let _ = writeln!(
            out,
            "<tr class=\"dir parent\"><td class=\"name\"><a href=\"{parent}\">../</a></td>\
             <td class=\"size\"></td><td class=\"date\"></td></tr>",
        );
    }
    for entry in entries {
        let mut name = String::new();
        push_html(&mut name, &display_name(entry));
        // NOTE: the href holds only unreserved ASCII and `%XX`; escaping it
        // anyway keeps the attribute safe if `HREF` ever shrinks.
        let mut target = String::new();
        push_html(&mut target, &href(entry, link));
        let class = if entry.is_dir { "dir" } else { "file" };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td class=\"name\"><a href=\"{target}\">{name}</a></td>"
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
    match download {
        None => {}
        Some(Download::Offered) => {
            let mut target = String::new();
            push_html(&mut target, &archive_href("", link));
            let _ = writeln!(
                out,
                "<p class=\"download\"><a href=\"{target}\" download>Download this folder</a> (tar, resumable)</p>"
            );
        }
        Some(Download::Ready(size)) => {
            let mut target = String::new();
            push_html(&mut target, &archive_href("", link));
            let _ = writeln!(
                out,
                "<p class=\"download\"><a href=\"{target}\" download>Download this folder</a> \
                 <span title=\"{size} bytes\">({}, tar, resumable)</span></p>",
                human_size(*size)
            );
        }
        Some(Download::Refused(reason)) => {
            let mut text = String::new();
            push_html(&mut text, reason);
            let _ = writeln!(
                out,
                "<p class=\"download\">This folder cannot be downloaded as one archive: {text}.</p>"
            );
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::render_json;
    use crate::listing::testing::{NOW, dir, file};
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn page(entries: &[Entry]) -> String {
        render_html(
            "/d/",
            entries,
            Sort::default(),
            None,
            None,
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
        let html = render_html("/<i>\"x\"/", &[], Sort::default(), None, None, UNIX_EPOCH);
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
            version: None,
            sha256: None,
        };
        let html = page(std::slice::from_ref(&entry));
        let (href, text) = first_link(&html);
        assert_eq!(href, "caf%E9%20%FF.txt");
        assert_eq!(text, "caf\u{fffd} \u{fffd}.txt");
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&[entry], None, false)).expect("valid JSON");
        assert_eq!(json[0]["name"], "caf\u{fffd} \u{fffd}.txt");
        assert_eq!(json[0]["href"], "caf%E9%20%FF.txt");
        assert_eq!(json[0]["modified"], serde_json::Value::Null);
    }

    #[test]
    fn parent_link_is_absent_at_the_root_and_present_below() {
        let at_root = render_html("/", &[], Sort::default(), None, None, UNIX_EPOCH);
        assert!(!at_root.contains("href=\"../\""));
        let below = render_html("/a/b/", &[], Sort::default(), None, None, UNIX_EPOCH);
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
        let html = render_html("/", &[], Sort::default(), None, None, UNIX_EPOCH);
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
        let html = render_html("/", &[], sort, None, None, UNIX_EPOCH);
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
    fn dates_show_as_utc_minutes_with_rfc3339_in_the_attribute() {
        let html = page(&[file("a", 1, NOW)]);
        assert!(html.contains(
            "<td class=\"date\"><time datetime=\"2026-11-21T14:00:00Z\">2026-11-21 14:00</time></td>"
        ));
    }

    proptest! {
        #[test]
        fn any_name_is_escaped_and_its_link_decodes_to_its_bytes(name in raw_name(), is_dir in any::<bool>()) {
            let entry = Entry { name: name.clone(), is_dir, size: 7, modified: None, version: None, sha256: None };
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

            let json: serde_json::Value = serde_json::from_str(&render_json(&[entry], None, false)).expect("valid JSON");
            prop_assert_eq!(&json[0]["name"], &serde_json::Value::String(lossy));
        }

        #[test]
        fn any_path_is_escaped(path in "/[^\\x00]{0,30}") {
            let html = render_html(&path, &[], Sort::default(), None, None, UNIX_EPOCH);
            // The root has no parent row; compare like with like.
            let benign = if path == "/" { "/" } else { "/x/" };
            let benign = render_html(benign, &[], Sort::default(), None, None, UNIX_EPOCH);
            prop_assert_eq!(markup(&html), markup(&benign));
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
    }
}
