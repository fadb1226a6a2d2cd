//! The Basic authentication scheme (RFC 7617): reading credentials from an
//! `Authorization` field, and the challenge that asks for them.
//!
//! Credentials are `base64(user-id ":" password)` (§2). The user-id cannot
//! contain a colon; the password can. With `charset="UTF-8"` in the challenge
//! (§2.1) clients send both in UTF-8, so anything else is refused here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The longest `Authorization` field value looked at: a user name and
/// password need far less, and bcrypt reads only 72 bytes of a password.
pub const MAX_FIELD: usize = 1024;

/// A user name and password, as the client sent them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Why an `Authorization` field gave no credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No field, or a scheme other than Basic.
    Missing,
    /// Basic, but not `base64(user ":" password)` in UTF-8, or too long.
    Malformed,
}

/// The credentials in an `Authorization` field value (§2). The scheme name
/// is case-insensitive (RFC 9110 §11.1); one or more spaces follow it.
pub fn credentials(field: Option<&[u8]>) -> Result<Credentials, Refused> {
    let field = field.ok_or(Refused::Missing)?;
    if field.len() > MAX_FIELD {
        return Err(Refused::Malformed);
    }
    let scheme_end = field
        .iter()
        .position(|&b| b == b' ')
        .ok_or(Refused::Missing)?;
    if !field[..scheme_end].eq_ignore_ascii_case(b"basic") {
        return Err(Refused::Missing);
    }
    let token = field[scheme_end..].trim_ascii();
    let decoded = STANDARD.decode(token).map_err(|_| Refused::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| Refused::Malformed)?;
    let (user, password) = text.split_once(':').ok_or(Refused::Malformed)?;
    if user.chars().any(char::is_control) || password.chars().any(char::is_control) {
        return Err(Refused::Malformed);
    }
    Ok(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// The `WWW-Authenticate` value of a 401 (§2, §2.1): the realm, with quotes
/// and backslashes escaped as a quoted-string (RFC 9110 §5.6.4).
pub fn challenge(realm: &str) -> String {
    let mut escaped = String::with_capacity(realm.len());
    for c in realm.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("Basic realm=\"{escaped}\", charset=\"UTF-8\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field(user_pass: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(user_pass)).into_bytes()
    }

    #[test]
    fn the_rfc_example_decodes() {
        // RFC 7617 §2: Aladdin / open sesame.
        let c = credentials(Some(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")).unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("Aladdin", "open sesame")
        );
    }

    #[test]
    fn the_password_may_hold_colons_and_the_scheme_any_case() {
        let c = credentials(Some(&field("u:a:b:")[..])).unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "a:b:"));
        let mut lower = field("u:p");
        lower[..5].copy_from_slice(b"bAsIc");
        assert!(credentials(Some(&lower)).is_ok());
    }

    #[test]
    fn what_is_not_basic_credentials_is_refused() {
        assert_eq!(credentials(None), Err(Refused::Missing));
        assert_eq!(credentials(Some(b"Bearer abc")), Err(Refused::Missing));
        assert_eq!(credentials(Some(b"Basic")), Err(Refused::Missing));
        assert_eq!(credentials(Some(b"Basic !!!")), Err(Refused::Malformed));
        assert_eq!(
            credentials(Some(&field("nocolon")[..])),
            Err(Refused::Malformed)
        );
        let not_utf8 = format!("Basic {}", STANDARD.encode([b'u', b':', 0xff, 0xfe]));
        assert_eq!(
            credentials(Some(not_utf8.as_bytes())),
            Err(Refused::Malformed)
        );
        let long = field(&format!("u:{}", "p".repeat(MAX_FIELD)));
        assert_eq!(credentials(Some(&long)), Err(Refused::Malformed));
        assert_eq!(
            credentials(Some(&field("u\n:p")[..])),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn the_challenge_names_the_realm_and_the_charset() {
        assert_eq!(
            challenge("files"),
            "Basic realm=\"files\", charset=\"UTF-8\""
        );
        assert_eq!(
            challenge("a \"b\" \\c\n"),
            "Basic realm=\"a \\\"b\\\" \\\\c\", charset=\"UTF-8\""
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = credentials(Some(&field("me:secret")[..])).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }

    proptest! {
        /// Any user without colons or controls and any password round-trip.
        #[test]
        fn credentials_round_trip(user in "[^:\\p{Cc}]{0,40}", password in "[^\\p{Cc}]{0,40}") {
            let c = credentials(Some(&field(&format!("{user}:{password}"))[..])).unwrap();
            prop_assert_eq!(c.user, user);
            prop_assert_eq!(c.password, password);
        }

        /// Arbitrary bytes never panic.
        #[test]
        fn any_field_is_survived(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = credentials(Some(&bytes));
        }
    }
}
