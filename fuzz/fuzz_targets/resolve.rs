//! Fuzzes `resolve::decode` (request path → segments safe to join onto the
//! root) against the invariants `open` and the redirects rely on, not only
//! the absence of panics.
//!
//! Input: any bytes; inputs that are not UTF-8 are skipped (hyper hands the
//! handler a `&str` path). Both values of `hidden` are tried.

#![no_main]

use std::os::unix::ffi::OsStrExt;
use std::path::Component;

use libfuzzer_sys::fuzz_target;
use rangeserve::fs::path::{RequestPath, decode};

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    for hidden in [false, true] {
        if let Ok(decoded) = decode(path, hidden) {
            check(path, hidden, &decoded);
        }
    }
});

/// Asserts, for a path `decode` accepted:
/// 1. `relative()` is relative and made only of `Component::Normal`s, one per
///    non-empty segment of the request path (nothing merged or dropped);
/// 2. no component contains NUL, `/` or `\`, equals `.` or `..`, or starts
///    like a drive (`C:`); with `hidden == false` none starts with `.`;
/// 3. `url_path` never starts with `//` (it is used in redirects: `//host` is
///    another site) and decodes again, with the same `hidden`, to the same
///    relative path; `url_path(true)` also keeps the trailing slash.
fn check(path: &str, hidden: bool, decoded: &RequestPath) {
    let relative = decoded.relative();
    assert!(relative.is_relative(), "{relative:?} from {path:?}");
    let mut count = 0usize;
    for component in relative.components() {
        count += 1;
        let Component::Normal(name) = component else {
            panic!("{component:?} in {relative:?} from {path:?}");
        };
        let name = name.as_bytes();
        assert!(
            !name.iter().any(|b| matches!(b, 0 | b'/' | b'\\')),
            "NUL, / or \\ in {name:?} from {path:?}"
        );
        assert!(
            name != b"." && name != b"..",
            "dot segment {name:?} from {path:?}"
        );
        assert!(
            !matches!(name, [drive, b':', ..] if drive.is_ascii_alphabetic()),
            "drive prefix {name:?} from {path:?}"
        );
        if !hidden {
            assert!(
                name.first() != Some(&b'.'),
                "hidden segment {name:?} from {path:?} with hidden = false"
            );
        }
    }
    let segments = path
        .strip_prefix('/')
        .map_or(0, |rest| rest.split('/').filter(|s| !s.is_empty()).count());
    assert_eq!(
        count, segments,
        "{relative:?} has {count} components, {path:?} has {segments} segments"
    );

    for as_dir in [false, true] {
        let url = decoded.url_path(as_dir);
        assert!(url.starts_with('/'), "url_path {url:?} from {path:?}");
        assert!(!url.starts_with("//"), "url_path {url:?} from {path:?}");
        match decode(&url, hidden) {
            Ok(again) => {
                assert_eq!(
                    again.relative(),
                    relative,
                    "url_path {url:?} from {path:?} decodes to another path"
                );
                if as_dir {
                    assert!(
                        again.trailing_slash,
                        "url_path(true) {url:?} from {path:?} lost the slash"
                    );
                }
            }
            Err(e) => panic!("url_path {url:?} from {path:?} does not decode: {e:?}"),
        }
    }
}
