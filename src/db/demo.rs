//! Bulk writes for the demo data: multi-row INSERTs on PostgreSQL (one round trip per chunk),
//! one prepared INSERT per row on SQLite (in-process, as fast, and free of its limits on
//! DEFAULT in multi-row VALUES).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::engagements::EventRow;
use super::hearings::{HearingRow, SlotRow as HearingSlotRow};
use super::hospitals::HospitalRow;
use super::rounds::SlotRow;
use super::schema::{
    backup_proposals, engagements, events, hearing_slots, hearings, hospitals, milestones,
    support_slots,
};
use super::verification::ProposalRow;
use super::{DbConnection, DbResult};
use crate::domain::ids::{EngagementId, HospitalId, OrganizationId, RoundId};

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = engagements)]
pub struct EngagementInsert {
    pub id: EngagementId,
    pub round_id: RoundId,
    pub hospital_id: HospitalId,
    pub organization_id: Option<OrganizationId>,
    pub prefecture_code: String,
    pub tier: Option<String>,
    pub rank: Option<i64>,
    pub secondary: bool,
    pub stage: String,
    pub stage_since: NaiveDateTime,
    pub side_state: Option<String>,
    pub side_reason: Option<String>,
    pub resume_on: Option<NaiveDate>,
    pub memorandum_status: Option<String>,
    pub memorandum_executed_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = milestones)]
pub struct MilestoneInsert {
    pub engagement_id: EngagementId,
    pub kind: String,
    pub at: NaiveDateTime,
    pub actor: String,
}

/// Everything the demo writes, in the order foreign keys need.
#[derive(Default)]
pub struct Batch {
    pub slots: Vec<SlotRow>,
    pub hospitals: Vec<HospitalRow>,
    pub engagements: Vec<EngagementInsert>,
    pub milestones: Vec<MilestoneInsert>,
    pub events: Vec<EventRow>,
    pub hearing_slots: Vec<HearingSlotRow>,
    pub hearings: Vec<HearingRow>,
    pub proposals: Vec<ProposalRow>,
}

macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr, $chunk:expr) => {
        match $conn {
            DbConnection::Pg(c) => {
                for chunk in $rows.chunks($chunk) {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
            DbConnection::Sqlite(c) => {
                for row in $rows.iter() {
                    diesel::insert_into($table).values(row).execute(c)?;
                }
            }
        }
    };
}

/// Writes the batch (inside the caller's transaction). Chunks keep PostgreSQL under its 65,535
/// bound parameters per statement.
pub fn write(conn: &mut DbConnection, b: &Batch) -> DbResult<()> {
    insert_all!(conn, support_slots::table, b.slots, 2000);
    insert_all!(conn, hospitals::table, b.hospitals, 2000);
    insert_all!(conn, engagements::table, b.engagements, 2000);
    insert_all!(conn, milestones::table, b.milestones, 5000);
    insert_all!(conn, events::table, b.events, 3000);
    insert_all!(conn, hearing_slots::table, b.hearing_slots, 3000);
    insert_all!(conn, hearings::table, b.hearings, 3000);
    insert_all!(conn, backup_proposals::table, b.proposals, 3000);
    super::verification::sync_backup_outcomes(conn)
}

/// Gathers PostgreSQL's planner statistics for what was just written: without them the first
/// plans (cached for the connection's life) are made for near-empty tables — the dashboard
/// summary's grouped pass ran as a sort of every row instead of a hash, at twice the time.
/// Autovacuum would gather them later, where it runs. SQLite's plans here follow the indices,
/// not statistics, so it is left as it was measured.
pub fn analyze(conn: &mut DbConnection) -> DbResult<()> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query("ANALYZE").execute(c)?;
    }
    Ok(())
}

pub fn hospital_count(conn: &mut DbConnection) -> DbResult<i64> {
    hospitals::table
        .count()
        .get_result(conn)
        .map_err(Into::into)
}
