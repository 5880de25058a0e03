//! Queries on hearing slots and hearings.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{hearing_slots, hearings};
use super::types::Json;
use super::DbConnection;
use crate::domain::hearings::{Attendee, HearingStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hearing_slots)]
pub struct SlotRow {
    pub id: String,
    pub engagement_id: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    /// `online` or `onsite`.
    pub format: String,
    pub meeting_url: Option<String>,
    pub place: Option<String>,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hearings)]
pub struct HearingRow {
    pub id: String,
    pub engagement_id: String,
    pub slot_id: String,
    pub status: HearingStatus,
    pub attendees: Json<Vec<Attendee>>,
    pub sequence: i64,
    pub outcome_note: Option<String>,
    pub minutes_document_id: Option<String>,
    pub cancel_reason: Option<String>,
    pub booked_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The engagement's scheduled hearing, if any.
pub fn scheduled(conn: &mut DbConnection, engagement_id: &str) -> QueryResult<Option<HearingRow>> {
    hearings::table
        .filter(hearings::engagement_id.eq(engagement_id))
        .filter(hearings::status.eq(HearingStatus::Scheduled))
        .select(HearingRow::as_select())
        .first(conn)
        .optional()
}

/// Slots offered, neither withdrawn nor booked, and not begun by `now` (as
/// `domain::hearings::is_open` has it).
pub fn open_slot_count(
    conn: &mut DbConnection,
    engagement_id: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
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
}

pub fn slot(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SlotRow>> {
    hearing_slots::table
        .find(id)
        .select(SlotRow::as_select())
        .first(conn)
        .optional()
}

pub fn slots(conn: &mut DbConnection, engagement_id: &str) -> QueryResult<Vec<SlotRow>> {
    hearing_slots::table
        .filter(hearing_slots::engagement_id.eq(engagement_id))
        .order(hearing_slots::starts_at.asc())
        .select(SlotRow::as_select())
        .load(conn)
}

pub fn insert_slot(conn: &mut DbConnection, row: &SlotRow) -> QueryResult<()> {
    diesel::insert_into(hearing_slots::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn withdraw_slot(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(hearing_slots::table.find(id))
        .set(hearing_slots::withdrawn_at.eq(Some(now)))
        .execute(conn)
        .map(|_| ())
}

/// Books a slot. The partial unique index on scheduled hearings makes a second booking of the
/// same slot fail even when two transactions race; the caller turns that into 409.
pub fn insert_hearing(conn: &mut DbConnection, row: &HearingRow) -> QueryResult<()> {
    diesel::insert_into(hearings::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn hearings(conn: &mut DbConnection, engagement_id: &str) -> QueryResult<Vec<HearingRow>> {
    hearings::table
        .filter(hearings::engagement_id.eq(engagement_id))
        .order(hearings::booked_at.asc())
        .select(HearingRow::as_select())
        .load(conn)
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
) -> QueryResult<()> {
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
}

/// Every scheduled hearing with its slot (for reminders).
pub fn all_scheduled(conn: &mut DbConnection) -> QueryResult<Vec<(HearingRow, SlotRow)>> {
    hearings::table
        .inner_join(hearing_slots::table)
        .filter(hearings::status.eq(HearingStatus::Scheduled))
        .select((HearingRow::as_select(), SlotRow::as_select()))
        .load(conn)
}
