//! Token buckets for `--limit-rate` and `--limit-rate-per-ip`.
//!
//! A bucket fills at `rate` bytes per second up to `burst` bytes; a body
//! sends only as many bytes as the bucket holds and waits for the rest. The
//! clock is passed in, so the arithmetic is tested without sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rate-limited bytes leave in pieces of at most a tenth of a second's worth
/// (and at least 4 KiB), so pacing is smooth without tiny writes.
pub fn burst_for(rate: u64) -> u64 {
    (rate / 10).max(4096)
}

/// A token bucket shared by the bodies it paces.
#[derive(Debug)]
pub struct Bucket {
    rate: u64,
    burst: u64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Bytes that may leave now; negative after a piece larger than what
    /// was there (never below `-burst`).
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket of `rate` bytes per second (at least 1).
    pub fn new(rate: u64, now: Instant) -> Self {
        let rate = rate.max(1);
        let burst = burst_for(rate);
        Bucket {
            rate,
            burst,
            state: Mutex::new(State {
                tokens: burst as f64,
                at: now,
            }),
        }
    }

    fn refill(&self, state: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(state.at).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate as f64).min(self.burst as f64);
        state.at = now;
    }

    /// How many bytes may leave now (0 if none), at most `want`.
    pub fn available(&self, want: u64, now: Instant) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.refill(&mut state, now);
        if state.tokens < 1.0 {
            return 0;
        }
        whole(state.tokens).min(want)
    }

    /// Records that `n` bytes left.
    pub fn take(&self, n: u64, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.refill(&mut state, now);
        state.tokens = (state.tokens - n as f64).max(-(self.burst as f64));
    }

    /// How long until at least `min(want, burst)` bytes may leave.
    pub fn wait(&self, want: u64, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.refill(&mut state, now);
        let target = want.clamp(1, self.burst) as f64;
        let missing = target - state.tokens;
        if missing <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(missing / self.rate as f64)
    }
}

/// Parses a rate or size with an optional K, M or G suffix (powers of 1024;
/// `B` and `/s` allowed, case-insensitive): `500K`, `2M`, `1.5G`, `1048576`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let err = || format!("'{text}' is not a size like 500K, 2M or 1G");
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix("/s").unwrap_or(&t);
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(t);
    let (number, scale) = match t.chars().last().ok_or_else(err)? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let value: f64 = number.trim().parse().map_err(|_| err())?;
    if !value.is_finite() || value < 0.0 {
        return Err(err());
    }
    let bytes = value * scale as f64;
    if bytes >= u64::MAX as f64 {
        return Err(err());
    }
    Ok(whole(bytes))
}

/// The whole part of `x`, which the callers have checked is finite, at
/// least 0 and below `u64::MAX`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole(x: f64) -> u64 {
    debug_assert!(x.is_finite() && x >= 0.0);
    x as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("500k"), Ok(500 << 10));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("2MB/s"), Ok(2 << 20));
        assert_eq!(parse_size("1234"), Ok(1234));
        for bad in ["", "M", "-1M", "fast", "1T", "NaN", "1e30G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_full_bucket_gives_its_burst_then_waits() {
        let t0 = Instant::now();
        let b = Bucket::new(100_000, t0);
        assert_eq!(b.available(u64::MAX, t0), 10_000);
        b.take(10_000, t0);
        assert_eq!(b.available(u64::MAX, t0), 0);
        let wait = b.wait(5_000, t0);
        assert_eq!(wait, Duration::from_millis(50));
        assert_eq!(b.available(u64::MAX, t0 + wait), 5_000);
    }

    proptest! {
        /// Sending as fast as the bucket allows, in any piece sizes, moves
        /// the limit's worth of bytes per second, within 2 %, over 20
        /// simulated seconds.
        #[test]
        fn the_long_run_rate_is_the_limit(
            rate in 10_000u64..50_000_000,
            pieces in prop::collection::vec(1u64..1_000_000, 1..50),
        ) {
            let t0 = Instant::now();
            let bucket = Bucket::new(rate, t0);
            let (mut now, mut sent, mut i) = (t0, 0u64, 0);
            let end = t0 + Duration::from_secs(20);
            while now < end {
                let want = pieces[i % pieces.len()];
                i += 1;
                let n = bucket.available(want, now);
                if n == 0 {
                    now += bucket.wait(want, now).max(Duration::from_micros(1));
                    continue;
                }
                bucket.take(n, now);
                sent += n;
            }
            let expected = rate as f64 * 20.0;
            let burst = burst_for(rate) as f64;
            let ratio = (sent as f64 - burst) / expected;
            prop_assert!((0.98..=1.02).contains(&ratio), "sent {sent} at {rate}/s: ratio {ratio}");
        }
    }
}
