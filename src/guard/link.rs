//! Signed, expiring links: a URL that lets whoever holds it download one
//! file, or everything under one folder, until a time.
//!
//! A link carries `expires` (Unix seconds) and `signature`, the
//! HMAC-SHA256 (RFC 2104, `ring::hmac`) of the canonical path and the expiry,
//! `"{path}\n{expires}"`, in unpadded base64url. The canonical path is the
//! request path decoded and re-encoded (`RequestPath::url_path`), so every
//! spelling of the same path carries the same signature. A folder link (a
//! path ending in `/`) also carries `scope`, the folder it was signed for,
//! and covers every path beneath it. Nothing else in the query matters.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use ring::hmac;

/// The shortest key accepted, in bytes.
pub const MIN_KEY: usize = 16;

/// What a query value keeps unencoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The secret links are signed with.
pub struct LinkKey(hmac::Key);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// Why a link does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    Expired,
    /// The signature does not match: tampered, or signed with another key.
    BadSignature,
    /// Signed for another path (a file link used for another file, or a
    /// folder link for something outside the folder).
    OtherPath,
}

impl Invalid {
    /// The short reason sent with the 403.
    pub fn reason(self) -> &'static str {
        match self {
            Invalid::Malformed => "malformed link",
            Invalid::Expired => "link expired",
            Invalid::BadSignature => "invalid link signature",
            Invalid::OtherPath => "link is for another path",
        }
    }
}

/// The link parameters of a query, if it has any.
#[derive(Debug, Default, PartialEq, Eq)]
struct Params<'q> {
    expires: Option<&'q str>,
    signature: Option<&'q str>,
    scope: Option<&'q str>,
}

impl LinkKey {
    /// A key from the contents of a key file: surrounding whitespace is
    /// ignored, and at least [`MIN_KEY`] bytes must remain.
    pub fn from_file_contents(contents: &[u8]) -> Result<LinkKey, String> {
        let key = contents.trim_ascii();
        if key.len() < MIN_KEY {
            return Err(format!(
                "the link key is {} bytes; at least {MIN_KEY} are needed (--generate-link-key makes one)",
                key.len()
            ));
        }
        Ok(LinkKey(hmac::Key::new(hmac::HMAC_SHA256, key)))
    }

    /// A fresh random key, as the text of a key file (64 hex digits).
    pub fn generate() -> Result<String, String> {
        use ring::rand::{SecureRandom, SystemRandom};
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system's random source failed".to_owned())?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn signature(&self, path: &str, expires: u64) -> String {
        let tag = hmac::sign(&self.0, format!("{path}\n{expires}").as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// The query string (without `?`) of a link to canonical `path` that
    /// expires at `expires` (Unix seconds).
    pub fn sign(&self, path: &str, expires: u64) -> String {
        let signature = self.signature(path, expires);
        if path.ends_with('/') {
            let scope: String = utf8_percent_encode(path, QUERY_VALUE).collect();
            format!("expires={expires}&scope={scope}&signature={signature}")
        } else {
            format!("expires={expires}&signature={signature}")
        }
    }

    /// Whether `query` holds link parameters at all.
    pub fn is_link(query: Option<&str>) -> bool {
        params(query).is_ok_and(|p| p != Params::default())
    }

    /// Checks the link in `query` for the canonical request `path` at `now`.
    /// `Ok` carries the link's own parameters, to hand on to the links of a
    /// folder listing.
    pub fn verify(
        &self,
        path: &str,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<String, Invalid> {
        let p = params(query)?;
        let (Some(expires_text), Some(signature_text)) = (p.expires, p.signature) else {
            return Err(Invalid::Malformed);
        };
        if expires_text.is_empty()
            || expires_text.len() > 12
            || !expires_text.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Invalid::Malformed);
        }
        let expires: u64 = expires_text.parse().map_err(|_| Invalid::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_text)
            .map_err(|_| Invalid::Malformed)?;
        let scope = match p.scope {
            Some(scope) => {
                let scope = percent_decode_str(scope)
                    .decode_utf8()
                    .map_err(|_| Invalid::Malformed)?;
                if !scope.ends_with('/') {
                    return Err(Invalid::Malformed);
                }
                scope.into_owned()
            }
            None => path.to_owned(),
        };
        let message = format!("{scope}\n{expires}");
        hmac::verify(&self.0, message.as_bytes(), &signature).map_err(|_| Invalid::BadSignature)?;
        let covered = if scope.ends_with('/') {
            path.starts_with(&scope) || format!("{path}/") == scope
        } else {
            path == scope
        };
        if !covered {
            return Err(Invalid::OtherPath);
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if now > expires {
            return Err(Invalid::Expired);
        }
        // The link's own parameters, as they came (already verified).
        Ok(match p.scope {
            Some(scope) => {
                format!("expires={expires_text}&scope={scope}&signature={signature_text}")
            }
            None => format!("expires={expires_text}&signature={signature_text}"),
        })
    }
}

/// The link parameters of a query; each may appear once.
fn params(query: Option<&str>) -> Result<Params<'_>, Invalid> {
    let mut p = Params::default();
    for pair in query.unwrap_or("").split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "expires" => &mut p.expires,
            "signature" => &mut p.signature,
            "scope" => &mut p.scope,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(Invalid::Malformed);
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key() -> LinkKey {
        LinkKey::from_file_contents(b"  0123456789abcdef0123456789abcdef\n").unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_file_link_opens_its_file_until_it_expires() {
        let query = key().sign("/releases/v1.iso", 1000);
        assert!(query.starts_with("expires=1000&signature="));
        let k = key();
        assert!(k.verify("/releases/v1.iso", Some(&query), at(999)).is_ok());
        assert!(k.verify("/releases/v1.iso", Some(&query), at(1000)).is_ok());
        assert_eq!(
            k.verify("/releases/v1.iso", Some(&query), at(1001)),
            Err(Invalid::Expired)
        );
        assert_eq!(
            k.verify("/releases/v2.iso", Some(&query), at(0)),
            Err(Invalid::BadSignature)
        );
    }

    #[test]
    fn other_parameters_and_their_order_do_not_matter() {
        let query = key().sign("/a.bin", 50);
        let (expires, signature) = query.split_once('&').unwrap();
        let shuffled = format!("x=1&{signature}&sort=name&{expires}");
        assert!(key().verify("/a.bin", Some(&shuffled), at(0)).is_ok());
    }

    #[test]
    fn a_folder_link_covers_its_subtree_and_nothing_else() {
        let query = key().sign("/releases/", 1000);
        assert!(query.contains("scope=/releases/"), "{query}");
        let k = key();
        for inside in [
            "/releases/",
            "/releases",
            "/releases/v1.iso",
            "/releases/old/v0.iso",
        ] {
            let carried = k.verify(inside, Some(&query), at(0)).unwrap();
            assert_eq!(carried, query, "{inside}");
        }
        for outside in ["/releasesX/a", "/other/a", "/"] {
            assert_eq!(
                k.verify(outside, Some(&query), at(0)),
                Err(Invalid::OtherPath),
                "{outside}"
            );
        }
        // The root folder's link covers everything.
        let all = k.sign("/", 1000);
        assert!(k.verify("/deep/file", Some(&all), at(0)).is_ok());
    }

    #[test]
    fn tampered_malformed_and_absurd_links_are_refused() {
        let k = key();
        let query = k.sign("/f", 1000);
        let later = query.replace("expires=1000", "expires=2000");
        assert_eq!(
            k.verify("/f", Some(&later), at(0)),
            Err(Invalid::BadSignature)
        );
        let other_key = LinkKey::from_file_contents(b"another key of 32 bytes at least").unwrap();
        assert_eq!(
            other_key.verify("/f", Some(&query), at(0)),
            Err(Invalid::BadSignature)
        );
        let scoped = format!("{query}&scope=/");
        assert_eq!(
            k.verify("/f", Some(&scoped), at(0)),
            Err(Invalid::BadSignature)
        );
        for bad in [
            "expires=99999999999999999999&signature=abc",
            "expires=-1&signature=abc",
            "expires=&signature=abc",
            "expires=10",
            "signature=abc",
            "expires=10&expires=11&signature=abc",
            "expires=10&signature=!!!",
            "expires=10&signature=abc&scope=/no-slash",
            "expires=10&signature=abc&scope=%FF/",
        ] {
            assert_eq!(
                k.verify("/f", Some(bad), at(0)),
                Err(Invalid::Malformed),
                "{bad}"
            );
        }
        assert_eq!(k.verify("/f", None, at(0)), Err(Invalid::Malformed));
    }

    #[test]
    fn keys_are_long_enough_and_generated_fresh() {
        assert!(LinkKey::from_file_contents(b"short\n").is_err());
        let (a, b) = (LinkKey::generate().unwrap(), LinkKey::generate().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(LinkKey::from_file_contents(a.as_bytes()).is_ok());
    }

    #[test]
    fn link_parameters_are_recognised() {
        assert!(!LinkKey::is_link(None));
        assert!(!LinkKey::is_link(Some("sort=name")));
        assert!(LinkKey::is_link(Some("sort=name&expires=1")));
        assert!(LinkKey::is_link(Some("signature=")));
    }
}
