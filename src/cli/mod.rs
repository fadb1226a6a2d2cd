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
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use clap::builder::BoolishValueParser;

use crate::http::cors::Cors;
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
        Ok(Config {
            root,
            addr: SocketAddr::new(self.bind, self.port),
            hidden: self.hidden,
            listing: !self.no_listing,
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
        })
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
