//! The command line: clap's derive [`Cli`], each flag also read from a
//! `RANGESERVE_*` environment variable, checked into a [`Config`].
//!
//! It owns flag names, help text and the start-up checks of the folder; it
//! does not bind sockets (`server.rs`). Beside it: the banner printed once
//! bound (`banner`), the man page and completions (`docs`), and logging's
//! set-up (`logging`).

pub mod banner;
pub mod docs;
pub mod logging;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use clap::builder::BoolishValueParser;

use crate::guard::link::LinkKey;
use crate::http::cors::Cors;
use crate::http::forwarded::{Cidr, Source};
use crate::net::conn::Timeouts;
use hyper::header::HeaderValue;
use logging::LogFormat;

const EXAMPLES: &str = "\
Examples:
  rangeserve ./downloads --port 3000        serve ./downloads on http://127.0.0.1:3000/
  rangeserve . --bind 0.0.0.0 --port 8080   share the current folder on every interface
  RANGESERVE_PORT=0 rangeserve ./dir        pick a free port; the banner line names it

Clients:
  curl -H 'Range: bytes=0-9' http://127.0.0.1:3000/big.iso   first 10 bytes (206)
  curl -C - -o big.iso http://127.0.0.1:3000/big.iso         resume a partial download
  wget -c http://127.0.0.1:3000/big.iso                      resume a partial download";

// The `--help` sections; flags without one (help, version) come first.
const NETWORK: &str = "Network";
const FILES: &str = "Files";
const HTTP: &str = "HTTP";
const TLS: &str = "TLS";
const LOGGING: &str = "Logging";
const ACCESS: &str = "Access";
const LIMITS: &str = "Limits";
const SERVICE: &str = "Service and proxies";

/// A static file server for resumable, byte-exact downloads.
#[derive(Debug, Parser)]
#[command(name = "rangeserve", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// The folder to serve; nothing outside it is ever sent.
    #[arg(env = "RANGESERVE_DIR", default_value = ".")]
    pub dir: PathBuf,

    /// The TCP port to listen on; 0 picks a free one (the banner names it).
    ///
    /// Example: --port 8080
    #[arg(short, long, env = "RANGESERVE_PORT", default_value_t = 3000, help_heading = NETWORK)]
    pub port: u16,

    /// The address to listen on. The default keeps the server private to this
    /// machine; 0.0.0.0 (or ::) shares it with the network.
    ///
    /// Example: --bind 0.0.0.0
    #[arg(short, long, env = "RANGESERVE_BIND", default_value = "127.0.0.1", help_heading = NETWORK)]
    pub bind: IpAddr,

    /// Serve hidden files and folders (names starting with '.'); without it
    /// they are 404.
    ///
    /// Example: --hidden, or RANGESERVE_HIDDEN=1 (every switch reads its variable so)
    #[arg(long, env = "RANGESERVE_HIDDEN", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub hidden: bool,

    /// Answer 404 for a folder without index.html instead of listing it.
    #[arg(long, env = "RANGESERVE_NO_LISTING", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub no_listing: bool,

    /// Do not serve folders as tar archives (`/folder/?archive=tar`); with
    /// --no-listing they are not served either.
    #[arg(long, env = "RANGESERVE_NO_ARCHIVE", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub no_archive: bool,

    /// The most files and folders a folder's archive holds; a larger folder
    /// is refused with 403 and the reason.
    #[arg(long, env = "RANGESERVE_ARCHIVE_MAX_ENTRIES", value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = FILES)]
    pub archive_max_entries: u32,

    /// The most levels of folders below an archived folder; deeper is
    /// refused with 403 and the reason.
    #[arg(long, env = "RANGESERVE_ARCHIVE_MAX_DEPTH", value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1024), help_heading = FILES)]
    pub archive_max_depth: u32,

    /// Follow symlinks that lead outside the folder. Without it, symlinks
    /// that stay inside work and those leading out are 404.
    #[arg(long, env = "RANGESERVE_FOLLOW_SYMLINKS", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub follow_symlinks: bool,

    /// Seconds a client has to send a complete request head before the
    /// connection is closed.
    ///
    /// Example: --header-timeout 5
    #[arg(long, env = "RANGESERVE_HEADER_TIMEOUT", default_value = "10", value_name = "SECS",
          value_parser = parse_seconds, help_heading = NETWORK)]
    pub header_timeout: Duration,

    /// Seconds an idle keep-alive connection is kept open waiting for the
    /// next request.
    ///
    /// Example: --idle-timeout 120
    #[arg(long, env = "RANGESERVE_IDLE_TIMEOUT", default_value = "60", value_name = "SECS",
          value_parser = parse_seconds, help_heading = NETWORK)]
    pub idle_timeout: Duration,

    /// Seconds a client may accept no response bytes before it is dropped
    /// and its file closed.
    ///
    /// Example: --send-timeout 30
    #[arg(long, env = "RANGESERVE_SEND_TIMEOUT", default_value = "60", value_name = "SECS",
          value_parser = parse_seconds, help_heading = NETWORK)]
    pub send_timeout: Duration,

    /// Connections served at once; more wait to be accepted. Default: half
    /// of the open-file limit (each connection may hold a socket and a file),
    /// less a reserve.
    ///
    /// Example: --max-connections 1000
    #[arg(long, env = "RANGESERVE_MAX_CONNECTIONS", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = NETWORK)]
    pub max_connections: Option<u32>,

    /// Largest request head in bytes (request line and headers): larger
    /// heads get 431, targets over 8 KiB get 414.
    ///
    /// Example: --max-header-size 16384
    #[arg(long, env = "RANGESERVE_MAX_HEADER_SIZE", default_value_t = 65536, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(8192..), help_heading = NETWORK)]
    pub max_header_size: u32,

    /// Serve HTTPS with this PEM certificate chain (needs --tls-key). HTTP/2
    /// is offered by ALPN.
    ///
    /// Example: --tls-cert cert.pem --tls-key key.pem
    #[arg(
        long,
        env = "RANGESERVE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key",
        help_heading = TLS
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (PKCS#8, RSA or EC).
    #[arg(
        long,
        env = "RANGESERVE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert",
        help_heading = TLS
    )]
    pub tls_key: Option<PathBuf>,

    /// Add this Cache-Control header to file responses (200, 206, 304).
    ///
    /// Example: --cache-control 'public, max-age=3600'
    #[arg(long, env = "RANGESERVE_CACHE_CONTROL", value_name = "VALUE",
          value_parser = parse_header_value, help_heading = HTTP)]
    pub cache_control: Option<HeaderValue>,

    /// Let browser code on other origins read files and resume downloads:
    /// `--cors` allows any origin, `--cors ORIGIN` only that one.
    /// Preflight requests are answered.
    ///
    /// Example: --cors https://app.example
    #[arg(long, env = "RANGESERVE_CORS", value_name = "ORIGIN", num_args = 0..=1,
          default_missing_value = "*", value_parser = Cors::parse, help_heading = HTTP)]
    pub cors: Option<Cors>,

    /// Send file bytes by copying them through memory instead of with
    /// sendfile(2) on plain HTTP/1.x connections.
    #[arg(long, env = "RANGESERVE_NO_SENDFILE", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub no_sendfile: bool,

    /// Open every file on every request instead of keeping recently served
    /// ones open. The cache never serves a file a path no longer names (it
    /// watches the folders with inotify) and is off by itself on network
    /// file systems; this turns it off everywhere.
    #[arg(long, env = "RANGESERVE_NO_FILE_CACHE", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub no_file_cache: bool,

    /// Serve file.ext.br, .zst or .gz (made beforehand) instead of file.ext to
    /// clients whose Accept-Encoding accepts it; never compresses on the fly.
    #[arg(long, env = "RANGESERVE_PRECOMPRESSED", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub precompressed: bool,

    /// Log line format on stderr: text or json (one object per line).
    ///
    /// Example: --log-format json
    #[arg(long, env = "RANGESERVE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text,
          help_heading = LOGGING)]
    pub log_format: LogFormat,

    /// Write the access log to FILE (appended; reopened on SIGHUP, for
    /// logrotate) instead of stdout. Needs --log-format combined.
    ///
    /// Example: --log-format combined --access-log /var/log/rangeserve/access.log
    #[arg(long, env = "RANGESERVE_ACCESS_LOG", value_name = "FILE", help_heading = LOGGING)]
    pub access_log: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR/metrics, and /healthz, on a
    /// separate listener (keep it private: it is never behind --auth-file).
    ///
    /// Example: --metrics 127.0.0.1:9100
    #[arg(long, env = "RANGESERVE_METRICS", value_name = "ADDR", help_heading = LOGGING)]
    pub metrics: Option<SocketAddr>,

    /// Bind with SO_REUSEPORT, so a new rangeserve can start on the same
    /// port beside a running one, which is then stopped with SIGTERM and
    /// lets its downloads finish (a restart without a refused connection).
    #[arg(long, env = "RANGESERVE_REUSE_PORT", value_parser = BoolishValueParser::new(),
          help_heading = SERVICE)]
    pub reuse_port: bool,

    /// Trust the client address that proxies at these addresses report
    /// (repeatable; a network like 10.0.0.0/8 or one address): logs and
    /// per-address limits then use it.
    ///
    /// Example: --real-ip-from 127.0.0.1 --real-ip-from 10.0.0.0/8
    #[arg(long, env = "RANGESERVE_REAL_IP_FROM", value_name = "CIDR", value_delimiter = ',',
          help_heading = SERVICE)]
    pub real_ip_from: Vec<Cidr>,

    /// The field trusted proxies report the client address in.
    #[arg(long, env = "RANGESERVE_REAL_IP_HEADER", value_enum, value_name = "FIELD",
          default_value_t = Source::XForwardedFor, help_heading = SERVICE)]
    pub real_ip_header: Source,

    /// Serve the folder under this URL path, as a proxy forwards it
    /// (/downloads/a.iso is the file a.iso); links and redirects carry it,
    /// other paths are 404.
    ///
    /// Example: --path-prefix /downloads
    #[arg(long, env = "RANGESERVE_PATH_PREFIX", value_name = "PATH", help_heading = SERVICE)]
    pub path_prefix: Option<String>,

    /// Send `Repr-Digest: sha-256=...` (RFC 9530) on every file response
    /// without being asked, and hash every file in the background from
    /// start-up on. Without it, only clients that send Want-Repr-Digest get
    /// a digest (once known).
    #[arg(long, env = "RANGESERVE_DIGEST", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub digest: bool,

    /// Where digests are kept across restarts (never inside the served
    /// folder). Default: $XDG_CACHE_HOME/rangeserve/digests.tsv, or
    /// ~/.cache/rangeserve/digests.tsv; memory only when neither is set.
    ///
    /// Example: --digest-cache /var/cache/rangeserve/digests.tsv
    #[arg(long, env = "RANGESERVE_DIGEST_CACHE", value_name = "FILE", help_heading = FILES)]
    pub digest_cache: Option<PathBuf>,

    /// Log only warnings and errors: no access log. RUST_LOG overrides it.
    #[arg(short, long, env = "RANGESERVE_QUIET", value_parser = BoolishValueParser::new(),
          help_heading = LOGGING)]
    pub quiet: bool,

    /// Seconds that in-flight downloads get to finish after Ctrl-C or SIGTERM
    /// before the server exits.
    ///
    /// Example: --shutdown-timeout 30
    #[arg(long, env = "RANGESERVE_SHUTDOWN_TIMEOUT", default_value = "10", value_name = "SECS",
          value_parser = parse_seconds, help_heading = NETWORK)]
    pub shutdown_timeout: Duration,

    /// A password file in htpasswd format (make it with `htpasswd -cB FILE
    /// USER`): every request then needs HTTP Basic credentials. bcrypt and
    /// argon2 hashes; the file is re-read when it changes.
    ///
    /// Example: --auth-file /etc/rangeserve/users
    #[arg(long, env = "RANGESERVE_AUTH_FILE", value_name = "FILE", help_heading = ACCESS)]
    pub auth_file: Option<PathBuf>,

    /// Serve this path and everything under it to anyone, without a password
    /// or link (repeatable).
    ///
    /// Example: --public /releases --public /README.txt
    #[arg(long = "public", env = "RANGESERVE_PUBLIC", value_name = "PATH", value_delimiter = ',',
          help_heading = ACCESS)]
    pub public: Vec<String>,

    /// The secret file for signed, expiring links (at least 16 bytes;
    /// --generate-link-key makes one). Without --auth-file, every request
    /// then needs a valid link.
    ///
    /// Example: --link-key /etc/rangeserve/link.key
    #[arg(long, env = "RANGESERVE_LINK_KEY", value_name = "FILE", help_heading = ACCESS)]
    pub link_key: Option<PathBuf>,

    /// Print a fresh random link key and exit.
    ///
    /// Example: rangeserve --generate-link-key > link.key
    #[arg(long, help_heading = ACCESS)]
    pub generate_link_key: bool,

    /// Print a signed link to PATH (a file, or a folder ending in /) and
    /// exit; needs --link-key.
    ///
    /// Example: --sign /releases/v1.iso --expires 24h
    #[arg(long, value_name = "PATH", requires = "link_key", help_heading = ACCESS)]
    pub sign: Option<String>,

    /// How long a link printed by --sign stays valid: 90s, 30m, 24h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration,
          help_heading = ACCESS)]
    pub expires: Duration,

    /// Where links printed by --sign point (default: this server's address);
    /// --path-prefix, if any, follows it.
    ///
    /// Example: --base-url https://files.example.org
    #[arg(long, value_name = "URL", help_heading = ACCESS)]
    pub base_url: Option<String>,

    /// The most bytes per second one connection is sent (K, M, G: powers of
    /// 1024).
    ///
    /// Example: --limit-rate 2M
    #[arg(long, env = "RANGESERVE_LIMIT_RATE", value_name = "RATE", value_parser = parse_rate,
          help_heading = LIMITS)]
    pub limit_rate: Option<u64>,

    /// Send the first SIZE bytes of each response at full speed, then apply
    /// the rate limits.
    ///
    /// Example: --limit-rate-after 10M
    #[arg(long, env = "RANGESERVE_LIMIT_RATE_AFTER", value_name = "SIZE", default_value = "0",
          value_parser = parse_size, help_heading = LIMITS)]
    pub limit_rate_after: u64,

    /// The most bytes per second all connections from one client address
    /// share (IPv6 clients grouped by /64).
    ///
    /// Example: --limit-rate-per-ip 10M
    #[arg(long, env = "RANGESERVE_LIMIT_RATE_PER_IP", value_name = "RATE",
          value_parser = parse_rate, help_heading = LIMITS)]
    pub limit_rate_per_ip: Option<u64>,

    /// The most connections one client address may have open; beyond it,
    /// requests are answered 429 with Retry-After.
    ///
    /// Example: --max-connections-per-ip 8
    #[arg(long, env = "RANGESERVE_MAX_CONNECTIONS_PER_IP", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub max_connections_per_ip: Option<u32>,

    /// Print the man page (roff) to stdout and exit (docs.rs).
    #[arg(long, hide = true)]
    pub generate_man: bool,

    /// Print the completion script for SHELL to stdout and exit (docs.rs).
    #[arg(long, hide = true, value_name = "SHELL")]
    pub generate_completions: Option<clap_complete::Shell>,
}

/// The checked configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Absolute and canonical: every resolved path is compared against it.
    pub root: PathBuf,
    pub addr: SocketAddr,
    pub hidden: bool,
    pub listing: bool,
    /// Serve `?archive=tar` on folders.
    pub archives: bool,
    /// `--archive-max-entries`, `--archive-max-depth`.
    pub archive_limits: crate::fs::tree::Limits,
    pub follow_symlinks: bool,
    pub timeouts: Timeouts,
    /// `None`: derive from the open-file limit at start-up.
    pub max_connections: Option<u32>,
    pub max_header_size: u32,
    pub sendfile: bool,
    pub file_cache: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub cache_control: Option<HeaderValue>,
    pub cors: Option<Cors>,
    pub precompressed: bool,
    pub shutdown_timeout: Duration,
    pub auth_file: Option<PathBuf>,
    /// Canonical URL paths, without a trailing slash.
    pub public: Vec<String>,
    pub link_key: Option<Arc<LinkKey>>,
    /// Where `link_key` was read from, to read again on SIGHUP.
    pub link_key_file: Option<PathBuf>,
    pub limit_rate: Option<u64>,
    pub limit_rate_after: u64,
    pub limit_rate_per_ip: Option<u64>,
    pub max_connections_per_ip: Option<u32>,
    pub log_format: LogFormat,
    pub access_log: Option<PathBuf>,
    pub metrics: Option<SocketAddr>,
    pub reuse_port: bool,
    pub real_ip_from: Vec<Cidr>,
    pub real_ip_header: Source,
    /// Canonical URL path without a trailing slash (`/downloads`); empty
    /// for none.
    pub path_prefix: String,
    pub digest: bool,
    /// The digest cache file, and whether it was given (`--digest-cache`)
    /// rather than the default; `None`: memory only.
    pub digest_cache: Option<(PathBuf, bool)>,
}

impl Cli {
    /// Checks the folder: it must exist, be a folder and be readable.
    pub fn into_config(self) -> anyhow::Result<Config> {
        let shown = self.dir.display();
        let root =
            std::fs::canonicalize(&self.dir).with_context(|| format!("cannot serve {shown}"))?;
        if !root.is_dir() {
            bail!("cannot serve {shown}: not a folder");
        }
        std::fs::read_dir(&root).with_context(|| format!("cannot read folder {shown}"))?;
        let link_key = self.link_key.as_deref().map(read_link_key).transpose()?;
        if self.access_log.is_some() && self.log_format != LogFormat::Combined {
            bail!("--access-log needs --log-format combined");
        }
        let path_prefix = self.prefix()?;
        let digest_cache = match &self.digest_cache {
            Some(file) => Some((std::path::absolute(file).context("--digest-cache")?, true)),
            None => default_digest_cache().map(|file| (file, false)),
        };
        if let Some((file, _)) = &digest_cache {
            if lies_within(file, &root) {
                bail!(
                    "the digest cache {} must not be inside the served folder",
                    file.display()
                );
            }
        }
        let public = self
            .public
            .iter()
            .map(|p| canonical_path(p).map(|c| c.trim_end_matches('/').to_owned()))
            .collect::<anyhow::Result<_>>()?;
        Ok(Config {
            root,
            addr: SocketAddr::new(self.bind, self.port),
            hidden: self.hidden,
            listing: !self.no_listing,
            archives: !self.no_archive && !self.no_listing,
            archive_limits: crate::fs::tree::Limits {
                entries: self.archive_max_entries as usize,
                depth: self.archive_max_depth as usize,
            },
            follow_symlinks: self.follow_symlinks,
            timeouts: Timeouts {
                header: self.header_timeout,
                idle: self.idle_timeout,
                send: self.send_timeout,
            },
            max_connections: self.max_connections,
            max_header_size: self.max_header_size,
            sendfile: !self.no_sendfile,
            file_cache: !self.no_file_cache,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            cache_control: self.cache_control,
            cors: self.cors,
            precompressed: self.precompressed,
            shutdown_timeout: self.shutdown_timeout,
            auth_file: self.auth_file,
            public,
            link_key,
            link_key_file: self.link_key.clone(),
            limit_rate: self.limit_rate,
            limit_rate_after: self.limit_rate_after,
            limit_rate_per_ip: self.limit_rate_per_ip,
            max_connections_per_ip: self.max_connections_per_ip,
            log_format: self.log_format,
            access_log: self.access_log,
            metrics: self.metrics,
            reuse_port: self.reuse_port,
            real_ip_from: self.real_ip_from,
            real_ip_header: self.real_ip_header,
            path_prefix,
            digest: self.digest,
            digest_cache,
        })
    }

    /// `--path-prefix` in canonical form without its trailing slash; empty
    /// when absent or `/`.
    fn prefix(&self) -> anyhow::Result<String> {
        let Some(prefix) = &self.path_prefix else {
            return Ok(String::new());
        };
        if !prefix.starts_with('/') {
            bail!("--path-prefix {prefix:?} must start with /");
        }
        Ok(canonical_path(prefix)?.trim_end_matches('/').to_owned())
    }

    /// `--generate-link-key` or `--sign`: the text to print instead of
    /// serving, if one was asked for.
    pub fn one_shot(&self) -> Option<anyhow::Result<String>> {
        if self.generate_link_key {
            return Some(LinkKey::generate().map_err(anyhow::Error::msg));
        }
        let path = self.sign.as_deref()?;
        Some(self.signed_link(path))
    }

    fn signed_link(&self, path: &str) -> anyhow::Result<String> {
        let key_file = self
            .link_key
            .as_deref()
            .context("--sign needs --link-key")?;
        let key = read_link_key(key_file)?;
        let canonical = canonical_path(path)?;
        let prefix = self.prefix()?;
        let expires = SystemTime::now()
            .checked_add(self.expires)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .filter(|&secs| secs < 10u64.pow(12))
            .with_context(|| format!("--expires {:?} is too far in the future", self.expires))?;
        let base = match &self.base_url {
            Some(base) => base.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}", SocketAddr::new(self.bind, self.port))
            }
        };
        Ok(format!(
            "{base}{prefix}{canonical}?{}",
            key.sign(&canonical, expires)
        ))
    }
}

/// `$XDG_CACHE_HOME/rangeserve/digests.tsv`, or under `~/.cache`.
fn default_digest_cache() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let base = std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".cache"))
        })?;
    Some(base.join("rangeserve").join("digests.tsv"))
}

/// Whether `file` (absolute) is, or would be once created, inside `root`
/// (canonical): its nearest existing ancestor is resolved, symlinks included.
fn lies_within(file: &std::path::Path, root: &std::path::Path) -> bool {
    let mut existing = file;
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut resolved = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    resolved.extend(rest.iter().rev());
    resolved.starts_with(root)
}

/// A path as a URL path in canonical form (`RequestPath::url_path`), with
/// its trailing slash kept.
fn canonical_path(path: &str) -> anyhow::Result<String> {
    let decoded = crate::fs::path::decode(path, true)
        .map_err(|e| anyhow::anyhow!("{path:?} is not a usable path: {e:?}"))?;
    Ok(decoded.url_path(decoded.trailing_slash))
}

/// Reads `--link-key`.
pub fn read_link_key(file: &std::path::Path) -> anyhow::Result<Arc<LinkKey>> {
    let contents =
        std::fs::read(file).with_context(|| format!("cannot read link key {}", file.display()))?;
    LinkKey::from_file_contents(&contents)
        .map(Arc::new)
        .map_err(|e| anyhow::anyhow!("link key {}: {e}", file.display()))
}

/// A duration such as `90s`, `30m`, `24h` or `7d`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 30m or 24h: {e}"))
}

/// A size such as `10M` (`guard::rate::parse_size`).
fn parse_size(s: &str) -> Result<u64, String> {
    crate::guard::rate::parse_size(s)
}

/// A rate such as `2M` (bytes per second), at least 1.
fn parse_rate(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err(format!("'{s}': a rate must be above 0")),
        rate => Ok(rate),
    }
}

fn parse_header_value(s: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(s).map_err(|_| format!("'{s}' is not a valid header value"))
}

/// A whole or fractional number of seconds, such as `10` or `0.5`.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_whole_and_fractional() {
        assert_eq!(parse_seconds("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("ten").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
