//! Rounds: the tiers stored with a round, read back.

use crate::db::rounds::RoundRow;
use crate::domain::rounds::{self as rules, Tier};
use crate::error::{AppError, AppResult};

pub fn tiers_of(round: &RoundRow) -> AppResult<Vec<Tier>> {
    serde_json::from_str(&round.tiers)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored tiers unreadable: {e}")))
}

/// The tier label of a bed count in this round; None when the count is unknown or in no tier.
pub fn tier_label(round: &RoundRow, beds: Option<i64>) -> AppResult<Option<String>> {
    let tiers = tiers_of(round)?;
    Ok(beds.and_then(|b| rules::tier_for(&tiers, b).map(|t| t.label.clone())))
}
