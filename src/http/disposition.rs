//! `Content-Disposition: attachment` with a file name (RFC 6266 §4.1, §4.3),
//! for any name: the `filename` parameter carries an ASCII stand-in as a
//! quoted-string (RFC 9110 §5.6.4), and, when the name is not plain ASCII,
//! `filename*` carries it exactly, UTF-8 and percent-encoded (RFC 8187
//! §3.2.1). Recipients that understand `filename*` prefer it (RFC 6266
//! §4.3); older ones fall back to `filename`.
//!
//! Pure.

use std::fmt::Write;

/// The field value for a download saved as `name`.
pub fn attachment(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ');
    let fallback: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            ' ' => ' ',
            c if c.is_ascii_graphic() => c,
            _ => '_',
        })
        .collect();
    let mut value = format!("attachment; filename=\"{fallback}\"");
    if !plain {
        value.push_str("; filename*=UTF-8''");
        for byte in name.bytes() {
            if is_attr_char(byte) {
                value.push(char::from(byte));
            } else {
                let _ = write!(value, "%{byte:02X}");
            }
        }
    }
    value
}

/// RFC 8187 §3.2.1 `attr-char`: what stays unencoded in an ext-value.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ascii_name_is_quoted() {
        assert_eq!(
            attachment("photos 2024.tar"),
            "attachment; filename=\"photos 2024.tar\""
        );
    }

    #[test]
    fn other_names_add_an_exact_utf8_filename_star() {
        assert_eq!(
            attachment("été.tar"),
            "attachment; filename=\"_t_.tar\"; filename*=UTF-8''%C3%A9t%C3%A9.tar"
        );
        assert_eq!(
            attachment("a\"b\\c.tar"),
            "attachment; filename=\"a_b_c.tar\"; filename*=UTF-8''a%22b%5Cc.tar"
        );
    }

    #[test]
    fn control_characters_never_reach_the_field() {
        let value = attachment("a\r\nb\u{7f}.tar");
        assert!(value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
    }
}
