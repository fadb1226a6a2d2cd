//! The read side of an HTTP/2 connection, held shut before an oversized
//! header block until the streams before it are answered.
//!
//! h2 answers a header list beyond SETTINGS_MAX_HEADER_LIST_SIZE with 431 on
//! that stream, and one beyond four times the limit with GOAWAY
//! ENHANCE_YOUR_CALM, a connection error that resets every stream still
//! open, the good requests sent before it included. [`Gate`] measures each
//! block as it arrives ([`Scanner`]) and, when one reaches the limit,
//! withholds the last byte of that frame (h2 decodes no frame before it has
//! all of it) and closes its [`Valve`]. The connection opens the valve once
//! every stream before is answered and its bytes are written; h2 then sees
//! the frame and answers it as it would have: 431, or GOAWAY with the last
//! stream it processed (RFC 9113 §6.8, §10.5.1).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::h2_blocks::Scanner;

/// Whether the gate may pass bytes; shared by the gate and its connection.
#[derive(Debug, Default)]
pub struct Valve {
    shut: AtomicBool,
    reader: Mutex<Option<Waker>>,
}

impl Valve {
    /// Whether an oversized block is waiting.
    pub fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// Lets the waiting block through.
    pub fn open(&self) {
        self.shut.store(false, Ordering::Release);
        if let Some(waker) = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take() {
            waker.wake();
        }
    }

    fn shut(&self) {
        self.shut.store(true, Ordering::Release);
    }
}

/// An HTTP/2 connection's I/O, its reads measured by a [`Scanner`].
pub struct Gate<T> {
    inner: T,
    scanner: Scanner,
    valve: Arc<Valve>,
    /// Bytes read but held back, and how many of them (from the front) the
    /// scanner has seen.
    held: Vec<u8>,
    scanned: usize,
}

impl<T> Gate<T> {
    /// Measures blocks against `limit` bytes (`--max-header-size`).
    pub fn new(inner: T, limit: usize, valve: Arc<Valve>) -> Self {
        Gate {
            inner,
            scanner: Scanner::new(limit),
            valve,
            held: Vec::new(),
            scanned: 0,
        }
    }
}

/// Scans `bytes`, the next ones for h2: how many of them may pass now. On an
/// oversized block the valve shuts; the byte at the returned index was
/// scanned and must be held with the rest.
fn pass(scanner: &mut Scanner, valve: &Valve, bytes: &[u8]) -> usize {
    match scanner.feed(bytes) {
        Some(last) => {
            valve.shut();
            last
        }
        None => bytes.len(),
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Gate<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.valve.is_shut() {
                let mut reader = this.valve.reader.lock().unwrap_or_else(|e| e.into_inner());
                *reader = Some(cx.waker().clone());
                drop(reader);
                if this.valve.is_shut() {
                    return Poll::Pending;
                }
            }
            if !this.held.is_empty() {
                let n = this.held.len().min(buf.remaining());
                let passed = if this.scanned > 0 {
                    // Scanned before it was held: it passes as it is.
                    let k = this.scanned.min(n);
                    this.scanned -= k;
                    k
                } else {
                    let passed = pass(&mut this.scanner, &this.valve, &this.held[..n]);
                    if passed < n {
                        this.scanned = 1;
                    }
                    passed
                };
                buf.put_slice(&this.held[..passed]);
                this.held.drain(..passed);
                if passed > 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let before = buf.filled().len();
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let read = &buf.filled()[before..];
            if read.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let passed = pass(&mut this.scanner, &this.valve, read);
            if passed < read.len() {
                this.held = read[passed..].to_vec();
                this.scanned = 1;
                buf.set_filled(before + passed);
            }
            if passed > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Gate<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
