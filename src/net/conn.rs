//! Per-connection limits: how long a connection may sit idle, take to send a
//! request head, or refuse to accept response bytes.
//!
//! hyper's own header-read timer also runs while a keep-alive connection is
//! idle, so it cannot give an idle timeout longer than the header timeout.
//! Instead each connection carries an [`Activity`] record that three parties
//! update, and a [`watchdog`] that closes the connection when a deadline passes:
//! - [`Tracked`], around the socket: the first byte of a request head, and
//!   every write that makes progress;
//! - [`Activity::begin_request`], when hyper hands a request to the service;
//! - [`InFlight`], dropped with the response body: the end of a response.
//!
//! The same boundaries tell `--metrics` which connections are idle.
//!
//! It does not know HTTP; it only sees bytes and request boundaries.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::metrics::METRICS;

/// The three deadlines, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the first byte of a request head (or the accept, for the first
    /// request) until the head is complete.
    pub header: Duration,
    /// From the end of a response until the first byte of the next request.
    pub idle: Duration,
    /// While a response is in flight, the longest stretch without any byte
    /// accepted by the client.
    pub send: Duration,
}

const NONE: u64 = u64::MAX;

/// What a connection is doing, in milliseconds since it was accepted.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// When the last response ended (or the connection was accepted).
    idle_since: AtomicU64,
    /// When the current request head began; `NONE` between requests.
    head_started: AtomicU64,
    /// When a write last made progress (or a request began).
    last_write: AtomicU64,
}

impl Activity {
    /// A freshly accepted connection: its first head is already being waited for.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// Whether no request is in flight.
    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// How long the connection has been idle: no response in flight and
    /// no request head begun. `None` when it is not idle.
    pub fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0
            || self.head_started.load(Ordering::Acquire) != NONE
        {
            return None;
        }
        let since = self.idle_since.load(Ordering::Acquire);
        Some(Duration::from_millis(self.now().saturating_sub(since)))
    }

    /// A request head is complete and goes to the service. The returned guard
    /// must live as long as the response body.
    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            METRICS.busy(true);
        }
        self.head_started.store(NONE, Ordering::Release);
        self.last_write.store(self.now(), Ordering::Release);
        InFlight(Arc::clone(self))
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_started.compare_exchange(
                NONE,
                self.now(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    fn wrote_some(&self) {
        self.last_write.store(self.now(), Ordering::Release);
    }

    /// The next deadline and what it enforces.
    ///
    /// 1. A response in flight: the send timeout after the last write progress.
    /// 2. Else a head under way: the header timeout after it began.
    /// 3. Else idle: the idle timeout after the last response.
    fn deadline(&self, t: &Timeouts) -> (u64, &'static str) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE / 2);
        if self.in_flight.load(Ordering::Acquire) > 0 {
            let last = self.last_write.load(Ordering::Acquire);
            return (last.saturating_add(ms(t.send)), "send timeout");
        }
        match self.head_started.load(Ordering::Acquire) {
            NONE => {
                let since = self.idle_since.load(Ordering::Acquire);
                (since.saturating_add(ms(t.idle)), "idle timeout")
            }
            began => (began.saturating_add(ms(t.header)), "request head timeout"),
        }
    }
}

/// Marks a response in flight; dropping it (with the body) ends the response.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            METRICS.busy(false);
            activity.idle_since.store(activity.now(), Ordering::Release);
        }
    }
}

/// A response body that holds its request's [`InFlight`] guard until hyper
/// drops it.
#[derive(Debug)]
pub struct Guarded<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> Guarded<B> {
    pub fn new(body: B, in_flight: InFlight) -> Self {
        Guarded {
            body,
            _in_flight: in_flight,
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Completes, with the reason, when the connection has outstayed a deadline.
/// The caller closes the connection by dropping it.
pub async fn watchdog(activity: Arc<Activity>, timeouts: Timeouts) -> &'static str {
    // NOTE: nothing wakes the watchdog when the phase changes; a wake-up per
    // change (three per request) cost a poll of the whole connection each.
    // Instead it never sleeps longer than the shortest timeout: a phase that
    // begins at time c has its deadline at c plus its timeout, which is no
    // earlier than the end of a sleep begun before c, so none is overslept.
    // Write progress only ever moves the deadline later.
    let shortest = timeouts
        .header
        .min(timeouts.idle)
        .min(timeouts.send)
        .max(Duration::from_millis(1));
    loop {
        let (deadline, reason) = activity.deadline(&timeouts);
        let now = activity.now();
        if now >= deadline {
            return reason;
        }
        tokio::time::sleep(Duration::from_millis(deadline - now).min(shortest)).await;
    }
}

/// A socket that reports reads and write progress to its [`Activity`].
#[derive(Debug)]
pub struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

/// A connection that can wait for its next bytes without a buffer: what an
/// idle keep-alive connection does once parked (`server/`).
pub trait Park {
    /// Whether waiting on [`Park::poll_readable`] is enough to know that
    /// bytes can be read (not so with TLS, which may hold decrypted bytes).
    fn can_park(&self) -> bool;

    /// Ready when bytes (or the end of the stream) can be read.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl<T: Park> Park for Tracked<T> {
    fn can_park(&self) -> bool {
        self.inner.can_park()
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_readable(cx)
    }
}

impl Park for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn can_park(&self) -> bool {
        false
    }

    fn poll_readable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_some();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote_some();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote_some();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    forward!(flush_and_shutdown: inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        send: Duration::from_secs(30),
    };

    /// The watchdog fired at `deadline_ms` after the connection began, not
    /// later (within the timer's millisecond rounding).
    fn assert_on_time(a: &Activity, deadline_ms: u64) {
        let now = a.now();
        assert!(
            (deadline_ms..=deadline_ms + 2).contains(&now),
            "fired at {now} ms, deadline {deadline_ms} ms"
        );
    }

    #[test]
    fn a_fresh_connection_must_send_its_head_within_the_header_timeout() {
        let a = Activity::new();
        assert_eq!(a.deadline(&T), (10_000, "request head timeout"));
    }

    #[test]
    fn a_request_in_flight_is_bound_by_the_send_timeout() {
        let a = Activity::new();
        let guard = a.begin_request();
        assert_eq!(a.deadline(&T).1, "send timeout");
        drop(guard);
        assert_eq!(a.deadline(&T).1, "idle timeout");
    }

    #[test]
    fn the_first_byte_after_idle_starts_the_header_clock() {
        let a = Activity::new();
        drop(a.begin_request());
        a.read_some();
        assert_eq!(a.deadline(&T).1, "request head timeout");
        // Bytes read while a response is in flight (pipelining) start nothing.
        let b = Activity::new();
        let _guard = b.begin_request();
        b.read_some();
        assert_eq!(b.deadline(&T).1, "send timeout");
    }

    /// Regression: the watchdog slept until the idle deadline when a request
    /// began, so a send timeout shorter than the idle timeout fired late.
    #[tokio::test(start_paused = true)]
    async fn watchdog_wakes_when_a_request_begins_on_an_idle_connection() {
        let t = Timeouts {
            idle: Duration::from_secs(30),
            send: Duration::from_secs(1),
            ..T
        };
        let a = Activity::new();
        drop(a.begin_request());
        let watchdog = tokio::spawn(watchdog(Arc::clone(&a), t));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _in_flight = a.begin_request();
        let fired = tokio::time::timeout(Duration::from_secs(5), watchdog).await;
        assert_eq!(
            fired
                .expect("fired before the idle deadline")
                .expect("joined"),
            "send timeout"
        );
        assert_on_time(&a, 1_100);
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_wakes_when_the_last_response_ends() {
        let t = Timeouts {
            idle: Duration::from_secs(1),
            send: Duration::from_secs(60),
            ..T
        };
        let a = Activity::new();
        let in_flight = a.begin_request();
        let watchdog = tokio::spawn(watchdog(Arc::clone(&a), t));
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(in_flight);
        let fired = tokio::time::timeout(Duration::from_secs(5), watchdog).await;
        assert_eq!(
            fired
                .expect("fired before the send deadline")
                .expect("joined"),
            "idle timeout"
        );
        assert_on_time(&a, 1_100);
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_wakes_when_a_head_begins() {
        let a = Activity::new();
        drop(a.begin_request());
        let watchdog = tokio::spawn(watchdog(Arc::clone(&a), T));
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.read_some();
        let fired = tokio::time::timeout(Duration::from_secs(15), watchdog).await;
        assert_eq!(
            fired
                .expect("fired before the idle deadline")
                .expect("joined"),
            "request head timeout"
        );
        assert_on_time(&a, 10_100);
    }

    #[test]
    fn overlapping_requests_end_idle_only_when_all_are_done() {
        let a = Activity::new();
        let (g1, g2) = (a.begin_request(), a.begin_request());
        drop(g1);
        assert_eq!(a.deadline(&T).1, "send timeout");
        drop(g2);
        assert_eq!(a.deadline(&T).1, "idle timeout");
    }
}
