//! Binds the listener, prints the bound URL, accepts connections and shuts
//! down gracefully.
//!
//! It owns sockets and connection settings (TCP_NODELAY, the header-read
//! timeout, HTTP/1.1 and HTTP/2 via hyper-util's auto builder); it knows
//! nothing about files or requests beyond handing them to the handler.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::cli::Config;
use crate::handler::Handler;
use crate::resolve::Root;

/// How long to wait before accepting again after `accept` failed, for example
/// when the process is out of file descriptors: a retry loop without a pause
/// would spin a core and starve the connections that could free them.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves until Ctrl-C or SIGTERM, then lets in-flight responses finish for
/// up to `config.shutdown_timeout`.
pub async fn run(config: Config) -> anyhow::Result<()> {
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
    let handler = Arc::new(Handler::new(root, config.hidden));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout);
    builder.http2().timer(TokioTimer::new());

    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
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
        let handler = Arc::clone(&handler);
        let service = service_fn(move |request| Arc::clone(&handler).handle(request, peer));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
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

fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    let addr = config.addr;
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener
        .set_nonblocking(true)
        .context("cannot make the listener non-blocking")?;
    TcpListener::from_std(listener).context("cannot register the listener")
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
