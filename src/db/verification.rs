//! Queries on findings and offline-backup proposals.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{backup_proposals, engagements, findings};
use super::stamp::{OptStamp, Stamp};
use super::{DbConnection, DbResult};
use crate::domain::backup::BackupOutcome;
use crate::domain::findings::{FindingStatus, Severity};
use crate::domain::ids::EngagementId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = findings)]
pub struct FindingRow {
    pub id: String,
    pub engagement_id: EngagementId,
    pub title: String,
    pub severity: Severity,
    pub affected: Option<String>,
    pub recommendation: Option<String>,
    pub status: FindingStatus,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

pub fn findings(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> DbResult<Vec<FindingRow>> {
    findings::table
        .filter(findings::engagement_id.eq(engagement_id))
        .order(findings::id.asc())
        .select(FindingRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

pub fn finding(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    id: &str,
) -> DbResult<Option<FindingRow>> {
    findings::table
        .filter(findings::engagement_id.eq(engagement_id))
        .filter(findings::id.eq(id))
        .select(FindingRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

/// Inserts or replaces a finding.
pub fn save_finding(conn: &mut DbConnection, row: &FindingRow) -> DbResult<()> {
    diesel::delete(findings::table.find(&row.id)).execute(conn)?;
    diesel::insert_into(findings::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = backup_proposals)]
pub struct ProposalRow {
    pub engagement_id: EngagementId,
    /// JSON: the hospital's current backup set-up.
    pub current_state: String,
    /// JSON: the proposed design.
    pub proposal: String,
    pub capacity_tb: Option<f64>,
    pub estimate_min_jpy: Option<i64>,
    pub estimate_max_jpy: Option<i64>,
    /// `adopt`, `defer`, `decline`.
    pub decision: Option<String>,
    #[diesel(deserialize_as = OptStamp)]
    pub decided_at: Option<NaiveDateTime>,
    pub skipped_reason: Option<String>,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

pub fn proposal(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> DbResult<Option<ProposalRow>> {
    backup_proposals::table
        .find(engagement_id)
        .select(ProposalRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

/// A proposal was made (and not skipped).
pub fn backup_proposed(conn: &mut DbConnection, engagement_id: &EngagementId) -> DbResult<bool> {
    Ok(proposal(conn, engagement_id)?.is_some_and(|p| p.skipped_reason.is_none()))
}

/// Writes a proposal, and its outcome onto the engagement (what the dashboard counts).
pub fn save_proposal(conn: &mut DbConnection, row: &ProposalRow) -> DbResult<()> {
    diesel::delete(backup_proposals::table.find(&row.engagement_id)).execute(conn)?;
    diesel::insert_into(backup_proposals::table)
        .values(row)
        .execute(conn)?;
    let outcome = BackupOutcome::of(row.decision.as_deref(), row.skipped_reason.is_some());
    diesel::update(engagements::table.find(&row.engagement_id))
        .set(engagements::backup_decision.eq(outcome))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// Sets every engagement's backup outcome from its proposal (after proposals were written in
/// bulk, as the demo data is).
pub fn sync_backup_outcomes(conn: &mut DbConnection) -> DbResult<()> {
    diesel::sql_query(
        "UPDATE engagements SET backup_decision = (\
           SELECT CASE WHEN p.skipped_reason IS NOT NULL THEN 'skipped' ELSE p.decision END \
           FROM backup_proposals p WHERE p.engagement_id = engagements.id) \
         WHERE id IN (SELECT engagement_id FROM backup_proposals)",
    )
    .execute(conn)
    .map(|_| ())
    .map_err(Into::into)
}
