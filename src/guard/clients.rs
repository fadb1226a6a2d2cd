//! Client addresses: how many connections each has open
//! (`--max-connections-per-ip`) and the rate budget all of them share
//! (`--limit-rate-per-ip`). IPv6 clients are grouped by their /64, which is
//! what one subscriber usually gets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::rate::Bucket;

/// The address a client is counted under: IPv4 as it is (IPv4-mapped IPv6
/// too), IPv6 by its /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The per-client limits and what each client holds of them.
#[derive(Debug)]
pub struct Clients {
    max_connections: Option<u32>,
    rate: Option<u64>,
    open: Mutex<HashMap<IpAddr, Entry>>,
}

#[derive(Debug)]
struct Entry {
    connections: u32,
    bucket: Option<Arc<Bucket>>,
}

/// One connection's place among its client's: released on drop.
#[derive(Debug)]
pub struct Admission {
    clients: Arc<Clients>,
    key: IpAddr,
    /// The client already had `--max-connections-per-ip` connections: this
    /// one is answered 429 (or refused) and not counted.
    pub over_limit: bool,
    /// The budget shared by the client's connections.
    pub bucket: Option<Arc<Bucket>>,
}

impl Clients {
    pub fn new(max_connections: Option<u32>, rate: Option<u64>) -> Arc<Self> {
        Arc::new(Clients {
            max_connections,
            rate,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Whether any per-client limit is set.
    pub fn is_limited(&self) -> bool {
        self.max_connections.is_some() || self.rate.is_some()
    }

    /// Counts a new connection from `peer`.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Admission {
        let key = client_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let entry = open.entry(key).or_insert_with(|| Entry {
            connections: 0,
            bucket: self
                .rate
                .map(|rate| Arc::new(Bucket::new(rate, Instant::now()))),
        });
        let over_limit = self
            .max_connections
            .is_some_and(|max| entry.connections >= max);
        if !over_limit {
            entry.connections += 1;
        }
        let bucket = entry.bucket.clone();
        Admission {
            clients: Arc::clone(self),
            key,
            over_limit,
            bucket,
        }
    }

    /// Connections counted for `peer`'s client.
    #[cfg(test)]
    fn connections(&self, peer: IpAddr) -> u32 {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&client_key(peer)).map_or(0, |e| e.connections)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.over_limit {
            return;
        }
        let mut open = self.clients.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = open.get_mut(&self.key) {
            entry.connections = entry.connections.saturating_sub(1);
            if entry.connections == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_groups_by_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_connection_after_the_limit_is_over_and_others_are_not() {
        let clients = Clients::new(Some(2), Some(1000));
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let two: IpAddr = "10.0.0.2".parse().unwrap();
        let a = clients.admit(one);
        let b = clients.admit(one);
        let c = clients.admit(one);
        assert!(!a.over_limit && !b.over_limit && c.over_limit);
        assert!(!clients.admit(two).over_limit);
        assert!(Arc::ptr_eq(
            a.bucket.as_ref().unwrap(),
            c.bucket.as_ref().unwrap()
        ));
        drop(c);
        assert_eq!(clients.connections(one), 2);
        drop(a);
        assert!(!clients.admit(one).over_limit);
        drop(b);
        assert_eq!(clients.connections(one), 0);
        assert!(
            clients.open.lock().unwrap().is_empty(),
            "nothing kept for gone clients"
        );
    }
}
