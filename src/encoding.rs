//! Accept-Encoding (RFC 9110 §12.5.3) → which precompressed sidecar to try.
//!
//! Pure: it parses the field and returns the content codings worth trying,
//! best first; the handler opens `file.ext.br`, `.zst` or `.gz` in that order
//! and serves the first that exists. It never compresses anything and does
//! not open files (`resolve.rs` does).

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

/// A weight in thousandths: `q=0.5` is 500 (RFC 9110 §12.4.2).
pub type Weight = u16;

const FULL: Weight = 1000;

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
        for member in field.split(|&b| b == b',') {
            let mut parts = member.split(|&b| b == b';');
            let coding = trim(parts.next().unwrap_or_default());
            if coding.is_empty() || !coding.iter().all(|&b| is_tchar(b)) {
                continue;
            }
            let mut weight = Some(FULL);
            for param in parts {
                weight = weight.and_then(|_| parse_weight(trim(param)));
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

/// `q=qvalue` (RFC 9110 §12.4.2): `0[.ddd]` or `1[.000]`, `q` in any case.
fn parse_weight(param: &[u8]) -> Option<Weight> {
    let value = match param {
        [b'q' | b'Q', b'=', value @ ..] => value,
        _ => return None,
    };
    let (int, frac) = match value {
        [int, b'.', frac @ ..] => (*int, frac),
        [int] => (*int, &[][..]),
        _ => return None,
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let thousandths = frac
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0, |acc, d| acc * 10 + Weight::from(d - b'0'));
    match int {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(FULL),
        _ => None,
    }
}

/// `tchar` (RFC 9110 §5.6.2), with `*` for the wildcard.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Trims optional whitespace (SP and HTAB, RFC 9110 §5.6.3).
fn trim(s: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &s[start..end]
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

    proptest! {
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
