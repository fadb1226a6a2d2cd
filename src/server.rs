//! Binds the listener, prints the bound URL, accepts connections and shuts
//! down gracefully.
//!
//! It owns sockets and connection settings (TCP_NODELAY, the header-read
//! timeout, HTTP/1.1 and HTTP/2 via hyper-util's auto builder); it knows
//! nothing about files or requests beyond handing them to the handler.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cli::Config;
use crate::conn::{self, Activity, Guarded, Tracked};
use crate::handler::{Handler, Options};
use crate::resolve::Root;
use crate::zerocopy::{SendQueue, ZeroCopyIo};

/// How long to wait before accepting again after `accept` failed, for example
/// when the process is out of file descriptors: a retry loop without a pause
/// would spin a core and starve the connections that could free them.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves until Ctrl-C or SIGTERM, then lets in-flight responses finish for
/// up to `config.shutdown_timeout`.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let listener = bind(&config)?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "Serving {} at http://{local}/",
            config.root.display()
        )
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    }

    let root = Root::open(config.root.clone(), config.follow_symlinks)
        .with_context(|| format!("cannot open folder {}", config.root.display()))?;
    let options = Options {
        hidden: config.hidden,
        listing: config.listing,
        cache_control: config.cache_control.clone(),
        cors: config.cors.clone(),
    };
    let handler = Arc::new(Handler::new(root, options));
    let max_connections = config
        .max_connections
        .map_or_else(connection_limit, |n| n as usize);
    let slots = Arc::new(Semaphore::new(max_connections));
    tracing::info!(max_connections, "accepting connections");
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // NOTE: hyper's header-read timer also runs on idle keep-alive
    // connections; conn::watchdog enforces header, idle and send timeouts.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(config.max_header_size as usize)
        // NOTE: queue body buffers rather than copy them: zero-copy
        // placeholders must reach ZeroCopyIo as they are (zerocopy.rs).
        .writev(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(config.max_header_size);

    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: beyond the limit, new
        // connections wait in the listen backlog while established ones go on.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let activity = Activity::new();
        let queue = Arc::new(SendQueue::default());
        let socket = ZeroCopyIo::new(stream, Arc::clone(&queue));
        let io = TokioIo::new(Tracked::new(socket, Arc::clone(&activity)));
        let handler = Arc::clone(&handler);
        let requests = Arc::clone(&activity);
        let sendfile = config.sendfile;
        let service = service_fn(move |mut request: Request<Incoming>| {
            let in_flight = requests.begin_request();
            if sendfile && matches!(request.version(), Version::HTTP_10 | Version::HTTP_11) {
                request.extensions_mut().insert(Arc::clone(&queue));
            }
            let handler = Arc::clone(&handler);
            async move {
                let response = handler.handle(request, peer).await?;
                Ok::<_, Infallible>(response.map(|body| Guarded::new(body, in_flight)))
            }
        });
        let connection = graceful.watch(builder.serve_connection(io, service).into_owned());
        let timeouts = config.timeouts;
        tokio::spawn(async move {
            tokio::select! {
                result = connection => if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                reason = conn::watchdog(activity, timeouts) => {
                    tracing::debug!(%peer, reason, "closing the connection");
                }
            }
            drop(slot);
        });
    }

    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        grace = ?config.shutdown_timeout,
        "shutting down: no new connections; letting responses in flight finish"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_timeout) => {
            tracing::warn!("grace period over; closing the remaining connections");
        }
    }
    Ok(())
}

/// The default connection limit: half the open-file limit, less a reserve
/// for the listener, logs and the blocking pool, since each connection may
/// hold a socket and an open file. The soft limit is raised to the hard one
/// first, as a server that expects many clients should.
fn connection_limit() -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    const RESERVE: u64 = 64;
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    let files = limit.current.unwrap_or(1 << 20).min(1 << 20);
    usize::try_from(files.saturating_sub(RESERVE) / 2)
        .unwrap_or(1)
        .max(1)
}

fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    let addr = config.addr;
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener
        .set_nonblocking(true)
        .context("cannot make the listener non-blocking")?;
    TcpListener::from_std(listener).context("cannot register the listener")
}

/// Installs the SIGINT (Ctrl-C) and SIGTERM handlers now, and returns a
/// future that completes on the first of them.
///
/// NOTE: installed before the banner is printed, so a supervisor that sends
/// SIGTERM as soon as it sees the banner gets a graceful exit, not the
/// default action (death by signal).
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}
