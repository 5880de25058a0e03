//! The marks mail that could not be queued leaves: a `mail_error` event in the engagement's
//! timeline, and `mail_error` on each contact whose address is at fault.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{contacts, events};
use super::{DbConnection, DbResult};
use crate::domain::events::EventKind;
use crate::domain::ids::{ContactId, EngagementId, HospitalId};

/// The timeline event's kind.
pub const EVENT: EventKind = EventKind::MailError;

pub fn mark_contact(conn: &mut DbConnection, id: &ContactId, error: &str) -> DbResult<()> {
    // Not a change of the contact's details: its version (and ETag) stays.
    diesel::update(contacts::table.find(id))
        .set(contacts::mail_error.eq(Some(error)))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn clear_for_hospital(conn: &mut DbConnection, hospital_id: &HospitalId) -> DbResult<()> {
    diesel::update(
        contacts::table
            .filter(contacts::hospital_id.eq(hospital_id))
            .filter(contacts::mail_error.is_not_null()),
    )
    .set(contacts::mail_error.eq(None::<String>))
    .execute(conn)
    .map(|_| ())
    .map_err(Into::into)
}

/// Whether a failure of this kind of mail was already noted in the timeline since `since`.
pub fn noted_since(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    mail_kind: &str,
    since: NaiveDateTime,
) -> DbResult<bool> {
    diesel::select(diesel::dsl::exists(
        events::table
            .filter(events::engagement_id.eq(engagement_id))
            .filter(events::kind.eq(EVENT))
            .filter(events::at.ge(since))
            .filter(events::payload.like(format!("%\"mail\":\"{mail_kind}\"%"))),
    ))
    .get_result(conn)
    .map_err(Into::into)
}
