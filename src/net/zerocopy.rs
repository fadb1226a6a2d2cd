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
//! It knows file descriptors and byte counts, not files or HTTP: a slice's
//! [`Source`] lends the descriptor and says, after each sendfile, whether
//! the bytes sent are still the ones promised (`body.rs` implements it with
//! the file's snapshot).
//!
//! NOTE: the invariants this rests on, and what would break without them:
//! - Placeholders only reach [`ZeroCopyIo`]: the server hands a connection's
//!   queue to the bodies of HTTP/1.x requests on plain TCP connections only,
//!   never to HTTP/2 or TLS ones.
//! - hyper queues body buffers instead of copying them into its own write
//!   buffer. That is what hyper does with `writev(true)` ([`configure_http1`],
//!   the one place that sets it), but hyper's API does not promise it: a
//!   copied placeholder would send zeros. The test
//!   `hyper_hands_placeholders_to_the_socket_as_they_are` below fails loudly
//!   if a hyper upgrade changes it, and every black-box test that compares
//!   bytes guards it too.
//! - HTTP/1 writes one response at a time, in order, so the queue's front is
//!   always the slice of the placeholder being written; a mismatch ends the
//!   connection instead of sending wrong bytes.
//! - After each sendfile the source is verified like every read chunk: a
//!   changed or truncated file cuts the connection.
//!
//! sendfile runs on the runtime thread, inside tokio's readiness handling;
//! on a cold page cache it waits for the disk there, as nginx's default
//! does. Each large slice whose last byte is not in the page cache yet is
//! announced to the kernel (`POSIX_FADV_WILLNEED`) from the blocking pool
//! first, so readahead usually has the pages in memory.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::net::TcpStream;

/// What a file slice is sent from: a descriptor sendfile can read, and the
/// check that the bytes sent so far are still the ones the response promised.
pub trait Source: AsFd + Debug + Send + Sync {
    /// Called after each sendfile that sent bytes; an error cuts the connection.
    fn verify(&self) -> io::Result<()>;
}

/// Sets what zero-copy bodies need of hyper's HTTP/1 connections: body
/// buffers queued for a vectored write as they are, never copied into
/// hyper's own buffer (see the module's NOTE).
pub fn configure_http1(http1: &mut hyper::server::conn::http1::Builder) {
    http1.writev(true);
}

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
    source: Arc<dyn Source>,
    offset: u64,
    len: u64,
}

/// The file slices behind the placeholders hyper will write on one
/// connection, in order.
#[derive(Debug, Default)]
pub struct SendQueue(Mutex<VecDeque<FileSlice>>);

impl SendQueue {
    /// Queues `len` bytes of `source` from `offset` and returns the
    /// placeholder frame that stands for them. `len` must be at most [`FRAME`].
    pub fn push(&self, source: Arc<dyn Source>, offset: u64, len: usize) -> Bytes {
        let slice = FileSlice {
            source,
            offset,
            len: len as u64,
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
///
/// NOTE: not for a slice whose last byte is already in the page cache (a
/// non-blocking read of it succeeds), as the whole of a file being served
/// usually is. A cached 1 GiB download made 256 hops to the blocking pool
/// (1,266 futex calls) and 256 hints that walked 4 MiB of pages each; now
/// 256 one-byte reads. Server CPU per GiB on four connections: 312 → 285
/// ms (median of 5 interleaved rounds, one pinned core); on one, within
/// noise.
fn prefetch(slice: &FileSlice) {
    if slice.len == 0 || is_cached(slice.source.as_fd(), slice.offset + slice.len - 1) {
        return;
    }
    let (source, offset, len) = (Arc::clone(&slice.source), slice.offset, slice.len);
    tokio::task::spawn_blocking(move || {
        let len = std::num::NonZeroU64::new(len);
        let _ = rustix::fs::fadvise(source.as_fd(), offset, len, rustix::fs::Advice::WillNeed);
    });
}

/// Whether the byte at `offset` of `fd` is in the page cache: a read of it
/// that may not wait for the disk (`preadv2` with `RWF_NOWAIT`) gets it.
fn is_cached(fd: BorrowedFd<'_>, offset: u64) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = [io::IoSliceMut::new(&mut byte)];
    let read = rustix::io::preadv2(fd, &mut buf, offset, rustix::io::ReadWriteFlags::NOWAIT);
    matches!(read, Ok(1))
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
                rustix::fs::sendfile(&self.stream, slice.source.as_fd(), Some(&mut offset), count)
                    .map_err(io::Error::from)
            });
            match sent {
                Ok(0) => {
                    // A shorter file has changed: verify says so (and is
                    // counted); a file that truncated and grew back is cut too.
                    slice.source.verify()?;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file was truncated while being sent",
                    )));
                }
                Ok(n) => {
                    slice.source.verify()?;
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

impl crate::net::conn::Park for ZeroCopyIo {
    fn can_park(&self) -> bool {
        true
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream.poll_read_ready(cx)
    }
}

impl AsyncRead for ZeroCopyIo {
    forward!(read: stream);
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

    forward!(flush_and_shutdown: stream);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::io::Write;

    use http_body::Frame;
    use hyper::Response;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LEN: usize = 4096;

    #[derive(Debug)]
    struct TestSource(std::fs::File);

    impl AsFd for TestSource {
        fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
            self.0.as_fd()
        }
    }

    impl Source for TestSource {
        fn verify(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_byte_just_written_is_cached_and_one_past_the_end_is_not() {
        let mut f = tempfile::tempfile().expect("file");
        f.write_all(&[7u8; LEN]).expect("write");
        assert!(is_cached(f.as_fd(), 0));
        assert!(is_cached(f.as_fd(), LEN as u64 - 1));
        assert!(!is_cached(f.as_fd(), LEN as u64), "past the end");
    }

    /// A body of one frame.
    struct One(Option<Bytes>);

    impl http_body::Body for One {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.get_mut().0.take().map(|b| Ok(Frame::data(b))))
        }
    }

    fn file_bytes() -> Vec<u8> {
        (b'a'..=b'z').cycle().take(LEN).collect()
    }

    /// The body a client receives when hyper's HTTP/1 connection over
    /// [`ZeroCopyIo`] sends one placeholder for a file's bytes, with hyper
    /// set up by [`configure_http1`] or, as a control, told to copy.
    async fn served_body(configured: bool) -> Vec<u8> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(&file_bytes()).expect("write");
        let source: Arc<dyn Source> = Arc::new(TestSource(file));
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let queue = Arc::new(SendQueue::default());
            let io = ZeroCopyIo::new(stream, Arc::clone(&queue));
            let mut builder = hyper::server::conn::http1::Builder::new();
            if configured {
                configure_http1(&mut builder);
            } else {
                builder.writev(false);
            }
            let service = service_fn(move |_| {
                let frame = queue.push(Arc::clone(&source), 0, LEN);
                let response = Response::builder()
                    .header("content-length", LEN)
                    .body(One(Some(frame)))
                    .expect("valid response");
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = builder.serve_connection(TokioIo::new(io), service).await;
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.expect("response");
        server.await.expect("server task");
        let start = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of head")
            + 4;
        response[start..].to_vec()
    }

    /// NOTE: the assumption zero-copy rests on. If this fails after a hyper
    /// upgrade, hyper no longer hands queued body buffers to the socket as
    /// they are, and sendfile bodies would send zeros: serve with
    /// `--no-sendfile` semantics (copy) until it is fixed.
    #[tokio::test]
    async fn hyper_hands_placeholders_to_the_socket_as_they_are() {
        assert_eq!(served_body(true).await, file_bytes());
        // The control: a copied placeholder is the static region's zeros,
        // so the check above would see it.
        assert_eq!(served_body(false).await, vec![0u8; LEN]);
    }

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
