//! HTTP/2 connections (RFC 9113), driven on the h2 crate, with every
//! response body paced by the peer's flow control.
//!
//! A stream's body is read from the file only once the peer has granted
//! window for it: the stream reserves at most [`CHUNK`] bytes of send
//! capacity, waits for h2 to assign some, and only then reads that many bytes
//! and hands them to h2. A stream whose window stays closed therefore holds no
//! file bytes at all, only its state, and after `--send-timeout` without any
//! window it is reset (RST_STREAM CANCEL, RFC 9113 §6.4) and its file closed,
//! the rest of the connection unaffected.
//!
//! What a connection can hold is bounded three ways:
//! - at most [`MAX_STREAMS`] streams at once (SETTINGS_MAX_CONCURRENT_STREAMS);
//! - file bytes read but not yet written to the socket: at most [`BUDGET`]
//!   per connection, whatever the windows (a client with huge windows that
//!   stops reading its socket only ever pins the budget);
//! - a header list beyond `--max-header-size` (SETTINGS_MAX_HEADER_LIST_SIZE,
//!   §6.5.2) waits at the [`Gate`] until the streams before it are answered,
//!   then h2 refuses it: 431 on that stream, or GOAWAY ENHANCE_YOUR_CALM with
//!   the last stream processed when it is beyond four times the limit.
//!
//! Closing a connection always says so first (GOAWAY, §6.8): the idle and
//! header timeouts send GOAWAY NO_ERROR with the last stream processed, a
//! graceful stop sends GOAWAY and lets the open streams finish, and h2 sends
//! GOAWAY with the error code for a flood or a protocol violation.
//!
//! It knows requests and responses as HTTP messages, not files: the handler
//! answers, and the body ([`ResponseBody::poll_data`]) reads no more than it
//! is asked for.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use h2::Reason;
use h2::server::SendResponse;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, timeout, timeout_at};

use crate::body::{Delivery, ResponseBody};
use crate::handler::Handler;
use crate::net::conn::{self, Activity, InFlight, Timeouts};
use crate::server::gate::{Gate, Valve};

/// SETTINGS_MAX_CONCURRENT_STREAMS: RFC 9113 §6.5.2 recommends no fewer than
/// 100, and with stalled streams holding no file bytes, 100 keeps a
/// connection whose every stream is stalled to about 1 MiB of state.
pub const MAX_STREAMS: u32 = 100;

/// The most send capacity one stream asks for at a time, and so the largest
/// read from its file.
pub const CHUNK: usize = 64 * 1024;

/// File bytes a connection may hold between reading them and writing them to
/// the socket, over all its streams.
pub const BUDGET: usize = 4 * CHUNK;

/// How long a closing connection may take to send its GOAWAY.
const GOAWAY_FLUSH: Duration = Duration::from_secs(1);

/// How often a connection whose gate holds an oversized header block checks
/// whether the streams before it are done.
const GATE_POLL: Duration = Duration::from_millis(10);

/// HTTP/2 settings and limits, shared by every HTTP/2 connection.
#[derive(Debug)]
pub struct Http2 {
    builder: h2::server::Builder,
    max_header_list: u32,
    timeouts: Timeouts,
}

impl Http2 {
    /// `max_header_list` is `--max-header-size`; `timeouts.send` is how long
    /// a stream may wait for window before it is reset.
    pub fn new(max_header_list: u32, timeouts: Timeouts) -> Self {
        let mut builder = h2::server::Builder::new();
        builder
            .max_concurrent_streams(MAX_STREAMS)
            .max_header_list_size(max_header_list)
            .max_send_buffer_size(CHUNK);
        Http2 {
            builder,
            max_header_list,
            timeouts,
        }
    }

    /// Serves one connection, whose preface has been seen but not consumed,
    /// until it ends, a connection deadline passes, or `stop` says to stop.
    pub async fn serve<I>(
        &self,
        io: I,
        handler: &Arc<Handler>,
        (peer, delivery, over_limit): (SocketAddr, Delivery, bool),
        activity: Arc<Activity>,
        mut stop: watch::Receiver<bool>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Streams enforce the send timeout themselves, one by one.
        let deadlines = Timeouts {
            send: Duration::MAX,
            ..self.timeouts
        };
        let watchdog = conn::watchdog(Arc::clone(&activity), deadlines);
        tokio::pin!(watchdog);
        let valve = Arc::new(Valve::default());
        let limit = usize::try_from(self.max_header_list).unwrap_or(usize::MAX);
        let io = Gate::new(io, limit, Arc::clone(&valve));
        let mut connection = tokio::select! {
            handshake = self.builder.handshake::<_, Bytes>(io) => match handshake {
                Ok(connection) => connection,
                Err(e) => return tracing::debug!(%peer, error = %e, "HTTP/2 handshake failed"),
            },
            reason = &mut watchdog => return tracing::debug!(%peer, reason, "closing the connection"),
        };
        let budget = Arc::new(Semaphore::new(BUDGET));
        let accept = |next: Option<Result<_, h2::Error>>| -> bool {
            match next {
                Some(Ok((request, reply))) => {
                    let stream = Stream {
                        handler: Arc::clone(handler),
                        peer,
                        delivery: delivery.clone(),
                        over_limit,
                        budget: Arc::clone(&budget),
                        send_timeout: self.timeouts.send,
                        _in_flight: activity.begin_request(),
                    };
                    // NOTE: polled here once first: a small response is
                    // complete in that poll (handler, headers, body in one
                    // go), and a task of its own (allocated, scheduled,
                    // registered, moved) cost more than the answer; only a
                    // response that has to wait gets one. Spawned, it is
                    // polled again at once, with its own waker.
                    let mut respond = Box::pin(stream.respond(request, reply));
                    let mut first = Context::from_waker(std::task::Waker::noop());
                    if respond.as_mut().poll(&mut first).is_pending() {
                        tokio::spawn(respond);
                    }
                    true
                }
                // h2 has sent GOAWAY with the error's code already.
                Some(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "HTTP/2 connection error");
                    false
                }
                None => false,
            }
        };
        let mut stopping = false;
        loop {
            tokio::select! {
                next = connection.accept() => if !accept(next) {
                    return;
                },
                // An oversized header block waits at the gate: let it through
                // once every stream before it is answered and written.
                _ = tokio::time::sleep(GATE_POLL), if valve.is_shut() => {
                    if activity.is_idle() && budget.available_permits() == BUDGET {
                        match poll_fn(|cx| Poll::Ready(connection.poll_accept(cx))).await {
                            Poll::Pending => valve.open(),
                            Poll::Ready(next) => if !accept(next) {
                                return;
                            },
                        }
                    }
                }
                reason = &mut watchdog => {
                    tracing::debug!(%peer, reason, "closing the connection");
                    connection.abrupt_shutdown(Reason::NO_ERROR);
                    let _ = timeout(GOAWAY_FLUSH, poll_fn(|cx| connection.poll_closed(cx))).await;
                    return;
                }
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    connection.graceful_shutdown();
                }
            }
        }
    }
}

/// One request stream and what its response needs.
struct Stream {
    handler: Arc<Handler>,
    peer: SocketAddr,
    /// How file bytes are taken and paced (copied: HTTP/2 frames them).
    delivery: Delivery,
    /// Answer 429: the client has too many connections.
    over_limit: bool,
    budget: Arc<Semaphore>,
    send_timeout: Duration,
    _in_flight: InFlight,
}

/// Why a body stopped before its end.
enum Cut {
    /// The peer reset the stream or the connection ended.
    Gone,
    /// No window for `--send-timeout`: reset with CANCEL.
    Stalled,
    /// Reading the file failed (or it changed): reset with INTERNAL_ERROR.
    Failed,
}

impl Stream {
    async fn respond(self, request: Request<h2::RecvStream>, mut reply: SendResponse<Bytes>) {
        // Request bodies are never read; dropping the stream discards them.
        let (parts, _) = request.into_parts();
        let request = Request::from_parts(parts, ());
        let response = if self.over_limit {
            self.handler.over_limit(&request, self.peer)
        } else {
            self.handler
                .serve(&request, self.peer, self.delivery.clone())
                .await
        };
        let (mut head, mut body) = response.into_parts();
        head.headers.insert(header::DATE, date());
        let end = body.remaining() == 0;
        if !end && !head.headers.contains_key(header::CONTENT_LENGTH) {
            head.headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.remaining()));
        }
        let mut send = match reply.send_response(Response::from_parts(head, ()), end) {
            Ok(send) => send,
            Err(e) => return body.abandon(&format!("cannot send the response: {e}")),
        };
        if end {
            return;
        }
        match self.pump(&mut send, &mut body).await {
            Ok(()) => {}
            Err(Cut::Gone) => body.abandon("stream closed by the client"),
            Err(Cut::Stalled) => {
                send.send_reset(Reason::CANCEL);
                body.abandon("send timeout: stream reset");
            }
            Err(Cut::Failed) => send.send_reset(Reason::INTERNAL_ERROR),
        }
    }

    /// Sends `body` as window is granted: reserve, wait for capacity, take
    /// that much of the budget, read that much, send it.
    async fn pump(
        &self,
        send: &mut h2::SendStream<Bytes>,
        body: &mut ResponseBody,
    ) -> Result<(), Cut> {
        loop {
            let remaining = usize::try_from(body.remaining()).unwrap_or(usize::MAX);
            send.reserve_capacity(remaining.min(CHUNK));
            let deadline = Instant::now() + self.send_timeout;
            let granted = timeout_at(deadline, poll_fn(|cx| poll_granted(send, cx)))
                .await
                .map_err(|_| Cut::Stalled)??;
            let permits = u32::try_from(granted.min(BUDGET)).unwrap_or(u32::MAX);
            let permit = timeout_at(
                deadline,
                Arc::clone(&self.budget).acquire_many_owned(permits),
            )
            .await
            .map_err(|_| Cut::Stalled)?
            .map_err(|_| Cut::Gone)?;
            let chunk = match poll_fn(|cx| body.poll_data(cx, granted)).await {
                Some(Ok(chunk)) => chunk,
                Some(Err(_)) => return Err(Cut::Failed),
                None => Bytes::new(),
            };
            let end = body.remaining() == 0;
            send.send_data(Bytes::from_owner(Budgeted(chunk, permit)), end)
                .map_err(|_| Cut::Gone)?;
            if end {
                return Ok(());
            }
        }
    }
}

/// Send capacity assigned to the stream (at least 1 byte), or why none will come.
fn poll_granted(
    send: &mut h2::SendStream<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<Result<usize, Cut>> {
    if send.poll_reset(cx).is_ready() {
        return Poll::Ready(Err(Cut::Gone));
    }
    loop {
        let capacity = send.capacity();
        if capacity > 0 {
            return Poll::Ready(Ok(capacity));
        }
        match ready!(send.poll_capacity(cx)) {
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Poll::Ready(Err(Cut::Gone)),
        }
    }
}

/// File bytes that return their share of the connection's budget when h2 has
/// written them and drops them.
struct Budgeted(Bytes, #[allow(dead_code)] OwnedSemaphorePermit);

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The Date header (RFC 9110 §6.6.1), formatted once a second per thread.
fn date() -> HeaderValue {
    use std::cell::RefCell;
    thread_local! {
        static CACHED: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|cached| match cached {
        Some((at, value)) if *at == second => value.clone(),
        _ => {
            let value = HeaderValue::try_from(httpdate::fmt_http_date(now))
                .expect("an HTTP date is a valid header value");
            *cached = Some((second, value.clone()));
            value
        }
    })
}
