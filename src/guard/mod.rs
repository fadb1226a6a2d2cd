//! Who may download, and how fast: passwords (`--auth-file`), public
//! subtrees (`--public`), signed expiring links (`--link-key`), and the
//! per-connection and per-client limits (`--limit-rate*`,
//! `--max-connections-per-ip`).
//!
//! [`Guard::check`] is the one decision per request, taken after the path is
//! decoded and before anything is opened, so a refused request learns
//! nothing about what exists:
//! 1. no `--auth-file` and no `--link-key`: everyone;
//! 2. a path under a `--public` prefix: everyone;
//! 3. link parameters in the query (with `--link-key`): a valid, unexpired
//!    link for this path opens it; any other link is 403 with its reason;
//! 4. with `--auth-file`: valid Basic credentials (RFC 7617), else 401; an
//!    address with too many recent failures gets 429 first;
//! 5. `--link-key` alone: a link is required (403).
//!
//! It imports the pure parts it needs (`http::basic`) and reads the password
//! file; it never touches a socket.

pub mod clients;
pub mod htpasswd;
pub mod link;
pub mod rate;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use ring::digest;
use tokio::sync::Semaphore;

use crate::http::basic::{self, Credentials};
use clients::client_key;
use htpasswd::Users;
use link::LinkKey;

/// The realm of the Basic challenge.
pub const REALM: &str = "rangeserve";

/// Password checks run at once, at most (each is tens of milliseconds of
/// CPU on the blocking pool).
const VERIFYING: usize = 2;
/// Password checks one client address may have waiting or running.
const VERIFYING_PER_CLIENT: usize = 2;
/// Successful checks remembered, and for how long: aria2c's sixteen
/// connections pay bcrypt once, not sixteen times.
const CACHED: usize = 4096;
const CACHE_FOR: Duration = Duration::from_secs(300);
/// Failures an address may have before it must wait; the wait doubles with
/// each further failure, from 1 s up to [`MAX_LOCKOUT`].
const FREE_FAILURES: u32 = 10;
const MAX_LOCKOUT: Duration = Duration::from_secs(300);
/// Failures are forgotten after this long without another.
const FAILURE_MEMORY: Duration = Duration::from_secs(900);
/// Addresses remembered for their failures, at most.
const TRACKED: usize = 65_536;
/// How often the password file is checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The decision for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it. `user` is who authenticated (for the access log); `link`
    /// is the query of the link that opened it, for a listing to carry on.
    Allow {
        user: Option<String>,
        link: Option<String>,
    },
    /// 401 with a Basic challenge.
    Challenge,
    /// 403 with a short reason.
    Forbidden(&'static str),
    /// 429: this address failed too often; retry after this long.
    Throttled(Duration),
}

impl Verdict {
    fn allow() -> Self {
        Verdict::Allow {
            user: None,
            link: None,
        }
    }
}

/// The access rules of a server.
#[derive(Debug, Default)]
pub struct Guard {
    passwords: Option<Passwords>,
    /// Replaced on SIGHUP.
    links: Option<RwLock<Arc<LinkKey>>>,
    /// Canonical URL paths: without a trailing slash they cover one file and
    /// a folder of that name.
    public: Vec<String>,
}

impl Guard {
    /// `auth_file` read now (a start-up error if it does not parse);
    /// `public` as canonical URL paths (`RequestPath::url_path`).
    pub fn new(
        auth_file: Option<PathBuf>,
        links: Option<Arc<LinkKey>>,
        public: Vec<String>,
    ) -> Result<Self, String> {
        let passwords = auth_file.map(Passwords::open).transpose()?;
        Ok(Guard {
            passwords,
            links: links.map(RwLock::new),
            public,
        })
    }

    /// Replaces the link key (SIGHUP); links signed with the old one stop
    /// working. Without `--link-key` at start-up, nothing changes.
    pub fn reload_link_key(&self, key: Arc<LinkKey>) {
        if let Some(links) = &self.links {
            *links
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = key;
        }
    }

    /// Whether any rule applies (else every request is allowed).
    pub fn is_open(&self) -> bool {
        self.passwords.is_none() && self.links.is_none()
    }

    /// The decision for a request for canonical `path` (`url_path`, with a
    /// trailing slash for a folder), with its query, `Authorization` field
    /// and client address.
    pub async fn check(
        &self,
        path: &str,
        query: Option<&str>,
        authorization: Option<&[u8]>,
        peer: IpAddr,
    ) -> Verdict {
        if self.is_open() || self.is_public(path) {
            return Verdict::allow();
        }
        if let Some(links) = &self.links {
            if LinkKey::is_link(query) {
                let key = Arc::clone(
                    &links
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                return match key.verify(path, query, SystemTime::now()) {
                    Ok(link) => Verdict::Allow {
                        user: None,
                        link: Some(link),
                    },
                    Err(invalid) => {
                        tracing::debug!(path, reason = invalid.reason(), "link refused");
                        Verdict::Forbidden(invalid.reason())
                    }
                };
            }
        }
        match &self.passwords {
            Some(passwords) => passwords.check(authorization, peer).await,
            None => Verdict::Forbidden("a signed link is required"),
        }
    }

    fn is_public(&self, path: &str) -> bool {
        self.public.iter().any(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            prefix.is_empty()
                || path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// The password file, and what checking passwords needs to stay cheap for
/// good clients and expensive for guessers.
#[derive(Debug)]
struct Passwords {
    file: PathBuf,
    users: RwLock<Arc<Users>>,
    /// When the file was last looked at, and what it was then.
    seen: Mutex<(Instant, Option<Stamp>)>,
    /// SHA-256 of `user:password` that verified, with the user and expiry.
    cache: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    verifying: Semaphore,
}

/// What identifies a version of the password file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(file: &std::path::Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(file).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
        })
    }
}

/// One address's recent failures.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    /// Checks in flight.
    pending: usize,
}

impl Failures {
    /// How long the address must still wait at `now`.
    fn lockout(&self, now: Instant) -> Option<Duration> {
        let over = self.count.checked_sub(FREE_FAILURES)?;
        let wait = Duration::from_secs(1u64 << over.min(9)).min(MAX_LOCKOUT);
        let until = self.last + wait;
        (until > now).then(|| until - now)
    }
}

impl Passwords {
    fn open(file: PathBuf) -> Result<Self, String> {
        let stamp = Stamp::of(&file);
        let users = read_users(&file)?;
        Ok(Passwords {
            file,
            users: RwLock::new(Arc::new(users)),
            seen: Mutex::new((Instant::now(), stamp)),
            cache: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            verifying: Semaphore::new(VERIFYING),
        })
    }

    async fn check(&self, authorization: Option<&[u8]>, peer: IpAddr) -> Verdict {
        let credentials = match basic::credentials(authorization) {
            Ok(credentials) => credentials,
            Err(refused) => {
                tracing::debug!(?refused, "no usable credentials");
                return Verdict::Challenge;
            }
        };
        self.reload_if_changed();
        let now = Instant::now();
        let digest = fingerprint(&credentials);
        if let Some(user) = self.cached(&digest, now) {
            return Verdict::Allow {
                user: Some(user),
                link: None,
            };
        }
        let client = client_key(peer);
        if let Err(wait) = self.begin_attempt(client, now) {
            return Verdict::Throttled(wait);
        }
        let ok = self.verify(credentials.clone()).await;
        self.end_attempt(client, ok);
        if !ok {
            tracing::debug!(user = %credentials.user, %peer, "wrong user or password");
            return Verdict::Challenge;
        }
        self.remember(digest, &credentials.user);
        Verdict::Allow {
            user: Some(credentials.user),
            link: None,
        }
    }

    /// Checks the password on the blocking pool, at most [`VERIFYING`] at
    /// once. An unknown user costs what a wrong password costs.
    async fn verify(&self, credentials: Credentials) -> bool {
        let Ok(_permit) = self.verifying.acquire().await else {
            return false;
        };
        let users = Arc::clone(&self.users.read().unwrap_or_else(|e| e.into_inner()));
        tokio::task::spawn_blocking(move || {
            let (hash, known) = users.hash_of(&credentials.user);
            hash.verify(&credentials.password) && known
        })
        .await
        .unwrap_or(false)
    }

    fn cached(&self, digest: &[u8; 32], now: Instant) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(digest)
            .filter(|(_, until)| *until > now)
            .map(|(user, _)| user.clone())
    }

    fn remember(&self, digest: [u8; 32], user: &str) {
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED {
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= CACHED {
                cache.clear();
            }
        }
        cache.insert(digest, (user.to_owned(), now + CACHE_FOR));
    }

    /// Admits a password check from `client`, or says how long it must wait.
    fn begin_attempt(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= TRACKED {
            failures.retain(|_, f| f.pending > 0 || now.duration_since(f.last) < FAILURE_MEMORY);
        }
        let entry = failures.entry(client).or_insert(Failures {
            count: 0,
            last: now,
            pending: 0,
        });
        if now.duration_since(entry.last) >= FAILURE_MEMORY && entry.pending == 0 {
            entry.count = 0;
        }
        if let Some(wait) = entry.lockout(now) {
            return Err(wait);
        }
        if entry.pending >= VERIFYING_PER_CLIENT {
            return Err(Duration::from_secs(1));
        }
        entry.pending += 1;
        Ok(())
    }

    fn end_attempt(&self, client: IpAddr, ok: bool) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = failures.get_mut(&client) {
            entry.pending = entry.pending.saturating_sub(1);
            if ok {
                entry.count = 0;
            } else {
                entry.count = entry.count.saturating_add(1);
                entry.last = Instant::now();
            }
            if entry.count == 0 && entry.pending == 0 {
                failures.remove(&client);
            }
        }
    }

    /// Re-reads the password file when it changed (checked at most once a
    /// second). A file that no longer parses keeps the users in force.
    fn reload_if_changed(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.duration_since(seen.0) < RELOAD_CHECK {
            return;
        }
        seen.0 = now;
        let stamp = Stamp::of(&self.file);
        if stamp == seen.1 {
            return;
        }
        seen.1 = stamp;
        drop(seen);
        match read_users(&self.file) {
            Ok(users) => {
                tracing::info!(file = %self.file.display(), users = users.len(), "password file reloaded");
                *self.users.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(users);
                self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
            Err(e) => {
                tracing::error!(file = %self.file.display(), error = %e,
                    "password file changed but cannot be used; keeping the previous users");
            }
        }
    }
}

/// Reads and parses a password file.
fn read_users(file: &std::path::Path) -> Result<Users, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read password file {}: {e}", file.display()))?;
    Users::parse(&text).map_err(|e| format!("password file {}: {e}", file.display()))
}

/// SHA-256 of the credentials: the cache never holds a password.
fn fingerprint(credentials: &Credentials) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(credentials.user.as_bytes());
    ctx.update(b":");
    ctx.update(credentials.password.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn basic(user_pass: &str) -> Vec<u8> {
        let token = base64::engine::general_purpose::STANDARD.encode(user_pass);
        format!("Basic {token}").into_bytes()
    }

    fn guard_with(users: &str, public: &[&str]) -> (Guard, tempfile::NamedTempFile) {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(users.as_bytes()).unwrap();
        let public = public.iter().map(|p| (*p).to_owned()).collect();
        let guard = Guard::new(Some(file.path().to_owned()), None, public).unwrap();
        (guard, file)
    }

    fn alice() -> String {
        format!("alice:{}\n", bcrypt::hash("secret", 4).unwrap())
    }

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn passwords_public_prefixes_and_challenges() {
        let (g, _file) = guard_with(&alice(), &["/pub"]);
        let ok = g
            .check("/a", None, Some(&basic("alice:secret")), PEER)
            .await;
        assert_eq!(
            ok,
            Verdict::Allow {
                user: Some("alice".into()),
                link: None
            }
        );
        for wrong in ["alice:Secret", "bob:secret", "alice:"] {
            assert_eq!(
                g.check("/a", None, Some(&basic(wrong)), PEER).await,
                Verdict::Challenge
            );
        }
        assert_eq!(g.check("/a", None, None, PEER).await, Verdict::Challenge);
        for public in ["/pub", "/pub/", "/pub/x/y.iso"] {
            assert_eq!(
                g.check(public, None, None, PEER).await,
                Verdict::allow(),
                "{public}"
            );
        }
        assert_eq!(
            g.check("/public", None, None, PEER).await,
            Verdict::Challenge
        );
    }

    #[tokio::test]
    async fn repeated_failures_from_one_address_are_throttled_and_others_are_not() {
        let (g, _file) = guard_with(&alice(), &[]);
        for _ in 0..FREE_FAILURES {
            assert_eq!(
                g.check("/", None, Some(&basic("alice:x")), PEER).await,
                Verdict::Challenge
            );
        }
        let throttled = g.check("/", None, Some(&basic("alice:x")), PEER).await;
        assert!(
            matches!(throttled, Verdict::Throttled(d) if d <= Duration::from_secs(1)),
            "{throttled:?}"
        );
        // Even the right password waits: guessing gets no faster.
        let right = g.check("/", None, Some(&basic("alice:secret")), PEER).await;
        assert!(matches!(right, Verdict::Throttled(_)));
        // Another address is unaffected.
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let ok = g
            .check("/", None, Some(&basic("alice:secret")), other)
            .await;
        assert!(matches!(ok, Verdict::Allow { .. }));
    }

    #[tokio::test]
    async fn a_changed_file_is_reloaded_and_a_broken_one_ignored() {
        let (g, file) = guard_with(&alice(), &[]);
        let new = format!("bob:{}\n", bcrypt::hash("pw", 4).unwrap());
        std::fs::write(file.path(), &new).unwrap();
        g.passwords.as_ref().unwrap().seen.lock().unwrap().0 -= RELOAD_CHECK;
        assert!(matches!(
            g.check("/", None, Some(&basic("bob:pw")), PEER).await,
            Verdict::Allow { .. }
        ));
        assert_eq!(
            g.check("/", None, Some(&basic("alice:secret")), PEER).await,
            Verdict::Challenge
        );
        std::fs::write(file.path(), "bob:plaintext-is-refused-and-longer\n").unwrap();
        g.passwords.as_ref().unwrap().seen.lock().unwrap().0 -= RELOAD_CHECK;
        assert!(matches!(
            g.check("/", None, Some(&basic("bob:pw")), PEER).await,
            Verdict::Allow { .. }
        ));
    }

    #[tokio::test]
    async fn links_open_paths_and_without_passwords_are_required() {
        let key = || LinkKey::from_file_contents(b"0123456789abcdef0123456789abcdef").unwrap();
        let g = Guard::new(None, Some(Arc::new(key())), vec![]).unwrap();
        let far = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let query = key().sign("/f.iso", far);
        assert!(matches!(
            g.check("/f.iso", Some(&query), None, PEER).await,
            Verdict::Allow { .. }
        ));
        assert_eq!(
            g.check("/f.iso", None, None, PEER).await,
            Verdict::Forbidden("a signed link is required")
        );
        assert_eq!(
            g.check("/g.iso", Some(&query), None, PEER).await,
            Verdict::Forbidden("invalid link signature")
        );
        let past = key().sign("/f.iso", 1);
        assert_eq!(
            g.check("/f.iso", Some(&past), None, PEER).await,
            Verdict::Forbidden("link expired")
        );
    }
}
