//! The start-up lines on stdout, in this order:
//!
//! 1. `Serving <root> at <scheme>://<bound addr>/`: always first and always
//!    exactly this shape, because tests and scripts parse it. Failing to
//!    write it is a start-up error.
//! 2. On an unspecified address (0.0.0.0 or ::), `  also at <url>` for each
//!    local interface address the socket accepts connections on.
//! 3. One line of key settings: listing, hidden files, symlinks, sendfile,
//!    TLS, CORS, the connection limit.
//!
//! It owns what is printed; it does not bind (`server.rs`). Lines 2 and 3
//! are best effort: a reader may close the pipe after line 1 (the tests do),
//! and the server must go on serving, so errors writing them are ignored.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cli::Config;
use crate::http::cors::Cors;

/// At most this many `also at` lines; a host with hundreds of addresses
/// (containers, VPNs) gets a count instead of a screenful.
const MAX_URLS: usize = 16;

/// What the server listens on, as the banner tells it.
#[derive(Debug)]
pub struct Listening<'a> {
    /// The first is named on line 1; there is at least one.
    pub sockets: &'a [TcpListener],
    /// The sockets came from a service manager (socket activation).
    pub inherited: bool,
    /// The `--metrics` listener's address.
    pub metrics: Option<SocketAddr>,
    pub tls: bool,
    pub max_connections: usize,
    /// `--reuse-port` where the kernel does not move waiting connections
    /// to a sibling socket when this one closes.
    pub reset_on_stop: bool,
}

/// Prints the start-up lines.
pub fn print(config: &Config, listening: &Listening<'_>) -> anyhow::Result<()> {
    let tls = listening.tls;
    let max_connections = listening.max_connections;
    let scheme = if tls { "https" } else { "http" };
    let addresses: Vec<SocketAddr> = listening
        .sockets
        .iter()
        .map(TcpListener::local_addr)
        .collect::<Result<_, _>>()
        .context("cannot read the bound address")?;
    let (listener, local) = match (listening.sockets.first(), addresses.first()) {
        (Some(listener), Some(&local)) => (listener, local),
        _ => anyhow::bail!("no socket to listen on"),
    };
    let prefix = &config.path_prefix;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "Serving {} at {scheme}://{local}{prefix}/",
        config.root.display()
    )
    .and_then(|()| stdout.flush())
    .context("cannot write to stdout")?;

    let mut more = Vec::new();
    if local.ip().is_unspecified() {
        more = also_at(scheme, local, accepts_ipv4(listener, local), &interfaces());
    }
    for other in &addresses[1..] {
        more.push(format!("  also at {scheme}://{other}{prefix}/"));
    }
    if listening.inherited {
        more.push(format!(
            "  on {} socket(s) passed by the service manager (socket activation)",
            addresses.len()
        ));
    }
    if let Some(metrics) = listening.metrics {
        more.push(format!(
            "  metrics at http://{metrics}/metrics, health at http://{metrics}/healthz"
        ));
    }
    if listening.reset_on_stop {
        more.push(
            "warning: with --reuse-port, connections waiting in a stopping server's queue are \
             reset unless sysctl net.ipv4.tcp_migrate_req=1"
                .to_owned(),
        );
    }
    more.push(settings(&Settings {
        listing: config.listing,
        hidden: config.hidden,
        follow_symlinks: config.follow_symlinks,
        sendfile: config.sendfile && !tls,
        precompressed: config.precompressed,
        tls,
        cors: config.cors.as_ref(),
        max_connections,
    }));
    if config.auth_file.is_some() && !tls && !local.ip().is_loopback() {
        more.push(
            "warning: passwords cross the network in clear over plain HTTP; \
             add --tls-cert and --tls-key, or serve behind a TLS proxy"
                .to_owned(),
        );
    }
    // NOTE: ignored on purpose: see the module comment.
    let _ = more
        .iter()
        .try_for_each(|line| writeln!(stdout, "{line}"))
        .and_then(|()| stdout.flush());
    Ok(())
}

/// The addresses of this machine's interfaces that are not down
/// (link-local ones are left out by if-addrs: they need a zone to be used).
fn interfaces() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(found) => found
            .into_iter()
            .filter(|i| i.oper_status != if_addrs::IfOperStatus::Down)
            .map(|i| i.ip())
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot list the network interfaces");
            Vec::new()
        }
    }
}

/// Whether a socket bound to `local` also takes IPv4 connections: an IPv4
/// socket does, an IPv6 one unless IPV6_V6ONLY is set on it.
fn accepts_ipv4(listener: &TcpListener, local: SocketAddr) -> bool {
    local.is_ipv4() || !rustix::net::sockopt::ipv6_v6only(listener).unwrap_or(true)
}

/// The `also at` lines for a socket bound to the unspecified address
/// `local`, given the machine's interface addresses: IPv4 ones when the
/// socket takes IPv4, IPv6 ones when it is an IPv6 socket; each once.
fn also_at(scheme: &str, local: SocketAddr, ipv4: bool, interfaces: &[IpAddr]) -> Vec<String> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for &ip in interfaces {
        let fits = match ip {
            IpAddr::V4(_) => ipv4,
            IpAddr::V6(_) => local.is_ipv6(),
        };
        if fits && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let mut lines: Vec<String> = ips
        .iter()
        .take(MAX_URLS)
        .map(|&ip| {
            format!(
                "  also at {scheme}://{}/",
                SocketAddr::new(ip, local.port())
            )
        })
        .collect();
    if ips.len() > MAX_URLS {
        lines.push(format!("  and {} more addresses", ips.len() - MAX_URLS));
    }
    lines
}

/// What the settings line reports.
struct Settings<'a> {
    listing: bool,
    hidden: bool,
    follow_symlinks: bool,
    /// In effect: never over TLS.
    sendfile: bool,
    precompressed: bool,
    tls: bool,
    cors: Option<&'a Cors>,
    max_connections: usize,
}

/// `  listing on, hidden files off, symlinks contained, …, max N connections`.
fn settings(s: &Settings<'_>) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    let symlinks = if s.follow_symlinks {
        "followed"
    } else {
        "contained"
    };
    let cors = match s.cors {
        None => "off".to_string(),
        Some(Cors::Any) => "any origin".to_string(),
        Some(Cors::Origin(origin)) => String::from_utf8_lossy(origin.as_bytes()).into_owned(),
    };
    format!(
        "  listing {}, hidden files {}, symlinks {symlinks}, sendfile {}, precompressed {}, TLS {}, \
         CORS {cors}, max {} connections",
        on(s.listing),
        on(s.hidden),
        on(s.sendfile),
        on(s.precompressed),
        on(s.tls),
        s.max_connections,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn sock(s: &str) -> SocketAddr {
        s.parse().expect("test socket address")
    }

    #[test]
    fn ipv4_wildcard_lists_only_ipv4_addresses_once() {
        let found = [
            ip("127.0.0.1"),
            ip("::1"),
            ip("192.168.1.5"),
            ip("127.0.0.1"),
        ];
        assert_eq!(
            also_at("http", sock("0.0.0.0:3000"), true, &found),
            [
                "  also at http://127.0.0.1:3000/",
                "  also at http://192.168.1.5:3000/"
            ]
        );
    }

    #[test]
    fn ipv6_wildcard_lists_ipv6_in_brackets_and_ipv4_when_dual_stack() {
        let found = [ip("127.0.0.1"), ip("2001:db8::5")];
        assert_eq!(
            also_at("https", sock("[::]:8443"), true, &found),
            [
                "  also at https://127.0.0.1:8443/",
                "  also at https://[2001:db8::5]:8443/"
            ]
        );
        assert_eq!(
            also_at("https", sock("[::]:8443"), false, &found),
            ["  also at https://[2001:db8::5]:8443/"]
        );
    }

    #[test]
    fn many_addresses_are_cut_with_a_count() {
        let found: Vec<IpAddr> = (1..=20u8).map(|n| IpAddr::from([10, 0, 0, n])).collect();
        let lines = also_at("http", sock("0.0.0.0:80"), true, &found);
        assert_eq!(lines.len(), MAX_URLS + 1);
        assert_eq!(lines[MAX_URLS], "  and 4 more addresses");
    }

    #[test]
    fn settings_line_names_each_setting() {
        let origin = Cors::Origin(hyper::header::HeaderValue::from_static(
            "https://app.example",
        ));
        let line = settings(&Settings {
            listing: true,
            hidden: false,
            follow_symlinks: false,
            sendfile: true,
            precompressed: false,
            tls: false,
            cors: Some(&origin),
            max_connections: 9968,
        });
        assert_eq!(
            line,
            "  listing on, hidden files off, symlinks contained, sendfile on, precompressed off, \
             TLS off, CORS https://app.example, max 9968 connections"
        );
    }
}
