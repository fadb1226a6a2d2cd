//! The only Request → Response code.
//!
//! A request flows top to bottom, once:
//! 1. method gate: GET and HEAD are served, OPTIONS is answered, the rest get 405;
//! 2. resolve: the path is decoded and refused if it could leave the root;
//! 3. open: the file is opened and `fstat`ed through its handle (blocking pool);
//! 4. validators: ETag and Last-Modified from that metadata;
//! 5. range: the `Range` header decides 200, 206 or 416;
//! 6. headers and body: the body streams the chosen slice of the open file.
//!
//! Errors from resolving and opening become a status in [`refusal`], the one
//! place that maps them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::access::AccessLog;
use crate::body::{Content, FileBody, ResponseBody, Segment, Snapshot};
use crate::conditional::Validators;
use crate::range::{self, RangeDecision};
use crate::resolve::{self, ResolveError, Target};

const ALLOW: &str = "GET, HEAD, OPTIONS";

/// What the handler needs to know of the configuration.
#[derive(Debug)]
pub struct Handler {
    root: PathBuf,
    hidden: bool,
}

impl Handler {
    /// `root` must be absolute and canonical.
    pub fn new(root: PathBuf, hidden: bool) -> Self {
        Handler { root, hidden }
    }

    /// Answers one request; every outcome, errors included, is a response.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<ResponseBody>, Infallible> {
        let mut log = AccessLog::new(peer, &request);
        let response = self.respond(&request).await;
        log.status = response.status().as_u16();
        Ok(response.map(|content| ResponseBody::new(content, log)))
    }

    async fn respond<B>(&self, request: &Request<B>) -> Response<Content> {
        // 1. Method gate.
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            Method::OPTIONS => {
                return response(StatusCode::NO_CONTENT)
                    .header(header::ALLOW, ALLOW)
                    .body(Content::Empty)
                    .expect("static headers are valid");
            }
            _ => {
                let mut r = short(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
                return r;
            }
        };

        // 2. Resolve, 3. open.
        let target = match resolve::decode(request.uri().path(), self.hidden) {
            Ok(path) => {
                let root = self.root.clone();
                tokio::task::spawn_blocking(move || {
                    resolve::open(&root, &path).map(|target| (target, path))
                })
                .await
                .unwrap_or_else(|e| Err(ResolveError::Io(std::io::Error::other(e))))
            }
            Err(e) => Err(e),
        };
        let (file, meta, path) = match target {
            Ok((Target::File { file, meta, path }, _)) => (file, meta, path),
            Ok((Target::AddSlash, path)) => {
                let mut location = path.url_path(true);
                if let Some(query) = request.uri().query() {
                    location.push('?');
                    location.push_str(query);
                }
                let mut r = short(StatusCode::MOVED_PERMANENTLY, "moved permanently");
                let location = HeaderValue::try_from(location)
                    .expect("a re-encoded path is a valid header value");
                r.headers_mut().insert(header::LOCATION, location);
                return r;
            }
            Err(e) => return refusal(e, request),
        };

        // 4. Validators, 5. range, 6. headers and body.
        let snapshot = Snapshot::of(&meta);
        let validators = Validators::new(meta.len(), snapshot.modified, SystemTime::now());
        let decision = match request.headers().get(header::RANGE) {
            Some(value) => range::decide(value.as_bytes(), meta.len()),
            None => RangeDecision::Full,
        };
        let mut builder = response(StatusCode::OK);
        let headers = builder.headers_mut().expect("a fresh builder has headers");
        file_headers(headers, &path, &validators);
        let segments = match decision {
            RangeDecision::Partial(ranges) if ranges.len() == 1 => {
                let r = ranges[0];
                builder = builder.status(StatusCode::PARTIAL_CONTENT).header(
                    header::CONTENT_RANGE,
                    format!("bytes {}-{}/{}", r.first, r.last, meta.len()),
                );
                vec![Segment::File {
                    offset: r.first,
                    len: r.len(),
                }]
            }
            RangeDecision::Unsatisfiable => {
                let mut r = short(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
                let unsatisfied = HeaderValue::try_from(format!("bytes */{}", meta.len()))
                    .expect("a number is a valid header value");
                r.headers_mut().insert(header::CONTENT_RANGE, unsatisfied);
                r.headers_mut()
                    .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                return r;
            }
            // NOTE: several ranges are served whole until multipart/byteranges exists.
            RangeDecision::Full | RangeDecision::Partial(_) => {
                vec![Segment::File {
                    offset: 0,
                    len: meta.len(),
                }]
            }
        };
        let length: u64 = segments
            .iter()
            .map(|s| match s {
                Segment::File { len, .. } => *len,
                Segment::Bytes(b) => b.len() as u64,
            })
            .sum();
        builder = builder.header(header::CONTENT_LENGTH, length);
        let content = if head {
            Content::Empty
        } else {
            Content::File(FileBody::new(file, snapshot, segments))
        };
        builder.body(content).expect("file headers are valid")
    }
}

/// The headers every file response carries, whatever its status.
fn file_headers(headers: &mut HeaderMap, path: &Path, v: &Validators) {
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_TYPE, content_type(path));
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
