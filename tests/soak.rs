//! Soak and fault scenarios against the real binary, on loopback only.
//!
//! `cargo test --test soak` runs the short mode (well under two minutes);
//! `cargo test --release --test soak -- --full` runs the sizes quoted in the
//! README. Every loop is bounded in count and time, and every server started
//! is stopped by its PID. Each scenario prints PASS or FAIL with its figures;
//! the last line counts them.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::h2raw::{
    ACK, DATA, END_HEADERS, END_STREAM, HEADERS, INITIAL_WINDOW_SIZE, PREFACE, RST_STREAM,
    SETTINGS, frame, get_block, read_frame,
};

/// Sizes of one run.
struct Mode {
    full: bool,
    slowloris: usize,
    idle: usize,
    slow_readers: usize,
    slow_file_mib: u64,
    cut_downloads: usize,
    malformed: usize,
    header_timeout: u64,
    send_timeout: u64,
}

const SHORT: Mode = Mode {
    full: false,
    slowloris: 300,
    idle: 500,
    slow_readers: 50,
    slow_file_mib: 64,
    cut_downloads: 300,
    malformed: 200,
    header_timeout: 2,
    send_timeout: 3,
};

const FULL: Mode = Mode {
    full: true,
    slowloris: 1500,
    idle: 3000,
    slow_readers: 200,
    slow_file_mib: 256,
    cut_downloads: 2000,
    malformed: 1000,
    header_timeout: 10,
    send_timeout: 5,
};

/// A running server, killed by PID on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Server {
        Self::start_with(None, dir, args)
    }

    /// Starts `rangeserve`, optionally under `prefix` (e.g. prlimit).
    fn start_with(prefix: Option<&[&str]>, dir: &Path, args: &[&str]) -> Server {
        let binary = env!("CARGO_BIN_EXE_rangeserve");
        let mut command = match prefix {
            Some([program, rest @ ..]) => {
                let mut c = Command::new(program);
                c.args(rest).arg(binary);
                c
            }
            _ => Command::new(binary),
        };
        let (child, addr) = common::launch(common::configure(&mut command, dir, args).env(
            "RUST_LOG",
            std::env::var("SOAK_LOG").unwrap_or_else(|_| "error".into()),
        ));
        Server { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn rss_kib(&self) -> u64 {
        proc_status(self.pid(), "VmRSS:")
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, Iterator::count)
    }

    /// User + system CPU time in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after_name = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // Fields 14 and 15 of /proc/PID/stat; after the name they are 12 and 13.
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        tick(11) + tick(12)
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// GETs the small file on a new connection; the time it took, if it was a 200.
fn probe(addr: SocketAddr) -> Option<Duration> {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).ok()?;
    let ok = response.starts_with(b"HTTP/1.1 200") && response.ends_with(&[b's'; 16]);
    ok.then(|| started.elapsed())
}

/// Probes once a second on a thread until `stop`; returns the worst latency
/// and how many probes failed or took over a second.
fn probe_loop(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<(Duration, usize, usize)> {
    thread::spawn(move || {
        let (mut worst, mut bad, mut count) = (Duration::ZERO, 0, 0);
        let deadline = Instant::now() + Duration::from_secs(300);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            count += 1;
            match probe(addr) {
                Some(t) => {
                    worst = worst.max(t);
                    if t > Duration::from_secs(1) {
                        bad += 1;
                    }
                }
                None => bad += 1,
            }
            thread::sleep(Duration::from_secs(1));
        }
        (worst, bad, count)
    })
}

/// Reads one response with Content-Length framing; (status, body length).
fn read_response(reader: &mut impl BufRead) -> Option<(u16, usize)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = reader.take(length as u64);
    let n = std::io::copy(&mut body, &mut std::io::sink()).ok()?;
    Some((status, usize::try_from(n).ok()?))
}

/// True when the peer has closed the connection (EOF or reset), draining
/// whatever was still buffered, within `wait`.
fn is_closed(mut stream: &TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

struct Report {
    passed: usize,
    failed: usize,
    since: Instant,
}

impl Report {
    fn record(&mut self, name: &str, pass: bool, figures: String) {
        let verdict = if pass { "PASS" } else { "FAIL" };
        let took = self.since.elapsed().as_secs_f64();
        println!("{verdict} {name} ({took:.0}s): {figures}");
        self.since = Instant::now();
        if pass {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

fn fixtures(mode: &Mode) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("small.txt"), [b's'; 4096]).expect("small");
    let mid: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("mid.bin"), mid).expect("mid");
    let big = std::fs::File::create(dir.path().join("big.bin")).expect("big");
    big.set_len(mode.slow_file_mib << 20)
        .expect("sparse big file");
    dir
}

/// Scenario 1: Slowloris: connections that send one header byte every two seconds.
fn slowloris(mode: &Mode, dir: &Path, report: &mut Report) {
    let timeout = mode.header_timeout.to_string();
    let server = Server::start(dir, &["--header-timeout", &timeout]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut conns: Vec<TcpStream> = (0..mode.slowloris)
        .filter_map(|_| TcpStream::connect(server.addr).ok())
        .collect();
    let opened = conns.len();
    let prober = probe_loop(server.addr, Arc::clone(&stop));
    let head = b"GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let started = Instant::now();
    let mut cut_at = None;
    for step in 0.. {
        let byte = *head.get(step).unwrap_or(&b'a');
        for c in &mut conns {
            let _ = c.write(&[byte]);
        }
        thread::sleep(Duration::from_secs(2));
        if started.elapsed() > Duration::from_secs(mode.header_timeout + 3) {
            break;
        }
        if cut_at.is_none() {
            let sample = conns
                .iter()
                .take(20)
                .all(|c| is_closed(c, Duration::from_millis(50)));
            if sample {
                cut_at = Some(started.elapsed());
            }
        }
    }
    let closed = conns
        .iter()
        .filter(|c| is_closed(c, Duration::from_millis(300)))
        .count();
    stop.store(true, Ordering::Relaxed);
    let (worst, bad, probes) = prober.join().expect("prober");
    let pass = opened == mode.slowloris && closed == opened && bad == 0;
    report.record(
        "1 slowloris",
        pass,
        format!(
            "{opened} connections, header timeout {}s; {closed} cut (first sample cut by {:.1}s); \
             {probes} probes, worst {:.0} ms, {bad} over 1 s or failed",
            mode.header_timeout,
            cut_at.unwrap_or_default().as_secs_f64(),
            worst.as_secs_f64() * 1000.0
        ),
    );
}

/// Scenario 2: Idle keep-alive connections: memory per connection, probe answered.
fn idle_connections(mode: &Mode, dir: &Path, report: &mut Report) {
    let server = Server::start(dir, &[]);
    for _ in 0..20 {
        let _ = probe(server.addr);
    }
    thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib();
    let mut conns = Vec::with_capacity(mode.idle);
    for _ in 0..mode.idle {
        let Ok(mut s) = TcpStream::connect(server.addr) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            continue;
        }
        let mut reader = BufReader::new(s);
        if matches!(read_response(&mut reader), Some((200, 4096))) {
            conns.push(reader);
        }
    }
    thread::sleep(Duration::from_millis(500));
    let after = server.rss_kib();
    let probe_time = probe(server.addr);
    let per_conn = after.saturating_sub(before) as f64 / conns.len().max(1) as f64;
    let pass = conns.len() == mode.idle && probe_time.is_some_and(|t| t < Duration::from_secs(1));
    report.record(
        "2 idle keep-alive",
        pass,
        format!(
            "{} idle connections; RSS {before} KiB -> {after} KiB = {per_conn:.1} KiB per connection; probe {:?}",
            conns.len(),
            probe_time
        ),
    );
}

/// Scenario 3: Slow and stalled readers of a large file: bounded memory; stalled
/// readers dropped at the send timeout.
fn slow_readers(mode: &Mode, dir: &Path, report: &mut Report) {
    let timeout = mode.send_timeout.to_string();
    let server = Server::start(dir, &["--send-timeout", &timeout]);
    let _ = probe(server.addr);
    // Let the probe's connection close before counting descriptors.
    thread::sleep(Duration::from_millis(300));
    let base_rss = server.rss_kib();
    let base_fds = server.fds();
    let stop = Arc::new(AtomicBool::new(false));
    let readers = mode.slow_readers;
    let mut stalled = Vec::new();
    let mut slow_threads = Vec::new();
    for i in 0..readers {
        let Ok(mut s) = TcpStream::connect(server.addr) else {
            continue;
        };
        let _ = s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        if i % 2 == 0 {
            stalled.push(s);
        } else {
            let stop = Arc::clone(&stop);
            slow_threads.push(thread::spawn(move || {
                let mut buf = vec![0u8; 256 << 10];
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                // True when the server ended this steadily read download.
                while !stop.load(Ordering::Relaxed) {
                    match s.read(&mut buf) {
                        Ok(0) => return true,
                        Err(e)
                            if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            return true;
                        }
                        _ => {}
                    }
                    thread::sleep(Duration::from_millis(50));
                }
                false
            }));
        }
    }
    let mut peak = base_rss;
    let sample_for = Duration::from_secs(mode.send_timeout + 3);
    let started = Instant::now();
    while started.elapsed() < sample_for {
        peak = peak.max(server.rss_kib());
        thread::sleep(Duration::from_millis(100));
    }
    let slow = slow_threads.len();
    // A stalled reader is cut once the kernel accepts no byte for it during
    // the send timeout. Watch the server's descriptors (a socket and a file
    // per live download) rather than reading the stalled sockets, which
    // would un-stall them; the wait is bounded and its length reported.
    let budget = Instant::now() + Duration::from_secs(mode.send_timeout * 4 + 10);
    let mut fds_after = server.fds();
    while fds_after > base_fds + 2 * slow && Instant::now() < budget {
        thread::sleep(Duration::from_millis(100));
        fds_after = server.fds();
    }
    let all_cut_after = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let slow_cut = slow_threads
        .into_iter()
        .map(thread::JoinHandle::join)
        .filter(|ended| !matches!(ended, Ok(false)))
        .count();
    let slow_alive = slow_cut == 0;
    let stalled_closed = stalled
        .iter()
        .filter(|s| is_closed(s, Duration::from_secs(3)))
        .count();
    // Each connection may hold one read chunk and hyper's buffers; the file
    // size must not matter.
    let bound = base_rss + readers as u64 * 512;
    let pass = peak <= bound && stalled_closed == stalled.len() && slow_alive;
    report.record(
        "3 slow readers",
        pass,
        format!(
            "{readers} readers of a {} MiB file ({} stalled, {slow} reading 256 KiB per 50 ms); \
             peak RSS {peak} KiB (base {base_rss} KiB, bound {bound} KiB); \
             stalled dropped at {}s send timeout: {stalled_closed}/{} (all by {:.1}s); \
             fds {base_fds} -> {fds_after}; slow readers cut: {slow_cut}",
            mode.slow_file_mib,
            stalled.len(),
            mode.send_timeout,
            stalled.len(),
            all_cut_after.as_secs_f64()
        ),
    );
}

/// Scenario 4: Range downloads cut by the client at random points: no leaked handles.
fn cut_downloads(mode: &Mode, dir: &Path, report: &mut Report) {
    let server = Server::start(dir, &[]);
    let _ = probe(server.addr);
    // The open-file cache keeps mid.bin open from its first request on: that
    // handle belongs in the baseline, a leaked one per download does not.
    if let Ok(mut s) = TcpStream::connect(server.addr) {
        let _ = s.write_all(b"HEAD /mid.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.read_to_end(&mut Vec::new());
    }
    thread::sleep(Duration::from_millis(200));
    let base_fds = server.fds();
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (addr, done, count) = (server.addr, Arc::clone(&done), mode.cut_downloads / 4);
            thread::spawn(move || {
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                for _ in 0..count {
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        continue;
                    };
                    let first = next() % (16 << 20);
                    let last = first + next() % (4 << 20);
                    let request = format!(
                        "GET /mid.bin HTTP/1.1\r\nHost: x\r\nRange: bytes={first}-{last}\r\nConnection: close\r\n\r\n"
                    );
                    let _ = s.write_all(request.as_bytes());
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut want = usize::try_from(next() % (1 << 20)).unwrap_or(0);
                    let mut buf = vec![0u8; 16 << 10];
                    while want > 0 {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => want = want.saturating_sub(n),
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let started = Instant::now();
    let mut fds = server.fds();
    while fds > base_fds && started.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(200));
        fds = server.fds();
    }
    let settled = started.elapsed();
    let probe_time = probe(server.addr);
    let pass = fds <= base_fds && probe_time.is_some();
    report.record(
        "4 cut downloads",
        pass,
        format!(
            "{} range downloads cut at random points; open fds {base_fds} before, {fds} after \
             (settled in {:.1}s); probe {:?}",
            done.load(Ordering::Relaxed),
            settled.as_secs_f64(),
            probe_time
        ),
    );
}

/// Scenario 5: Range floods: many-part Range headers get a bounded answer.
fn range_floods(dir: &Path, report: &mut Report) {
    let server = Server::start(dir, &[]);
    let file = 16u64 << 20;
    let spread = |n: u64| {
        (0..n)
            .map(|i| format!("{}-{}", i * 4096, i * 4096))
            .collect::<Vec<_>>()
            .join(",")
    };
    let headers = [
        ("200 distinct parts", spread(200)),
        ("1000 distinct parts", spread(1000)),
        ("200 x 0-", vec!["0-"; 200].join(",")),
        ("1000 x 0-", vec!["0-"; 1000].join(",")),
        (
            "200 overlapping",
            (0..200)
                .map(|i| format!("{i}-{}", file - 1))
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    let mut worst = 0usize;
    let mut statuses = Vec::new();
    let started = Instant::now();
    for (name, set) in &headers {
        for _ in 0..20 {
            let mut s = server.connect();
            let req = format!(
                "GET /mid.bin HTTP/1.1\r\nHost: x\r\nRange: bytes={set}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(req.as_bytes());
            if let Some((status, len)) = read_response(&mut BufReader::new(s)) {
                worst = worst.max(len);
                statuses.push(format!("{name}: {status}"));
            }
        }
    }
    statuses.dedup();
    let elapsed = started.elapsed();
    let probe_time = probe(server.addr);
    let bound = usize::try_from(file).unwrap_or(usize::MAX) + (64 << 10);
    let pass = worst <= bound && statuses.len() == headers.len() && probe_time.is_some();
    report.record(
        "5 range floods",
        pass,
        format!(
            "100 requests in {:.1}s; largest body {worst} bytes for a {file}-byte file; [{}]; probe {:?}",
            elapsed.as_secs_f64(),
            statuses.join(", "),
            probe_time
        ),
    );
}

/// Scenario 6: Malformed requests: always a 4xx or a close, never a crash or a 5xx.
fn malformed(mode: &Mode, dir: &Path, report: &mut Report) {
    let mut server = Server::start(dir, &[]);
    let long_line = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    let many: String = (0..10_000).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage line", b"HELLO THERE\r\n\r\n".to_vec()),
        ("64 KiB header line", long_line.into_bytes()),
        ("10000 headers", many.into_bytes()),
        ("NUL in target", b"GET /sm\0all.txt HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("invalid UTF-8 target", b"GET /\xff\xfe.txt HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("NUL in header", b"GET /small.txt HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n".to_vec()),
        ("CL+TE", b"POST /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec()),
        ("missing Host", b"GET /small.txt HTTP/1.1\r\n\r\n".to_vec()),
        ("two Hosts", b"GET /small.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec()),
        ("20 KB target", long_target.into_bytes()),
        ("bad version", b"GET /small.txt HTTP/9.9\r\nHost: x\r\n\r\n".to_vec()),
        ("bad Content-Length", b"GET /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec()),
        ("traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
    ];
    let mut bad = Vec::new();
    let mut outcomes = std::collections::BTreeMap::new();
    for i in 0..mode.malformed {
        let (name, bytes) = &cases[i % cases.len()];
        let Ok(mut s) = TcpStream::connect(server.addr) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(bytes);
        let mut reader = BufReader::new(s);
        let outcome = match read_response(&mut reader) {
            Some((status, _)) if (400..500).contains(&status) => format!("{status}"),
            Some((status, _)) => {
                bad.push(format!("{name}: {status}"));
                format!("{status}")
            }
            None => "close".to_string(),
        };
        outcomes.insert(*name, outcome);
    }
    // A body on a GET must not desynchronise the connection.
    let mut s = server.connect();
    let _ = s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut reader = BufReader::new(s);
    let pipelined = (read_response(&mut reader), read_response(&mut reader));
    let in_sync = matches!(pipelined, (Some((200, 4096)), Some((200, 4096))));
    let alive = server.alive();
    let probe_time = probe(server.addr);
    let pass = bad.is_empty() && alive && in_sync && probe_time.is_some();
    let summary: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    report.record(
        "6 malformed requests",
        pass,
        format!(
            "{} requests; [{}]; GET with a body then a pipelined GET: {pipelined:?}; \
             not 4xx/close: {bad:?}; alive {alive}; probe {probe_time:?}",
            mode.malformed,
            summary.join(", ")
        ),
    );
}

/// Scenario 7: Descriptor exhaustion under `prlimit --nofile=256`: no CPU spin while
/// out of descriptors, serving again soon after they are freed.
fn fd_exhaustion(dir: &Path, report: &mut Report) {
    if Command::new("prlimit").arg("--version").output().is_err() {
        report.record(
            "7 descriptor exhaustion",
            false,
            "prlimit is not installed".into(),
        );
        return;
    }
    let prefix: &[&str] = &["prlimit", "--nofile=256:256", "--"];
    // Allow more connections than descriptors so accept itself hits EMFILE.
    let mut server = Server::start_with(Some(prefix), dir, &["--max-connections", "1000"]);
    let mut conns = Vec::new();
    let connecting = Instant::now();
    for _ in 0..400 {
        // Past the backlog, connects hang until their timeout: bound the loop.
        if connecting.elapsed() > Duration::from_secs(5) {
            break;
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)) {
            let _ = s.write_all(b"GET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\n");
            conns.push(s);
        }
    }
    let opened = conns.len();
    thread::sleep(Duration::from_millis(500));
    let ticks_before = server.cpu_ticks();
    let measured = Instant::now();
    thread::sleep(Duration::from_secs(3));
    let ticks = server.cpu_ticks() - ticks_before;
    let hz = 100.0; // USER_HZ on Linux
    let cpu = ticks as f64 / hz / measured.elapsed().as_secs_f64();
    let fds_at_limit = server.fds();
    drop(conns);
    let freed = Instant::now();
    let mut recovered = None;
    while freed.elapsed() < Duration::from_secs(10) {
        if probe(server.addr).is_some() {
            recovered = Some(freed.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    let alive = server.alive();
    let pass = opened > 256
        && cpu < 0.25
        && recovered.is_some_and(|t| t < Duration::from_secs(5))
        && alive;
    report.record(
        "7 descriptor exhaustion",
        pass,
        format!(
            "{opened} of 400 connections opened against 256 descriptors ({fds_at_limit} open); server CPU while \
             exhausted {:.1}% of a core; serving again {:.1}s after they closed; alive {alive}",
            cpu * 100.0,
            recovered.map_or(f64::NAN, |t| t.as_secs_f64())
        ),
    );
}

/// Scenario 8: SIGTERM during downloads: they finish, new connections are refused,
/// exit code 0.
fn sigterm(dir: &Path, report: &mut Report) {
    let mut server = Server::start(dir, &["--shutdown-timeout", "20"]);
    let addr = server.addr;
    let downloads: Vec<_> = (0..5)
        .map(|_| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
                s.write_all(b"GET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                    .ok()?;
                let mut reader = BufReader::with_capacity(64 << 10, s);
                let mut line = String::new();
                let mut length = 0u64;
                loop {
                    line.clear();
                    reader.read_line(&mut line).ok()?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().ok()?;
                    }
                }
                // About 4 MiB/s, so the download spans the signal.
                let mut got = 0u64;
                let mut buf = vec![0u8; 64 << 10];
                while got < length {
                    let n = reader.read(&mut buf).ok()?;
                    if n == 0 {
                        break;
                    }
                    got += n as u64;
                    thread::sleep(Duration::from_millis(15));
                }
                Some((got, length))
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(700));
    let signalled = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status();
    thread::sleep(Duration::from_millis(300));
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err();
    let results: Vec<_> = downloads
        .into_iter()
        .map(|d| d.join().ok().flatten())
        .collect();
    let complete = results
        .iter()
        .filter(|r| matches!(r, Some((got, len)) if got == len && *len > 0))
        .count();
    let mut status = None;
    while signalled.elapsed() < Duration::from_secs(25) {
        if let Ok(Some(s)) = server.child.try_wait() {
            status = Some(s);
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let exit_after = signalled.elapsed();
    let pass = complete == 5 && refused && status.is_some_and(|s| s.success());
    report.record(
        "8 SIGTERM during downloads",
        pass,
        format!(
            "{complete}/5 downloads of 16 MiB completed after the signal; new connection refused: {refused}; \
             exit {:?} {:.1}s after SIGTERM",
            status.and_then(|s| s.code()),
            exit_after.as_secs_f64()
        ),
    );
}

/// Opens an h2c connection: preface and SETTINGS (`settings`, id and value)
/// sent, the server's SETTINGS read and acknowledged.
fn h2_connect(addr: SocketAddr, settings: &[(u16, u32)]) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_nodelay(true).ok()?;
    let payload: Vec<u8> = settings
        .iter()
        .flat_map(|(id, value)| [id.to_be_bytes().to_vec(), value.to_be_bytes().to_vec()].concat())
        .collect();
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &payload));
    s.write_all(&hello).ok()?;
    loop {
        let (kind, flags, ..) = read_frame(&mut s)?;
        if kind == SETTINGS && flags & ACK == 0 {
            break;
        }
    }
    s.write_all(&frame(SETTINGS, ACK, 0, &[])).ok()?;
    Some(s)
}

/// Reads frames until `count` frames of type `kind` have come, or the
/// connection ends or stalls: how many came.
fn h2_count(s: &mut TcpStream, kind: u8, count: usize) -> usize {
    let mut seen = 0;
    while seen < count {
        match read_frame(s) {
            Some((k, ..)) if k == kind => seen += 1,
            Some(_) => {}
            None => break,
        }
    }
    seen
}

/// Scenario 9: Idle HTTP/2 connections, each after one request: memory per
/// connection, probe answered.
fn idle_h2(mode: &Mode, dir: &Path, report: &mut Report) {
    let server = Server::start(dir, &[]);
    for _ in 0..20 {
        let _ = probe(server.addr);
    }
    thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib();
    let mut conns = Vec::with_capacity(mode.idle);
    for _ in 0..mode.idle {
        let Some(mut s) = h2_connect(server.addr, &[]) else {
            continue;
        };
        let request = frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &get_block("/small.txt"),
        );
        if s.write_all(&request).is_ok() && h2_count(&mut s, DATA, 1) == 1 {
            conns.push(s);
        }
    }
    thread::sleep(Duration::from_millis(500));
    let after = server.rss_kib();
    let probe_time = probe(server.addr);
    let per_conn = after.saturating_sub(before) as f64 / conns.len().max(1) as f64;
    let pass = conns.len() == mode.idle
        && per_conn <= IDLE_H2_KIB
        && probe_time.is_some_and(|t| t < Duration::from_secs(1));
    report.record(
        "9 idle HTTP/2",
        pass,
        format!(
            "{} idle h2c connections; RSS {before} KiB -> {after} KiB = {per_conn:.1} KiB per connection (bound {IDLE_H2_KIB}); probe {:?}",
            conns.len(),
            probe_time
        ),
    );
}

/// The stated bound on an idle HTTP/2 connection (README, reliability
/// table): h2 itself allocates 28 KiB of buffers per connection at the
/// handshake and keeps them until the connection closes.
const IDLE_H2_KIB: f64 = 32.0;

/// Streams per connection the server advertises (SETTINGS_MAX_CONCURRENT_STREAMS).
const H2_STREAMS: usize = 100;

/// Scenario 10: HTTP/2 connections whose every stream is stalled (no flow
/// control window): memory bounded, probes fast, every stream reset after
/// the send timeout.
fn stalled_h2(mode: &Mode, dir: &Path, report: &mut Report) {
    const CONNECTIONS: usize = 50;
    const PROBE_LIMIT: Duration = Duration::from_millis(100);
    const RSS_LIMIT_KIB: u64 = 64 * 1024;
    let send_timeout = mode.send_timeout.to_string();
    let server = Server::start(dir, &["--send-timeout", &send_timeout]);
    for _ in 0..20 {
        let _ = probe(server.addr);
    }
    thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib();
    let requests: Vec<u8> = (0..H2_STREAMS)
        .flat_map(|i| {
            let id = u32::try_from(2 * i + 1).expect("stream id");
            frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                id,
                &get_block("/big.bin"),
            )
        })
        .collect();
    let started = Instant::now();
    let (mut conns, mut answered) = (Vec::with_capacity(CONNECTIONS), 0);
    for _ in 0..CONNECTIONS {
        let Some(mut s) = h2_connect(server.addr, &[(INITIAL_WINDOW_SIZE, 0)]) else {
            continue;
        };
        if s.write_all(&requests).is_ok() {
            answered += h2_count(&mut s, HEADERS, H2_STREAMS);
            conns.push(s);
        }
    }
    thread::sleep(Duration::from_millis(500));
    let held = server.rss_kib();
    let mut worst = Duration::ZERO;
    let mut slow = 0;
    for _ in 0..10 {
        match probe(server.addr) {
            Some(t) if t < PROBE_LIMIT => worst = worst.max(t),
            Some(t) => {
                worst = worst.max(t);
                slow += 1;
            }
            None => slow += 1,
        }
        thread::sleep(Duration::from_millis(100));
    }
    // Every stream is reset once the send timeout passes without window.
    let mut reset = 0;
    for s in &mut conns {
        let _ = s.set_read_timeout(Some(Duration::from_secs(mode.send_timeout + 10)));
        reset += h2_count(s, RST_STREAM, H2_STREAMS);
    }
    let reset_after = started.elapsed();
    let after = server.rss_kib();
    let streams = CONNECTIONS * H2_STREAMS;
    let grown = held.saturating_sub(before);
    let pass = conns.len() == CONNECTIONS
        && answered == streams
        && reset == streams
        && grown < RSS_LIMIT_KIB
        && slow == 0;
    report.record(
        "10 stalled HTTP/2 streams",
        pass,
        format!(
            "{} connections x {H2_STREAMS} streams, window 0: {answered} answered; RSS {before} KiB -> {held} KiB (+{grown} KiB, {:.2} KiB per stream; bound 64 MiB); 10 probes, worst {:.1} ms, {slow} over 100 ms or failed; {reset} reset by {:.1} s (send timeout {} s); RSS after {after} KiB",
            conns.len(),
            grown as f64 / streams as f64,
            worst.as_secs_f64() * 1000.0,
            reset_after.as_secs_f64(),
            mode.send_timeout,
        ),
    );
}

fn raise_fd_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--full");
    let mode = if full { &FULL } else { &SHORT };
    raise_fd_limit();
    let started = Instant::now();
    println!("soak: {} mode", if mode.full { "full" } else { "short" });
    let dir = fixtures(mode);
    let mut report = Report {
        passed: 0,
        failed: 0,
        since: Instant::now(),
    };
    // `-- 3 7` runs only scenarios 3 and 7.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |n: &str| only.is_empty() || only.iter().any(|o| o == n);
    let d = dir.path();
    if run("1") {
        slowloris(mode, d, &mut report);
    }
    if run("2") {
        idle_connections(mode, d, &mut report);
    }
    if run("3") {
        slow_readers(mode, d, &mut report);
    }
    if run("4") {
        cut_downloads(mode, d, &mut report);
    }
    if run("5") {
        range_floods(d, &mut report);
    }
    if run("6") {
        malformed(mode, d, &mut report);
    }
    if run("7") {
        fd_exhaustion(d, &mut report);
    }
    if run("8") {
        sigterm(d, &mut report);
    }
    if run("9") {
        idle_h2(mode, d, &mut report);
    }
    if run("10") {
        stalled_h2(mode, d, &mut report);
    }
    println!("soak took {:.0}s", started.elapsed().as_secs_f64());
    println!("{} passed, {} failed", report.passed, report.failed);
    if report.failed > 0 {
        std::process::exit(1);
    }
}
