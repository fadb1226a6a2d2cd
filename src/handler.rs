//! The only Request → Response code.
//!
//! A request flows top to bottom, once:
//! 0. framing: HTTP/1.1 needs exactly one Host (RFC 9112 §3.2); a target
//!    longer than [`MAX_TARGET`] is 414;
//! 1. method gate: GET and HEAD are served, OPTIONS is answered, the rest get 405;
//! 2. resolve: the path is decoded and refused if it could leave the root;
//! 3. open: the file is opened (or taken, still open, from the open-file
//!    cache) and `fstat`ed through its handle (metadata only, on the runtime
//!    thread);
//!    with `--precompressed`, a sidecar (`file.br`, `.zst`, `.gz`) the client
//!    accepts ([`crate::encoding`]) then replaces it as what is sent;
//! 4. validators: ETag and Last-Modified from that metadata;
//! 5. range: the `Range` header decides 200, 206 or 416;
//! 6. headers and body: the body streams the chosen slice of the open file.
//!
//! Errors from resolving and opening become a status in [`refusal`], the one
//! place that maps them.

use std::borrow::Cow;
use std::convert::Infallible;
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::access::AccessLog;
use crate::body::{self, Content, FileBody, ResponseBody, Segment, Snapshot};
use crate::conditional::{self, Conditions, Outcome, Validators};
use crate::cors::Cors;
use crate::encoding::{self, Coding};
use crate::listing;
use crate::multipart::{self, Multipart};
use crate::range::{self, ByteRange, RangeDecision};
use crate::resolve::{self, RequestPath, ResolveError, Root, Target};
use crate::zerocopy::SendQueue;

const ALLOW: &str = "GET, HEAD, OPTIONS";

/// The longest request target served, in bytes (Apache's LimitRequestLine).
pub const MAX_TARGET: usize = 8192;

/// What the handler needs to know of the configuration.
#[derive(Debug)]
pub struct Handler {
    root: Arc<Root>,
    options: Options,
    types: MediaTypes,
}

/// What the command line decides about responses.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub hidden: bool,
    /// List folders that have no `index.html`.
    pub listing: bool,
    pub cache_control: Option<HeaderValue>,
    pub cors: Option<Cors>,
    /// Serve `file.ext.br`, `.zst` or `.gz` to clients that accept it.
    pub precompressed: bool,
}

impl Handler {
    pub fn new(root: Root, options: Options) -> Self {
        Handler {
            root: Arc::new(root),
            options,
            types: MediaTypes::default(),
        }
    }

    /// Answers one request; every outcome, errors included, is a response.
    /// `zero_copy` is the connection's sendfile queue, on plain HTTP/1.x.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
        zero_copy: Option<Arc<SendQueue>>,
    ) -> Result<Response<ResponseBody>, Infallible> {
        let mut log = AccessLog::new(peer, &request);
        let mut response = self.respond(&request, zero_copy).await;
        if let Some(cors) = &self.options.cors {
            cors.apply(request.headers(), response.headers_mut());
        }
        log.status = response.status().as_u16();
        Ok(response.map(|content| ResponseBody::new(content, log)))
    }

    async fn respond<B>(
        &self,
        request: &Request<B>,
        zero_copy: Option<Arc<SendQueue>>,
    ) -> Response<Content> {
        // 0. Framing.
        if let Some(reason) = framing_error(request) {
            tracing::debug!(reason, "bad request framing");
            return short(StatusCode::BAD_REQUEST, &format!("bad request: {reason}"));
        }
        let target = request
            .uri()
            .path_and_query()
            .map_or(0, |pq| pq.as_str().len());
        if target > MAX_TARGET {
            tracing::debug!(target, "request target too long");
            return short(StatusCode::URI_TOO_LONG, "request target too long");
        }

        // 1. Method gate.
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            Method::OPTIONS => {
                let mut r = response(StatusCode::NO_CONTENT)
                    .header(header::ALLOW, ALLOW)
                    .body(Content::Empty)
                    .expect("static headers are valid");
                if self.options.cors.is_some() && Cors::is_preflight(request.headers()) {
                    Cors::preflight(r.headers_mut());
                }
                return r;
            }
            _ => {
                let mut r = short(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
                return r;
            }
        };

        // 2. Resolve, 3. open.
        // NOTE: open and fstat run here, on the runtime thread: they are
        // metadata operations answered from the kernel's dentry and inode
        // caches, and a round trip through the blocking pool (two thread
        // switches) cost far more: 6.5k vs 23.7k req/s for a 4 KiB file on one
        // pinned core (wrk -c 64). File bytes are never read here.
        let target = resolve::decode(request.uri().path(), self.options.hidden)
            .and_then(|path| self.root.open_target(&path).map(|target| (target, path)));
        let (file, meta, path) = match target {
            Ok((Target::File { file, meta, path }, _)) => (file, meta, path),
            Ok((Target::Directory { dir }, path)) => {
                return self.list_directory(request, dir, path, head).await;
            }
            Ok((Target::AddSlash, path)) => {
                let dir = path.url_path(true);
                let with_query = request.uri().query().map(|q| format!("{dir}?{q}"));
                // The query is the client's: keep it only if it is a valid header value.
                let location = with_query
                    .and_then(|l| HeaderValue::try_from(l).ok())
                    .unwrap_or_else(|| {
                        HeaderValue::try_from(dir)
                            .expect("a re-encoded path is a valid header value")
                    });
                let mut r = short(StatusCode::MOVED_PERMANENTLY, "moved permanently");
                r.headers_mut().insert(header::LOCATION, location);
                return r;
            }
            Err(e) => return refusal(e, request),
        };

        // 3b. A precompressed sidecar, when enabled and accepted: the
        // original decided existence and keeps naming the media type.
        let mut representation = Representation {
            content_type: self.types.of(&path),
            zero_copy,
            coding: None,
            vary: self.options.precompressed,
            cache_control: self.options.cache_control.as_ref(),
        };
        let (file, meta) = match self.sidecar(request, &path) {
            Some((coding, sidecar, sidecar_meta)) => {
                representation.coding = Some(coding);
                (Arc::new(sidecar), sidecar_meta)
            }
            None => (file, meta),
        };

        serve_file(request, file, &meta, head, &representation)
    }

    /// With `--precompressed`, the first sidecar of `path` that exists among
    /// the codings the client prefers ([`encoding::preferred`]), opened
    /// beneath the root like the file itself. A sidecar that cannot be opened
    /// is skipped (logged): the unencoded file is always a valid answer.
    fn sidecar<B>(&self, request: &Request<B>, path: &Path) -> Option<(Coding, File, Metadata)> {
        if !self.options.precompressed {
            return None;
        }
        let accept = field(request.headers(), &header::ACCEPT_ENCODING);
        for coding in encoding::preferred(accept.as_deref()) {
            match self.root.open_sibling(path, coding.suffix()) {
                Ok(Some((file, meta))) => return Some((coding, file, meta)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), coding = coding.token(), error = ?e,
                        "cannot open precompressed sidecar; trying the next");
                }
            }
        }
        None
    }

    /// A folder without `index.html`: its listing as HTML, or as JSON for a
    /// client that prefers it, or 404 with `--no-listing`.
    async fn list_directory<B>(
        &self,
        request: &Request<B>,
        dir: File,
        path: RequestPath,
        head: bool,
    ) -> Response<Content> {
        if !self.options.listing {
            return short(StatusCode::NOT_FOUND, "not found");
        }
        let (root, hidden) = (Arc::clone(&self.root), self.options.hidden);
        let listed = tokio::task::spawn_blocking(move || {
            root.list(&path, &dir, hidden)
                .map(|entries| (entries, path))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let (mut entries, path) = match listed {
            Ok(listed) => listed,
            Err(e) => return refusal(ResolveError::from(e), request),
        };
        listing::sort_entries(&mut entries, listing::parse_sort(request.uri().query()));
        let accept = request
            .headers()
            .get(header::ACCEPT)
            .map(HeaderValue::as_bytes);
        let (page, content_type) = if listing::wants_json(accept) {
            (listing::render_json(&entries), "application/json")
        } else {
            let sort = listing::parse_sort(request.uri().query());
            let page = listing::render_html(&path.display(true), &entries, sort, SystemTime::now());
            (page, "text/html; charset=utf-8")
        };
        let mut builder = response(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_LENGTH, page.len())
            .header(header::VARY, "Accept")
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        if content_type.starts_with("text/html") {
            builder = builder.header(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            );
        }
        let content = if head {
            Content::Empty
        } else {
            Content::from(page)
        };
        builder.body(content).expect("static headers are valid")
    }
}

/// How the file about to be served relates to the one the path names.
#[derive(Debug)]
struct Representation<'a> {
    /// The media type of the file the path names (a sidecar's too).
    content_type: HeaderValue,
    /// Send file slices with sendfile through this queue (plain HTTP/1.x).
    zero_copy: Option<Arc<SendQueue>>,
    /// The file is a precompressed sidecar in this coding.
    coding: Option<Coding>,
    /// Send `Vary: Accept-Encoding` (the answer depends on it).
    vary: bool,
    cache_control: Option<&'a HeaderValue>,
}

/// Steps 4 to 6 for an open regular file: `file` and `meta` are what is sent
/// (the original or its sidecar).
/// `Vary: Accept-Encoding` goes on every outcome (304, 412 and 416 included).
fn serve_file<B>(
    request: &Request<B>,
    file: Arc<File>,
    meta: &Metadata,
    head: bool,
    representation: &Representation<'_>,
) -> Response<Content> {
    let mut response = serve_representation(request, file, meta, head, representation);
    if representation.vary {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    response
}

/// Steps 4 to 6 proper; see [`serve_file`].
fn serve_representation<B>(
    request: &Request<B>,
    file: Arc<File>,
    meta: &Metadata,
    head: bool,
    representation: &Representation<'_>,
) -> Response<Content> {
    let cache_control = representation.cache_control;
    // 4. Validators and preconditions: a sidecar has its own, with the
    // coding in the ETag.
    let snapshot = Snapshot::of(meta);
    let length = meta.len();
    let mut validators = Validators::new(length, snapshot.modified, SystemTime::now());
    if let Some(coding) = representation.coding {
        validators = validators.for_coding(coding.token());
    }
    let headers = request.headers();
    let fields = [
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
    ]
    .map(|name| field(headers, &name));
    let [
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
        if_range,
    ] = fields.each_ref().map(Option::as_deref);
    let conditions = Conditions {
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
        if_range,
    };
    let range = headers.get(header::RANGE);
    let range_applies = match conditional::evaluate(&conditions, &validators, range.is_some()) {
        Outcome::Proceed { range_applies } => range_applies,
        Outcome::NotModified => {
            let mut builder = response(StatusCode::NOT_MODIFIED);
            let headers = builder.headers_mut().expect("a fresh builder has headers");
            cache_headers(headers, &validators, cache_control);
            return builder
                .body(Content::Empty)
                .expect("validator headers are valid");
        }
        Outcome::PreconditionFailed => {
            return short(StatusCode::PRECONDITION_FAILED, "precondition failed");
        }
    };

    // 5. Range, over the bytes sent (encoded ones for a sidecar).
    let decision = match range {
        Some(value) if range_applies => range::decide(value.as_bytes(), length),
        _ => RangeDecision::Full,
    };
    // NOTE: several ranges of an encoded file would need a Content-Encoding
    // per part, which multipart/byteranges has no agreed place for; the
    // whole file is sent instead (ignoring a Range is always allowed,
    // RFC 9110 §14.2). Single ranges, which resuming clients send, apply.
    let decision = match decision {
        RangeDecision::Partial(ranges) if ranges.len() > 1 && representation.coding.is_some() => {
            RangeDecision::Full
        }
        other => other,
    };

    // 6. Headers and body.
    let mut builder = response(StatusCode::OK);
    let headers = builder.headers_mut().expect("a fresh builder has headers");
    cache_headers(headers, &validators, cache_control);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(coding) = representation.coding {
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.token()),
        );
    }
    let content_type = representation.content_type.clone();
    let segments = match decision {
        RangeDecision::Full => {
            headers.insert(header::CONTENT_TYPE, content_type);
            vec![Segment::File {
                offset: 0,
                len: length,
            }]
        }
        RangeDecision::Partial(ranges) => {
            builder = builder.status(StatusCode::PARTIAL_CONTENT);
            let headers = builder.headers_mut().expect("a fresh builder has headers");
            if let [r] = ranges.as_slice() {
                headers.insert(header::CONTENT_TYPE, content_type);
                headers.insert(header::CONTENT_RANGE, content_range(r, length));
                vec![Segment::File {
                    offset: r.first,
                    len: r.len(),
                }]
            } else {
                let part_type = content_type.to_str().unwrap_or("application/octet-stream");
                let multipart = Multipart::new(&ranges, length, part_type, &multipart::boundary());
                let value = HeaderValue::try_from(multipart.content_type)
                    .expect("a hex boundary is a valid header value");
                headers.insert(header::CONTENT_TYPE, value);
                multipart.segments
            }
        }
        RangeDecision::Unsatisfiable => {
            let mut r = short(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            let unsatisfied = HeaderValue::try_from(format!("bytes */{length}"))
                .expect("a number is a valid header value");
            r.headers_mut().insert(header::CONTENT_RANGE, unsatisfied);
            r.headers_mut()
                .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return r;
        }
    };
    let body_length: u64 = segments.iter().map(Segment::len).sum();
    builder = builder.header(header::CONTENT_LENGTH, body_length);
    let zero_copy = representation.zero_copy.clone();
    let small = if zero_copy.is_some() {
        body::SMALL_WITH_SENDFILE
    } else {
        body::SMALL
    };
    let content = if head {
        Content::Empty
    } else if let Some(bytes) = small_body(&file, snapshot, &segments, small) {
        Content::Bytes(bytes)
    } else {
        Content::File(FileBody::new(file, snapshot, segments, zero_copy))
    };
    builder.body(content).expect("file headers are valid")
}

/// A small single-slice body already in the page cache, read now so it leaves
/// with the headers in one write and needs no trip to the blocking pool: on
/// HTTP/2, which cannot use sendfile, that doubled the requests per second
/// for a 4 KiB file (9.1k to 17.5k, h2load -c 64 -m 10, one pinned core).
fn small_body(file: &File, snapshot: Snapshot, segments: &[Segment], limit: u64) -> Option<Bytes> {
    match segments {
        [Segment::File { offset, len }] if *len <= limit => {
            body::read_cached(file, snapshot, *offset, *len)
        }
        _ => None,
    }
}

/// A header field's value; several field lines are joined with `, ` as
/// RFC 9110 §5.3 allows for list-based fields.
fn field<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<Cow<'a, [u8]>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?.as_bytes();
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut joined = first.to_vec();
    for more in std::iter::once(second).chain(values) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(more.as_bytes());
    }
    Some(Cow::Owned(joined))
}

fn content_range(r: &ByteRange, length: u64) -> HeaderValue {
    HeaderValue::try_from(format!("bytes {}-{}/{length}", r.first, r.last))
        .expect("numbers are a valid header value")
}

/// ETag, Last-Modified and the configured Cache-Control: on every file
/// response, 304 included (RFC 9110 §15.4.5).
fn cache_headers(headers: &mut HeaderMap, v: &Validators, cache_control: Option<&HeaderValue>) {
    if let Some(value) = cache_control {
        headers.insert(header::CACHE_CONTROL, value.clone());
    }
    if let Ok(etag) = HeaderValue::from_str(&v.etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(modified) = v.last_modified {
        let date = httpdate::fmt_http_date(modified);
        if let Ok(date) = HeaderValue::from_str(&date) {
            headers.insert(header::LAST_MODIFIED, date);
        }
    }
}

/// RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request that
/// lacks a Host header, and to any request with more than one. (HTTP/2 carries
/// the authority in `:authority` instead.)
fn framing_error<B>(request: &Request<B>) -> Option<&'static str> {
    let hosts = request.headers().get_all(header::HOST).iter().count();
    match (request.version(), hosts) {
        (_, 2..) => Some("more than one Host header"),
        (hyper::Version::HTTP_11, 0) => Some("HTTP/1.1 requests need a Host header"),
        _ => None,
    }
}

/// Media types by file extension, worked out once per extension: the lookup
/// and the formatting cost more than a hash of a few bytes.
#[derive(Debug, Default)]
struct MediaTypes {
    known: std::sync::Mutex<std::collections::HashMap<Box<OsStr>, HeaderValue>>,
}

impl MediaTypes {
    /// At most this many extensions are remembered; the rest are worked out
    /// each time.
    const CAPACITY: usize = 512;

    fn of(&self, path: &Path) -> HeaderValue {
        let Some(extension) = path.extension() else {
            return content_type(path);
        };
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(value) = known.get(extension) {
            return value.clone();
        }
        let value = content_type(path);
        if known.len() < Self::CAPACITY {
            known.insert(extension.into(), value.clone());
        }
        value
    }
}

/// The media type from the file's extension; text gets `charset=utf-8`,
/// unknown gets `application/octet-stream`.
fn content_type(path: &Path) -> HeaderValue {
    let Some(mime) = mime_guess::from_path(path).first() else {
        return HeaderValue::from_static("application/octet-stream");
    };
    let text = mime.type_() == mime_guess::mime::TEXT || mime.subtype() == "javascript";
    let value = if text && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// Turns a reason a path does not lead to a file into a response: the one
/// place that maps them. Client mistakes log at debug, faults at error.
fn refusal<B>(err: ResolveError, request: &Request<B>) -> Response<Content> {
    let path = request.uri().path();
    match err {
        ResolveError::BadRequest(reason) => {
            tracing::debug!(path, reason, "bad request path");
            short(StatusCode::BAD_REQUEST, &format!("bad request: {reason}"))
        }
        ResolveError::NotFound => short(StatusCode::NOT_FOUND, "not found"),
        ResolveError::Forbidden => {
            tracing::debug!(path, "permission denied");
            short(StatusCode::FORBIDDEN, "forbidden")
        }
        ResolveError::Io(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
            tracing::warn!(path, error = %e, "out of file descriptors");
            let mut r = short(
                StatusCode::SERVICE_UNAVAILABLE,
                "server busy, retry shortly",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        ResolveError::Io(e) => {
            tracing::error!(path, error = %e, "cannot open");
            short(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        }
    }
}

fn response(status: StatusCode) -> hyper::http::response::Builder {
    Response::builder().status(status)
}

/// A response whose body is one short line of text, for everything that is
/// not a file.
fn short(status: StatusCode, message: &str) -> Response<Content> {
    response(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Content::from(format!("{message}\n")))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_media_types_match_a_fresh_lookup_whatever_the_case() {
        let types = MediaTypes::default();
        for name in [
            "a.txt",
            "b.TXT",
            "c.js",
            "d.iso",
            "e.unknownext",
            "noext",
            "f.txt",
        ] {
            let path = Path::new(name);
            assert_eq!(types.of(path), content_type(path), "{name}");
            assert_eq!(types.of(path), content_type(path), "{name}, remembered");
        }
        assert_eq!(
            types.of(Path::new("x.txt")),
            HeaderValue::from_static("text/plain; charset=utf-8")
        );
    }

    #[test]
    fn media_types_stay_bounded() {
        let types = MediaTypes::default();
        for i in 0..MediaTypes::CAPACITY + 100 {
            let _ = types.of(Path::new(&format!("f.ext{i}")));
        }
        let known = types
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(known.len(), MediaTypes::CAPACITY);
    }
}
