//! `rangeget`: a download client that resumes safely and proves the bytes.
//!
//! 1. Probe with `Range: bytes=0-0`, `If-Range` (the saved validator) and
//!    `Want-Repr-Digest: sha-256=10`: a 206 gives the length, the validator
//!    (a strong ETag, else Last-Modified) and the digest; a 200 means the
//!    server ignores ranges or the file changed since the saved part, which
//!    is then discarded (said in one line), never appended to.
//! 2. Fetch what is missing in up to `-j` ranges at once, each with
//!    `If-Range`, written at its offset in `FILE.part`; `FILE.part.state`
//!    records what is on disk every second, so Ctrl-C, `kill -9` or a
//!    crash loses at most that second. Network errors are retried with
//!    backoff from what is on disk; 429 and 503 wait for `Retry-After`.
//! 3. Verify: the length, and the SHA-256 from `Repr-Digest` or `--sha256`
//!    over the whole file; a mismatch exits 5 and keeps `FILE.part`. Then
//!    rename to `FILE` and remove the state.
//!
//! It is built on reqwest (rustls with *ring*, the system's roots) and
//! shares with the server only the rate bucket and the file hashing.

pub mod state;

use std::fs::File;
use std::io::IsTerminal;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

use crate::guard::rate::Bucket;
use state::State;

/// The command line of `rangeget`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "rangeget",
    version,
    about = "Download a file by ranges, resume safely, verify its digest."
)]
pub struct Args {
    /// What to download (http or https).
    pub url: String,
    /// Where to put it (default: the last part of the URL's path).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Range requests at once, like aria2c -x N.
    #[arg(short = 'j', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// The SHA-256 the file must have (hex); checked even without a digest
    /// from the server.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// The most bytes per second in all (K, M, G: powers of 1024).
    #[arg(long, value_name = "RATE", value_parser = crate::guard::rate::parse_size)]
    pub limit_rate: Option<u64>,
    /// Trust this PEM certificate (a private CA) besides the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Exit codes: distinct for each kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Usage = 2,
    Network = 3,
    Status = 4,
    Verify = 5,
    Interrupted = 130,
}

/// Why a download did not end with the file.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

fn fail(exit: Exit, message: impl Into<String>) -> Failure {
    Failure {
        exit,
        message: message.into(),
    }
}

/// Segments are at least this long.
const MIN_SEGMENT: u64 = 1 << 20;
/// Tries of one range before giving up.
const TRIES: u32 = 10;
/// Times the download starts over because the file changed.
const RESTARTS: u32 = 3;

/// Runs `rangeget` with `args`; the process exit code.
pub fn main(args: Args) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rangeget: cannot start the async runtime: {e}");
            return Exit::Usage as i32;
        }
    };
    let result = runtime.block_on(run(&args));
    // NOTE: a read of the terminal (pause_keys) blocks a pool thread until
    // Enter; the exit must not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => 0,
        Err(failure) => {
            eprintln!("rangeget: {}", failure.message);
            failure.exit as i32
        }
    }
}

/// Everything one download shares between its tasks.
struct Job {
    client: reqwest::Client,
    url: String,
    part: PathBuf,
    state_path: PathBuf,
    file: File,
    state: Mutex<State>,
    /// Bytes written this run (for progress).
    written: AtomicU64,
    /// A range came back 200: the file changed; stop and start over.
    changed: AtomicBool,
    /// `p` was typed: connections dropped until Enter.
    paused: AtomicBool,
    bucket: Option<Bucket>,
}

async fn run(args: &Args) -> Result<(), Failure> {
    let output = match &args.output {
        Some(output) => output.clone(),
        None => name_from_url(&args.url)?,
    };
    let client = client(args)?;
    let mut part = output.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let mut state_path = part.clone().into_os_string();
    state_path.push(".state");
    let state_path = PathBuf::from(state_path);
    let resume_hint = format!("rangeget {} -o {}", args.url, output.display());

    for _ in 0..RESTARTS {
        let saved = State::load(&state_path).filter(|s| s.url == args.url && part.exists());
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .map_err(|e| fail(Exit::Usage, format!("cannot write {}: {e}", part.display())))?;
        let job = Arc::new(Job {
            client: client.clone(),
            url: args.url.clone(),
            part: part.clone(),
            state_path: state_path.clone(),
            file,
            state: Mutex::new(saved.clone().unwrap_or(State {
                url: args.url.clone(),
                ..State::default()
            })),
            written: AtomicU64::new(0),
            changed: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            bucket: args
                .limit_rate
                .map(|rate| Bucket::new(rate.max(1), Instant::now())),
        });
        if saved.as_ref().is_some_and(|s| s.have() > 0) && !args.quiet {
            eprintln!(
                "rangeget: resuming {} ({} bytes on disk)",
                output.display(),
                saved.as_ref().map_or(0, State::have)
            );
        }
        let keys = pause_keys(&job, args);
        let fetched = tokio::select! {
            fetched = fetch(&job, args) => fetched,
            _ = tokio::signal::ctrl_c() => {
                job.save();
                return Err(fail(Exit::Interrupted, format!("interrupted; the part is kept. To resume: {resume_hint}")));
            }
        };
        if let Some(keys) = keys {
            keys.abort();
        }
        job.save();
        match fetched {
            Ok(true) => return finish(&job, args, &output),
            Ok(false) => {
                if !args.quiet {
                    eprintln!(
                        "rangeget: the file changed on the server; discarding the partial download and starting again"
                    );
                }
                discard(&job);
            }
            Err(failure) => {
                let failure = Failure {
                    message: format!(
                        "{}; the part is kept. To resume: {resume_hint}",
                        failure.message
                    ),
                    ..failure
                };
                return Err(failure);
            }
        }
    }
    Err(fail(
        Exit::Status,
        "the file kept changing while being downloaded",
    ))
}

/// The file name at the end of the URL's path, percent-decoded.
fn name_from_url(url: &str) -> Result<PathBuf, Failure> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| fail(Exit::Usage, format!("{url:?} is not a URL: {e}")))?;
    let last = parsed
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    let name = percent_encoding::percent_decode_str(last)
        .decode_utf8_lossy()
        .into_owned();
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(fail(Exit::Usage, "the URL names no file; give -o FILE"));
    }
    Ok(PathBuf::from(name))
}

fn client(args: &Args) -> Result<reqwest::Client, Failure> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("rangeget/", env!("CARGO_PKG_VERSION")));
    if let Some(cacert) = &args.cacert {
        let pem = std::fs::read(cacert).map_err(|e| {
            fail(
                Exit::Usage,
                format!("cannot read {}: {e}", cacert.display()),
            )
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| fail(Exit::Usage, format!("{}: {e}", cacert.display())))?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| fail(Exit::Usage, format!("cannot set up HTTPS: {e}")))
}

impl Job {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self) {
        let state = self.lock().clone();
        if let Err(e) = state.save(&self.state_path) {
            eprintln!("rangeget: cannot save {}: {e}", self.state_path.display());
        }
    }

    /// Writes `bytes` at `offset` and records them.
    fn write(&self, offset: u64, bytes: &[u8]) -> Result<(), Failure> {
        self.file.write_all_at(bytes, offset).map_err(|e| {
            fail(
                Exit::Usage,
                format!("cannot write {}: {e}", self.part.display()),
            )
        })?;
        self.lock().add(offset, offset + bytes.len() as u64);
        self.written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Waits until `n` bytes may be received under `--limit-rate`.
    async fn pace(&self, n: u64) {
        let Some(bucket) = &self.bucket else { return };
        loop {
            let now = Instant::now();
            if bucket.available(n, now) > 0 {
                bucket.take(n, now);
                return;
            }
            tokio::time::sleep(bucket.wait(n, now).max(Duration::from_millis(5))).await;
        }
    }
}

fn discard(job: &Job) {
    let _ = job.file.set_len(0);
    *job.lock() = State {
        url: job.url.clone(),
        ..State::default()
    };
    let _ = std::fs::remove_file(&job.state_path);
}

/// Steps 1 and 2. `Ok(false)`: the file changed; start over.
async fn fetch(job: &Arc<Job>, args: &Args) -> Result<bool, Failure> {
    let validator = job.lock().validator.clone();
    let response = send(job, Some((0, 0)), validator.as_deref()).await?;
    let status = response.status();
    let headers = response.headers().clone();
    match status {
        StatusCode::PARTIAL_CONTENT => {
            let Some((0, 0, length)) = content_range(&headers) else {
                return Err(fail(
                    Exit::Status,
                    "the server answered a range it was not asked for",
                ));
            };
            let now_validator = validator_of(&headers);
            let digest = header_text(&headers, "repr-digest");
            {
                let mut state = job.lock();
                if state.validator.is_some() && state.validator != now_validator {
                    return Ok(false);
                }
                if state.digest.is_some() && digest.is_some() && state.digest != digest {
                    return Ok(false);
                }
                state.length = length;
                state.validator = now_validator;
                state.digest = state.digest.take().or(digest);
            }
            let body = response.bytes().await.map_err(network)?;
            job.write(0, &body)?;
            job.save();
            let progress = progress(job, args);
            let segments = job.lock().segments(usize::from(args.jobs), MIN_SEGMENT);
            let tasks: Vec<_> = segments
                .into_iter()
                .map(|(start, end)| {
                    let job = Arc::clone(job);
                    tokio::spawn(async move { fetch_range(&job, start, end).await })
                })
                .collect();
            let saver = {
                let job = Arc::clone(job);
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        job.save();
                    }
                })
            };
            let mut result = Ok(());
            for task in tasks {
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(failure)) => result = result.and(Err(failure)),
                    Err(e) => result = result.and(Err(fail(Exit::Network, e.to_string()))),
                }
            }
            saver.abort();
            progress.finish();
            if job.changed.load(Ordering::Relaxed) {
                return Ok(false);
            }
            result.map(|()| true)
        }
        StatusCode::OK => {
            let had = job.lock().have() > 0;
            if had {
                return Ok(false);
            }
            if !args.quiet
                && headers
                    .get(header::ACCEPT_RANGES)
                    .is_none_or(|v| v != "bytes")
            {
                eprintln!(
                    "rangeget: the server does not support ranges: downloading in one stream (a rerun starts from zero)"
                );
            }
            {
                let mut state = job.lock();
                state.length = response.content_length().unwrap_or(0);
                state.validator = None;
                state.digest = header_text(&headers, "repr-digest");
            }
            let progress = progress(job, args);
            let result = stream_whole(job, response).await;
            progress.finish();
            result.map(|()| true)
        }
        StatusCode::RANGE_NOT_SATISFIABLE if content_range_total(&headers) == Some(0) => {
            let mut state = job.lock();
            state.length = 0;
            state.validator = validator_of(&headers);
            Ok(true)
        }
        other => Err(status_failure(other, &job.url)),
    }
}

/// On a terminal: a line `p` pauses (connections dropped, the part kept),
/// an empty line (Enter) resumes.
fn pause_keys(job: &Arc<Job>, args: &Args) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::io::AsyncBufReadExt;
    if !std::io::stdin().is_terminal() {
        return None;
    }
    if !args.quiet {
        eprintln!(
            "rangeget: type p and Enter to pause, Enter to resume, Ctrl-C to stop (the part is kept)"
        );
    }
    let job = Arc::clone(job);
    Some(tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let pause = line.trim() == "p";
            if pause != job.paused.swap(pause, Ordering::Relaxed) {
                job.save();
                eprintln!(
                    "rangeget: {}",
                    if pause {
                        "paused; Enter resumes"
                    } else {
                        "resuming"
                    }
                );
            }
        }
    }))
}

/// A whole body streamed from offset 0 (a server without ranges).
async fn stream_whole(job: &Arc<Job>, mut response: reqwest::Response) -> Result<(), Failure> {
    let _ = job.file.set_len(0);
    let mut at = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        job.pace(chunk.len() as u64).await;
        job.write(at, &chunk)?;
        at += chunk.len() as u64;
    }
    let mut state = job.lock();
    if state.length == 0 {
        state.length = at;
    }
    if at != state.length {
        return Err(fail(
            Exit::Network,
            format!("the connection closed after {at} of {} bytes", state.length),
        ));
    }
    Ok(())
}

/// Fetches `[start, end)` with `If-Range`, retrying from what is on disk.
async fn fetch_range(job: &Arc<Job>, start: u64, end: u64) -> Result<(), Failure> {
    let mut at = start;
    let mut tries = 0;
    let mut backoff = Duration::from_millis(500);
    while at < end {
        if job.changed.load(Ordering::Relaxed) {
            return Ok(());
        }
        while job.paused.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let validator = job.lock().validator.clone();
        let outcome = async {
            let response = send(job, Some((at, end - 1)), validator.as_deref()).await?;
            match response.status() {
                StatusCode::PARTIAL_CONTENT => {}
                StatusCode::OK => {
                    job.changed.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                status => return Err(status_failure(status, &job.url)),
            }
            match content_range(response.headers()) {
                Some((first, _, total)) if first == at && total == job.lock().length => {}
                _ => {
                    return Err(fail(
                        Exit::Status,
                        "the server answered another range than asked",
                    ));
                }
            }
            // A digest that was not known at the probe may come with a
            // later range of the same version (If-Range held).
            if let Some(digest) = header_text(response.headers(), "repr-digest") {
                let mut state = job.lock();
                if state.digest.is_none() {
                    state.digest = Some(digest);
                }
            }
            let mut response = response;
            while let Some(chunk) = response.chunk().await.map_err(network)? {
                if job.paused.load(Ordering::Relaxed) {
                    // Dropping the response closes its connection.
                    break;
                }
                let take = chunk
                    .len()
                    .min(usize::try_from(end - at).unwrap_or(usize::MAX));
                job.pace(take as u64).await;
                job.write(at, &chunk[..take])?;
                at += take as u64;
                tries = 0;
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) if at >= end || job.changed.load(Ordering::Relaxed) => return Ok(()),
            Ok(()) if job.paused.load(Ordering::Relaxed) => continue,
            Ok(()) => {}
            Err(failure) if failure.exit == Exit::Network => {
                tries += 1;
                if tries >= TRIES {
                    return Err(failure);
                }
            }
            Err(failure) => return Err(failure),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    Ok(())
}

/// One GET, waiting out 429 and 503 as `Retry-After` asks (bounded).
async fn send(
    job: &Job,
    range: Option<(u64, u64)>,
    validator: Option<&str>,
) -> Result<reqwest::Response, Failure> {
    for _ in 0..5 {
        let mut request = job
            .client
            .get(&job.url)
            .header("want-repr-digest", "sha-256=10");
        if let Some((first, last)) = range {
            request = request.header(header::RANGE, format!("bytes={first}-{last}"));
            if let Some(validator) = validator {
                request = request.header(header::IF_RANGE, validator);
            }
        }
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let wait = header_text(response.headers(), "retry-after")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
                .min(60);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        return Ok(response);
    }
    Err(fail(
        Exit::Status,
        format!("{}: the server kept answering 429/503", job.url),
    ))
}

fn network(e: reqwest::Error) -> Failure {
    fail(Exit::Network, format!("network error: {e}"))
}

fn status_failure(status: StatusCode, url: &str) -> Failure {
    fail(Exit::Status, format!("{url}: the server answered {status}"))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A strong ETag, else Last-Modified: what `If-Range` may carry (RFC 9110
/// §13.1.5: never a weak ETag).
fn validator_of(headers: &HeaderMap) -> Option<String> {
    header_text(headers, "etag")
        .filter(|e| e.starts_with('"'))
        .or_else(|| header_text(headers, "last-modified"))
}

/// `Content-Range: bytes first-last/total`.
fn content_range(headers: &HeaderMap) -> Option<(u64, u64, u64)> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?, total.parse().ok()?))
}

/// The total of `Content-Range: bytes */total`.
fn content_range_total(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_RANGE)?
        .to_str()
        .ok()?
        .strip_prefix("bytes */")?
        .parse()
        .ok()
}

/// Step 3: verify, then rename into place.
fn finish(job: &Job, args: &Args, output: &Path) -> Result<(), Failure> {
    let state = job.lock().clone();
    let on_disk = job.file.metadata().map(|m| m.len()).unwrap_or(0);
    if on_disk != state.length || !state.missing().is_empty() {
        return Err(fail(
            Exit::Verify,
            format!(
                "{} has {on_disk} bytes, expected {}",
                job.part.display(),
                state.length
            ),
        ));
    }
    let announced = state
        .digest
        .as_deref()
        .and_then(|d| d.strip_prefix("sha-256=:"))
        .and_then(|d| d.strip_suffix(':'))
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let expected = args
        .sha256
        .as_ref()
        .map(|h| h.to_ascii_lowercase())
        .or(announced);
    let verified = match &expected {
        Some(expected) => {
            let sums = crate::fs::digests::hash(&job.file, state.length, &job.part, false);
            let actual = sums
                .map(|s| crate::fs::digests::sha256_hex(&s))
                .map_err(|e| {
                    fail(
                        Exit::Verify,
                        format!("cannot read {}: {e}", job.part.display()),
                    )
                })?;
            if &actual != expected {
                return Err(fail(
                    Exit::Verify,
                    format!(
                        "verification failed: SHA-256 is {actual}, expected {expected}; the data is kept in {}",
                        job.part.display()
                    ),
                ));
            }
            true
        }
        None => false,
    };
    std::fs::rename(&job.part, output).map_err(|e| {
        fail(
            Exit::Usage,
            format!("cannot rename to {}: {e}", output.display()),
        )
    })?;
    let _ = std::fs::remove_file(&job.state_path);
    if !args.quiet {
        if verified {
            eprintln!(
                "rangeget: {} ({} bytes), SHA-256 verified",
                output.display(),
                state.length
            );
        } else {
            eprintln!(
                "rangeget: {} ({} bytes), length checked; the content could not be verified (no digest from the server, no --sha256)",
                output.display(),
                state.length
            );
        }
    }
    Ok(())
}

/// Progress: a bar on a terminal, a plain line every 5 s otherwise,
/// nothing with `-q`.
struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn progress(job: &Arc<Job>, args: &Args) -> Progress {
    if args.quiet {
        return Progress {
            task: None,
            bar: None,
        };
    }
    let (length, have) = {
        let state = job.lock();
        (state.length, state.have())
    };
    let jobs = args.jobs;
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(length);
        let style = indicatif::ProgressStyle::with_template(
            "{bytes}/{total_bytes} {percent}% {bytes_per_sec} ETA {eta} [{bar:30}] {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(format!("{jobs} connection(s)"));
        let (job, shown) = (Arc::clone(job), bar.clone());
        let task = tokio::spawn(async move {
            loop {
                shown.set_position(have + job.written.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        return Progress {
            task: Some(task),
            bar: Some(bar),
        };
    }
    let job = Arc::clone(job);
    let task = tokio::spawn(async move {
        let start = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let written = job.written.load(Ordering::Relaxed);
            let rate = written as f64 / start.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "rangeget: {} of {length} bytes, {:.1} MB/s, {jobs} connection(s)",
                have + written,
                rate / 1e6
            );
        }
    });
    Progress {
        task: Some(task),
        bar: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn names_come_from_the_url_path() {
        assert_eq!(
            name_from_url("http://x/a/b%20c.iso?x=1").unwrap(),
            PathBuf::from("b c.iso")
        );
        assert!(name_from_url("http://x/").is_err());
        assert!(name_from_url("http://x/a/%2E%2E").is_err());
        assert!(name_from_url("not a url").is_err());
    }

    #[test]
    fn if_range_never_carries_a_weak_etag() {
        let mut headers = HeaderMap::new();
        headers.insert("etag", HeaderValue::from_static("W/\"x\""));
        headers.insert(
            "last-modified",
            HeaderValue::from_static("Tue, 01 Dec 2026 10:00:00 GMT"),
        );
        assert_eq!(
            validator_of(&headers).as_deref(),
            Some("Tue, 01 Dec 2026 10:00:00 GMT")
        );
        headers.insert("etag", HeaderValue::from_static("\"x\""));
        assert_eq!(validator_of(&headers).as_deref(), Some("\"x\""));
    }

    #[test]
    fn content_range_parses_or_is_none() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 0-0/1000"),
        );
        assert_eq!(content_range(&headers), Some((0, 0, 1000)));
        headers.insert(header::CONTENT_RANGE, HeaderValue::from_static("bytes */0"));
        assert_eq!(content_range(&headers), None);
        assert_eq!(content_range_total(&headers), Some(0));
    }
}
