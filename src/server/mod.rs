//! Binds the listener, prints the bound URL, accepts connections and shuts
//! down gracefully.
//!
//! It owns sockets and connection settings (TCP_NODELAY, TLS, the
//! deadlines): each connection's first bytes say which protocol it speaks
//! (`net/preface.rs`); HTTP/1.x goes to hyper, HTTP/2 to [`http2`]. It knows
//! nothing about files or requests beyond handing them to the handler.

mod gate;
pub mod http2;
pub mod listen;
mod metrics;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::body::{Delivery, Limits, ResponseBody};
use crate::cli::Config;
use crate::cli::banner::Listening;
use crate::fs::root::Root;
use crate::guard::Guard;
use crate::guard::clients::{Admission, Clients};
use crate::guard::rate::Bucket;
use crate::handler::{Handler, Options, Proxies};
use crate::metrics::METRICS;
use crate::net::coalesce::Coalesce;
use crate::net::conn::{self, Activity, Guarded, Park, Timeouts, Tracked};
use crate::net::preface::{self, Protocol, Rewind};
use crate::net::zerocopy::{self, SendQueue, ZeroCopyIo};
use http2::Http2;
use listen::Notify;

/// How long to wait before accepting again after `accept` failed, for example
/// when the process is out of file descriptors: a retry loop without a pause
/// would spin a core and starve the connections that could free them.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves until Ctrl-C or SIGTERM, then lets in-flight responses finish for
/// up to `config.shutdown_timeout`. `inherited`: the listening sockets a
/// service manager passed ([`listen::inherited`]); otherwise `config.addr`
/// is bound.
pub async fn run(
    config: Config,
    inherited: Option<Vec<std::net::TcpListener>>,
) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot handle SIGHUP")?;
    if config.log_format == crate::cli::logging::LogFormat::Combined {
        crate::access::configure_combined(config.access_log.as_deref()).with_context(|| {
            let file = config
                .access_log
                .as_deref()
                .unwrap_or(std::path::Path::new("-"));
            format!("cannot open the access log {}", file.display())
        })?;
    }
    let guard = Guard::new(
        config.auth_file.clone(),
        config.link_key.clone(),
        config.public.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    let activated = inherited.is_some();
    let sockets = match inherited {
        Some(sockets) => sockets,
        None => vec![listen::bind(config.addr, config.reuse_port)?],
    };
    let listeners = sockets
        .into_iter()
        .map(|socket| {
            socket.set_nonblocking(true)?;
            // NOTE: set on the listener, TCP_NODELAY is inherited by every
            // connection it accepts (Linux copies it to the new socket): no
            // setsockopt per connection.
            rustix::net::sockopt::set_tcp_nodelay(&socket, true)?;
            TcpListener::from_std(socket)
        })
        .collect::<std::io::Result<Vec<_>>>()
        .context("cannot register the listening socket")?;
    let metrics_listener = match config.metrics {
        Some(addr) => {
            crate::metrics::enable();
            let socket = listen::bind(addr, false)?;
            socket.set_nonblocking(true)?;
            Some(TcpListener::from_std(socket).context("cannot register the metrics socket")?)
        }
        None => None,
    };
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(crate::net::tls::acceptor(cert, key)?),
        _ => None,
    };
    let mut root = Root::open(config.root.clone(), config.follow_symlinks)
        .with_context(|| format!("cannot open folder {}", config.root.display()))?;

    let options = Options {
        hidden: config.hidden,
        listing: config.listing,
        archives: config.archives.then_some(config.archive_limits),
        cache_control: config.cache_control.clone(),
        cors: config.cors.clone(),
        precompressed: config.precompressed,
        path_prefix: config.path_prefix.clone(),
        digest: config.digest,
    };
    let digests = open_digests(&config)?;
    let max_connections = config
        .max_connections
        .map_or_else(connection_limit, |n| n as usize);
    if config.file_cache {
        // After connection_limit, which may raise the limit.
        cache_open_files(&mut root);
    }
    let clients = Clients::new(config.max_connections_per_ip, config.limit_rate_per_ip);
    let proxies = Proxies {
        trusted: config.real_ip_from.clone(),
        source: config.real_ip_header,
    };
    let handler = Arc::new(Handler::new(
        root,
        options,
        guard,
        (proxies, Arc::clone(&clients)),
        Arc::clone(&digests),
    ));
    if config.digest {
        tokio::spawn(crate::fs::walk::hash_all(
            config.root.clone(),
            config.hidden,
            digests,
        ));
    }
    crate::cli::banner::print(
        &config,
        &Listening {
            sockets: &listeners,
            inherited: activated,
            metrics: metrics_listener.as_ref().and_then(|l| l.local_addr().ok()),
            tls: tls.is_some(),
            max_connections,
            reset_on_stop: config.reuse_port && listen::migrates() == Some(false),
        },
    )?;
    let slots = Arc::new(Semaphore::new(max_connections));
    tracing::info!(max_connections, "accepting connections");
    let connections = Arc::new(Connections {
        handler: Arc::clone(&handler),
        clients,
        limit_rate: config.limit_rate,
        limit_rate_after: config.limit_rate_after,
        http1: http1_builder(&config),
        http2: Http2::new(config.max_header_size, config.timeouts),
        timeouts: config.timeouts,
        sendfile: config.sendfile,
        tls: tls.map(RwLock::new),
    });

    let (stop, stopped) = watch::channel(false);
    if let Some(listener) = metrics_listener {
        tokio::spawn(metrics::serve(listener, handler, stopped.clone()));
    }
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let (connections, slots) = (Arc::clone(&connections), Arc::clone(&slots));
            tokio::spawn(accept(listener, connections, slots, stopped.clone()))
        })
        .collect();
    listen::notify(Notify::Ready);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = hangup.recv() => reload(&config, &connections),
        }
    }

    listen::notify(Notify::Stopping);
    let open = max_connections - slots.available_permits();
    tracing::info!(
        connections = open,
        grace = ?config.shutdown_timeout,
        "shutting down: no new connections; letting responses in flight finish"
    );
    let _ = stop.send(true);
    // The accept loops end at once, closing their sockets.
    for task in accepting {
        let _ = task.await;
    }
    // Every connection holds a slot until it ends: all slots free, all closed.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_timeout) => {
            tracing::warn!("grace period over; closing the remaining connections");
        }
    }
    Ok(())
}

/// Accepts connections on `listener` until the graceful stop, each once a
/// connection slot is free, and serves each on its own task.
async fn accept(
    listener: TcpListener,
    connections: Arc<Connections>,
    slots: Arc<Semaphore>,
    stopped: watch::Receiver<bool>,
) {
    let mut stopping = stopped.clone();
    loop {
        // Wait for a free slot before accepting: beyond the limit, new
        // connections wait in the listen backlog while established ones go on.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = stop_begun(&mut stopping) => return,
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
            () = stop_begun(&mut stopping) => return,
        };
        let connections = Arc::clone(&connections);
        let stopped = stopped.clone();
        tokio::spawn(async move {
            METRICS.opened();
            // NOTE: boxed in its own statement, so the task holds a pointer,
            // not room for the whole connection future (an async block
            // keeps room for the temporaries of a statement that awaits).
            let served = Box::pin(connections.serve(stream, peer, stopped));
            served.await;
            METRICS.closed();
            drop(slot);
        });
        // NOTE: the new connection's task runs before the next `accept`,
        // whose usual answer is EAGAIN: one system call fewer between a new
        // connection's request and its first byte. Median time to first
        // byte on new connections lower in 13 of 16 interleaved rounds
        // against the build before, by 1-11% (2-core VM, 200 requests each).
        tokio::task::yield_now().await;
    }
}

/// The digest store (`fs/digests.rs`): the cache file given, or the
/// default one, or memory only when the default cannot be used.
fn open_digests(config: &Config) -> anyhow::Result<Arc<crate::fs::digests::Digests>> {
    use crate::fs::digests::Digests;
    match &config.digest_cache {
        Some((file, true)) => Digests::open(Some(file.clone()))
            .with_context(|| format!("cannot use the digest cache {}", file.display())),
        Some((file, false)) => Ok(Digests::open(Some(file.clone())).unwrap_or_else(|e| {
            tracing::warn!(file = %file.display(), error = %e, "cannot use the digest cache; digests kept in memory only");
            Digests::open(None).expect("a store in memory opens")
        })),
        None => Ok(Digests::open(None).expect("a store in memory opens")),
    }
}

/// Completes once the graceful stop has begun.
async fn stop_begun(stop: &mut watch::Receiver<bool>) {
    // NOTE: the guard wait_for returns is dropped here, never held across
    // an await (it is not Send).
    let _ = stop.wait_for(|stop| *stop).await;
}

/// SIGHUP: reads again the files read at start-up, without dropping a
/// connection. A file that is now broken keeps the old version, and the
/// log says why. (`--auth-file` is re-read by itself when it changes.)
fn reload(config: &Config, connections: &Connections) {
    listen::notify(Notify::Reloading);
    tracing::info!("SIGHUP: reloading the TLS certificate and reopening the access log");
    if let (Some(cert), Some(key), Some(tls)) =
        (&config.tls_cert, &config.tls_key, &connections.tls)
    {
        match crate::net::tls::acceptor(cert, key) {
            Ok(acceptor) => {
                *tls.write().unwrap_or_else(PoisonError::into_inner) = acceptor;
                tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "keeping the old TLS certificate"),
        }
    }
    if let Some(key_file) = &config.link_key_file {
        match crate::cli::read_link_key(key_file) {
            Ok(key) => {
                connections.handler.reload_link_key(key);
                tracing::info!(file = %key_file.display(), "link key reloaded");
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "keeping the old link key"),
        }
    }
    if let Err(e) = crate::access::reopen() {
        tracing::error!(error = %e, "cannot reopen the access log; writing to the old file");
    }
    listen::notify(Notify::Ready);
}

/// hyper's HTTP/1.x settings.
fn http1_builder(config: &Config) -> http1::Builder {
    let mut http1 = http1::Builder::new();
    // NOTE: hyper's header-read timer also runs on idle keep-alive
    // connections; conn::watchdog enforces header, idle and send timeouts.
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(config.max_header_size as usize);
    zerocopy::configure_http1(&mut http1);
    http1
}

/// What the server knows of the client of one connection.
struct Client {
    peer: SocketAddr,
    limits: Limits,
    /// The client already had `--max-connections-per-ip` connections.
    over_limit: bool,
}

/// What every connection needs, shared by all of them.
struct Connections {
    handler: Arc<Handler>,
    clients: Arc<Clients>,
    /// `--limit-rate`, per connection, and `--limit-rate-after`.
    limit_rate: Option<u64>,
    limit_rate_after: u64,
    http1: http1::Builder,
    http2: Http2,
    timeouts: Timeouts,
    sendfile: bool,
    /// Replaced on SIGHUP; each handshake takes the current one.
    tls: Option<RwLock<TlsAcceptor>>,
}

impl Connections {
    /// Serves one accepted connection until it ends, a deadline passes, or
    /// the graceful stop closes it.
    ///
    /// NOTE: this future lives as long as the connection, so it is kept
    /// small: the TLS handshake and each protocol's connection are boxed
    /// (each allocated only when used, and freed when done), each in a
    /// statement of its own, since a statement that awaits keeps room for
    /// its temporaries in the future.
    async fn serve(&self, stream: TcpStream, peer: SocketAddr, stop: watch::Receiver<bool>) {
        let activity = Activity::new();
        // Counted among its client's connections until this returns.
        // NOTE: a trusted proxy's connections carry many clients: their
        // limits apply per request, by the address the proxy reports.
        let admission = (self.clients.is_limited() && !self.handler.is_proxy(peer.ip()))
            .then(|| self.clients.admit(peer.ip()));
        let client = Client {
            peer,
            limits: self.limits(admission.as_ref()),
            over_limit: admission.as_ref().is_some_and(|a| a.over_limit),
        };
        let Some(acceptor) = &self.tls else {
            let queue = Arc::new(SendQueue::default());
            let socket = ZeroCopyIo::new(stream, Arc::clone(&queue));
            let delivery = if self.sendfile {
                Delivery::zero_copy(queue)
            } else {
                Delivery::copied()
            };
            let io = Tracked::new(socket, Arc::clone(&activity));
            let dispatched = Box::pin(self.dispatch(io, delivery, client, stop, activity));
            // The dispatch future is freed here, before the long serving.
            let served = dispatched.await;
            if let Some(served) = served {
                served.await;
            }
            return;
        };
        let served = Box::pin(self.serve_tls(acceptor, stream, client, stop, activity));
        served.await;
    }

    /// The TLS handshake, within the header timeout, then the connection
    /// over TLS. Its own future: room for a TLS stream only in TLS
    /// connections.
    async fn serve_tls(
        &self,
        acceptor: &RwLock<TlsAcceptor>,
        stream: TcpStream,
        client: Client,
        stop: watch::Receiver<bool>,
        activity: Arc<Activity>,
    ) {
        let peer = client.peer;
        // The handshake is part of the request head: same deadline.
        let acceptor = acceptor
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let handshake = Box::pin(tokio::time::timeout(
            self.timeouts.header,
            acceptor.accept(stream),
        ));
        match handshake.await {
            // NOTE: never zero-copy over TLS: sendfile would bypass encryption.
            Ok(Ok(tls)) => {
                let io = Tracked::new(tls, Arc::clone(&activity));
                let dispatched =
                    Box::pin(self.dispatch(io, Delivery::copied(), client, stop, activity));
                let served = dispatched.await;
                if let Some(served) = served {
                    served.await;
                }
            }
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    /// The rate limits of a new connection: its own `--limit-rate` bucket
    /// and its client's shared one.
    fn limits(&self, admission: Option<&Admission>) -> Limits {
        let own = self
            .limit_rate
            .map(|rate| Arc::new(Bucket::new(rate, std::time::Instant::now())));
        let shared = admission.and_then(|a| a.bucket.clone());
        Limits {
            buckets: own.into_iter().chain(shared).collect(),
            after: self.limit_rate_after,
            hold: None,
        }
    }

    /// Reads the connection's first bytes, within the header timeout, and
    /// returns the serving of the protocol they name, for the caller to run
    /// once this future is freed; `None` when the connection ended first.
    async fn dispatch<I>(
        &self,
        io: Tracked<I>,
        delivery: Delivery,
        client: Client,
        stop: watch::Receiver<bool>,
        activity: Arc<Activity>,
    ) -> Option<Served<'_>>
    where
        I: AsyncRead + AsyncWrite + Park + Unpin + Send + Sync + 'static,
    {
        let peer = client.peer;
        // Boxed, so its buffer and timer are freed once the protocol is known.
        let sniffing = Box::pin(async {
            tokio::select! {
                sniffed = async {
                    // NOTE: the first read waits for the kernel to say bytes
                    // are there. Read at once after `accept`, it raced the
                    // client's request still being delivered and spun on the
                    // socket's lock: 0.42 vs 0.34 ms median time to first
                    // byte on a new connection (nginx 0.33; 2-core VM).
                    std::future::poll_fn(|cx| io.poll_readable(cx)).await?;
                    preface::sniff(io).await
                } => Some(sniffed),
                reason = conn::watchdog(Arc::clone(&activity), self.timeouts) => {
                    tracing::debug!(%peer, reason, "closing the connection");
                    None
                }
            }
        });
        match sniffing.await? {
            Ok((Protocol::Http1, io)) => {
                let delivery = delivery.limited(client.limits.clone());
                Some(Box::pin(self.http1(io, delivery, client, stop, activity)))
            }
            Ok((Protocol::Http2, io)) => {
                let io = Coalesce::new(io);
                let handler = &self.handler;
                let delivery = Delivery::copied().limited(client.limits.clone());
                Some(Box::pin(self.http2.serve(
                    io,
                    handler,
                    (peer, delivery, client.over_limit),
                    activity,
                    stop,
                )))
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection closed before a request");
                None
            }
        }
    }

    /// Serves HTTP/1.x with hyper until the connection ends or its watchdog
    /// closes it; a graceful stop lets the response in flight finish.
    ///
    /// An idle keep-alive connection is parked: once no response is in
    /// flight, hyper's connection is ended without closing the socket
    /// (`graceful_shutdown` on an idle connection writes nothing;
    /// `poll_without_shutdown` and `into_parts` give back the socket and
    /// any bytes hyper had read but not used), and the socket alone waits
    /// for the next bytes, with no buffer; a new hyper connection then
    /// reads them, after the bytes given back. hyper keeps an 8 KiB read
    /// buffer and its write queue for a connection's whole life; parked,
    /// an idle connection holds none of it.
    ///
    /// NOTE: no request is lost or answered twice in the hand-over: hyper
    /// reads a request and calls the service in one poll, and the service
    /// marks it in flight at once, so a connection found idle (checked in
    /// this task, between polls of hyper) has no request begun; bytes of
    /// the next one that hyper had read come back from `into_parts`.
    async fn http1<I>(
        &self,
        mut io: Rewind<I>,
        delivery: Delivery,
        client: Client,
        mut stop: watch::Receiver<bool>,
        activity: Arc<Activity>,
    ) where
        I: AsyncRead + AsyncWrite + Park + Unpin + Send + Sync + 'static,
    {
        let peer = client.peer;
        let watchdog = conn::watchdog(Arc::clone(&activity), self.timeouts);
        tokio::pin!(watchdog);
        // A client that asked to close, or the answer to one over its
        // limit, is not parked: hyper closes it.
        let closing = Arc::new(AtomicBool::new(false));
        let parks = io.can_park();
        loop {
            let service = self.http1_service(&client, &delivery, &activity, &closing);
            let mut connection = Box::pin(self.http1.serve_connection(TokioIo::new(io), service));
            let mut parking = false;
            let mut stopping = false;
            // Parks the connection once it has been idle for PARK_AFTER;
            // checked that often, not at every response.
            let linger = tokio::time::sleep(PARK_AFTER);
            tokio::pin!(linger);
            loop {
                // NOTE: biased, hyper first: a request already read (by the
                // sniffing, or waiting in the socket) reaches the service
                // before a graceful stop is seen, so the stop lets it finish
                // instead of closing the connection unanswered. Polled in
                // random order, a connection accepted just before the stop
                // lost 1 request in about 4,500 (tests/service.rs, restart
                // on a passed socket). hyper is ready only when the
                // connection ends, so it starves no other branch.
                tokio::select! {
                    biased;
                    result = std::future::poll_fn(|cx| connection.as_mut().poll_without_shutdown(cx)) => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                            return;
                        }
                        break;
                    }
                    reason = &mut watchdog => {
                        return tracing::debug!(%peer, reason, "closing the connection");
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = &mut linger, if parks && !parking && !stopping => {
                        // A connection that is to close is never parked.
                        let idle = activity.idle_for().filter(|_| !closing.load(Relaxed));
                        match idle {
                            Some(idle) if idle >= PARK_AFTER => {
                                parking = true;
                                connection.as_mut().graceful_shutdown();
                            }
                            // Idle, not long enough yet: look again when it
                            // would be.
                            Some(idle) => {
                                let wait = (PARK_AFTER - idle.min(PARK_AFTER))
                                    .max(Duration::from_millis(1));
                                linger.as_mut().reset(tokio::time::Instant::now() + wait);
                            }
                            // Busy (a response in flight, a head arriving) or
                            // closing: look again much later, so a stalled
                            // download does not wake its task a hundred times
                            // a second.
                            None => {
                                linger.as_mut().reset(tokio::time::Instant::now() + BUSY_RECHECK);
                            }
                        }
                    }
                }
            }
            // In a block of its own, so the parts are not kept in this
            // future while it waits.
            io = {
                let parts = Pin::into_inner(connection).into_parts();
                let mut io = parts.io.into_inner();
                io.unread(&parts.read_buf);
                io
            };
            if !parking || stopping || closing.load(Relaxed) {
                // hyper is done with the connection: close it as hyper
                // would have.
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut io).await;
                return;
            }
            // Parked: only the socket, until the next bytes.
            tokio::select! {
                ready = std::future::poll_fn(|cx| io.poll_readable(cx)) => {
                    if ready.is_err() {
                        return;
                    }
                }
                reason = &mut watchdog => {
                    return tracing::debug!(%peer, reason, "closing the connection");
                }
                _ = stop.changed() => return,
            }
        }
    }

    /// The service of one hyper HTTP/1 connection: each request to the
    /// handler, marked in flight while its response lasts. A request that
    /// asks to close the connection (or one over the client's limit, whose
    /// answer closes it) sets `closing`.
    fn http1_service(
        &self,
        client: &Client,
        delivery: &Delivery,
        activity: &Arc<Activity>,
        closing: &Arc<AtomicBool>,
    ) -> impl hyper::service::Service<
        Request<Incoming>,
        Response = Response<Guarded<ResponseBody>>,
        Error = Infallible,
        Future = Http1Future,
    > + Unpin
    + use<> {
        let (peer, over_limit) = (client.peer, client.over_limit);
        let handler = Arc::clone(&self.handler);
        let requests = Arc::clone(activity);
        let closing = Arc::clone(closing);
        let delivery = delivery.clone();
        service_fn(move |request: Request<Incoming>| {
            let in_flight = requests.begin_request();
            if over_limit || wants_close(&request) {
                closing.store(true, Relaxed);
            }
            let handler = Arc::clone(&handler);
            let delivery = delivery.clone();
            let future: Http1Future = Box::pin(async move {
                let response = if over_limit {
                    // One answer, then the connection closes.
                    let mut r = handler.over_limit(&request, peer);
                    r.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    r
                } else {
                    handler.serve(&request, peer, delivery).await
                };
                Ok::<_, Infallible>(response.map(|body| Guarded::new(body, in_flight)))
            });
            future
        })
    }
}

/// How often a busy connection looks again whether it has become idle.
const BUSY_RECHECK: Duration = Duration::from_millis(250);

/// A connection's serving, boxed.
type Served<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// How long a keep-alive connection stays idle before it is parked: a
/// client that sends its next request sooner keeps its hyper connection
/// (parking and starting one again after every response cost about a fifth
/// of the requests per second of 4 KiB files on keep-alive connections).
const PARK_AFTER: Duration = Duration::from_millis(10);

/// The future of one HTTP/1 response: boxed, so hyper's connection is
/// `Unpin` and can be taken apart when it parks.
type Http1Future =
    Pin<Box<dyn Future<Output = Result<Response<Guarded<ResponseBody>>, Infallible>> + Send>>;

/// Whether a request ends its connection: `Connection: close`, or HTTP/1.0
/// without `keep-alive` (RFC 9112 §9.3).
fn wants_close<B>(request: &Request<B>) -> bool {
    let tokens = request.headers().get_all(header::CONNECTION);
    let has = |token: &str| {
        tokens.iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if request.version() == hyper::Version::HTTP_10 {
        !has("keep-alive")
    } else {
        has("close")
    }
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

/// Turns on the open-file cache of `root` (`fs/filecache.rs`) and sweeps it
/// once a second; without inotify, serves without it.
fn cache_open_files(root: &mut Root) {
    match root.cache_open_files(file_cache_capacity()) {
        Ok(files) => {
            tokio::spawn(async move {
                let mut every = tokio::time::interval(crate::fs::SWEEP);
                loop {
                    every.tick().await;
                    files.sweep();
                }
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the folder for changes; files are not cached");
        }
    }
}

/// Open files the cache may hold: a sixteenth of the open-file limit, at
/// most 1024, so connections always have most of it.
fn file_cache_capacity() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let files = limit.current.unwrap_or(1 << 20);
    usize::try_from(files / 16).unwrap_or(1024).clamp(1, 1024)
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
