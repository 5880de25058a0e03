//! Business days in Japan: not a Saturday or Sunday, not a national holiday (振替休日 and
//! 国民の休日 included; from the `jpholiday` crate, which follows the Cabinet Office's rules and
//! list), and not the government's year-end closure (12/29–1/3).
//!
//! Time is counted on a "business clock": only the hours of business days (in Japan's time)
//! move it. The SLA clock and the dashboards' durations both read it, so a stage entered on the
//! eve of Golden Week does not age during the holidays.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, Utc, Weekday};

const DAY_SECS: i64 = 86_400;

/// Japan has no daylight saving time: UTC+9 all year.
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset")
}

/// The date in Japan at an instant.
pub fn date_in_japan(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&jst()).date_naive()
}

/// Midnight in Japan at the start of `d`, as UTC.
pub fn start_of_day(d: NaiveDate) -> DateTime<Utc> {
    (d.and_time(NaiveTime::MIN) - Duration::hours(9)).and_utc()
}

fn is_year_end_closure(d: NaiveDate) -> bool {
    matches!((d.month(), d.day()), (12, 29..=31) | (1, 1..=3))
}

/// A national holiday (国民の祝日, 振替休日, 国民の休日).
pub fn is_national_holiday(d: NaiveDate) -> bool {
    match TABLE.index(d) {
        Some(i) => TABLE.holiday[i],
        None => jpholiday::jpholiday::JPHoliday::new().is_holiday(&d),
    }
}

fn business_uncached(d: NaiveDate, holiday: bool) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holiday && !is_year_end_closure(d)
}

pub fn is_business_day(d: NaiveDate) -> bool {
    business_uncached(d, is_national_holiday(d))
}

/// Holidays and a running count of business days for the years the programme can touch,
/// computed once (the crate works the rules out day by day, which is slow for long spans).
struct Table {
    first: NaiveDate,
    holiday: Vec<bool>,
    /// `before[i]`: business days strictly before day `i`.
    before: Vec<i64>,
}

const FIRST_YEAR: i32 = 2015;
const LAST_YEAR: i32 = 2060;

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).unwrap_or_default();
    let last = NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).unwrap_or_default();
    let cal = jpholiday::jpholiday::JPHoliday::new();
    let holidays: std::collections::HashSet<NaiveDate> = (FIRST_YEAR..=LAST_YEAR)
        .flat_map(|y| cal.year_holidays(y))
        .map(|(d, _)| d)
        .collect();
    let days = (last - first).num_days() as usize + 1;
    let mut holiday = Vec::with_capacity(days);
    let mut before = Vec::with_capacity(days + 1);
    let mut count = 0;
    for d in first.iter_days().take(days) {
        let h = holidays.contains(&d);
        holiday.push(h);
        before.push(count);
        if business_uncached(d, h) {
            count += 1;
        }
    }
    before.push(count);
    Table {
        first,
        holiday,
        before,
    }
});

impl Table {
    fn index(&self, d: NaiveDate) -> Option<usize> {
        let i = (d - self.first).num_days();
        (0..self.holiday.len() as i64)
            .contains(&i)
            .then_some(i as usize)
    }
}

/// Business days strictly before `d`, counted from an arbitrary origin (only differences mean
/// anything). Outside the table's years it counts day by day from the table's edge.
fn business_days_before(d: NaiveDate) -> i64 {
    let t = &*TABLE;
    if let Some(i) = t.index(d) {
        return t.before[i];
    }
    let end = t.first + Duration::days(t.holiday.len() as i64);
    if d < t.first {
        -(d.iter_days()
            .take_while(|x| *x < t.first)
            .filter(|x| is_business_day(*x))
            .count() as i64)
    } else {
        t.before[t.holiday.len()]
            + end
                .iter_days()
                .take_while(|x| *x < d)
                .filter(|x| is_business_day(*x))
                .count() as i64
    }
}

/// The position of an instant on the business clock, in seconds: business days before its date
/// in Japan, plus the time of day if its date is a business day.
fn position(t: DateTime<Utc>) -> i64 {
    let local = t.with_timezone(&jst());
    let d = local.date_naive();
    let mut pos = business_days_before(d) * DAY_SECS;
    if is_business_day(d) {
        pos += (local.naive_local() - d.and_time(NaiveTime::MIN)).num_seconds();
    }
    pos
}

/// Business time between two instants, in days (fractional); zero if `to` is not after `from`.
pub fn business_days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (position(to) - position(from)).max(0) as f64 / DAY_SECS as f64
}

/// The business day whose running count is `index`, walking back from `from` (which lies on or
/// after it).
fn business_day_at(index: i64, from: NaiveDate) -> NaiveDate {
    let mut day = from;
    while !(is_business_day(day) && business_days_before(day) <= index) {
        day -= Duration::days(1);
    }
    day
}

/// The earliest instant that stands `days` business days before `now` on the business clock:
/// anything that started before it has run longer than `days` business days. When that point
/// is the very start of a business day, the cutoff is the end of the business day before it
/// (the same clock position), so that a start on the days off in between is not counted as
/// earlier.
pub fn business_cutoff(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let target = position(now) - days.max(0) * DAY_SECS;
    let (whole, rest) = (target.div_euclid(DAY_SECS), target.rem_euclid(DAY_SECS));
    let today = date_in_japan(now);
    if rest > 0 {
        start_of_day(business_day_at(whole, today)) + Duration::seconds(rest)
    } else {
        start_of_day(business_day_at(whole - 1, today) + Duration::days(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// An instant given in Japan's time.
    fn at(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        start_of_day(d(y, m, day)) + Duration::hours(h as i64) + Duration::minutes(min as i64)
    }

    /// The Cabinet Office's list (内閣府「国民の祝日」) for 2026 and 2027, in full.
    const HOLIDAYS: &[(i32, u32, u32)] = &[
        (2026, 1, 1),
        (2026, 1, 12),
        (2026, 2, 11),
        (2026, 2, 23),
        (2026, 3, 20),
        (2026, 4, 29),
        (2026, 5, 3),
        (2026, 5, 4),
        (2026, 5, 5),
        (2026, 5, 6),
        (2026, 7, 20),
        (2026, 8, 11),
        (2026, 9, 21),
        (2026, 9, 22),
        (2026, 9, 23),
        (2026, 10, 12),
        (2026, 11, 3),
        (2026, 11, 23),
        (2027, 1, 1),
        (2027, 1, 11),
        (2027, 2, 11),
        (2027, 2, 23),
        (2027, 3, 21),
        (2027, 3, 22),
        (2027, 4, 29),
        (2027, 5, 3),
        (2027, 5, 4),
        (2027, 5, 5),
        (2027, 7, 19),
        (2027, 8, 11),
        (2027, 9, 20),
        (2027, 9, 23),
        (2027, 10, 11),
        (2027, 11, 3),
        (2027, 11, 23),
    ];

    #[test]
    fn holidays_2026_and_2027_match_the_cabinet_office_list() {
        let listed: Vec<NaiveDate> = HOLIDAYS.iter().map(|&(y, m, x)| d(y, m, x)).collect();
        let found: Vec<NaiveDate> = d(2026, 1, 1)
            .iter_days()
            .take_while(|x| x.year() <= 2027)
            .filter(|x| is_national_holiday(*x))
            .collect();
        assert_eq!(found, listed);
    }

    #[test]
    fn golden_week_2026() {
        // 4/29 昭和の日; 4/30 and 5/1 are working days; 5/2–5/6 off (5/6 is the 振替休日 for
        // 憲法記念日 on a Sunday); 5/7 back at work.
        assert!(!is_business_day(d(2026, 4, 29)));
        assert!(is_business_day(d(2026, 4, 30)));
        assert!(is_business_day(d(2026, 5, 1)));
        for day in 2..=6 {
            assert!(!is_business_day(d(2026, 5, day)), "5/{day}");
        }
        assert!(is_business_day(d(2026, 5, 7)));
    }

    #[test]
    fn silver_week_2026_has_a_citizens_holiday() {
        // 9/22 lies between 敬老の日 (9/21) and 秋分の日 (9/23): 国民の休日.
        assert!(is_national_holiday(d(2026, 9, 22)));
        assert!(!is_business_day(d(2026, 9, 22)));
        assert!(is_business_day(d(2026, 9, 24)));
    }

    #[test]
    fn year_end_closure() {
        assert!(!is_business_day(d(2027, 1, 1)));
        for (y, m, x) in [(2026, 12, 29), (2026, 12, 31), (2027, 1, 4 - 1)] {
            assert!(!is_business_day(d(y, m, x)), "{y}-{m}-{x}");
        }
        assert!(is_business_day(d(2026, 12, 28)));
        assert!(is_business_day(d(2027, 1, 4)));
    }

    #[test]
    fn business_time_skips_weekends_and_holidays() {
        // Friday noon to Monday noon: one business day.
        let fri = at(2026, 11, 6, 12, 0);
        let mon = at(2026, 11, 9, 12, 0);
        assert_eq!(business_days_between(fri, mon), 1.0);
        // Over Golden Week: 5/1 noon → 5/7 noon is one business day.
        assert_eq!(
            business_days_between(at(2026, 5, 1, 12, 0), at(2026, 5, 7, 12, 0)),
            1.0
        );
        // Started on a holiday: the clock starts on the next business day.
        assert_eq!(
            business_days_between(at(2026, 5, 4, 10, 0), at(2026, 5, 7, 12, 0)),
            0.5
        );
        assert_eq!(business_days_between(mon, fri), 0.0);
    }

    #[test]
    fn cutoff_walks_back_business_days() {
        // Thursday 10:00, 1 day → Wednesday 10:00.
        assert_eq!(
            business_cutoff(at(2026, 11, 12, 10, 0), 1),
            at(2026, 11, 11, 10, 0)
        );
        // Monday 10:00, 1 day → Friday 10:00.
        assert_eq!(
            business_cutoff(at(2026, 11, 9, 10, 0), 1),
            at(2026, 11, 6, 10, 0)
        );
        // Saturday: the clock stands at the end of Friday; 1 day back is the end of Thursday.
        assert_eq!(
            business_cutoff(at(2026, 11, 7, 15, 0), 1),
            at(2026, 11, 6, 0, 0)
        );
        // 5/7 (first day after Golden Week) 09:00, 2 days → 4/30 09:00.
        assert_eq!(
            business_cutoff(at(2026, 5, 7, 9, 0), 2),
            at(2026, 4, 30, 9, 0)
        );
        // The cutoff agrees with the business time between it and now.
        for (now, n) in [
            (at(2026, 5, 7, 9, 0), 2),
            (at(2026, 11, 9, 10, 0), 7),
            (at(2027, 1, 5, 11, 0), 3),
            (at(2026, 9, 24, 8, 30), 14),
        ] {
            let c = business_cutoff(now, n);
            assert_eq!(business_days_between(c, now), n as f64, "{now} {n}");
            let a_bit_later = c + Duration::minutes(1);
            assert!(business_days_between(a_bit_later, now) < n as f64);
        }
    }

    #[test]
    fn cutoff_at_the_start_of_a_day_includes_the_days_off_before_it() {
        // Monday 2026-11-09 00:00 exactly, 0 days back would be itself; 1 day back from
        // Tuesday 00:00 lands on the start of Monday, which moves back to the end of Friday.
        let c = business_cutoff(at(2026, 11, 10, 0, 0), 1);
        assert_eq!(c, at(2026, 11, 7, 0, 0));
        // Something that started on Sunday is not overdue yet.
        assert!(at(2026, 11, 8, 12, 0) >= c);
    }
}
