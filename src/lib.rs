//! rangeserve: a static file server for resumable, byte-exact downloads.
//!
//! A request goes through these steps, once, top to bottom:
//! 1. `server`: accept the connection, tell HTTP/1.x from HTTP/2 by its
//!    first bytes (`net/preface`), speak HTTP/1.x with hyper or HTTP/2 with
//!    h2 (`server/http2`, every body paced by flow control, oversized header
//!    blocks held at `server/gate`), over the byte layers of `net/` (`conn`
//!    bounds its timeouts, `coalesce` batches HTTP/2 writes, `zerocopy`
//!    sends file slices with sendfile, `tls` encrypts); an idle HTTP/1
//!    keep-alive connection is parked between requests (hyper's connection
//!    ended, the socket kept, `net/conn::Park`);
//! 2. `handler`: gate the method (GET, HEAD; OPTIONS answered; others 405);
//! 3. `fs/`: decode the path (`path`); `guard/` decides who may have it
//!    (password, public path, signed link) before anything is opened; then
//!    open the file inside the root (`root`, or take it from `filecache`,
//!    which forgets it on any change), reading its metadata from the open
//!    handle; a folder's entries come from `entries` and are rendered by
//!    `listing/`; `?archive=tar` on a folder walks its tree (`fs/tree`) into
//!    the layout of a tar (`archive/`), served like a file from here on;
//! 4. `http/conditional`: compute the validators (ETag, Last-Modified) and
//!    evaluate the preconditions;
//! 5. `http/range`: decide 200, 206 or 416 from the `Range` header
//!    (`http/multipart` lays out several ranges);
//! 6. `body`: stream the chosen bytes, cutting the connection if the file
//!    changes underneath (`fs/snapshot`);
//! 7. `access`: log one line when the body is done (and count it for
//!    `metrics`).
//!
//! # The layers, and the rules that keep them apart
//!
//! ```text
//! main.rs, cli/      the command line → Config, banner, man page, logging
//! server/            bind or take systemd's sockets (listen), accept,
//!                    connection settings, SIGHUP, graceful stop; http2
//!                    (streams on the h2 crate), gate; the metrics listener
//! handler.rs         the one place that orchestrates a request (steps above)
//! guard/             who may download and how fast: passwords, links, limits
//! body.rs access.rs media_type.rs   what the handler assembles a response from
//! metrics.rs         counters (relaxed atomics) and their Prometheus text
//! http/              pure HTTP semantics: range, conditional, negotiate,
//!                    multipart, cors, fields (header-field syntax),
//!                    h2_blocks (HTTP/2 header block sizes), forwarded
//!                    (the client behind a trusted proxy)
//! fs/                files: path, root, filecache, entries, snapshot,
//!                    digests, walk, tree
//! net/               connections and bytes: conn, preface, coalesce,
//!                    zerocopy, tls
//! listing/           folder pages: sorting, html, json, calendar
//! archive/           folders as tar archives: the pure layout (tar) and
//!                    the walks kept per folder version
//! ```
//!
//! - `http/` is pure: it imports nothing from `fs/`, `net/` or `listing/`,
//!   touches no socket and no disk, and everything in it has unit and
//!   property tests.
//! - `fs/` imports nothing from `http/`; it owns every file descriptor the
//!   server opens (the listening and connected sockets aside).
//! - `net/` knows connections and bytes, not files or HTTP semantics.
//! - `handler.rs` is the one place that orchestrates a request, top to
//!   bottom, in numbered steps; nothing imports it but `server/`.
//! - No two modules import each other.
//!
//! The pure parts (`http/`, `fs::path`) are public so tests and fuzz targets
//! can reach them; the rest is wiring.

mod access;
pub mod archive;
mod body;
pub mod cli;
pub mod fs;
pub mod get;
mod guard;
mod handler;
pub mod http;
mod listing;
mod media_type;
mod metrics;
mod net;
mod server;

use std::time::Duration;

use anyhow::Context;

/// Checks the configuration, then serves until Ctrl-C or SIGTERM.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let config = cli.into_config()?;
    // Before any thread starts: it takes its variables out of the environment.
    let inherited = server::listen::inherited()?;
    // NOTE: with one CPU to run on (affinity or a cgroup quota), a
    // current-thread runtime: the same work without the work-stealing
    // scheduler's bookkeeping, which a request arriving at an idle server
    // pays cold (python client, connections 20 ms apart on one pinned core:
    // after-connect medians 0.30-0.36 to 0.28-0.31 ms; keep-alive requests
    // unchanged).
    let mut builder = if std::thread::available_parallelism().map_or(1, usize::from) > 1 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // NOTE: on a multi-threaded runtime the server runs as a task on a
    // worker thread, not on this one:
    // accepting here handed each new connection to a worker, two thread
    // wake-ups (a futex and an eventfd write) before its first byte.
    let server = runtime.spawn(server::run(config, inherited));
    let result = runtime
        .block_on(server)
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    // NOTE: a blocking read still in flight must not hold the exit hostage.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
