//! Queries on hearing slots and hearings.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{hearing_slots, hearings};
use super::stamp::{OptStamp, Stamp};
use super::types::Json;
use super::{DbConnection, DbResult};
use crate::domain::hearings::{Attendee, HearingStatus};
use crate::domain::ids::EngagementId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hearing_slots)]
pub struct SlotRow {
    pub id: String,
    pub engagement_id: EngagementId,
    #[diesel(deserialize_as = Stamp)]
    pub starts_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub ends_at: NaiveDateTime,
    /// `online` or `onsite`.
    pub format: String,
    pub meeting_url: Option<String>,
    pub place: Option<String>,
    #[diesel(deserialize_as = OptStamp)]
    pub withdrawn_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hearings)]
pub struct HearingRow {
    pub id: String,
    pub engagement_id: EngagementId,
    pub slot_id: String,
    pub status: HearingStatus,
    pub attendees: Json<Vec<Attendee>>,
    pub sequence: i64,
    pub outcome_note: Option<String>,
    pub minutes_document_id: Option<String>,
    pub cancel_reason: Option<String>,
    #[diesel(deserialize_as = Stamp)]
    pub booked_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

/// The engagement's scheduled hearing, if any.
pub fn scheduled(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> DbResult<Option<HearingRow>> {
    hearings::table
        .filter(hearings::engagement_id.eq(engagement_id))
        .filter(hearings::status.eq(HearingStatus::Scheduled))
        .select(HearingRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

/// Slots offered, neither withdrawn nor booked, and not begun by `now` (as
/// `domain::hearings::is_open` has it).
pub fn open_slot_count(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    now: NaiveDateTime,
) -> DbResult<i64> {
    let booked = hearings::table
        .filter(hearings::status.eq(HearingStatus::Scheduled))
        .select(hearings::slot_id);
    hearing_slots::table
        .filter(hearing_slots::engagement_id.eq(engagement_id))
        .filter(hearing_slots::withdrawn_at.is_null())
        .filter(hearing_slots::starts_at.gt(now))
        .filter(diesel::dsl::not(hearing_slots::id.eq_any(booked)))
        .count()
        .get_result(conn)
        .map_err(Into::into)
}

pub fn slot(conn: &mut DbConnection, id: &str) -> DbResult<Option<SlotRow>> {
    hearing_slots::table
        .find(id)
        .select(SlotRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn slots(conn: &mut DbConnection, engagement_id: &EngagementId) -> DbResult<Vec<SlotRow>> {
    hearing_slots::table
        .filter(hearing_slots::engagement_id.eq(engagement_id))
        .order(hearing_slots::starts_at.asc())
        .select(SlotRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

pub fn insert_slot(conn: &mut DbConnection, row: &SlotRow) -> DbResult<()> {
    diesel::insert_into(hearing_slots::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn withdraw_slot(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> DbResult<()> {
    diesel::update(hearing_slots::table.find(id))
        .set(hearing_slots::withdrawn_at.eq(Some(now)))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// Books a slot. The partial unique index on scheduled hearings makes a second booking of the
/// same slot fail even when two transactions race; the caller turns that into 409.
pub fn insert_hearing(conn: &mut DbConnection, row: &HearingRow) -> DbResult<()> {
    diesel::insert_into(hearings::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn hearings(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> DbResult<Vec<HearingRow>> {
    hearings::table
        .filter(hearings::engagement_id.eq(engagement_id))
        .order(hearings::booked_at.asc())
        .select(HearingRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

/// Moves a hearing out of `scheduled` (held, no_show, postponed, cancelled, rescheduled).
pub fn close_hearing(
    conn: &mut DbConnection,
    id: &str,
    status: HearingStatus,
    note: Option<&str>,
    minutes_document_id: Option<&str>,
    cancel_reason: Option<&str>,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(hearings::table.find(id))
        .set((
            hearings::status.eq(status),
            hearings::outcome_note.eq(note),
            hearings::minutes_document_id.eq(minutes_document_id),
            hearings::cancel_reason.eq(cancel_reason),
            hearings::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// Every scheduled hearing with its slot (for reminders).
pub fn all_scheduled(conn: &mut DbConnection) -> DbResult<Vec<(HearingRow, SlotRow)>> {
    hearings::table
        .inner_join(hearing_slots::table)
        .filter(hearings::status.eq(HearingStatus::Scheduled))
        .select((HearingRow::as_select(), SlotRow::as_select()))
        .load(conn)
        .map_err(Into::into)
}
