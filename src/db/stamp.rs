//! Timestamps read with a parser for the one format this app stores. diesel reads an SQLite
//! `Timestamp` by trying chrono's format parser with up to 18 formats (1.4–2.8 K instructions a
//! value); every row carries two or more, so on SQLite that was the largest cost of reading a
//! row. diesel writes `%F %T%.f` (`2026-12-08 02:40:21.048943`); that is read by position here,
//! anything else still goes through diesel. PostgreSQL sends microseconds as binary and is
//! read as diesel does.
//!
//! Row structs keep `NaiveDateTime` fields and name these types in
//! `#[diesel(deserialize_as = Stamp)]` (`OptStamp` for a nullable column).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::{Nullable, Timestamp};
use diesel::sqlite::{Sqlite, SqliteValue};

use super::{MultiBackend, MultiRawValue};

/// A non-null timestamp column's value.
#[derive(Debug, Clone, Copy, FromSqlRow)]
pub struct Stamp(pub NaiveDateTime);

/// A nullable timestamp column's value.
#[derive(Debug, Clone, Copy, FromSqlRow)]
pub struct OptStamp(pub Option<NaiveDateTime>);

impl From<Stamp> for NaiveDateTime {
    fn from(s: Stamp) -> Self {
        s.0
    }
}

impl From<OptStamp> for Option<NaiveDateTime> {
    fn from(s: OptStamp) -> Self {
        s.0
    }
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        if let Some(t) = parse_stored(value.read_text().as_bytes()) {
            return Ok(Stamp(t));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, MultiBackend> for Stamp {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        match value {
            MultiRawValue::Pg(v) => <Stamp as FromSql<Timestamp, Pg>>::from_sql(v),
            MultiRawValue::Sqlite(v) => <Stamp as FromSql<Timestamp, Sqlite>>::from_sql(v),
        }
    }
}

impl<DB> FromSql<Nullable<Timestamp>, DB> for OptStamp
where
    DB: diesel::backend::Backend,
    Stamp: FromSql<Timestamp, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        Stamp::from_sql(value).map(|s| OptStamp(Some(s.0)))
    }

    fn from_nullable_sql(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(v) => Self::from_sql(v),
            None => Ok(OptStamp(None)),
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction of 1–9 digits; `None` for anything else
/// (the caller falls back to diesel's parser) or an impossible date or time.
fn parse_stored(s: &[u8]) -> Option<NaiveDateTime> {
    let head = s.get(..19)?;
    let punctuation = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if punctuation.iter().any(|&(i, c)| head[i] != c) {
        return None;
    }
    let year = digits(&head[0..4])?;
    let month = digits(&head[5..7])?;
    let day = digits(&head[8..10])?;
    let hour = digits(&head[11..13])?;
    let minute = digits(&head[14..16])?;
    let second = digits(&head[17..19])?;
    let nanos = match &s[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time))
}

/// The value of ASCII digits (at most nine, so it fits).
fn digits(d: &[u8]) -> Option<u32> {
    d.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono(s: &str) -> Option<NaiveDateTime> {
        ["%F %T%.f", "%F %T"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    }

    #[test]
    fn reads_what_diesel_writes_as_chrono_does() {
        let written = [
            NaiveDate::from_ymd_opt(2026, 12, 8)
                .and_then(|d| d.and_hms_micro_opt(2, 40, 21, 48_943)),
            NaiveDate::from_ymd_opt(2027, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)),
            NaiveDate::from_ymd_opt(2024, 2, 29).and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1)),
        ];
        for t in written.into_iter().flatten() {
            let text = t.format("%F %T%.f").to_string();
            assert_eq!(parse_stored(text.as_bytes()), Some(t), "{text}");
        }
        for text in [
            "2026-12-08 02:40:21.5",
            "2026-12-08 02:40:21.123456789",
            "2026-12-08 02:40:21",
        ] {
            assert_eq!(parse_stored(text.as_bytes()), chrono(text), "{text}");
        }
    }

    #[test]
    fn leaves_other_formats_and_impossible_values_to_diesel() {
        for text in [
            "2026-12-08T02:40:21",
            "2026-12-08 02:40",
            "2026-12-08 02:40:21Z",
            "2026-12-08 02:40:21.",
            "2026-12-08 02:40:21.1234567890",
            "2026-02-30 02:40:21",
            "2026-12-08 24:00:00",
            "2026-1a-08 02:40:21",
            "+026-12-08 02:40:21",
            "",
        ] {
            assert_eq!(parse_stored(text.as_bytes()), None, "{text}");
        }
    }
}
