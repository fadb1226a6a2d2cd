//! Response bodies, and the only code that reads file bytes after `open`.
//!
//! A file body is a queue of [`Segment`]s: slices of the open file (or of a
//! folder's archive, see [`Source`]) and, for multipart responses, literal
//! bytes between them. Each slice is read in
//! bounded chunks with positioned reads (`pread`) on the blocking pool, one
//! chunk at a time: hyper polls for the next chunk only after the previous one
//! was written, so memory per connection is one chunk, never the file.
//!
//! Every chunk is checked: a short read (the file was truncated) or a change
//! of length or modification time since the headers were computed ends the
//! body with an error, so hyper cuts the connection and the client never sees
//! a response that looks complete but is not the file the headers described.
//!
//! It does not decide what to send (the handler does) or log the request
//! (`access.rs`); it only counts bytes for the log.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::access::AccessLog;
use crate::archive::Archive;
use crate::archive::tar::Part;
use crate::fs::snapshot::{Pinned, Version};
use crate::guard::clients::Admission;
use crate::guard::rate::Bucket;
use crate::http::multipart::Segment;
use crate::net::zerocopy::{self, SendQueue};

/// The largest single read, and so the most file bytes a connection holds.
pub const CHUNK: u64 = 128 * 1024;

/// How the connection beneath a response takes file bytes, and how fast.
/// The server decides it per connection; the handler passes it along
/// unopened.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    queue: Option<Arc<SendQueue>>,
    limits: Option<Arc<Limits>>,
}

/// The rate limits every body of a connection obeys (`--limit-rate`,
/// `--limit-rate-per-ip`, `--limit-rate-after`).
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// The connection's own bucket and its client's shared one.
    pub buckets: Vec<Arc<Bucket>>,
    /// Bytes of each response sent at full speed first.
    pub after: u64,
    /// Held until the last body using these limits is done: a proxied
    /// client's place among its address's requests.
    pub hold: Option<Arc<Admission>>,
}

impl Delivery {
    /// File bytes are read into memory and written by hyper (HTTP/2, TLS,
    /// `--no-sendfile`).
    pub fn copied() -> Self {
        Delivery::default()
    }

    /// File slices become placeholder frames that the socket sends with
    /// sendfile (plain HTTP/1.x; `net/zerocopy.rs`).
    pub fn zero_copy(queue: Arc<SendQueue>) -> Self {
        Delivery {
            queue: Some(queue),
            limits: None,
        }
    }

    /// Every body paced by `limits` (none when it has no bucket).
    pub fn limited(mut self, limits: Limits) -> Self {
        if !limits.buckets.is_empty() {
            self.limits = Some(Arc::new(limits));
        }
        self
    }

    /// The same delivery for one request of a client behind a proxy: its
    /// address's shared bucket joins the connection's, and the request
    /// counts among the address's until its body is done.
    pub fn for_client(mut self, admission: Admission) -> Self {
        let mut limits = self.limits.as_deref().cloned().unwrap_or_default();
        limits.buckets.extend(admission.bucket.clone());
        limits.hold = Some(Arc::new(admission));
        self.limits = Some(Arc::new(limits));
        self
    }

    /// The pacing of one response's body, if the connection is limited.
    pub fn pace(&self) -> Option<Pace> {
        self.limits.as_ref().map(|limits| Pace {
            free: limits.after,
            limits: Arc::clone(limits),
            sleep: None,
        })
    }

    /// Bodies up to this size are read at once when the page cache holds
    /// them, so they leave with the headers in one write.
    fn small(&self) -> u64 {
        if self.queue.is_some() {
            SMALL_WITH_SENDFILE
        } else {
            SMALL
        }
    }
}

/// Paces one body by its connection's buckets: it hands out no more bytes
/// than every bucket holds, and waits when one is empty. Applies to every
/// way bytes leave (sendfile placeholders, copies, TLS, HTTP/2), since they
/// all come from [`ResponseBody::poll_data`].
#[derive(Debug)]
pub struct Pace {
    limits: Arc<Limits>,
    /// Bytes of this response still allowed at full speed.
    free: u64,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Pace {
    /// How many bytes (at most `want`, at least 1) may leave now; pending
    /// until at least a piece's worth may.
    fn poll_allow(&mut self, cx: &mut Context<'_>, want: u64) -> Poll<u64> {
        loop {
            if let Some(sleep) = &mut self.sleep {
                ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
            }
            if self.free > 0 {
                return Poll::Ready(want.min(self.free));
            }
            let now = std::time::Instant::now();
            let buckets = &self.limits.buckets;
            let allowed = buckets.iter().map(|b| b.available(want, now)).min();
            match allowed {
                Some(0) => {}
                Some(n) => return Poll::Ready(n),
                None => return Poll::Ready(want),
            }
            let wait = buckets
                .iter()
                .map(|b| b.wait(want, now))
                .max()
                .unwrap_or_default();
            self.sleep = Some(Box::pin(tokio::time::sleep(wait)));
        }
    }

    /// Records that `n` bytes left.
    fn sent(&mut self, n: u64) {
        let free = n.min(self.free);
        self.free -= free;
        if n > free {
            let now = std::time::Instant::now();
            for bucket in &self.limits.buckets {
                bucket.take(n - free, now);
            }
        }
    }
}

impl zerocopy::Source for Pinned {
    fn verify(&self) -> io::Result<()> {
        Pinned::verify(self)
    }
}

/// Where a body's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// One open file: segments are slices of it.
    File(Arc<Pinned>),
    /// A folder's archive: segments are slices of the archive, made of
    /// header bytes held in memory and slices of member files, each opened
    /// when the body reaches it.
    Archive(Arc<Archive>),
}

/// The most bytes of archive headers and small members gathered into one
/// chunk ([`FileBody::gather`]).
const GATHER: u64 = 64 * 1024;

/// Streams segments of an open file or of an archive.
#[derive(Debug)]
pub struct FileBody {
    source: Source,
    /// The archive member being sent, open.
    member: Option<(usize, Arc<Pinned>)>,
    segments: VecDeque<Segment>,
    remaining: u64,
    pending: Option<JoinHandle<io::Result<Bytes>>>,
    delivery: Delivery,
}

impl FileBody {
    fn new(source: Source, segments: Vec<Segment>, delivery: Delivery) -> Self {
        let remaining = segments.iter().map(Segment::len).sum();
        FileBody {
            source,
            member: None,
            segments: segments.into(),
            remaining,
            pending: None,
            delivery,
        }
    }

    /// The next bytes of the body, at most `max` (which must be at least 1).
    fn poll_chunk(&mut self, cx: &mut Context<'_>, max: u64) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            if let Some(pending) = &mut self.pending {
                let joined = ready!(Pin::new(pending).poll(cx));
                self.pending = None;
                let chunk = joined.unwrap_or_else(|e| Err(io::Error::other(e)));
                if let Ok(bytes) = &chunk {
                    self.remaining -= bytes.len() as u64;
                }
                return Poll::Ready(Some(chunk));
            }
            let (offset, len) = match self.segments.front_mut() {
                None => return Poll::Ready(None),
                Some(Segment::Bytes(bytes)) if bytes.is_empty() => {
                    self.segments.pop_front();
                    continue;
                }
                Some(Segment::Bytes(bytes)) => {
                    let n = usize::try_from(max).unwrap_or(usize::MAX).min(bytes.len());
                    let taken = bytes.split_to(n);
                    self.remaining -= n as u64;
                    return Poll::Ready(Some(Ok(taken)));
                }
                Some(Segment::File { len: 0, .. }) => {
                    self.segments.pop_front();
                    continue;
                }
                Some(Segment::File { offset, len }) => (*offset, *len),
            };
            if let Some(gathered) = self.gather(max) {
                return Poll::Ready(Some(gathered));
            }
            let (file, at, available) = match self.slice(offset, len) {
                Ok(slice) => slice,
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            if let Some(queue) = &self.delivery.queue {
                let n = available.min(zerocopy::FRAME as u64).min(max);
                let frame_len = usize::try_from(n).expect("a frame fits in memory");
                let frame = queue.push(file, at, frame_len);
                self.advance(n);
                self.remaining -= n;
                return Poll::Ready(Some(Ok(frame)));
            }
            let n = available.min(CHUNK).min(max);
            // Bytes the page cache holds are read now, on the runtime
            // thread: no trip to the blocking pool.
            if let Some(bytes) = read_cached(&file, at, n) {
                self.advance(n);
                self.remaining -= n;
                return Poll::Ready(Some(Ok(bytes)));
            }
            self.pending = Some(tokio::task::spawn_blocking(move || {
                read_chunk(&file, at, n)
            }));
            self.advance(n);
        }
    }

    /// The file, offset and length the next bytes of the `len` bytes at
    /// `offset` of the source come from: the file itself, or for an
    /// archive, a member (opened now if the body just reached it). Header
    /// bytes and padding never get here: [`FileBody::gather`] takes them.
    fn slice(&mut self, offset: u64, len: u64) -> io::Result<(Arc<Pinned>, u64, u64)> {
        let archive = match &self.source {
            Source::File(file) => return Ok((Arc::clone(file), offset, len)),
            Source::Archive(archive) => Arc::clone(archive),
        };
        match archive.part(offset..offset + len) {
            Some(Part::Data { index, offset, len }) => {
                Ok((self.member_file(&archive, index)?, offset, len))
            }
            None => Err(io::Error::other("a range past the archive's end")),
            Some(_) => Err(io::Error::other("archive header bytes not gathered")),
        }
    }

    /// For an archive: header bytes, padding and small members whose bytes
    /// the page cache holds, gathered into one buffer of at most
    /// [`GATHER`] (and `max`) bytes, so a folder of small files leaves in
    /// few large writes instead of several per member. `None` when the
    /// next bytes are not of that kind (a large member, or one not cached):
    /// the caller streams them.
    fn gather(&mut self, max: u64) -> Option<io::Result<Bytes>> {
        let Source::Archive(archive) = &self.source else {
            return None;
        };
        let archive = Arc::clone(archive);
        let limit = usize::try_from(max.min(GATHER)).unwrap_or(usize::MAX);
        let mut buf: Vec<u8> = Vec::new();
        while buf.len() < limit {
            let Some(Segment::File { offset, len }) = self.segments.front() else {
                break;
            };
            let (offset, len) = (*offset, *len);
            if len == 0 {
                self.segments.pop_front();
                continue;
            }
            let room = limit - buf.len();
            let taken = match archive.part(offset..offset + len) {
                None => break,
                Some(Part::Bytes(bytes)) => {
                    let n = bytes.len().min(room);
                    buf.extend_from_slice(&bytes[..n]);
                    n as u64
                }
                Some(Part::Zeros(n)) => {
                    let n = usize::try_from(n).unwrap_or(usize::MAX).min(room);
                    buf.resize(buf.len() + n, 0);
                    n as u64
                }
                Some(Part::Data { index, offset, len }) => {
                    // Only a small member's whole rest, if it fits.
                    if len > (room as u64).min(SMALL_WITH_SENDFILE) {
                        break;
                    }
                    let file = match self.member_file(&archive, index) {
                        Ok(file) => file,
                        Err(e) if buf.is_empty() => return Some(Err(e)),
                        Err(_) => break,
                    };
                    match read_cached(&file, offset, len) {
                        Some(bytes) => buf.extend_from_slice(&bytes),
                        None => break,
                    }
                    len
                }
            };
            self.advance(taken);
        }
        if buf.is_empty() {
            return None;
        }
        self.remaining -= buf.len() as u64;
        Some(Ok(Bytes::from(buf)))
    }

    /// Member `index` of `archive`, open: the one being sent, or opened
    /// now (and checked to be the version walked).
    fn member_file(&mut self, archive: &Archive, index: usize) -> io::Result<Arc<Pinned>> {
        if let Some((open, file)) = &self.member {
            if *open == index {
                return Ok(Arc::clone(file));
            }
        }
        let file = Arc::new(archive.open(index)?);
        self.member = Some((index, Arc::clone(&file)));
        Ok(file)
    }

    /// Moves the current segment `n` bytes on.
    fn advance(&mut self, n: u64) {
        if let Some(Segment::File { offset, len }) = self.segments.front_mut() {
            *offset += n;
            *len -= n;
        }
    }
}

/// Reads exactly `n` bytes at `offset`, then checks the file is still the one
/// the headers described ([`Pinned::verify`]). Blocking.
fn read_chunk(source: &Pinned, offset: u64, n: u64) -> io::Result<Bytes> {
    let n = usize::try_from(n).map_err(io::Error::other)?;
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match source
            .file
            .read_at(&mut buf[filled..], offset + filled as u64)
        {
            Ok(0) => return Err(source.truncated()),
            Ok(read) => filled += read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    source.verify()?;
    Ok(Bytes::from(buf))
}

/// Bodies up to this size are read into memory when the page cache already
/// holds them, so headers and body leave in one write, on connections that
/// can use sendfile. Above it sendfile wins: random 64 KiB ranges went from
/// about 12k to 14k req/s with it (benches/compare.sh --quick --only S4).
const SMALL_WITH_SENDFILE: u64 = 16 * 1024;

/// The same limit where every body is copied anyway (HTTP/2, TLS,
/// `--no-sendfile`): reading now saves a trip to the blocking pool.
const SMALL: u64 = 64 * 1024;

/// Reads `len` bytes at `offset` only if they are all in the page cache
/// (`preadv2` with `RWF_NOWAIT` never waits for the disk), and only if the
/// file is still the one the headers describe. `None` otherwise: the caller
/// streams the body instead. Safe to call on a runtime thread.
fn read_cached(source: &Pinned, offset: u64, len: u64) -> Option<Bytes> {
    use rustix::io::{ReadWriteFlags, preadv2};
    let n = usize::try_from(len).ok()?;
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        let mut slice = [io::IoSliceMut::new(&mut buf[filled..])];
        let at = offset + filled as u64;
        match preadv2(&*source.file, &mut slice, at, ReadWriteFlags::NOWAIT).ok()? {
            0 => return None,
            read => filled += read,
        }
    }
    // NOTE: a change here is not a cut (the body is then streamed, and its
    // reads see the change), so it is not counted.
    let holds = source.snapshot.holds(&source.file).ok()?;
    holds.then(|| Bytes::from(buf))
}

/// What a response carries.
#[derive(Debug)]
pub enum Content {
    Empty,
    Bytes(Bytes),
    File(FileBody),
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::Bytes(Bytes::from(text))
    }
}

impl Content {
    /// The body of a file response: `segments` of `file`, which the headers
    /// described as `version`; a read that finds the file changed marks the
    /// version stale.
    ///
    /// 1. A single slice no larger than the delivery's small-body limit, all
    ///    in the page cache, is read now: it leaves with the headers in one
    ///    write and needs no trip to the blocking pool (on HTTP/2, which
    ///    cannot use sendfile, that doubled the requests per second for a
    ///    4 KiB file: 9.1k to 17.5k, h2load -c 64 -m 10, one pinned core).
    /// 2. Otherwise the body streams: as sendfile placeholders where the
    ///    delivery allows, else in chunks read on the blocking pool.
    pub fn file(
        file: Arc<File>,
        version: &Version,
        segments: Vec<Segment>,
        delivery: &Delivery,
    ) -> Content {
        let source = Arc::new(Pinned {
            file,
            snapshot: version.snapshot,
            on_change: Some(Arc::clone(&version.stale)),
        });
        if let [Segment::File { offset, len }] = segments.as_slice() {
            if *len <= delivery.small() {
                if let Some(bytes) = read_cached(&source, *offset, *len) {
                    return Content::Bytes(bytes);
                }
            }
        }
        Content::File(FileBody::new(
            Source::File(source),
            segments,
            delivery.clone(),
        ))
    }

    /// The body of an archive response: `segments` of `archive`.
    pub fn archive(archive: Arc<Archive>, segments: Vec<Segment>, delivery: &Delivery) -> Content {
        Content::File(FileBody::new(
            Source::Archive(archive),
            segments,
            delivery.clone(),
        ))
    }

    fn remaining(&self) -> u64 {
        match self {
            Content::Empty => 0,
            Content::Bytes(b) => b.len() as u64,
            Content::File(f) => f.remaining,
        }
    }
}

/// The body type of every response: the content, and the access log entry
/// that is written when hyper is done with the body (sent or dropped).
#[derive(Debug)]
pub struct ResponseBody {
    content: Content,
    log: AccessLog,
    pace: Option<Pace>,
}

impl ResponseBody {
    pub fn new(content: Content, mut log: AccessLog, pace: Option<Pace>) -> Self {
        log.promised = content.remaining();
        ResponseBody { content, log, pace }
    }
}

impl ResponseBody {
    /// The next bytes of the body, at most `max` (at least 1): a connection
    /// that paces the body by flow control asks for no more than it may
    /// send, so no more is read from the file.
    pub fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<Option<io::Result<Bytes>>> {
        let mut max = max.max(1);
        if let Some(pace) = &mut self.pace {
            if self.content.remaining() > 0 {
                let allowed = ready!(pace.poll_allow(cx, max as u64));
                max = usize::try_from(allowed).unwrap_or(max).max(1);
            }
        }
        let next = match &mut self.content {
            Content::Empty => None,
            Content::Bytes(b) if b.is_empty() => None,
            Content::Bytes(b) => Some(Ok(b.split_to(max.min(b.len())))),
            Content::File(f) => ready!(f.poll_chunk(cx, max as u64)),
        };
        match &next {
            Some(Ok(bytes)) => {
                self.log.sent += bytes.len() as u64;
                if let Some(pace) = &mut self.pace {
                    pace.sent(bytes.len() as u64);
                }
            }
            Some(Err(e)) => self.log.failed(e),
            None => {}
        }
        Poll::Ready(next)
    }

    /// Body bytes not yet handed out.
    pub fn remaining(&self) -> u64 {
        self.content.remaining()
    }

    /// Records that the connection gave up on this body before its end
    /// (`reason` goes to the access log), for example a stream reset.
    pub fn abandon(&mut self, reason: &str) {
        self.log.abandoned(reason);
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let next = ready!(self.get_mut().poll_data(cx, usize::MAX));
        Poll::Ready(next.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.content.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.content.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pinned(file: File) -> Pinned {
        let snapshot = crate::fs::snapshot::Snapshot::of(&file.metadata().unwrap());
        Pinned::new(Arc::new(file), snapshot)
    }

    #[test]
    fn read_chunk_reads_exact_slice() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        assert_eq!(&read_chunk(&pinned(f), 3, 4).unwrap()[..], b"3456");
    }

    #[test]
    fn read_chunk_past_end_is_an_error_not_padding() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123").unwrap();
        let err = read_chunk(&pinned(f), 2, 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn read_cached_reads_exact_slice_or_nothing() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let source = pinned(f);
        assert_eq!(&read_cached(&source, 2, 5).unwrap()[..], b"23456");
        assert_eq!(
            read_cached(&source, 8, 5),
            None,
            "past the end is no short read"
        );
        (&*source.file).write_all(b"x").unwrap();
        assert_eq!(
            read_cached(&source, 0, 2),
            None,
            "changed since the headers"
        );
    }

    #[test]
    fn read_chunk_refuses_a_changed_file() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123").unwrap();
        let source = pinned(f);
        (&*source.file).write_all(b"4567").unwrap();
        assert!(read_chunk(&source, 0, 2).is_err());
    }
}
