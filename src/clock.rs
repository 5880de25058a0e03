//! The time the application runs at. Production reads the system clock; tests move it (the
//! offset is shared by every clone: the HTTP server, the mail worker and the test itself).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the system clock (0 in production).
    offset_us: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn real() -> Self {
        Self::default()
    }

    pub fn now_utc(&self) -> DateTime<Utc> {
        let now = Utc::now() + Duration::microseconds(self.offset_us.load(Ordering::Relaxed));
        // Cut to microseconds: PostgreSQL keeps no more, so values round-trip equal.
        now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    /// Now as stored in the database (UTC, no zone).
    pub fn now(&self) -> NaiveDateTime {
        self.now_utc().naive_utc()
    }

    /// Today's date in Japan, where the programme's dates are read.
    pub fn today_in_japan(&self) -> NaiveDate {
        crate::domain::calendar::date_in_japan(self.now_utc())
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        if let Some(us) = by.num_microseconds() {
            self.offset_us.fetch_add(us, Ordering::Relaxed);
        }
    }

    /// Sets the clock so that now is `at` (time goes on from there).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(us) = (at - Utc::now()).num_microseconds() {
            self.offset_us.store(us, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_time() {
        let a = Clock::real();
        let b = a.clone();
        b.advance(Duration::days(10));
        let gap = a.now_utc() - Utc::now();
        assert!(gap > Duration::days(9) && gap < Duration::days(11), "{gap}");
        let at = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        a.set(at);
        assert_eq!(
            b.today_in_japan(),
            NaiveDate::from_ymd_opt(2030, 1, 1).unwrap()
        );
    }
}
