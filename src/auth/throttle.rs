//! Throttling of failed logins, per account (the email as typed, whether or not an account has
//! it, so that a lockout tells nothing about which accounts exist) and per client address.
//! `governor` counts the failures (GCRA: a burst, then one more per period); a key that has
//! used its budget is locked until its next attempt would be allowed, and a locked key is
//! answered 429 with `Retry-After` before any password is checked.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Failures per email: 5 at once, then one a minute.
const ACCOUNT_BURST: u32 = 5;
const ACCOUNT_PERIOD: Duration = Duration::from_secs(60);
/// Failures per client address: 20 at once, then one every 6 seconds.
const ADDRESS_BURST: u32 = 20;
const ADDRESS_PERIOD: Duration = Duration::from_secs(6);
/// Forget idle keys every this many failures, so the maps stay small.
const PRUNE_EVERY: u64 = 1024;

/// One budget of failures per key.
struct Budget {
    failures: DefaultKeyedRateLimiter<String>,
    locked: Mutex<HashMap<String, Instant>>,
}

impl Budget {
    fn new(burst: u32, period: Duration) -> Self {
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            failures: RateLimiter::keyed(quota),
            locked: Mutex::new(HashMap::new()),
        }
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // The map holds plain values: one a panic interrupted is still usable.
        self.locked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long the key is still locked.
    fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        self.locks()
            .get(key)
            .filter(|until| **until > now)
            .map(|until| *until - now)
    }

    /// Counts a failure; how long the key is locked now, if it is.
    fn fail(&self, key: &str, now: Instant) -> Option<Duration> {
        let key = key.to_owned();
        match self.failures.check_key(&key) {
            Ok(()) => None,
            Err(not_until) => {
                let until = not_until.earliest_possible().max(now);
                self.locks().insert(key, until);
                Some(until - now)
            }
        }
    }

    fn prune(&self, now: Instant) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        self.locks().retain(|_, until| *until > now);
    }
}

pub struct LoginThrottle {
    accounts: Budget,
    addresses: Budget,
    counted: AtomicU64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            accounts: Budget::new(ACCOUNT_BURST, ACCOUNT_PERIOD),
            addresses: Budget::new(ADDRESS_BURST, ADDRESS_PERIOD),
            counted: AtomicU64::new(0),
        }
    }
}

impl LoginThrottle {
    /// `Err(wait)` while the email or the address is locked.
    pub fn check(&self, email: &str, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        match (
            self.accounts.wait(email, now),
            self.addresses.wait(address, now),
        ) {
            (None, None) => Ok(()),
            (a, b) => Err(a.max(b).unwrap_or_default()),
        }
    }

    /// Records a failed login; `Err(wait)` when it used up the budget of the email or the
    /// address.
    pub fn failed(&self, email: &str, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        if self.counted.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.accounts.prune(now);
            self.addresses.prune(now);
        }
        match (
            self.accounts.fail(email, now),
            self.addresses.fail(address, now),
        ) {
            (None, None) => Ok(()),
            (a, b) => Err(a.max(b).unwrap_or_default()),
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up (never 0: the client must wait).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_locks_after_its_burst_whoever_asks() {
        let t = LoginThrottle::default();
        for i in 0..ACCOUNT_BURST {
            assert!(t.check("a@x.example", &format!("10.0.0.{i}")).is_ok());
            assert!(t.failed("a@x.example", &format!("10.0.0.{i}")).is_ok());
        }
        let wait = t.failed("a@x.example", "10.0.0.99").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= ACCOUNT_PERIOD);
        assert!(t.check("a@x.example", "10.9.9.9").is_err());
        assert!(t.check("b@x.example", "10.9.9.9").is_ok());
    }

    #[test]
    fn an_address_locks_after_its_burst_whatever_the_email() {
        let t = LoginThrottle::default();
        for i in 0..ADDRESS_BURST {
            assert!(t.failed(&format!("u{i}@x.example"), "192.0.2.1").is_ok());
        }
        assert!(t.failed("other@x.example", "192.0.2.1").is_err());
        assert!(t.check("fresh@x.example", "192.0.2.1").is_err());
        assert!(t.check("fresh@x.example", "192.0.2.2").is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
        assert_eq!(retry_after_secs(Duration::from_millis(59_001)), 60);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
