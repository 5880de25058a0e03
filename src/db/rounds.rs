//! Queries on rounds and support slots.

use crate::domain::ids::RoundId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{engagements, rounds, support_slots};
use super::stamp::Stamp;
use super::{DbConnection, DbResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rounds)]
pub struct RoundRow {
    pub id: RoundId,
    pub name: String,
    pub fiscal_year: i64,
    /// JSON list of tiers.
    pub tiers: String,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = support_slots)]
pub struct SlotRow {
    pub round_id: RoundId,
    pub prefecture_code: String,
    pub tier: String,
    pub slots: i64,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &RoundRow) -> DbResult<()> {
    diesel::insert_into(rounds::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn list(conn: &mut DbConnection) -> DbResult<Vec<RoundRow>> {
    rounds::table
        .order(rounds::name.asc())
        .select(RoundRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

pub fn find(conn: &mut DbConnection, id_or_name: &str) -> DbResult<Option<RoundRow>> {
    rounds::table
        .filter(rounds::id.eq(id_or_name).or(rounds::name.eq(id_or_name)))
        .select(RoundRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn slots(conn: &mut DbConnection, round_id: &RoundId) -> DbResult<Vec<SlotRow>> {
    support_slots::table
        .filter(support_slots::round_id.eq(round_id))
        .order((
            support_slots::prefecture_code.asc(),
            support_slots::tier.asc(),
        ))
        .select(SlotRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

/// Sets one slot count (replacing any earlier one).
pub fn set_slot(conn: &mut DbConnection, row: &SlotRow) -> DbResult<()> {
    diesel::delete(
        support_slots::table
            .filter(support_slots::round_id.eq(&row.round_id))
            .filter(support_slots::prefecture_code.eq(&row.prefecture_code))
            .filter(support_slots::tier.eq(&row.tier)),
    )
    .execute(conn)?;
    diesel::insert_into(support_slots::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// Engagements per (prefecture, tier) of a round, not counting declined or withdrawn ones.
pub fn filled(
    conn: &mut DbConnection,
    round_id: &RoundId,
) -> DbResult<Vec<(String, Option<String>, i64)>> {
    engagements::table
        .filter(engagements::round_id.eq(round_id))
        .filter(
            engagements::side_state
                .is_null()
                .or(engagements::side_state.eq("on_hold")),
        )
        .group_by((engagements::prefecture_code, engagements::tier))
        .select((
            engagements::prefecture_code,
            engagements::tier,
            diesel::dsl::count_star(),
        ))
        .load(conn)
        .map_err(Into::into)
}
