//! How long a closed engagement's confidential material is kept (the memorandum binds the
//! vendor not to keep it longer than the programme needs).

use chrono::{Duration, NaiveDateTime};

/// When material of an engagement closed at `closed_at` is due for purging.
pub fn purge_due_at(closed_at: NaiveDateTime, retention_days: u32) -> NaiveDateTime {
    closed_at + Duration::days(i64::from(retention_days))
}

/// Whether it is due at `now` (`RETENTION_DAYS=0` purges at the next run after closing).
pub fn is_due(closed_at: NaiveDateTime, retention_days: u32, now: NaiveDateTime) -> bool {
    purge_due_at(closed_at, retention_days) <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .expect("valid date")
    }

    #[test]
    fn material_is_kept_for_the_retention_period_and_no_longer() {
        let closed = at(2026, 3, 31);
        assert!(!is_due(closed, 365, at(2027, 3, 30)));
        assert!(is_due(closed, 365, at(2027, 3, 31)));
        assert!(is_due(closed, 0, closed));
        assert_eq!(purge_due_at(closed, 30), at(2026, 4, 30));
    }
}
