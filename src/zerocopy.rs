//! Zero-copy file bodies for plain-text HTTP/1.x, with sendfile(2).
//!
//! hyper writes every body byte itself, which for a file means reading it
//! into memory and writing it back out. On a plain HTTP/1.x connection the
//! body can instead hand hyper *placeholder* frames: slices of a static
//! region that nothing ever reads, one per file slice queued on the
//! connection's [`SendQueue`]. [`ZeroCopyIo`], the socket beneath hyper,
//! recognises a placeholder by its address and sends the matching file slice
//! with sendfile(2) instead. hyper still does the framing, the Content-Length
//! accounting and keep-alive; the kernel moves the bytes.
//!
//! NOTE: the invariants this rests on, and what would break without them:
//! - Placeholders only reach [`ZeroCopyIo`]: the handler uses them only for
//!   requests carrying the connection's queue as an extension, which the
//!   server adds to HTTP/1.x requests on plain TCP connections, never to
//!   HTTP/2 ones.
//! - hyper queues body buffers instead of copying them (`writev(true)`): a
//!   copied placeholder would send zeros. Every test that compares bytes
//!   guards this.
//! - HTTP/1 writes one response at a time, in order, so the queue's front is
//!   always the slice of the placeholder being written; a mismatch ends the
//!   connection instead of sending wrong bytes.
//! - After each sendfile the file is `fstat`ed like every read chunk: a
//!   changed or truncated file cuts the connection.
//!
//! sendfile runs on the runtime thread, inside tokio's readiness handling;
//! on a cold page cache it waits for the disk there, as nginx's default
//! does. Each large slice is announced to the kernel (`POSIX_FADV_WILLNEED`)
//! from the blocking pool first so readahead usually has the pages in memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::body::Snapshot;

/// The largest placeholder frame, and so the most one sendfile call sends.
pub const FRAME: usize = 4 << 20;

/// Slices smaller than this are not announced to the kernel: a blocking-pool
/// hop per small response costs more than the hint saves.
const PREFETCH_MIN: usize = 1 << 20;

/// Never read: placeholders only lend its address and length to hyper.
static PLACEHOLDER: [u8; FRAME] = [0; FRAME];

/// A placeholder frame of `len` bytes (at most [`FRAME`]).
pub fn placeholder(len: usize) -> Bytes {
    Bytes::from_static(&PLACEHOLDER[..len])
}

fn is_placeholder(buf: &[u8]) -> bool {
    let start = PLACEHOLDER.as_ptr() as usize;
    let at = buf.as_ptr() as usize;
    !buf.is_empty() && at >= start && at < start + FRAME
}

/// A slice of an open file waiting to be sent.
#[derive(Debug)]
struct FileSlice {
    file: Arc<File>,
    offset: u64,
    len: u64,
    snapshot: Snapshot,
}

/// The file slices behind the placeholders hyper will write on one
/// connection, in order.
#[derive(Debug, Default)]
pub struct SendQueue(Mutex<VecDeque<FileSlice>>);

impl SendQueue {
    /// Queues `len` bytes of `file` from `offset` and returns the placeholder
    /// frame that stands for them. `len` must be at most [`FRAME`].
    pub fn push(&self, file: &Arc<File>, offset: u64, len: usize, snapshot: Snapshot) -> Bytes {
        let slice = FileSlice {
            file: Arc::clone(file),
            offset,
            len: len as u64,
            snapshot,
        };
        if len >= PREFETCH_MIN {
            prefetch(&slice);
        }
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(slice);
        placeholder(len)
    }
}

/// Asks the kernel to start reading the slice into the page cache, from the
/// blocking pool; a hint only, so its result does not matter.
fn prefetch(slice: &FileSlice) {
    let (file, offset, len) = (Arc::clone(&slice.file), slice.offset, slice.len);
    tokio::task::spawn_blocking(move || {
        let len = std::num::NonZeroU64::new(len);
        let _ = rustix::fs::fadvise(&*file, offset, len, rustix::fs::Advice::WillNeed);
    });
}

/// A TCP socket beneath hyper that sends placeholder frames with sendfile.
#[derive(Debug)]
pub struct ZeroCopyIo {
    stream: TcpStream,
    queue: Arc<SendQueue>,
}

impl ZeroCopyIo {
    pub fn new(stream: TcpStream, queue: Arc<SendQueue>) -> Self {
        ZeroCopyIo { stream, queue }
    }

    /// Sends up to `wanted` bytes of the queue's front slice, which must be
    /// exactly what the placeholder in hand stands for.
    fn poll_send_file(&mut self, cx: &mut Context<'_>, wanted: usize) -> Poll<io::Result<usize>> {
        let mut queue = self.queue.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(slice) = queue.front_mut() else {
            return Poll::Ready(Err(io::Error::other(
                "a placeholder with no file slice queued",
            )));
        };
        if slice.len != wanted as u64 {
            return Poll::Ready(Err(io::Error::other(
                "placeholder and file slice out of step",
            )));
        }
        let count = usize::try_from(slice.len).map_err(io::Error::other)?;
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            let mut offset = slice.offset;
            let sent = self.stream.try_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(&self.stream, &*slice.file, Some(&mut offset), count)
                    .map_err(io::Error::from)
            });
            match sent {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file was truncated while being sent",
                    )));
                }
                Ok(n) => {
                    if Snapshot::of(&slice.file.metadata()?) != slice.snapshot {
                        return Poll::Ready(Err(io::Error::other(
                            "the file changed while being sent",
                        )));
                    }
                    slice.offset += n as u64;
                    slice.len -= n as u64;
                    if slice.len == 0 {
                        queue.pop_front();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for ZeroCopyIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ZeroCopyIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if is_placeholder(buf) {
            return this.poll_send_file(cx, buf.len());
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    /// Writes the ordinary buffers before the first placeholder in one
    /// writev; a placeholder at the front is sent with sendfile.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match bufs.iter().position(|b| is_placeholder(b)) {
            None => Pin::new(&mut this.stream).poll_write_vectored(cx, bufs),
            Some(0) => this.poll_send_file(cx, bufs[0].len()),
            Some(first) => Pin::new(&mut this.stream).poll_write_vectored(cx, &bufs[..first]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised_by_address_only() {
        assert!(is_placeholder(&placeholder(10)));
        assert!(is_placeholder(&placeholder(FRAME)[FRAME - 1..]));
        let zeros = vec![0u8; 10];
        assert!(
            !is_placeholder(&zeros),
            "equal bytes elsewhere are not placeholders"
        );
        assert!(!is_placeholder(&[]));
    }
}
