//! Cross-origin access (the Fetch standard's CORS protocol), so browser code
//! on another origin can read files, their ranges and validators, and resume
//! downloads.
//!
//! Pure: it decides which headers to add from the configured origin and the
//! request's headers. It does not decide anything else about the response.

use hyper::header::{self, HeaderMap, HeaderValue};

/// Response headers that browser code may read: what a resumable download
/// needs to see.
const EXPOSE: &str =
    "Content-Range, Accept-Ranges, ETag, Content-Length, Content-Encoding, Last-Modified";

/// Request headers a cross-origin request may carry.
const ALLOW_HEADERS: &str = "Range, If-Range, If-Match, If-None-Match, If-Modified-Since, \
                             If-Unmodified-Since, Accept, Accept-Encoding";

/// Which origins may read responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// Any origin (`Access-Control-Allow-Origin: *`).
    Any,
    /// Only this origin, e.g. `https://app.example`.
    Origin(HeaderValue),
}

impl Cors {
    /// Parses the `--cors` value: `*` or an origin.
    pub fn parse(value: &str) -> Result<Cors, String> {
        match value.trim() {
            "*" | "" => Ok(Cors::Any),
            origin if origin.contains("://") && !origin.ends_with('/') => {
                HeaderValue::from_str(origin)
                    .map(Cors::Origin)
                    .map_err(|_| format!("'{origin}' is not a valid origin"))
            }
            origin => Err(format!(
                "'{origin}' is not an origin such as https://app.example (scheme, host, optional port, no path)"
            )),
        }
    }

    /// Adds the CORS headers for a response to a request with `request`
    /// headers. With a fixed origin, only a request from that origin gets
    /// them, and `Vary: Origin` tells caches the answer depends on it.
    pub fn apply(&self, request: &HeaderMap, response: &mut HeaderMap) {
        let allow = match self {
            Cors::Any => HeaderValue::from_static("*"),
            Cors::Origin(origin) => {
                response.append(header::VARY, HeaderValue::from_static("Origin"));
                if request.get(header::ORIGIN) != Some(origin) {
                    return;
                }
                origin.clone()
            }
        };
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        response.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE),
        );
    }

    /// True for a preflight: an OPTIONS request with `Origin` and
    /// `Access-Control-Request-Method`.
    pub fn is_preflight(request: &HeaderMap) -> bool {
        request.contains_key(header::ORIGIN)
            && request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The headers of a preflight answer (sent with 204), besides `apply`'s.
    pub fn preflight(response: &mut HeaderMap) {
        response.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        response.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        response.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_static(o));
        }
        h
    }

    #[test]
    fn any_origin_allows_everyone_and_exposes_range_headers() {
        let mut response = HeaderMap::new();
        Cors::Any.apply(&request(Some("https://a.example")), &mut response);
        assert_eq!(response[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let exposed = response[header::ACCESS_CONTROL_EXPOSE_HEADERS]
            .to_str()
            .unwrap();
        for h in [
            "Content-Range",
            "Accept-Ranges",
            "ETag",
            "Content-Length",
            "Content-Encoding",
        ] {
            assert!(exposed.contains(h), "{h}");
        }
    }

    #[test]
    fn a_fixed_origin_is_allowed_only_for_itself() {
        let cors = Cors::parse("https://app.example").unwrap();
        let mut response = HeaderMap::new();
        cors.apply(&request(Some("https://app.example")), &mut response);
        assert_eq!(
            response[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert_eq!(response[header::VARY], "Origin");
        let mut other = HeaderMap::new();
        cors.apply(&request(Some("https://evil.example")), &mut other);
        assert!(!other.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(other[header::VARY], "Origin");
    }

    #[test]
    fn parse_accepts_star_and_origins_only() {
        assert_eq!(Cors::parse("*"), Ok(Cors::Any));
        assert!(Cors::parse("https://app.example:8443").is_ok());
        assert!(Cors::parse("app.example").is_err());
        assert!(Cors::parse("https://app.example/").is_err());
        assert!(
            Cors::parse("https://a.example\n").is_ok(),
            "trailing whitespace is trimmed"
        );
    }

    #[test]
    fn preflight_needs_origin_and_requested_method() {
        let mut h = request(Some("https://a.example"));
        assert!(!Cors::is_preflight(&h));
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("GET"),
        );
        assert!(Cors::is_preflight(&h));
    }
}
