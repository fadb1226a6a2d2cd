//! Counters for `--metrics`, and their rendering in the Prometheus text
//! exposition format (version 0.0.4).
//!
//! Every counter is a relaxed atomic in one static, [`METRICS`]: recording
//! takes no lock and allocates nothing, and nothing is recorded unless
//! `--metrics` turned it on ([`enable`]), so a server without it pays one
//! relaxed load per event. What other rooms count themselves (the open-file
//! cache, changed files, digest jobs) is read from them when scraped and
//! passed to [`render`] as [`Gauges`].
//!
//! It owns metric names, labels and help text; it does not serve them
//! (`server/metrics.rs`) or decide anything about a request.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use hyper::Method;

/// Methods counted by name; anything else is `other`.
const METHODS: [&str; 4] = ["GET", "HEAD", "OPTIONS", "other"];
/// Status codes 100 to 599, by index `status - 100`.
const STATUSES: usize = 500;

/// The process's counters.
pub static METRICS: Metrics = Metrics::new();

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns recording on (`--metrics`).
pub fn enable() {
    ENABLED.store(true, Relaxed);
}

fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// The counters that requests and connections update.
#[derive(Debug)]
pub struct Metrics {
    requests: [[AtomicU64; STATUSES]; METHODS.len()],
    sent_bytes: AtomicU64,
    if_range_refused: AtomicU64,
    connections_open: AtomicU64,
    connections_busy: AtomicU64,
    connections_total: AtomicU64,
}

impl Metrics {
    const fn new() -> Self {
        Metrics {
            requests: [const { [const { AtomicU64::new(0) }; STATUSES] }; METHODS.len()],
            sent_bytes: AtomicU64::new(0),
            if_range_refused: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_busy: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
        }
    }

    /// One response, when it is done: its method, status and the body
    /// bytes handed to the connection.
    pub fn response(&self, method: &Method, status: u16, sent: u64) {
        if !enabled() {
            return;
        }
        let method = match *method {
            Method::GET => 0,
            Method::HEAD => 1,
            Method::OPTIONS => 2,
            _ => 3,
        };
        let Some(counter) = usize::from(status)
            .checked_sub(100)
            .and_then(|i| self.requests[method].get(i))
        else {
            return;
        };
        counter.fetch_add(1, Relaxed);
        if sent > 0 {
            self.sent_bytes.fetch_add(sent, Relaxed);
        }
    }

    /// A `Range` request whose `If-Range` no longer matched: the file
    /// changed since the client's partial copy, so it got the whole file.
    pub fn if_range_refused(&self) {
        if enabled() {
            self.if_range_refused.fetch_add(1, Relaxed);
        }
    }

    /// A connection was accepted; it is counted until [`Metrics::closed`].
    pub fn opened(&self) {
        if enabled() {
            self.connections_open.fetch_add(1, Relaxed);
            self.connections_total.fetch_add(1, Relaxed);
        }
    }

    pub fn closed(&self) {
        if enabled() {
            self.connections_open.fetch_sub(1, Relaxed);
        }
    }

    /// A connection began (`true`) or ended (`false`) serving requests; the
    /// rest of the open ones are idle.
    pub fn busy(&self, busy: bool) {
        if enabled() {
            if busy {
                self.connections_busy.fetch_add(1, Relaxed);
            } else {
                self.connections_busy.fetch_sub(1, Relaxed);
            }
        }
    }
}

/// What is read from other rooms at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    /// Open-file cache lookups that found the file open, and those that did
    /// not; `None` without the cache.
    pub file_cache: Option<(u64, u64)>,
    /// Responses cut because their file changed while being sent.
    pub cut_changed: u64,
    /// Digest jobs: queued or running, and finished.
    pub digest_jobs: Option<(u64, u64)>,
}

/// The exposition of `metrics` and `gauges`, in the Prometheus text format.
pub fn render(metrics: &Metrics, gauges: Gauges) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "rangeserve_requests_total",
        "counter",
        "Responses sent, by request method and status code.",
    );
    for (m, method) in METHODS.iter().enumerate() {
        for (i, counter) in metrics.requests[m].iter().enumerate() {
            let n = counter.load(Relaxed);
            if n > 0 {
                let status = i + 100;
                let _ = writeln!(
                    out,
                    "rangeserve_requests_total{{method=\"{method}\",code=\"{status}\"}} {n}"
                );
            }
        }
    }
    let load = |a: &AtomicU64| a.load(Relaxed);
    let statuses: [(u16, &str); 4] = [
        (200, "whole file"),
        (206, "byte ranges"),
        (304, "not modified"),
        (416, "range not satisfiable"),
    ];
    family(
        &mut out,
        "rangeserve_responses_total",
        "counter",
        "Responses of the kinds downloads are made of: 200 whole, 206 ranges, 304, 416.",
    );
    for (status, _) in statuses {
        let i = usize::from(status) - 100;
        let n: u64 = metrics.requests.iter().map(|m| load(&m[i])).sum();
        let _ = writeln!(out, "rangeserve_responses_total{{code=\"{status}\"}} {n}");
    }
    single(
        &mut out,
        "rangeserve_sent_bytes_total",
        "counter",
        "Response body bytes handed to connections.",
        load(&metrics.sent_bytes),
    );
    single(
        &mut out,
        "rangeserve_if_range_refused_total",
        "counter",
        "Resumes refused by If-Range because the file changed: sent whole (200).",
        load(&metrics.if_range_refused),
    );
    single(
        &mut out,
        "rangeserve_cut_file_changed_total",
        "counter",
        "Responses cut because their file changed while being sent.",
        gauges.cut_changed,
    );
    let open = load(&metrics.connections_open);
    let busy = load(&metrics.connections_busy).min(open);
    family(
        &mut out,
        "rangeserve_connections",
        "gauge",
        "Open connections: active (a request in flight) or idle (between requests).",
    );
    let _ = writeln!(out, "rangeserve_connections{{state=\"active\"}} {busy}");
    let _ = writeln!(
        out,
        "rangeserve_connections{{state=\"idle\"}} {}",
        open - busy
    );
    single(
        &mut out,
        "rangeserve_connections_accepted_total",
        "counter",
        "Connections accepted.",
        load(&metrics.connections_total),
    );
    if let Some((hits, misses)) = gauges.file_cache {
        family(
            &mut out,
            "rangeserve_file_cache_lookups_total",
            "counter",
            "Open-file cache lookups, by whether the file was already open.",
        );
        let _ = writeln!(
            out,
            "rangeserve_file_cache_lookups_total{{result=\"hit\"}} {hits}"
        );
        let _ = writeln!(
            out,
            "rangeserve_file_cache_lookups_total{{result=\"miss\"}} {misses}"
        );
    }
    if let Some((pending, done)) = gauges.digest_jobs {
        single(
            &mut out,
            "rangeserve_digest_jobs_pending",
            "gauge",
            "Digest jobs queued or running.",
            pending,
        );
        single(
            &mut out,
            "rangeserve_digest_jobs_done_total",
            "counter",
            "Digest jobs finished.",
            done,
        );
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_counted_by_method_and_status() {
        enable();
        let m = Metrics::new();
        m.response(&Method::GET, 206, 10);
        m.response(&Method::GET, 206, 5);
        m.response(&Method::HEAD, 200, 0);
        m.response(&Method::PUT, 405, 19);
        m.response(&Method::GET, 42, 1); // not a status: ignored
        let text = render(&m, Gauges::default());
        assert!(text.contains("rangeserve_requests_total{method=\"GET\",code=\"206\"} 2\n"));
        assert!(text.contains("rangeserve_requests_total{method=\"HEAD\",code=\"200\"} 1\n"));
        assert!(text.contains("rangeserve_requests_total{method=\"other\",code=\"405\"} 1\n"));
        assert!(text.contains("rangeserve_responses_total{code=\"206\"} 2\n"));
        assert!(text.contains("rangeserve_responses_total{code=\"416\"} 0\n"));
        assert!(text.contains("rangeserve_sent_bytes_total 34\n"));
    }

    #[test]
    fn idle_connections_are_open_minus_busy() {
        enable();
        let m = Metrics::new();
        m.opened();
        m.opened();
        m.opened();
        m.busy(true);
        m.closed();
        let text = render(&m, Gauges::default());
        assert!(text.contains("rangeserve_connections{state=\"active\"} 1\n"));
        assert!(text.contains("rangeserve_connections{state=\"idle\"} 1\n"));
        assert!(text.contains("rangeserve_connections_accepted_total 3\n"));
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let gauges = Gauges {
            file_cache: Some((3, 1)),
            cut_changed: 2,
            digest_jobs: Some((0, 4)),
        };
        let text = render(&Metrics::new(), gauges);
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(declared.iter().any(|d| d == name), "{name} undeclared");
            }
        }
        assert!(text.contains("rangeserve_file_cache_lookups_total{result=\"hit\"} 3\n"));
        assert!(text.contains("rangeserve_cut_file_changed_total 2\n"));
    }
}
