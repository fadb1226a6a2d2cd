//! The access log: one line per response, written when hyper is done with the
//! body, so it can say whether the client got every byte it was promised.
//!
//! Two shapes ([`configure`]): a `tracing` event (the text and JSON log
//! formats, on stderr with every other event), or a line in the Apache/nginx
//! combined format that goaccess, fail2ban and log shippers read unchanged,
//! written by this module to `--access-log FILE` or stdout, and nothing
//! else on that stream. Each line also feeds `--metrics` ([`METRICS`]).
//!
//! It owns the log line's fields and its level; it does not decide anything
//! about the response.

use std::fs::File;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime};

use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Version};

use crate::metrics::METRICS;

/// Where combined-format lines go, once configured.
static COMBINED: OnceLock<Sink> = OnceLock::new();

/// The stream of combined-format lines.
#[derive(Debug)]
struct Sink {
    /// `None`: stdout.
    path: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

/// Switches the access log to the combined format, written to `path`
/// (appended; created if missing) or to stdout. Called once, at start-up.
///
/// # Errors
///
/// The file cannot be opened for appending.
pub fn configure_combined(path: Option<&Path>) -> io::Result<()> {
    let file = path.map(open_append).transpose()?;
    let sink = Sink {
        path: path.map(Path::to_path_buf),
        file: Mutex::new(file),
    };
    // NOTE: a second call (tests build several servers in one process
    // only through the binary, so never) keeps the first sink.
    let _ = COMBINED.set(sink);
    Ok(())
}

/// Opens `--access-log` again (SIGHUP, after logrotate moved it away). A
/// file that cannot be opened keeps the old one, and the error is returned
/// for the log.
pub fn reopen() -> io::Result<()> {
    let Some(sink) = COMBINED.get() else {
        return Ok(());
    };
    let Some(path) = &sink.path else {
        return Ok(());
    };
    let file = open_append(path)?;
    *sink.file.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
    Ok(())
}

fn open_append(path: &Path) -> io::Result<File> {
    File::options().append(true).create(true).open(path)
}

/// What only the combined format needs, captured when it is on.
#[derive(Debug)]
struct Combined {
    received: SystemTime,
    target: String,
    version: Version,
    referer: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

/// One response's entry in the access log, written on drop.
#[derive(Debug)]
pub struct AccessLog {
    peer: SocketAddr,
    method: Method,
    /// The request's URI: a shared reference to hyper's bytes, not a copy.
    uri: hyper::Uri,
    range: Option<String>,
    start: Instant,
    /// The status sent.
    pub status: u16,
    /// Body bytes the response headers promised.
    pub promised: u64,
    /// Body bytes handed to the connection so far.
    pub sent: u64,
    /// Who authenticated (`--auth-file`); never the password.
    pub user: Option<String>,
    error: Option<String>,
    combined: Option<Box<Combined>>,
}

impl AccessLog {
    pub fn new<B>(peer: SocketAddr, request: &Request<B>) -> Self {
        let range = request
            .headers()
            .get(hyper::header::RANGE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        AccessLog {
            peer,
            method: request.method().clone(),
            uri: request.uri().clone(),
            range,
            start: Instant::now(),
            status: 0,
            promised: 0,
            sent: 0,
            user: None,
            error: None,
            combined: COMBINED.get().map(|_| {
                Box::new(Combined {
                    received: SystemTime::now(),
                    target: request.uri().path_and_query().map_or_else(
                        || request.uri().path().to_owned(),
                        |pq| pq.as_str().to_owned(),
                    ),
                    version: request.version(),
                    referer: request.headers().get(header::REFERER).cloned(),
                    user_agent: request.headers().get(header::USER_AGENT).cloned(),
                })
            }),
        }
    }

    /// Records that the body failed: the connection will be cut. A file that
    /// changed under a download is worth a warning; it is not a server fault.
    pub fn failed(&mut self, err: &io::Error) {
        tracing::warn!(path = %self.uri.path(), error = %err, "cutting the response");
        self.error = Some(err.to_string());
    }
}

impl AccessLog {
    /// Records that the connection gave up on the response (a stalled stream
    /// reset, for example): the client's doing, so not worth a warning.
    pub fn abandoned(&mut self, reason: &str) {
        tracing::debug!(path = %self.uri.path(), reason, "abandoning the response");
        self.error = Some(reason.to_owned());
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        METRICS.response(&self.method, self.status, self.sent);
        if let (Some(combined), Some(sink)) = (&self.combined, COMBINED.get()) {
            let line = self.combined_line(combined);
            let mut file = sink.file.lock().unwrap_or_else(PoisonError::into_inner);
            let written = match file.as_mut() {
                Some(file) => file.write_all(line.as_bytes()),
                None => io::stdout().lock().write_all(line.as_bytes()),
            };
            if let Err(e) = written {
                tracing::warn!(error = %e, "cannot write the access log");
            }
            return;
        }
        let outcome = match (&self.error, self.sent == self.promised) {
            (Some(e), _) => e.as_str(),
            (None, true) => "complete",
            (None, false) => "connection closed before the end",
        };
        tracing::info!(
            target: "rangeserve::access",
            peer = %self.peer,
            method = %self.method,
            path = %self.uri.path(),
            status = self.status,
            user = self.user.as_deref().unwrap_or("-"),
            range = self.range.as_deref().unwrap_or("-"),
            sent = self.sent,
            promised = self.promised,
            ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX),
            "{outcome}"
        );
    }
}

impl AccessLog {
    /// The line in the combined format (Apache's `%h %l %u %t "%r" %>s %b
    /// "%{Referer}i" "%{User-agent}i"`, nginx's `combined`), newline
    /// included. `%b` is the body bytes handed to the connection, `-` for
    /// none.
    fn combined_line(&self, c: &Combined) -> String {
        let user = self
            .user
            .as_deref()
            .map_or_else(|| "-".to_owned(), |u| escape(u.as_bytes(), true));
        let bytes = match self.sent {
            0 => "-".to_owned(),
            n => n.to_string(),
        };
        let quoted = |v: &Option<HeaderValue>| {
            v.as_ref()
                .map_or_else(|| "-".to_owned(), |v| escape(v.as_bytes(), false))
        };
        format!(
            "{} - {user} [{}] \"{} {} {:?}\" {} {bytes} \"{}\" \"{}\"\n",
            self.peer.ip(),
            clf_time(c.received),
            self.method,
            escape(c.target.as_bytes(), true),
            c.version,
            self.status,
            quoted(&c.referer),
            quoted(&c.user_agent),
        )
    }
}

/// A time as the common log format writes it, `10/Oct/2000:13:55:36 +0000`,
/// rearranged from the IMF-fixdate that `httpdate` formats
/// (`Tue, 10 Oct 2000 13:55:36 GMT`, RFC 9110 §5.6.7: fixed width, GMT).
fn clf_time(t: SystemTime) -> String {
    let date = httpdate::fmt_http_date(t);
    let parts: Vec<&str> = date.split(' ').collect();
    match parts.as_slice() {
        [_, day, month, year, time, "GMT"] => format!("{day}/{month}/{year}:{time} +0000"),
        _ => date,
    }
}

/// Bytes of a field as a log field: printable ASCII as is, `"` and `\`
/// escaped, everything else as `\xHH` (nginx's escaping), so a client can
/// neither end the quoted field nor start a new line. With `space`, spaces
/// are escaped too (for unquoted fields).
fn escape(bytes: &[u8], space: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b' ' if space => out.push_str("\\x20"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time_is_day_month_year_time_offset() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(971_186_136);
        assert_eq!(clf_time(t), "10/Oct/2000:13:55:36 +0000");
    }

    #[test]
    fn escaping_keeps_a_field_on_one_line_and_inside_its_quotes() {
        assert_eq!(escape(b"curl/8.5.0", false), "curl/8.5.0");
        assert_eq!(escape(b"a\"b\\c", false), "a\\\"b\\\\c");
        assert_eq!(escape(b"x\ny\xff", false), "x\\x0Ay\\xFF");
        assert_eq!(escape(b"a b", true), "a\\x20b");
    }

    #[test]
    fn a_combined_line_has_every_field() {
        let request = Request::builder()
            .uri("/a%20b?x=1")
            .header(header::USER_AGENT, "Wget/1.21")
            .body(())
            .unwrap();
        let mut log = AccessLog::new("192.0.2.7:4000".parse().unwrap(), &request);
        log.status = 206;
        log.sent = 10;
        log.user = Some("ann".into());
        let combined = Combined {
            received: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(971_186_136),
            target: "/a%20b?x=1".into(),
            version: Version::HTTP_11,
            referer: None,
            user_agent: Some(HeaderValue::from_static("Wget/1.21")),
        };
        assert_eq!(
            log.combined_line(&combined),
            "192.0.2.7 - ann [10/Oct/2000:13:55:36 +0000] \"GET /a%20b?x=1 HTTP/1.1\" 206 10 \"-\" \"Wget/1.21\"\n"
        );
    }
}
