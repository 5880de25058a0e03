//! The optional offline-backup proposal: a cost estimate the hospital can weigh. Nothing here
//! obliges the hospital to anything; it decides spec and generations and pays for media itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an engagement's backup proposal ended, as the dashboards count it (kept on the
/// engagement so that the summary counts it in its one pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackupOutcome {
    Adopt,
    Defer,
    Decline,
    /// The proposal was skipped, with a reason.
    Skipped,
}

impl BackupOutcome {
    pub const ALL: [BackupOutcome; 4] = [
        BackupOutcome::Adopt,
        BackupOutcome::Defer,
        BackupOutcome::Decline,
        BackupOutcome::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackupOutcome::Adopt => "adopt",
            BackupOutcome::Defer => "defer",
            BackupOutcome::Decline => "decline",
            BackupOutcome::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// A proposal's outcome: skipped, or its decision (`None`: not decided yet).
    pub fn of(decision: Option<&str>, skipped: bool) -> Option<Self> {
        if skipped {
            Some(BackupOutcome::Skipped)
        } else {
            decision
                .and_then(Self::parse)
                .filter(|o| *o != BackupOutcome::Skipped)
        }
    }
}

/// JPY per TB of backup, as a range (the programme's reference: 300,000–400,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rate {
    pub min_jpy_per_tb: i64,
    pub max_jpy_per_tb: i64,
}

impl Default for Rate {
    fn default() -> Self {
        Self {
            min_jpy_per_tb: 300_000,
            max_jpy_per_tb: 400_000,
        }
    }
}

impl Rate {
    /// Parses `300000-400000`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| "must be MIN-MAX in JPY per TB, e.g. 300000-400000".to_owned())?;
        let min: i64 = a
            .trim()
            .parse()
            .map_err(|_| format!("`{a}` is not a number"))?;
        let max: i64 = b
            .trim()
            .parse()
            .map_err(|_| format!("`{b}` is not a number"))?;
        if min <= 0 || max < min {
            return Err("needs 0 < MIN <= MAX".into());
        }
        Ok(Self {
            min_jpy_per_tb: min,
            max_jpy_per_tb: max,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Estimate {
    pub min_jpy: i64,
    pub max_jpy: i64,
}

/// Cost range for `capacity_tb` of backup, rounded to whole yen.
pub fn estimate(capacity_tb: f64, rate: Rate) -> Option<Estimate> {
    if !capacity_tb.is_finite() || capacity_tb <= 0.0 || capacity_tb > 10_000.0 {
        return None;
    }
    Some(Estimate {
        min_jpy: (capacity_tb * rate.min_jpy_per_tb as f64).round() as i64,
        max_jpy: (capacity_tb * rate.max_jpy_per_tb as f64).round() as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_scale_with_capacity() {
        let e = estimate(2.5, Rate::default()).unwrap();
        assert_eq!((e.min_jpy, e.max_jpy), (750_000, 1_000_000));
        assert!(estimate(0.0, Rate::default()).is_none());
        assert!(estimate(f64::NAN, Rate::default()).is_none());
    }

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("300000-400000").unwrap(), Rate::default());
        assert!(Rate::parse("400000-300000").is_err());
        assert!(Rate::parse("abc").is_err());
    }
}
