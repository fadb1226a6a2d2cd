//! Telling an HTTP/2 connection from an HTTP/1.x one by its first bytes, and
//! giving those bytes back to whichever protocol then reads the connection.
//!
//! A client that speaks HTTP/2 opens with the connection preface (RFC 9113
//! §3.4), over TLS after choosing `h2` by ALPN and on plain TCP with prior
//! knowledge (§3.3). No HTTP/1.x request starts with it (`PRI` is not a
//! method anyone serves), so the bytes read until they stop matching decide.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// How a client opens an HTTP/2 connection (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a connection said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// How much the first read of a connection asks for: a whole request head
/// in most cases, so hyper parses it from these bytes without reading the
/// socket again (one `recv` per new connection, not two).
const FIRST_READ: usize = 4096;

/// Reads from `io` until the bytes read are the whole preface or stop
/// matching it; returns the protocol and `io` with those bytes put back in
/// front. A connection that closes first is an `UnexpectedEof` error.
pub async fn sniff<T: AsyncRead + Unpin>(mut io: T) -> io::Result<(Protocol, Rewind<T>)> {
    let mut seen = Vec::with_capacity(FIRST_READ);
    let protocol = loop {
        let n = io.read_buf(&mut seen).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let compared = seen.len().min(PREFACE.len());
        if seen[..compared] != PREFACE[..compared] {
            break Protocol::Http1;
        }
        if compared == PREFACE.len() {
            break Protocol::Http2;
        }
    };
    Ok((protocol, Rewind::new(seen, io)))
}

/// A connection whose first bytes, already read, are read again first.
#[derive(Debug)]
pub struct Rewind<T> {
    /// Bytes to give back before reading `inner`; emptied (and freed) once given.
    prefix: Vec<u8>,
    given: usize,
    inner: T,
}

impl<T> Rewind<T> {
    pub fn new(prefix: Vec<u8>, inner: T) -> Self {
        Rewind {
            prefix,
            given: 0,
            inner,
        }
    }

    /// Puts `bytes`, read but not used, back in front of what is left.
    pub fn unread(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut prefix = bytes.to_vec();
        prefix.extend_from_slice(&self.prefix[self.given..]);
        self.prefix = prefix;
        self.given = 0;
    }

    /// Whether bytes put back are still to be read.
    pub fn has_unread(&self) -> bool {
        self.given < self.prefix.len()
    }
}

impl<T: crate::net::conn::Park> crate::net::conn::Park for Rewind<T> {
    fn can_park(&self) -> bool {
        self.inner.can_park()
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_unread() {
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_readable(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.given < this.prefix.len() {
            let rest = &this.prefix[this.given..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.given += n;
            if this.given == this.prefix.len() {
                this.prefix = Vec::new();
                this.given = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    forward!(flush_and_shutdown: inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn sniffed(chunks: &[&[u8]]) -> (Protocol, Vec<u8>) {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        for chunk in chunks {
            client.write_all(chunk).await.expect("write");
        }
        drop(client);
        let (protocol, mut io) = sniff(server).await.expect("sniff");
        let mut replayed = Vec::new();
        io.read_to_end(&mut replayed).await.expect("read");
        (protocol, replayed)
    }

    #[tokio::test]
    async fn the_preface_is_http2_and_every_byte_is_read_again() {
        let mut sent = PREFACE.to_vec();
        sent.extend_from_slice(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00");
        assert_eq!(sniffed(&[&sent]).await, (Protocol::Http2, sent.clone()));
    }

    #[tokio::test]
    async fn a_request_line_is_http1_and_every_byte_is_read_again() {
        let sent = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(sniffed(&[sent]).await, (Protocol::Http1, sent.to_vec()));
        let sent = b"PRI * HTTP/1.1\r\n\r\n";
        assert_eq!(sniffed(&[sent]).await, (Protocol::Http1, sent.to_vec()));
    }

    #[tokio::test]
    async fn a_preface_split_across_reads_still_decides() {
        let (a, b) = PREFACE.split_at(5);
        assert_eq!(
            sniffed(&[a, b, b"rest"]).await,
            (Protocol::Http2, [PREFACE, b"rest"].concat())
        );
    }

    #[tokio::test]
    async fn a_connection_closed_before_deciding_is_an_error() {
        let (client, server) = tokio::io::duplex(64);
        let mut client = client;
        client.write_all(b"PRI * ").await.expect("write");
        drop(client);
        let err = sniff(server).await.expect_err("undecided");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
