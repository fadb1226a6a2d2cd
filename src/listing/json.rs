//! A folder listing as JSON: one object per entry, in the given order.
//!
//! Pure: entries in, text out.

use std::fmt::Write as _;

use super::calendar::format_rfc3339;
use super::{Entry, archive_href, href};

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
/// With `archives`, a folder also has `"archive"`: the link of its tar.
pub fn render_json(entries: &[Entry], link: Option<&str>, archives: bool) -> String {
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
        let href = href(entry, link);
        push_json_string(&mut out, &href);
        if archives && entry.is_dir {
            out.push_str(",\"archive\":");
            push_json_string(&mut out, &archive_href(&href, link));
        }
        if let Some(sha256) = &entry.sha256 {
            out.push_str(",\"sha256\":");
            push_json_string(&mut out, sha256);
        }
        out.push('}');
    }
    out.push_str("\n]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::testing::{NOW, dir, file};

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
        let out = render_json(&entries, None, false);
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
        let empty: serde_json::Value =
            serde_json::from_str(&render_json(&[], None, false)).expect("valid JSON");
        assert_eq!(empty, serde_json::json!([]));
    }
}
