//! Queries on engagements, their milestones and their timeline.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{engagements, events, milestones};
use super::stamp::Stamp;
use super::{DbConnection, DbResult, Scope};
use crate::domain::events::EventKind;
use crate::domain::ids::{EngagementId, HospitalId, OrganizationId, RoundId};
use crate::domain::pipeline::{MemorandumStatus, SideState, Stage};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = engagements)]
pub struct EngagementRow {
    pub id: EngagementId,
    pub round_id: RoundId,
    pub hospital_id: HospitalId,
    pub organization_id: Option<OrganizationId>,
    pub prefecture_code: String,
    pub tier: Option<String>,
    pub rank: Option<i64>,
    pub secondary: bool,
    pub note: Option<String>,
    pub stage: Stage,
    #[diesel(deserialize_as = Stamp)]
    pub stage_since: NaiveDateTime,
    pub side_state: Option<SideState>,
    pub side_reason: Option<String>,
    pub resume_on: Option<NaiveDate>,
    pub memorandum_status: Option<MemorandumStatus>,
    pub memorandum_template: Option<String>,
    pub memorandum_executed_on: Option<NaiveDate>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

#[derive(Insertable)]
#[diesel(table_name = engagements)]
pub struct NewEngagement<'a> {
    pub id: &'a EngagementId,
    pub round_id: &'a RoundId,
    pub hospital_id: &'a HospitalId,
    pub organization_id: Option<&'a OrganizationId>,
    pub prefecture_code: &'a str,
    pub tier: Option<&'a str>,
    pub rank: Option<i64>,
    pub secondary: bool,
    pub note: Option<&'a str>,
    pub stage: Stage,
    pub stage_since: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// Fields a command may change besides milestones.
#[derive(AsChangeset, Default)]
#[diesel(table_name = engagements)]
pub struct EngagementChanges {
    pub organization_id: Option<Option<OrganizationId>>,
    pub tier: Option<Option<String>>,
    pub rank: Option<Option<i64>>,
    pub secondary: Option<bool>,
    pub note: Option<Option<String>>,
    pub side_state: Option<Option<SideState>>,
    pub side_reason: Option<Option<String>>,
    pub resume_on: Option<Option<NaiveDate>>,
    pub memorandum_status: Option<Option<MemorandumStatus>>,
    pub memorandum_template: Option<Option<String>>,
    pub memorandum_executed_on: Option<Option<NaiveDate>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = milestones)]
pub struct MilestoneRow {
    pub engagement_id: EngagementId,
    pub kind: String,
    #[diesel(deserialize_as = Stamp)]
    pub at: NaiveDateTime,
    pub actor: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: String,
    pub engagement_id: EngagementId,
    #[diesel(deserialize_as = Stamp)]
    pub at: NaiveDateTime,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub kind: EventKind,
    pub payload: String,
    pub stage_before: Stage,
    pub stage_after: Stage,
    pub override_reason: Option<String>,
}

pub fn insert(conn: &mut DbConnection, new: &NewEngagement) -> DbResult<()> {
    diesel::insert_into(engagements::table)
        .values(new)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// On the backend's own connection: every step and the timeline load the engagement first.
pub fn get(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Option<EngagementRow>> {
    super::native!(conn, |c| engagements::table
        .find(id)
        .select(EngagementRow::as_select())
        .first(c)
        .optional())
    .map_err(Into::into)
}

/// The engagement if the scope may see it; otherwise None, as if it did not exist.
pub fn get_scoped(
    conn: &mut DbConnection,
    id: &EngagementId,
    scope: &Scope,
) -> DbResult<Option<EngagementRow>> {
    Ok(get(conn, id)?.filter(|e| scope.sees_engagement_of(e.organization_id.as_ref())))
}

pub fn for_hospital(
    conn: &mut DbConnection,
    hospital_id: &HospitalId,
) -> DbResult<Vec<EngagementRow>> {
    engagements::table
        .filter(engagements::hospital_id.eq(hospital_id))
        .select(EngagementRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

pub fn find_by_round_hospital(
    conn: &mut DbConnection,
    round_id: &RoundId,
    hospital_id: &HospitalId,
) -> DbResult<Option<EngagementRow>> {
    engagements::table
        .filter(engagements::round_id.eq(round_id))
        .filter(engagements::hospital_id.eq(hospital_id))
        .select(EngagementRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn update(
    conn: &mut DbConnection,
    id: &EngagementId,
    changes: &EngagementChanges,
    now: NaiveDateTime,
) -> DbResult<()> {
    // An empty changeset is an error in diesel; the version bump below records the change.
    let empty = changes.organization_id.is_none()
        && changes.tier.is_none()
        && changes.rank.is_none()
        && changes.secondary.is_none()
        && changes.note.is_none()
        && changes.side_state.is_none()
        && changes.side_reason.is_none()
        && changes.resume_on.is_none()
        && changes.memorandum_status.is_none()
        && changes.memorandum_template.is_none()
        && changes.memorandum_executed_on.is_none();
    if !empty {
        diesel::update(engagements::table.find(id))
            .set(changes)
            .execute(conn)?;
    }
    diesel::update(engagements::table.find(id))
        .set(engagements::updated_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Raises the version if it is still `version`; false when someone else changed it meanwhile.
/// Locks the engagement's row for the rest of the transaction (a no-op write: PostgreSQL holds
/// the row lock until commit; SQLite writers queue anyway) and reads it as it now stands, so
/// concurrent steps on one engagement run one after the other instead of failing each other.
pub fn lock(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Option<EngagementRow>> {
    diesel::update(engagements::table.find(id))
        .set(engagements::version.eq(engagements::version))
        .execute(conn)?;
    get(conn, id)
}

pub fn bump_version(conn: &mut DbConnection, id: &EngagementId, version: i64) -> DbResult<bool> {
    let n = diesel::update(
        engagements::table
            .filter(engagements::id.eq(id))
            .filter(engagements::version.eq(version)),
    )
    .set(engagements::version.eq(version + 1))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn set_stage(
    conn: &mut DbConnection,
    id: &EngagementId,
    stage: &str,
    since: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(engagements::table.find(id))
        .set((
            engagements::stage.eq(stage),
            engagements::stage_since.eq(since),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn milestones(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Vec<MilestoneRow>> {
    super::native!(conn, |c| milestones::table
        .filter(milestones::engagement_id.eq(id))
        .order(milestones::at.asc())
        .select(MilestoneRow::as_select())
        .load(c)
        .map_err(Into::into))
}

/// Records a milestone once; a second record of the same milestone keeps the first.
pub fn add_milestone(
    conn: &mut DbConnection,
    id: &EngagementId,
    kind: &str,
    at: NaiveDateTime,
    actor: &str,
) -> DbResult<bool> {
    let exists = diesel::select(diesel::dsl::exists(
        milestones::table
            .filter(milestones::engagement_id.eq(id))
            .filter(milestones::kind.eq(kind)),
    ))
    .get_result::<bool>(conn)?;
    if exists {
        return Ok(false);
    }
    diesel::insert_into(milestones::table)
        .values((
            milestones::engagement_id.eq(id),
            milestones::kind.eq(kind),
            milestones::at.eq(at),
            milestones::actor.eq(actor),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn remove_milestone(conn: &mut DbConnection, id: &EngagementId, kind: &str) -> DbResult<()> {
    diesel::delete(
        milestones::table
            .filter(milestones::engagement_id.eq(id))
            .filter(milestones::kind.eq(kind)),
    )
    .execute(conn)
    .map(|_| ())
    .map_err(Into::into)
}

pub fn insert_event(conn: &mut DbConnection, event: &EventRow) -> DbResult<()> {
    diesel::insert_into(events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn timeline(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Vec<EventRow>> {
    super::native!(conn, |c| events::table
        .filter(events::engagement_id.eq(id))
        .order((events::at.asc(), events::id.asc()))
        .select(EventRow::as_select())
        .load(c)
        .map_err(Into::into))
}
