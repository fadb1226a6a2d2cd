//! The only Request → Response code, and the one place that orchestrates a
//! request.
//!
//! A request flows top to bottom, once:
//! 0. client: behind a trusted proxy (`--real-ip-from`), the address it
//!    reports (`http/forwarded.rs`), which the log and the per-address
//!    limits then use; framing: HTTP/1.1 needs exactly one Host (RFC 9112
//!    §3.2); a target longer than [`MAX_TARGET`] is 414; with
//!    `--path-prefix`, a path outside it is 404;
//! 1. method gate: GET and HEAD are served, OPTIONS is answered, the rest get 405;
//! 2. resolve: the path is decoded and refused if it could leave the root
//!    (`fs/path.rs`);
//! 3. open: the file is opened and `fstat`ed through its handle, or taken
//!    still open from the open-file cache with the version it kept since its
//!    last change (`fs/root.rs`, `fs/filecache.rs`; metadata only, on the
//!    runtime thread); with `--precompressed`, a sidecar (`file.br`,
//!    `.zst`, `.gz`) the client accepts (`http/negotiate.rs`) then replaces
//!    it as what is sent; a folder is listed (`listing/`), or with
//!    `?archive=tar` served as a tar of its tree (`archive/`); the digest of
//!    what is sent, if asked for and known (`http/digest.rs`,
//!    `fs/digests.rs`; unknown ones are hashed in the background);
//! 4. preconditions: ETag and Last-Modified from that metadata, then the
//!    conditional fields decide 304, 412 or go on (`http/conditional.rs`);
//! 5. range: the `Range` header decides 200, 206 or 416 (`http/range.rs`);
//! 6. headers and body: the body streams the chosen slices of the open file
//!    (`body.rs`, which alone knows how the connection takes the bytes).
//!
//! Errors from resolving and opening become a status in [`refusal`], the one
//! place that maps them.

use std::fs::{File, Metadata};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::access::AccessLog;
use crate::archive::{self, Archive, Archives};
use crate::body::{Content, Delivery, ResponseBody};
use crate::fs::ResolveError;
use crate::fs::digests::{self, Digests, Sums};
use crate::fs::entries::Entry;
use crate::fs::path::{self, RequestPath};
use crate::fs::root::{Root, Target};
use crate::fs::snapshot::Version;
use crate::guard::clients::Clients;
use crate::guard::{self, Guard, Verdict};
use crate::http::basic;
use crate::http::conditional::{self, ConditionalFields, Outcome, Validators};
use crate::http::cors::Cors;
use crate::http::digest::{self, Algorithm};
use crate::http::disposition;
use crate::http::fields;
use crate::http::forwarded::{self, Cidr, Source};
use crate::http::multipart::{self, Multipart, Segment};
use crate::http::negotiate::{self, Coding};
use crate::http::range::{self, RangeDecision};
use crate::listing::{Download, Page};
use crate::media_type::MediaTypes;

const ALLOW: &str = "GET, HEAD, OPTIONS";

/// RFC 9530 §4 and §3; parsed once, not per request.
const WANT_REPR_DIGEST: HeaderName = HeaderName::from_static("want-repr-digest");
const REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");

/// The longest request target served, in bytes (Apache's LimitRequestLine).
pub const MAX_TARGET: usize = 8192;

/// What the handler needs to know of the configuration.
#[derive(Debug)]
pub struct Handler {
    root: Arc<Root>,
    options: Options,
    guard: Guard,
    types: MediaTypes,
    proxies: Proxies,
    digests: Arc<Digests>,
    /// Per-address limits, for clients behind a trusted proxy (the server
    /// applies them per connection to everyone else).
    clients: Arc<Clients>,
    /// Folder archives kept between requests; `None` with `--no-archive`.
    archives: Option<Archives>,
}

/// The proxies whose word on the client's address is taken.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// `--real-ip-from`.
    pub trusted: Vec<Cidr>,
    /// `--real-ip-header`.
    pub source: Source,
}

impl Proxies {
    /// Whether a connection from `ip` is a trusted proxy's.
    pub fn trusts(&self, ip: std::net::IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }
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
    /// `--path-prefix`, canonical, without a trailing slash; empty for none.
    pub path_prefix: String,
    /// `--digest`: send `Repr-Digest: sha-256` unasked, and hash every file
    /// in the background.
    pub digest: bool,
    /// Serve `?archive=tar` on folders, within these limits (not with
    /// `--no-archive`).
    pub archives: Option<crate::fs::tree::Limits>,
}

impl Handler {
    pub fn new(
        root: Root,
        options: Options,
        guard: Guard,
        (proxies, clients): (Proxies, Arc<Clients>),
        digests: Arc<Digests>,
    ) -> Self {
        let archives = options
            .archives
            .map(|limits| Archives::new(options.hidden, limits));
        Handler {
            digests,
            archives,
            root: Arc::new(root),
            options,
            guard,
            types: MediaTypes::default(),
            proxies,
            clients,
        }
    }

    /// Whether connections from `ip` are a trusted proxy's: the server then
    /// leaves per-address limits to [`Handler::serve`], per request.
    pub fn is_proxy(&self, ip: std::net::IpAddr) -> bool {
        self.proxies.trusts(ip)
    }

    /// Replaces the `--link-key` (SIGHUP).
    pub fn reload_link_key(&self, key: Arc<crate::guard::link::LinkKey>) {
        self.guard.reload_link_key(key);
    }

    /// Digest jobs (queued or running, finished), for `--metrics`.
    pub fn digest_stats(&self) -> (u64, u64) {
        self.digests.stats()
    }

    /// Open-file cache lookups (hits, misses) so far, for `--metrics`.
    pub fn file_cache_stats(&self) -> Option<(u64, u64)> {
        self.root.cache_stats()
    }

    /// The answer to every request on a connection from a client that
    /// already has `--max-connections-per-ip` others: 429, retry in a second.
    pub fn over_limit<B>(&self, request: &Request<B>, peer: SocketAddr) -> Response<ResponseBody> {
        let mut log = AccessLog::new(peer, request);
        tracing::debug!(%peer, "too many connections from this client");
        let r = too_many(
            "too many connections from your address",
            Duration::from_secs(1),
        );
        log.status = r.status().as_u16();
        r.map(|content| ResponseBody::new(content, log, None))
    }

    /// Answers one request; every outcome, errors included, is a response.
    /// `delivery` is how the connection takes file bytes (the server's
    /// choice). The request's body, if any, is never read.
    pub async fn serve<B>(
        &self,
        request: &Request<B>,
        peer: SocketAddr,
        delivery: Delivery,
    ) -> Response<ResponseBody> {
        // 0. Client: behind a trusted proxy, the address it reports, and
        // that client's share of the per-address limits for this request.
        let (peer, delivery) = if self.proxies.trusts(peer.ip()) {
            let values = request.headers().get_all(match self.proxies.source {
                Source::XForwardedFor => "x-forwarded-for",
                Source::Forwarded => "forwarded",
            });
            let values = values.iter().map(HeaderValue::as_bytes);
            let ip = forwarded::client_address(
                peer.ip(),
                self.proxies.source,
                values,
                &self.proxies.trusted,
            );
            let client = SocketAddr::new(ip, 0);
            if !self.clients.is_limited() {
                (client, delivery)
            } else {
                let admission = self.clients.admit(ip);
                if admission.over_limit {
                    return self.over_limit(request, client);
                }
                (client, delivery.for_client(admission))
            }
        } else {
            (peer, delivery)
        };
        let mut log = AccessLog::new(peer, request);
        let pace = delivery.pace();
        let mut response = self.respond(request, peer, delivery, &mut log).await;
        if let Some(cors) = &self.options.cors {
            cors.apply(request.headers(), response.headers_mut());
        }
        log.status = response.status().as_u16();
        response.map(|content| ResponseBody::new(content, log, pace))
    }

    async fn respond<B>(
        &self,
        request: &Request<B>,
        peer: SocketAddr,
        delivery: Delivery,
        log: &mut AccessLog,
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
        let prefix = self.options.path_prefix.as_str();
        let Some(uri_path) = request.uri().path().strip_prefix(prefix) else {
            return short(StatusCode::NOT_FOUND, "not found");
        };
        if !prefix.is_empty() && uri_path.is_empty() {
            // `/downloads`: the folder is at `/downloads/`.
            let mut r = short(StatusCode::MOVED_PERMANENTLY, "moved permanently");
            let location = HeaderValue::try_from(format!("{prefix}/"))
                .expect("a canonical path is a valid header value");
            r.headers_mut().insert(header::LOCATION, location);
            return r;
        }
        if !prefix.is_empty() && !uri_path.starts_with('/') && request.method() != Method::OPTIONS {
            return short(StatusCode::NOT_FOUND, "not found");
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
        let path = match path::decode(uri_path, self.options.hidden) {
            Ok(path) => path,
            Err(e) => return refusal(e, request),
        };

        // 2b. Authorize (`guard/`): before anything is opened, so a refused
        // request learns nothing about what exists.
        let link = match self.authorize(request, &path, peer).await {
            Ok((user, link)) => {
                log.user = user;
                link
            }
            Err(refused) => return refused,
        };

        // 3a. A folder's archive (`archive/`), with a listing's rules.
        if let Some(asked) = archive::requested(request.uri().query()) {
            if path.trailing_slash {
                return match asked {
                    Ok(()) => self.serve_archive(request, &path, head, delivery).await,
                    Err(reason) => {
                        short(StatusCode::BAD_REQUEST, &format!("bad request: {reason}"))
                    }
                };
            }
        }

        let target = self.root.open_target(&path).map(|target| (target, path));
        let (file, version, path) = match target {
            Ok((
                Target::File {
                    file,
                    version,
                    path,
                },
                _,
            )) => (file, version, path),
            Ok((Target::Directory { dir }, path)) => {
                return self
                    .list_directory(request, dir, path, head, link.as_deref())
                    .await;
            }
            Ok((Target::AddSlash, path)) => {
                let dir = format!("{prefix}{}", path.url_path(true));
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
            delivery,
            coding: None,
            vary: self.options.precompressed,
            cache_control: self.options.cache_control.as_ref(),
            digest: None,
            disposition: None,
        };
        let (file, version) = match self.sidecar(request, &path) {
            Some((coding, sidecar, sidecar_meta)) => {
                representation.coding = Some(coding);
                (Arc::new(sidecar), Arc::new(Version::of(&sidecar_meta)))
            }
            None => (file, version),
        };
        // 3c. The digest of what is sent (a sidecar's own), when asked for
        // or with --digest, if known; else it is queued for hashing.
        representation.digest = self.repr_digest(request, &file, version.key, &path);

        // 4. Validators: a sidecar has its own, with the coding in the ETag.
        let coding = representation.coding.map(Coding::token);
        let answer = |version: &Arc<Version>| {
            let prepared = Prepared::of(version, coding, SystemTime::now());
            let origin = Origin::File(Arc::clone(&file), Arc::clone(version));
            serve(request, origin, &prepared, head, &representation)
        };
        let response = answer(&version);
        // NOTE: a body read from the file is checked against the version
        // after the read (`fs/snapshot.rs`). A response that reads nothing
        // (304, 412, 416, HEAD) is checked here instead, with an `fstat`:
        // the version may come from the open-file cache, which a write
        // through a shared mapping does not reach.
        let reads_file = !head && matches!(response.status().as_u16(), 200 | 206);
        if reads_file || version.snapshot.holds(&file).unwrap_or(false) {
            return response;
        }
        version
            .stale
            .store(true, std::sync::atomic::Ordering::Relaxed);
        match file.metadata() {
            Ok(meta) => answer(&Arc::new(Version::of(&meta))),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot fstat an open file");
                short(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }

    /// `?archive=tar` on a folder: its tar (`archive/`), served like a file
    /// (steps 4 to 6) with the archive's ETag and length. Refused where a
    /// listing is (`--no-listing`, `--no-archive`).
    async fn serve_archive<B>(
        &self,
        request: &Request<B>,
        path: &RequestPath,
        head: bool,
        delivery: Delivery,
    ) -> Response<Content> {
        let Some(archives) = self.archives.as_ref().filter(|_| self.options.listing) else {
            return short(StatusCode::NOT_FOUND, "not found");
        };
        let dir = match self.root.open_folder(path) {
            Ok(dir) => dir,
            Err(e) => return refusal(e, request),
        };
        let name = path.last().unwrap_or(archive::ROOT_NAME);
        let archive = match archives.get(dir, name).await {
            Ok(archive) => archive,
            Err(e) => return refusal(e, request),
        };
        let mut validators = Validators::new(0, archive.modified, SystemTime::now());
        validators.etag.clone_from(&archive.etag);
        let prepared = Prepared::new(validators);
        let mut file_name = name.to_vec();
        file_name.extend_from_slice(b".tar");
        let disposition = disposition::attachment(&String::from_utf8_lossy(&file_name));
        let representation = Representation {
            content_type: HeaderValue::from_static("application/x-tar"),
            delivery,
            coding: None,
            vary: false,
            cache_control: self.options.cache_control.as_ref(),
            digest: None,
            disposition: HeaderValue::try_from(disposition).ok(),
        };
        serve(
            request,
            Origin::Archive(archive),
            &prepared,
            head,
            &representation,
        )
    }

    /// Step 3c: `Repr-Digest` (RFC 9530 §3) for the version `meta`
    /// describes, in the algorithm the client prefers (`Want-Repr-Digest`,
    /// §4) or SHA-256 with `--digest`. Unknown yet: `None`, and the file is
    /// queued, so the digest never delays a response.
    fn repr_digest<B>(
        &self,
        request: &Request<B>,
        file: &Arc<File>,
        key: digests::Key,
        path: &Path,
    ) -> Option<HeaderValue> {
        let want = request.headers().get_all(WANT_REPR_DIGEST);
        let asked = digest::wanted(want.iter().map(HeaderValue::as_bytes));
        let algorithm = asked.or(self.options.digest.then_some(Algorithm::Sha256))?;
        let sha512 = algorithm == Algorithm::Sha512;
        let sums = self.digests.get(&key);
        let bytes: &[u8] = match (&sums, algorithm) {
            (Some(sums), Algorithm::Sha256) => &sums.sha256,
            (
                Some(Sums {
                    sha512: Some(bytes),
                    ..
                }),
                Algorithm::Sha512,
            ) => bytes,
            _ => {
                self.digests.queue(Arc::clone(file), key, path, sha512);
                return None;
            }
        };
        HeaderValue::try_from(digest::repr_digest(algorithm, bytes)).ok()
    }

    /// Step 2b: the guard's verdict for this request. Allowed: who
    /// authenticated and the link that opened it; refused: the response.
    async fn authorize<B>(
        &self,
        request: &Request<B>,
        path: &RequestPath,
        peer: SocketAddr,
    ) -> Result<(Option<String>, Option<String>), Response<Content>> {
        if self.guard.is_open() {
            return Ok((None, None));
        }
        let canonical = path.url_path(path.trailing_slash);
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let verdict = self
            .guard
            .check(&canonical, request.uri().query(), authorization, peer.ip())
            .await;
        match verdict {
            Verdict::Allow { user, link } => Ok((user, link)),
            Verdict::Challenge => {
                let mut r = short(StatusCode::UNAUTHORIZED, "authentication required");
                let challenge = HeaderValue::try_from(basic::challenge(guard::REALM))
                    .expect("an escaped realm is a valid header value");
                r.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                Err(r)
            }
            Verdict::Forbidden(reason) => Err(short(StatusCode::FORBIDDEN, reason)),
            Verdict::Throttled(wait) => {
                Err(too_many("too many failed attempts; retry later", wait))
            }
        }
    }

    /// With `--precompressed`, the first sidecar of `path` that exists among
    /// the codings the client prefers ([`negotiate::preferred`]), opened
    /// beneath the root like the file itself. A sidecar that cannot be opened
    /// is skipped (logged): the unencoded file is always a valid answer.
    fn sidecar<B>(&self, request: &Request<B>, path: &Path) -> Option<(Coding, File, Metadata)> {
        if !self.options.precompressed {
            return None;
        }
        let accept = fields::joined(request.headers(), &header::ACCEPT_ENCODING);
        for coding in negotiate::preferred(accept.as_deref()) {
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
        link: Option<&str>,
    ) -> Response<Content> {
        if !self.options.listing {
            return short(StatusCode::NOT_FOUND, "not found");
        }
        let (root, hidden) = (Arc::clone(&self.root), self.options.hidden);
        let listed = tokio::task::spawn_blocking(move || {
            root.list(&path, &dir, hidden)
                .map(|entries| (entries, path, dir))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let (mut entries, path, dir) = match listed {
            Ok(listed) => listed,
            Err(e) => return refusal(ResolveError::from(e), request),
        };
        for entry in &mut entries {
            let sums = entry.version.and_then(|version| self.digests.get(&version));
            entry.sha256 = sums.as_ref().map(digests::sha256_hex);
        }
        if request.uri().query() == Some("sha256sums") {
            return self.sha256sums(&entries, &dir, &path, head);
        }
        let accept = request.headers().get(header::ACCEPT);
        let json = negotiate::wants_json(accept.map(HeaderValue::as_bytes));
        // The folder's own archive: its size on the HTML page (the walk is
        // cached, so the download that follows does not walk again).
        let download = match &self.archives {
            Some(_) if json => Some(Download::Offered),
            Some(archives) => Some(match dir.try_clone() {
                Ok(handle) => {
                    let name = path.last().unwrap_or(archive::ROOT_NAME);
                    match archives.get(handle, name).await {
                        Ok(archive) => Download::Ready(archive.len()),
                        Err(ResolveError::Refused(reason)) => Download::Refused(reason),
                        Err(_) => Download::Refused("it cannot be read".to_string()),
                    }
                }
                Err(_) => Download::Refused("it cannot be read".to_string()),
            }),
            None => None,
        };
        let display = path.display(true);
        let page = Page::render(
            entries,
            &display,
            request.uri().query(),
            json,
            link,
            download.as_ref(),
            SystemTime::now(),
        );
        let mut builder = response(StatusCode::OK).header(header::CONTENT_LENGTH, page.body.len());
        if self.archives.is_some() {
            // The folder's archive, for clients of the JSON listing too
            // (RFC 8288).
            builder = builder.header(
                header::LINK,
                "<?archive=tar>; rel=\"alternate\"; type=\"application/x-tar\"",
            );
        }
        for (name, value) in page.headers() {
            builder = builder.header(name, value);
        }
        let content = if head {
            Content::Empty
        } else {
            Content::from(page.body)
        };
        builder.body(content).expect("static headers are valid")
    }
}

impl Handler {
    /// `?sha256sums` on a folder: the known SHA-256 of its files in the
    /// format `sha256sum -c` reads (GNU's escaping for names with `\\` or
    /// a newline); files not hashed yet are named in a `# pending` comment
    /// line and queued.
    fn sha256sums(
        &self,
        entries: &[Entry],
        dir: &File,
        path: &RequestPath,
        head: bool,
    ) -> Response<Content> {
        let mut files: Vec<&Entry> = entries.iter().filter(|e| !e.is_dir).collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut body = Vec::new();
        for entry in files {
            let name = &entry.name;
            let Some(sha256) = &entry.sha256 else {
                body.extend_from_slice(b"# pending: ");
                body.extend(name.iter().map(|&b| if b == b'\n' { b'?' } else { b }));
                body.push(b'\n');
                if let Ok(file) = crate::fs::entries::open_file(dir, name) {
                    if let Ok(meta) = file.metadata() {
                        let shown = path.display(false);
                        let log_name =
                            Path::new(&shown).join(String::from_utf8_lossy(name).as_ref());
                        self.digests.queue(
                            Arc::new(file),
                            digests::Key::of(&meta),
                            &log_name,
                            false,
                        );
                    }
                }
                continue;
            };
            let escape = name.contains(&b'\\') || name.contains(&b'\n');
            if escape {
                body.push(b'\\');
            }
            body.extend_from_slice(sha256.as_bytes());
            body.extend_from_slice(b"  ");
            for &b in name {
                match b {
                    b'\\' if escape => body.extend_from_slice(b"\\\\"),
                    b'\n' => body.extend_from_slice(b"\\n"),
                    _ => body.push(b),
                }
            }
            body.push(b'\n');
        }
        let length = body.len();
        let content = if head {
            Content::Empty
        } else {
            Content::Bytes(body.into())
        };
        response(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::CONTENT_LENGTH, length)
            .body(content)
            .expect("static headers are valid")
    }
}

/// How the file about to be served relates to the one the path names.
#[derive(Debug)]
struct Representation<'a> {
    /// The media type of the file the path names (a sidecar's too).
    content_type: HeaderValue,
    /// How the connection takes the file's bytes.
    delivery: Delivery,
    /// The file is a precompressed sidecar in this coding.
    coding: Option<Coding>,
    /// Send `Vary: Accept-Encoding` (the answer depends on it).
    vary: bool,
    cache_control: Option<&'a HeaderValue>,
    /// `Repr-Digest`, on 200, 206 and 304.
    digest: Option<HeaderValue>,
    /// `Content-Disposition` (an archive's), on 200 and 206.
    disposition: Option<HeaderValue>,
}

/// What a response's body is taken from.
#[derive(Debug)]
enum Origin {
    /// An open file, and the version its headers describe.
    File(Arc<File>, Arc<Version>),
    /// A folder's archive.
    Archive(Arc<Archive>),
}

impl Origin {
    fn len(&self) -> u64 {
        match self {
            Origin::File(_, version) => version.snapshot.len,
            Origin::Archive(archive) => archive.len(),
        }
    }
}

/// Steps 4 to 6 for what is sent (a file, its sidecar, or an archive),
/// whose `validators` are known. One exit: `Vary: Accept-Encoding` goes on
/// every outcome (304, 412 and 416 included).
fn serve<B>(
    request: &Request<B>,
    origin: Origin,
    prepared: &Prepared,
    head: bool,
    representation: &Representation<'_>,
) -> Response<Content> {
    // 4. Preconditions.
    let length = origin.len();
    let validators = &prepared.validators;
    let fields = ConditionalFields::from_headers(request.headers());
    let range = request.headers().get(header::RANGE);
    let outcome = conditional::evaluate(&fields.conditions(), validators, range.is_some());

    let mut response = match outcome {
        Outcome::NotModified => {
            let mut builder = response(StatusCode::NOT_MODIFIED);
            let headers = builder.headers_mut().expect("a fresh builder has headers");
            cache_headers(headers, prepared, representation.cache_control);
            if let Some(digest) = &representation.digest {
                headers.insert(REPR_DIGEST, digest.clone());
            }
            builder
                .body(Content::Empty)
                .expect("validator headers are valid")
        }
        Outcome::PreconditionFailed => {
            short(StatusCode::PRECONDITION_FAILED, "precondition failed")
        }
        Outcome::Proceed { range_applies } => {
            if range.is_some() && !range_applies {
                // If-Range no longer matches: the client's partial copy is
                // of another version, and it gets the whole file.
                crate::metrics::METRICS.if_range_refused();
            }
            // 5. Range, over the bytes sent (encoded ones for a sidecar).
            let decision = match range {
                Some(value) if range_applies => range::decide(value.as_bytes(), length),
                _ => RangeDecision::Full,
            };
            // NOTE: several ranges of an encoded file would need a
            // Content-Encoding per part, which multipart/byteranges has no
            // agreed place for; the whole file is sent instead (ignoring a
            // Range is always allowed, RFC 9110 §14.2). Single ranges, which
            // resuming clients send, apply.
            let decision = match decision {
                RangeDecision::Partial(ranges)
                    if ranges.len() > 1 && representation.coding.is_some() =>
                {
                    RangeDecision::Full
                }
                other => other,
            };
            // 6. Headers and body.
            file_response(decision, origin, head, prepared, representation)
        }
    };
    if representation.vary {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    response
}

/// Step 6: a 416, or a 200 or 206 with the file's body (empty for HEAD).
fn file_response(
    decision: RangeDecision,
    origin: Origin,
    head: bool,
    prepared: &Prepared,
    representation: &Representation<'_>,
) -> Response<Content> {
    let length = origin.len();
    let ranges = match decision {
        RangeDecision::Full => None,
        RangeDecision::Partial(ranges) => Some(ranges),
        RangeDecision::Unsatisfiable => {
            let mut r = short(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            let unsatisfied = HeaderValue::try_from(range::unsatisfied_range(length))
                .expect("a number is a valid header value");
            r.headers_mut().insert(header::CONTENT_RANGE, unsatisfied);
            r.headers_mut()
                .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return r;
        }
    };
    let mut builder = response(StatusCode::OK);
    let headers = builder.headers_mut().expect("a fresh builder has headers");
    cache_headers(headers, prepared, representation.cache_control);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(digest) = &representation.digest {
        // NOTE: on a 206 too: the digest of the whole representation, which
        // is what a client that assembles ranges checks at the end.
        headers.insert(REPR_DIGEST, digest.clone());
    }
    if let Some(coding) = representation.coding {
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.token()),
        );
    }
    if let Some(disposition) = &representation.disposition {
        headers.insert(header::CONTENT_DISPOSITION, disposition.clone());
    }
    let content_type = representation.content_type.clone();
    let full = ranges.is_none();
    let segments = match ranges {
        Some(ranges) => {
            builder = builder.status(StatusCode::PARTIAL_CONTENT);
            let headers = builder.headers_mut().expect("a fresh builder has headers");
            if let [r] = ranges.as_slice() {
                let content_range = HeaderValue::try_from(r.content_range(length))
                    .expect("numbers are a valid header value");
                headers.insert(header::CONTENT_TYPE, content_type);
                headers.insert(header::CONTENT_RANGE, content_range);
                vec![Segment::slice(r)]
            } else {
                let part_type = content_type.to_str().unwrap_or("application/octet-stream");
                let multipart = Multipart::new(&ranges, length, part_type, &multipart::boundary());
                let value = HeaderValue::try_from(multipart.content_type)
                    .expect("a hex boundary is a valid header value");
                headers.insert(header::CONTENT_TYPE, value);
                multipart.segments
            }
        }
        None => {
            headers.insert(header::CONTENT_TYPE, content_type);
            vec![Segment::whole(length)]
        }
    };
    let body_length = match &prepared.length {
        Some(whole) if full => whole.clone(),
        _ => HeaderValue::from(segments.iter().map(Segment::len).sum::<u64>()),
    };
    builder = builder.header(header::CONTENT_LENGTH, body_length);
    let delivery = &representation.delivery;
    let content = match origin {
        _ if head => Content::Empty,
        Origin::File(file, version) => Content::file(file, &version, segments, delivery),
        Origin::Archive(archive) => Content::archive(archive, segments, delivery),
    };
    builder.body(content).expect("file headers are valid")
}

/// The validators of what is sent and their header values: made once per
/// file version and kept with it (`fs/snapshot.rs`), so a request for an
/// unchanged file formats no ETag, date or length.
#[derive(Debug)]
struct Prepared {
    validators: Validators,
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
    /// Content-Length of the whole file (a 200), when known.
    length: Option<HeaderValue>,
}

impl Prepared {
    fn new(validators: Validators) -> Self {
        let etag = HeaderValue::from_str(&validators.etag).ok();
        let last_modified = validators
            .last_modified
            .and_then(|m| HeaderValue::try_from(httpdate::fmt_http_date(m)).ok());
        Prepared {
            validators,
            etag,
            last_modified,
            length: None,
        }
    }

    /// What `version` (encoded as `coding`, for a sidecar) is sent with, as
    /// seen at `now`: kept with the version when it can be reused, that is
    /// for the file itself (a sidecar's version is its own, made anew) once
    /// its modification time is not in the future (Last-Modified is
    /// clamped to the time of the response, RFC 9110 §8.8.2.1).
    fn of(version: &Version, coding: Option<&str>, now: SystemTime) -> Arc<Prepared> {
        let snapshot = version.snapshot;
        let make = || {
            let mut validators = Validators::new(snapshot.len, snapshot.modified, now);
            if let Some(coding) = coding {
                validators = validators.for_coding(coding);
            }
            let mut prepared = Prepared::new(validators);
            prepared.length = Some(HeaderValue::from(snapshot.len));
            Arc::new(prepared)
        };
        let reusable = coding.is_none() && snapshot.modified.is_none_or(|m| m <= now);
        if !reusable {
            return make();
        }
        let kept = version.derived.get_or_init(|| Box::new(make()));
        match kept.downcast_ref::<Arc<Prepared>>() {
            Some(prepared) => Arc::clone(prepared),
            None => make(),
        }
    }
}

/// ETag, Last-Modified and the configured Cache-Control: on every file
/// response, 304 included (RFC 9110 §15.4.5).
fn cache_headers(headers: &mut HeaderMap, p: &Prepared, cache_control: Option<&HeaderValue>) {
    if let Some(value) = cache_control {
        headers.insert(header::CACHE_CONTROL, value.clone());
    }
    if let Some(etag) = &p.etag {
        headers.insert(header::ETAG, etag.clone());
    }
    if let Some(date) = &p.last_modified {
        headers.insert(header::LAST_MODIFIED, date.clone());
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
        ResolveError::Refused(reason) => {
            tracing::debug!(path, reason, "refused");
            short(StatusCode::FORBIDDEN, &format!("forbidden: {reason}"))
        }
        ResolveError::Busy(e) => {
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

/// 429 Too Many Requests (RFC 6585 §4) with `Retry-After` in whole seconds,
/// at least 1 (RFC 9110 §10.2.3).
fn too_many(message: &str, wait: Duration) -> Response<Content> {
    let mut r = short(StatusCode::TOO_MANY_REQUESTS, message);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    r
}
