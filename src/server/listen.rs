//! The listening sockets: inherited from a service manager (systemd socket
//! activation), or bound here, with `SO_REUSEPORT` when asked; and the
//! readiness notifications a `Type=notify` service manager waits for.
//!
//! Socket activation (`sd_listen_fds(3)`): the manager binds, passes the
//! sockets as file descriptors 3, 4, … and sets `LISTEN_FDS` (how many) and
//! `LISTEN_PID` (for which process). The socket outlives every process that
//! serves it, so a restart refuses no connection: they wait in its queue.
//!
//! `--reuse-port` (`socket(7)`, `SO_REUSEPORT`): a second process binds the
//! same port beside a running one and the kernel spreads new connections
//! over both; the old one is then stopped with SIGTERM. Connections still in
//! a closing socket's own queue are reset unless the kernel moves them to a
//! sibling (`net.ipv4.tcp_migrate_req = 1`, Linux 5.14): [`migrates`] tells.
//!
//! It owns the sockets until the accept loop takes them; it knows nothing of
//! HTTP.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use rustix::net::{AddressFamily, SocketType, sockopt};

/// Connections the kernel queues for `accept` beyond those being served
/// (capped by `net.core.somaxconn`; nginx uses 511).
const BACKLOG: i32 = 1024;

/// The TCP listening sockets passed by a service manager, if any.
///
/// NOTE: reads and removes `LISTEN_FDS` and `LISTEN_PID` from the
/// environment (so a child never takes them for its own), which is only
/// sound before other threads start: call it before the async runtime.
///
/// # Errors
///
/// A passed descriptor that is not a TCP listening socket.
pub fn inherited() -> anyhow::Result<Option<Vec<TcpListener>>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let mut sockets = Vec::with_capacity(fds.len());
    for i in 0..fds.len() {
        let socket = fds
            .take_tcp_listener(i)
            .with_context(|| format!("socket {} passed by the service manager", i + 3))?
            .with_context(|| format!("socket {} passed by the service manager is gone", i + 3))?;
        sockets.push(socket);
    }
    Ok(Some(sockets))
}

/// Binds `addr`, with `SO_REUSEPORT` when `reuse_port`.
///
/// # Errors
///
/// One line naming the address: in use, not local, not permitted.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> anyhow::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let bound = (|| {
        let socket = rustix::net::socket_with(
            family,
            SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )?;
        sockopt::set_socket_reuseaddr(&socket, true)?;
        if reuse_port {
            sockopt::set_socket_reuseport(&socket, true)?;
        }
        rustix::net::bind(&socket, &addr)?;
        rustix::net::listen(&socket, BACKLOG)?;
        Ok::<_, rustix::io::Errno>(socket)
    })();
    let socket = bound.map_err(std::io::Error::from).with_context(|| {
        let hint = if reuse_port {
            ""
        } else {
            " (another server on the port? --reuse-port lets a new rangeserve start beside an old one)"
        };
        format!("cannot listen on {addr}{hint}")
    })?;
    Ok(TcpListener::from(socket))
}

/// Whether the kernel moves connections waiting in a closed listener's
/// queue to another listener on the same port (`tcp_migrate_req`); `None`
/// where it cannot tell (an older kernel, no `/proc`).
pub fn migrates() -> Option<bool> {
    let value = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req").ok()?;
    Some(value.trim() != "0")
}

/// Tells a `Type=notify` service manager how the service is doing, when it
/// asked (`NOTIFY_SOCKET` is set; otherwise nothing happens).
pub fn notify(state: Notify) {
    use sd_notify::NotifyState;
    let mut states = vec![match state {
        Notify::Ready => NotifyState::Ready,
        Notify::Reloading => NotifyState::Reloading,
        Notify::Stopping => NotifyState::Stopping,
    }];
    // `Type=notify-reload` wants the time with RELOADING=1 (sd_notify(3)).
    if let (Notify::Reloading, Ok(now)) = (state, NotifyState::monotonic_usec_now()) {
        states.push(now);
    }
    if let Err(e) = sd_notify::notify(&states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// The states rangeserve reports (`sd_notify(3)`).
#[derive(Debug, Clone, Copy)]
pub enum Notify {
    /// Serving: the banner is out and connections are accepted.
    Ready,
    /// Re-reading files on SIGHUP; `Ready` follows.
    Reloading,
    /// Graceful stop begun: no new connections.
    Stopping,
}
