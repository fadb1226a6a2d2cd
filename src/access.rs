//! The access log: one line per response, written when hyper is done with the
//! body, so it can say whether the client got every byte it was promised.
//!
//! It owns the log line's fields and its level; it does not decide anything
//! about the response.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use hyper::{Method, Request};

/// One response's entry in the access log, written on drop.
#[derive(Debug)]
pub struct AccessLog {
    peer: SocketAddr,
    method: Method,
    path: String,
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
            path: request.uri().path().to_owned(),
            range,
            start: Instant::now(),
            status: 0,
            promised: 0,
            sent: 0,
            user: None,
            error: None,
        }
    }

    /// Records that the body failed: the connection will be cut. A file that
    /// changed under a download is worth a warning; it is not a server fault.
    pub fn failed(&mut self, err: &io::Error) {
        tracing::warn!(path = %self.path, error = %err, "cutting the response");
        self.error = Some(err.to_string());
    }
}

impl AccessLog {
    /// Records that the connection gave up on the response (a stalled stream
    /// reset, for example): the client's doing, so not worth a warning.
    pub fn abandoned(&mut self, reason: &str) {
        tracing::debug!(path = %self.path, reason, "abandoning the response");
        self.error = Some(reason.to_owned());
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let outcome = match (&self.error, self.sent == self.promised) {
            (Some(e), _) => e.as_str(),
            (None, true) => "complete",
            (None, false) => "connection closed before the end",
        };
        tracing::info!(
            target: "rangeserve::access",
            peer = %self.peer,
            method = %self.method,
            path = %self.path,
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
