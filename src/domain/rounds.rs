//! Rounds (one fiscal year's call) and their bed-size tiers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A bed-size tier: `min_beds..=max_beds` (no upper bound when `max_beds` is absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Short stable label used in slots and filters, e.g. `100-199`.
    pub label: String,
    pub min_beds: i64,
    pub max_beds: Option<i64>,
}

/// 20–99, 100–199, 200–399, 400+: the programme never published its tiers, so this is only a
/// default, configurable per round.
pub fn default_tiers() -> Vec<Tier> {
    [
        (20, Some(99)),
        (100, Some(199)),
        (200, Some(399)),
        (400, None),
    ]
    .into_iter()
    .map(|(min, max)| Tier {
        label: match max {
            Some(max) => format!("{min}-{max}"),
            None => format!("{min}+"),
        },
        min_beds: min,
        max_beds: max,
    })
    .collect()
}

/// Tiers must be non-empty, ascending, without overlap, with unique labels; only the last may
/// be open-ended.
pub fn check_tiers(tiers: &[Tier]) -> Result<(), String> {
    if tiers.is_empty() {
        return Err("at least one tier is needed".into());
    }
    for (i, t) in tiers.iter().enumerate() {
        if t.label.trim().is_empty() {
            return Err(format!("tier {} has no label", i + 1));
        }
        if t.min_beds < 0 || t.max_beds.is_some_and(|m| m < t.min_beds) {
            return Err(format!("tier {} has an empty or negative range", t.label));
        }
        if t.max_beds.is_none() && i + 1 != tiers.len() {
            return Err(format!(
                "only the last tier may be open-ended, not {}",
                t.label
            ));
        }
        if let Some(prev) = i.checked_sub(1).map(|j| &tiers[j]) {
            if prev.max_beds.is_none_or(|m| m >= t.min_beds) {
                return Err(format!(
                    "tiers {} and {} overlap or are out of order",
                    prev.label, t.label
                ));
            }
        }
        if tiers[..i].iter().any(|o| o.label == t.label) {
            return Err(format!("the label {} is used twice", t.label));
        }
    }
    Ok(())
}

/// The tier a bed count falls in; None below the first tier or in a gap.
pub fn tier_for(tiers: &[Tier], beds: i64) -> Option<&Tier> {
    tiers
        .iter()
        .find(|t| beds >= t.min_beds && t.max_beds.is_none_or(|m| beds <= m))
}

/// A round's name: `FY` and a four-digit year, e.g. `FY2025`.
pub fn check_round_name(name: &str) -> Result<i32, String> {
    name.strip_prefix("FY")
        .filter(|y| y.len() == 4)
        .and_then(|y| y.parse::<i32>().ok())
        .filter(|y| (2020..=2100).contains(y))
        .ok_or_else(|| "must look like FY2025".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tiers_are_valid_and_cover_the_programme() {
        let t = default_tiers();
        assert!(check_tiers(&t).is_ok());
        assert_eq!(tier_for(&t, 20).unwrap().label, "20-99");
        assert_eq!(tier_for(&t, 199).unwrap().label, "100-199");
        assert_eq!(tier_for(&t, 400).unwrap().label, "400+");
        assert_eq!(tier_for(&t, 1200).unwrap().label, "400+");
        assert!(tier_for(&t, 19).is_none());
    }

    #[test]
    fn bad_tiers_are_refused() {
        let mut t = default_tiers();
        t[1].min_beds = 50;
        assert!(check_tiers(&t).is_err());
        let mut t = default_tiers();
        t.swap(0, 3);
        assert!(check_tiers(&t).is_err());
        assert!(check_tiers(&[]).is_err());
    }

    #[test]
    fn round_names() {
        assert_eq!(check_round_name("FY2025"), Ok(2025));
        assert!(check_round_name("2025").is_err());
        assert!(check_round_name("FY25").is_err());
    }
}
