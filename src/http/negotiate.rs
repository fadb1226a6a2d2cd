//! Content negotiation (RFC 9110 §12.5): which precompressed sidecar to try
//! (Accept-Encoding) and whether a folder listing goes out as JSON (Accept).
//!
//! Pure: it parses the fields and returns decisions; the handler opens
//! `file.ext.br`, `.zst` or `.gz` in the order given here and serves the
//! first that exists. It never compresses anything and does not open files
//! (`fs/root.rs` does).

use super::fields::{self, FULL, Weight};

/// A content coding rangeserve can serve from a sidecar file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Br,
    Zstd,
    Gzip,
}

impl Coding {
    /// Equal weights are broken in this order: smallest files first.
    pub const PREFERENCE: [Coding; 3] = [Coding::Br, Coding::Zstd, Coding::Gzip];

    /// The token of the coding in Accept-Encoding and Content-Encoding.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// What the sidecar file adds to the original's name.
    pub fn suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Zstd => ".zst",
            Coding::Gzip => ".gz",
        }
    }
}

/// A parsed Accept-Encoding field: each valid member's coding (lowercase)
/// and weight, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    members: Vec<(String, Weight)>,
}

impl AcceptEncoding {
    /// Parses `#( codings [ weight ] )` (RFC 9110 §12.5.3):
    ///
    /// 1. Members are split on `,`; empty members and optional whitespace
    ///    around them and around `;` are skipped (§5.6.1).
    /// 2. A coding is a token, compared case-insensitively; `x-gzip` is
    ///    `gzip` (§8.4.1.3).
    /// 3. The only parameter is `q=qvalue` (`0`–`1`, at most three decimals,
    ///    §12.4.2); without it the weight is 1. A member whose coding is not a
    ///    token, or with any other parameter or an invalid q, is ignored.
    /// 4. A coding listed twice keeps its first weight.
    pub fn parse(field: &[u8]) -> Self {
        let mut members: Vec<(String, Weight)> = Vec::new();
        for member in fields::list(field) {
            let mut parts = member.split(|&b| b == b';');
            let coding = fields::trim(parts.next().unwrap_or_default());
            if !fields::is_token(coding) {
                continue;
            }
            let mut weight = Some(FULL);
            for param in parts {
                weight = weight.and_then(|_| fields::weight_param(fields::trim(param)));
            }
            let Some(weight) = weight else { continue };
            let mut coding = String::from_utf8_lossy(coding).to_ascii_lowercase();
            if coding == "x-gzip" {
                coding = String::from("gzip");
            }
            if !members.iter().any(|(c, _)| *c == coding) {
                members.push((coding, weight));
            }
        }
        AcceptEncoding { members }
    }

    /// The weight of `coding`: its own member's, else `*`'s, else 0 (not
    /// acceptable), except `identity`, which is acceptable by default.
    pub fn weight(&self, coding: &str) -> Weight {
        self.listed(coding)
            .or_else(|| self.listed("*"))
            .unwrap_or(if coding == "identity" { FULL } else { 0 })
    }

    fn listed(&self, coding: &str) -> Option<Weight> {
        self.members
            .iter()
            .find(|(c, _)| c == coding)
            .map(|&(_, w)| w)
    }

    /// The codings to try, best first:
    ///
    /// 1. Only codings with a weight above 0 (`q=0` means "not acceptable").
    /// 2. Higher weights first; equal weights in [`Coding::PREFERENCE`] order.
    /// 3. When `identity` is listed (itself or through `*`), a coding
    ///    weighted below it is not worth sending: the unencoded file is
    ///    preferred. An unlisted identity is only the fallback.
    ///
    /// NOTE: when nothing here is acceptable, or no sidecar exists, the caller
    /// sends the unencoded file even if the client refused identity
    /// (`identity;q=0`): RFC 9110 §12.5.3 allows it, and a 406 would break
    /// more clients than it helps.
    pub fn preferred(&self) -> Vec<Coding> {
        let floor = self.listed("identity").or_else(|| self.listed("*"));
        let mut codings: Vec<(Coding, Weight)> = Coding::PREFERENCE
            .iter()
            .map(|&c| (c, self.weight(c.token())))
            .filter(|&(_, w)| w > 0 && floor.is_none_or(|floor| w >= floor))
            .collect();
        // A stable sort keeps PREFERENCE order among equal weights.
        codings.sort_by_key(|&(_, w)| std::cmp::Reverse(w));
        codings.into_iter().map(|(c, _)| c).collect()
    }
}

/// The codings to try for a request's Accept-Encoding field; none without
/// the field (the client stated no preference, so it gets the file as is).
pub fn preferred(field: Option<&[u8]>) -> Vec<Coding> {
    field.map_or_else(Vec::new, |f| AcceptEncoding::parse(f).preferred())
}

/// Whether an `Accept` header (RFC 9110 §12.5.1) prefers JSON to HTML: it
/// lists `application/json` with a weight above 0, and `text/html` not at
/// all or with a lower weight.
///
/// Wildcards count for neither, so a browser (`text/html,…,*/*;q=0.8`) and
/// a bare `*/*` get HTML. A header that is not UTF-8, or a media range with
/// a malformed weight, counts as not asking for JSON.
pub fn wants_json(accept: Option<&[u8]>) -> bool {
    let Some(accept) = accept.filter(|a| std::str::from_utf8(a).is_ok()) else {
        return false;
    };
    let (mut json, mut html) = (None::<Weight>, None::<Weight>);
    for range in fields::list(accept) {
        let mut parts = range.split(|&b| b == b';');
        let media = fields::trim(parts.next().unwrap_or_default());
        let mut weight = Some(FULL);
        for param in parts {
            if let Some(eq) = param.iter().position(|&b| b == b'=') {
                if fields::trim(&param[..eq]).eq_ignore_ascii_case(b"q") {
                    weight = fields::qvalue(fields::trim(&param[eq + 1..]));
                }
            }
        }
        let Some(weight) = weight else {
            continue;
        };
        let slot = if media.eq_ignore_ascii_case(b"application/json") {
            &mut json
        } else if media.eq_ignore_ascii_case(b"text/html") {
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

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::{Br, Gzip, Zstd};
    use proptest::prelude::*;

    fn pick(field: &str) -> Vec<Coding> {
        preferred(Some(field.as_bytes()))
    }

    #[test]
    fn accept_encoding_table() {
        let table: &[(&str, &[Coding])] = &[
            ("gzip, deflate, br, zstd", &[Br, Zstd, Gzip]),
            ("gzip", &[Gzip]),
            ("GZIP", &[Gzip]),
            ("x-gzip", &[Gzip]),
            ("br;q=0.5, gzip", &[Gzip, Br]),
            ("br;q=0.5, gzip;q=0.8, zstd;q=0.9", &[Zstd, Gzip, Br]),
            ("br;q=0, gzip", &[Gzip]),
            ("br;Q=0.000, zstd;q=0.", &[]),
            ("*", &[Br, Zstd, Gzip]),
            ("*;q=0", &[]),
            ("gzip, *;q=0", &[Gzip]),
            ("br;q=0, *", &[Zstd, Gzip]),
            ("*;q=0.5, gzip", &[Gzip, Br, Zstd]),
            ("identity", &[]),
            ("identity;q=0, gzip;q=0.1", &[Gzip]),
            ("identity;q=0.5, gzip;q=0.4, br;q=0.5", &[Br]),
            ("identity, gzip;q=0.5", &[]),
            ("gzip;q=0.5", &[Gzip]),
            ("  br ;  q=1.000 ,, ,gzip\t;\tq=0.999 ", &[Br, Gzip]),
            ("", &[]),
            ("deflate, compress", &[]),
            // Invalid members are ignored, the rest is kept.
            ("br;q=1.5, gzip", &[Gzip]),
            ("br;q=2, gzip", &[Gzip]),
            ("br;q=0.1234, gzip", &[Gzip]),
            ("br;q=, gzip", &[Gzip]),
            ("br;q=-1, gzip", &[Gzip]),
            ("br;level=5, gzip", &[Gzip]),
            ("b r, gzip", &[Gzip]),
            ("gzip;q=0, gzip", &[]),
        ];
        for (field, expected) in table {
            assert_eq!(pick(field), *expected, "Accept-Encoding: {field}");
        }
        assert_eq!(preferred(None), []);
    }

    #[test]
    fn weights_follow_the_wildcard_and_identity_default() {
        let a = AcceptEncoding::parse(b"gzip;q=0.3, *;q=0.2");
        assert_eq!(a.weight("gzip"), 300);
        assert_eq!(a.weight("br"), 200);
        assert_eq!(a.weight("identity"), 200);
        let a = AcceptEncoding::parse(b"gzip");
        assert_eq!((a.weight("br"), a.weight("identity")), (0, 1000));
        assert_eq!(AcceptEncoding::parse(b"identity;q=0").weight("identity"), 0);
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

    proptest! {
        #[test]
        fn wants_json_never_panics(accept in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = wants_json(Some(&accept));
        }

        #[test]
        fn any_field_parses_without_panicking(field in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = preferred(Some(&field));
        }

        #[test]
        fn a_chosen_coding_is_acceptable_and_best_first(
            field in "((br|zstd|gzip|x-gzip|identity|\\*|deflate|BR|q)( ?; ?[qQ]=[0-2](\\.[0-9]{0,4})?)?, ?){0,6}"
        ) {
            let accept = AcceptEncoding::parse(field.as_bytes());
            let chosen = accept.preferred();
            let weights: Vec<Weight> = chosen.iter().map(|c| accept.weight(c.token())).collect();
            for (c, w) in chosen.iter().zip(&weights) {
                prop_assert!(*w > 0, "{:?} chosen with q=0 from {:?}", c, field);
                prop_assert!(*w <= FULL);
            }
            prop_assert!(weights.windows(2).all(|w| w[0] >= w[1]), "{:?} from {:?}", weights, field);
            let mut unique = chosen.clone();
            unique.dedup();
            prop_assert_eq!(unique.len(), chosen.len());
        }
    }
}
