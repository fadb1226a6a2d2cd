//! Fewer, larger writes for HTTP/2 connections.
//!
//! The h2 crate sends each DATA frame of more than 256 bytes as its own
//! write (it chains the payload instead of copying it, and holds one chained
//! frame at a time), so ten 4 KiB responses on one connection cost ten
//! `writev` calls, each waking the client. [`Coalesce`] sits beneath the h2
//! connection, copies the writes into one buffer and sends it when h2
//! flushes (or the buffer holds [`LIMIT`] bytes): responses that are ready
//! together leave together.
//!
//! Before the first flush of a batch it yields once to the runtime, so that
//! streams whose responses are already being prepared (each HTTP/2 stream is
//! its own task) can add them to the batch.
//!
//! HTTP/1.x connections do not use it: hyper already writes a response's
//! head and a small body in one call, and file slices must reach the
//! sendfile layer beneath as they are (`zerocopy.rs`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite};

/// The most bytes held back: beyond it, a write waits for the socket.
pub const LIMIT: usize = 64 * 1024;

/// An HTTP/2 connection's socket, coalescing writes.
#[derive(Debug)]
pub struct Coalesce<T> {
    inner: T,
    buf: Vec<u8>,
    /// Bytes of `buf` already written to `inner`.
    sent: usize,
    /// The current batch has already yielded once.
    yielded: bool,
}

impl<T> Coalesce<T> {
    pub fn new(inner: T) -> Self {
        Coalesce {
            inner,
            buf: Vec::new(),
            sent: 0,
            yielded: false,
        }
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    /// Writes out everything held back.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        // Nothing is kept between batches: an idle connection holds no buffer.
        self.buf = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    forward!(read: inner);
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(data)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() >= LIMIT {
            ready!(this.poll_drain(cx))?;
        }
        let mut taken = 0;
        for b in bufs {
            this.buf.extend_from_slice(b);
            taken += b.len();
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.buf.is_empty() {
            if !this.yielded {
                // Back of the run queue: other streams' tasks run first.
                this.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            ready!(this.poll_drain(cx))?;
        }
        this.yielded = false;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn http2_writes_leave_together_on_flush_and_byte_exact() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut c = Coalesce::new(server);

        let parts: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 4096 + usize::from(i)]).collect();
        for p in &parts {
            c.write_all(p).await.expect("write");
        }
        assert_eq!(
            c.buf.len(),
            parts.iter().map(Vec::len).sum::<usize>(),
            "held back"
        );
        c.flush().await.expect("flush");
        assert!(
            c.buf.is_empty() && c.buf.capacity() == 0,
            "released after the batch"
        );
        let mut got = vec![0u8; parts.iter().map(Vec::len).sum()];
        client.read_exact(&mut got).await.expect("read");
        assert_eq!(got, parts.concat());
    }

    #[tokio::test]
    async fn a_full_buffer_is_written_before_taking_more() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut c = Coalesce::new(server);
        let chunk = vec![7u8; 16 * 1024];
        for _ in 0..10 {
            c.write_all(&chunk).await.expect("write");
            assert!(c.buf.len() <= LIMIT + chunk.len());
        }
        c.flush().await.expect("flush");
        let mut got = vec![0u8; 10 * chunk.len()];
        client.read_exact(&mut got).await.expect("read");
        assert!(got.iter().all(|&b| b == 7));
    }
}
