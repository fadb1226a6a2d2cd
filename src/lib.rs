//! rangeserve: a static file server for resumable, byte-exact downloads.
//!
//! A request goes through these steps, once, top to bottom:
//! 1. `server`: accept the connection, speak HTTP/1.1 or HTTP/2 (hyper;
//!    `conn` bounds its timeouts, `coalesce` batches HTTP/2 writes);
//! 2. `handler`: gate the method (GET, HEAD; OPTIONS answered; others 405);
//! 3. `resolve`: decode the path and open the file inside the root (or take
//!    it from `filecache`, which forgets it on any change), reading its
//!    metadata from the open handle;
//! 4. `conditional`: compute the validators (ETag, Last-Modified);
//! 5. `range`: decide 200, 206 or 416 from the `Range` header;
//! 6. `body`: stream the chosen bytes in bounded chunks, cutting the
//!    connection if the file changes underneath; on plain HTTP/1.x the
//!    chunks are sent with sendfile (`zerocopy`);
//! 7. `access`: log one line when the body is done.
//!
//! The pure steps (`range`, `conditional`, `resolve::decode`) are public so
//! tests and fuzz targets can reach them; the rest is wiring.

mod access;
mod banner;
pub mod body;
pub mod cli;
mod coalesce;
pub mod conditional;
mod conn;
mod cors;
pub mod docs;
pub mod encoding;
mod filecache;
mod handler;
pub mod listing;
pub mod logging;
pub mod multipart;
pub mod range;
pub mod resolve;
mod server;
pub mod tls;
mod zerocopy;

use std::time::Duration;

use anyhow::Context;

/// Checks the configuration, then serves until Ctrl-C or SIGTERM.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let config = cli.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // NOTE: the server runs as a task on a worker thread, not on this one:
    // accepting here handed each new connection to a worker, two thread
    // wake-ups (a futex and an eventfd write) before its first byte.
    let server = runtime.spawn(server::run(config));
    let result = runtime
        .block_on(server)
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    // NOTE: a blocking read still in flight must not hold the exit hostage.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
