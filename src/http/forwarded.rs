//! The client address behind a trusted proxy (`--real-ip-from`), from
//! `X-Forwarded-For` or `Forwarded` (RFC 7239 §4, §5.2).
//!
//! Each proxy appends the address it received the request from, so the list
//! reads client, proxy 1, proxy 2, … and only its right end can be trusted:
//! anything to the left of the last trusted proxy may have been written by
//! the client. [`client_address`] walks the list from the right, skipping
//! addresses of trusted proxies, and returns the first one that is not
//! trusted (nginx's `real_ip_recursive on`). A list that does not parse is
//! ignored as a whole: the connection's address stays.
//!
//! Only one of the two fields is read (`--real-ip-header`): a proxy that
//! writes one passes the other on from the client unchanged, so reading
//! both would let a client choose its address.
//!
//! Pure: no socket, no configuration beyond what is passed in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`, what a dual-stack socket reports) matches IPv4
    /// networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not an address or a network like 10.0.0.0/8");
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?
            }
            Some(_) => return Err(bad()),
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

/// Which field carries the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Source {
    /// `X-Forwarded-For: client, proxy1, proxy2` (HAProxy `option
    /// forwardfor`, nginx `$proxy_add_x_forwarded_for`, Caddy).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// The client's address for a request that came from `peer`, given the
/// values of the field `source` names (every line of it, in order) and the
/// trusted proxies. `peer` itself when it is not trusted, when the field is
/// absent or does not parse, or when it names only trusted proxies…
/// in which case the leftmost is the best that is known.
pub fn client_address<'a>(
    peer: IpAddr,
    source: Source,
    values: impl Iterator<Item = &'a [u8]>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in values {
        let Ok(text) = std::str::from_utf8(value) else {
            return peer;
        };
        for element in text.split(',') {
            let hop = match source {
                Source::XForwardedFor => parse_node(element.trim()),
                Source::Forwarded => forwarded_for(element),
            };
            match hop {
                Some(ip) => hops.push(ip),
                None => return peer,
            }
        }
    }
    let mut client = peer;
    for &hop in hops.iter().rev() {
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

/// The `for=` parameter of one `Forwarded` element (RFC 7239 §4: pairs
/// separated by `;`, names case-insensitive, values tokens or quoted
/// strings). An element without `for=` or with an obfuscated node
/// (`for=_hidden`, `for=unknown`) does not parse.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"')?,
            None => value,
        };
        parse_node(value)
    })
}

/// A node (RFC 7239 §6): `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::1]`
/// or `[2001:db8::1]:4711`; a bare IPv6 address is accepted too, as
/// `X-Forwarded-For` writes it.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (addr, port) = rest.split_once(']')?;
        if !(port.is_empty() || is_port(port.strip_prefix(':')?)) {
            return None;
        }
        return addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    let (addr, port) = node.rsplit_once(':')?;
    is_port(port).then_some(())?;
    addr.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn xff(peer: &str, values: &[&str], trusted: &[&str]) -> IpAddr {
        let values = values.iter().map(|v| v.as_bytes());
        client_address(ip(peer), Source::XForwardedFor, values, &nets(trusted))
    }

    #[test]
    fn cidr_parses_networks_and_single_addresses() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/",
            "1.2.3.4/+8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(
            xff("203.0.113.9", &["1.2.3.4"], &["127.0.0.1"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = ["127.0.0.1", "10.0.0.0/8"];
        // The client wrote 6.6.6.6 itself; the proxies appended the rest.
        let got = xff("127.0.0.1", &["6.6.6.6, 198.51.100.7, 10.0.0.2"], &trusted);
        assert_eq!(got, ip("198.51.100.7"));
        // Several field lines are one list.
        let got = xff("127.0.0.1", &["6.6.6.6", "198.51.100.7"], &trusted);
        assert_eq!(got, ip("198.51.100.7"));
        // Only proxies: the leftmost is the best known.
        assert_eq!(
            xff("127.0.0.1", &["10.0.0.5, 10.0.0.2"], &trusted),
            ip("10.0.0.5")
        );
        // No field: the proxy itself.
        assert_eq!(xff("127.0.0.1", &[], &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn a_list_that_does_not_parse_is_ignored_whole() {
        let trusted = ["127.0.0.1"];
        assert_eq!(
            xff("127.0.0.1", &["1.2.3.4, junk"], &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(xff("127.0.0.1", &[""], &trusted), ip("127.0.0.1"));
        assert_eq!(xff("127.0.0.1", &["1.2.3.4:80"], &trusted), ip("1.2.3.4"));
        assert_eq!(
            xff("127.0.0.1", &["[2001:db8::1]:80"], &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn forwarded_reads_for_parameters() {
        let trusted = nets(&["127.0.0.1"]);
        let value = br#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#;
        let got = client_address(
            ip("127.0.0.1"),
            Source::Forwarded,
            std::iter::once(&value[..]),
            &trusted,
        );
        assert_eq!(got, ip("2001:db8:cafe::17"));
        let hidden = b"for=_hidden";
        let got = client_address(
            ip("127.0.0.1"),
            Source::Forwarded,
            std::iter::once(&hidden[..]),
            &trusted,
        );
        assert_eq!(got, ip("127.0.0.1"), "an obfuscated node is not an address");
    }

    proptest! {
        /// Whatever the client writes in the field, the result is either an
        /// address a trusted proxy appended or the peer: addresses left of
        /// the last untrusted hop never win.
        #[test]
        fn client_written_addresses_never_win(
            forged in proptest::collection::vec(any::<[u8; 4]>(), 0..4),
            real in any::<[u8; 4]>(),
        ) {
            let trusted = nets(&["127.0.0.0/8"]);
            let real = IpAddr::from(real);
            prop_assume!(!trusted[0].contains(real));
            let mut list: Vec<String> = forged.iter().map(|b| IpAddr::from(*b).to_string()).collect();
            list.push(real.to_string());
            let value = list.join(", ");
            let got = client_address(
                ip("127.0.0.1"),
                Source::XForwardedFor,
                std::iter::once(value.as_bytes()),
                &trusted,
            );
            prop_assert_eq!(got, real);
        }

        #[test]
        fn any_bytes_give_an_address_without_panicking(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let trusted = nets(&["127.0.0.1"]);
            for source in [Source::XForwardedFor, Source::Forwarded] {
                let _ = client_address(ip("127.0.0.1"), source, std::iter::once(&value[..]), &trusted);
            }
        }
    }
}
