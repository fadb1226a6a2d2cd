//! Connections and bytes: deadlines (`conn`), which protocol a connection
//! speaks (`preface`), batched HTTP/2 writes (`coalesce`), sendfile beneath
//! hyper (`zerocopy`), TLS (`tls`).
//!
//! Nothing here knows files or HTTP semantics: the layers are byte streams
//! stacked beneath the protocol (`Rewind<Tracked<ZeroCopyIo | TlsStream>>`
//! for HTTP/1.x, with `Coalesce` on top for HTTP/2), each adding one thing
//! to the `AsyncRead`/`AsyncWrite` of the one below and passing the rest
//! through with [`forward!`].

/// Writes the `AsyncRead`/`AsyncWrite` methods that a stream layer passes
/// straight through to the stream in its field `$inner`, so every layer
/// forwards the same way:
/// - `forward!(read: inner)`: `poll_read`;
/// - `forward!(flush_and_shutdown: inner)`: `poll_flush` and `poll_shutdown`.
macro_rules! forward {
    (read: $inner:ident) => {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.get_mut().$inner).poll_read(cx, buf)
        }
    };
    (flush_and_shutdown: $inner:ident) => {
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.get_mut().$inner).poll_flush(cx)
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.get_mut().$inner).poll_shutdown(cx)
        }
    };
}

pub mod coalesce;
pub mod conn;
pub mod preface;
pub mod tls;
pub mod zerocopy;
