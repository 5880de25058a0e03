//! Queries of the retention purge and of the audit receipt that outlives it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::intake::DocumentRow;
use super::schema::{
    backup_proposals, documents, engagements, events, findings, hearings, milestones,
    questionnaire_responses,
};
use super::{DbConnection, DbResult};
use crate::domain::events::EventKind;
use crate::domain::ids::EngagementId;

/// Timeline kinds that close an engagement besides completion.
const CLOSING_EVENTS: [&str; 2] = ["declined", "withdrawn"];

/// Engagements that are closed (completed, declined or withdrawn) and not yet purged, with the
/// moment they closed: the `completed` milestone, or the last decline / withdrawal.
pub fn closed_unpurged(conn: &mut DbConnection) -> DbResult<Vec<(EngagementId, NaiveDateTime)>> {
    let ids: Vec<EngagementId> = engagements::table
        .filter(engagements::purged_at.is_null())
        .filter(
            engagements::stage
                .eq("completed")
                .or(engagements::side_state.eq_any(CLOSING_EVENTS)),
        )
        .order(engagements::id.asc())
        .select(engagements::id)
        .load(conn)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(at) = closed_at(conn, &id)? {
            out.push((id, at));
        }
    }
    Ok(out)
}

/// When the engagement closed, if it is closed: the later of its `completed` milestone and its
/// last decline or withdrawal that still holds.
pub fn closed_at(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Option<NaiveDateTime>> {
    let Some((stage, side)) = engagements::table
        .find(id)
        .select((engagements::stage, engagements::side_state))
        .first::<(String, Option<String>)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let completed: Option<NaiveDateTime> = if stage == "completed" {
        milestones::table
            .filter(milestones::engagement_id.eq(id))
            .filter(milestones::kind.eq("completed"))
            .select(milestones::at)
            .first(conn)
            .optional()?
    } else {
        None
    };
    let kind = match side.as_deref() {
        Some("declined") => Some(EventKind::Declined),
        Some("withdrawn") => Some(EventKind::Withdrawn),
        _ => None,
    };
    let side_closed: Option<NaiveDateTime> = match kind {
        Some(kind) => events::table
            .filter(events::engagement_id.eq(id))
            .filter(events::kind.eq(kind))
            .select(diesel::dsl::max(events::at))
            .first(conn)?,
        None => None,
    };
    Ok(completed.max(side_closed))
}

pub fn purged_at(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Option<NaiveDateTime>> {
    engagements::table
        .find(id)
        .select(engagements::purged_at)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()
        .map(Option::flatten)
        .map_err(Into::into)
}

/// Whether another engagement's live document still uses the stored object (objects are
/// content-addressed, so the same bytes uploaded twice are one object).
pub fn object_used_elsewhere(
    conn: &mut DbConnection,
    storage_key: &str,
    engagement_id: &EngagementId,
) -> DbResult<bool> {
    diesel::select(diesel::dsl::exists(
        documents::table
            .filter(documents::storage_key.eq(storage_key))
            .filter(documents::engagement_id.ne(engagement_id))
            .filter(documents::purged_at.is_null()),
    ))
    .get_result(conn)
    .map_err(Into::into)
}

/// What the purge removed from the database, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    pub documents: usize,
    pub questionnaire_answers: usize,
    pub findings: usize,
    pub hearing_notes: usize,
    pub backup_texts: usize,
    pub timeline_notes: usize,
}

/// Removes the engagement's confidential material, keeping the documents' rows (name, hash,
/// size, uploader) for the receipt, and marks the engagement purged.
pub fn purge_rows(
    conn: &mut DbConnection,
    id: &EngagementId,
    now: NaiveDateTime,
) -> DbResult<Removed> {
    let documents = diesel::update(
        documents::table
            .filter(documents::engagement_id.eq(id))
            .filter(documents::purged_at.is_null()),
    )
    .set(documents::purged_at.eq(now))
    .execute(conn)?;
    let questionnaire_answers = diesel::delete(
        questionnaire_responses::table.filter(questionnaire_responses::engagement_id.eq(id)),
    )
    .execute(conn)?;
    let findings =
        diesel::delete(findings::table.filter(findings::engagement_id.eq(id))).execute(conn)?;
    let hearing_notes = diesel::update(
        hearings::table
            .filter(hearings::engagement_id.eq(id))
            .filter(hearings::outcome_note.is_not_null()),
    )
    .set(hearings::outcome_note.eq(None::<String>))
    .execute(conn)?;
    let backup_texts =
        diesel::update(backup_proposals::table.filter(backup_proposals::engagement_id.eq(id)))
            .set((
                backup_proposals::current_state.eq(""),
                backup_proposals::proposal.eq(""),
            ))
            .execute(conn)?;
    let timeline_notes = scrub_timeline_notes(conn, id)?;
    diesel::update(engagements::table.find(id))
        .set((
            engagements::purged_at.eq(now),
            engagements::version.eq(engagements::version + 1),
            engagements::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(Removed {
        documents,
        questionnaire_answers,
        findings,
        hearing_notes,
        backup_texts,
        timeline_notes,
    })
}

/// Free-text notes and comments in the timeline can repeat what the hospital disclosed (a
/// hearing's outcome note, a review comment); they are replaced, the events themselves stay.
fn scrub_timeline_notes(conn: &mut DbConnection, id: &EngagementId) -> DbResult<usize> {
    let rows: Vec<(String, String)> = events::table
        .filter(events::engagement_id.eq(id))
        .select((events::id, events::payload))
        .load(conn)?;
    let mut changed = 0;
    for (event_id, payload) in rows {
        let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(&payload) else {
            continue;
        };
        let mut touched = false;
        for key in ["note", "comment"] {
            if map.get(key).is_some_and(|v| !v.is_null()) {
                map.insert(key.into(), serde_json::Value::from("[purged]"));
                touched = true;
            }
        }
        if touched {
            let text = serde_json::Value::Object(map).to_string();
            diesel::update(events::table.find(&event_id))
                .set(events::payload.eq(text))
                .execute(conn)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Every document the engagement ever held, purged or not, oldest first.
pub fn all_documents(
    conn: &mut DbConnection,
    id: &EngagementId,
) -> DbResult<Vec<(DocumentRow, Option<NaiveDateTime>)>> {
    documents::table
        .filter(documents::engagement_id.eq(id))
        .order((documents::uploaded_at.asc(), documents::id.asc()))
        .select((DocumentRow::as_select(), documents::purged_at))
        .load(conn)
        .map_err(Into::into)
}

/// One download from the timeline: when, by whom, and the payload naming the document.
pub struct Download {
    pub at: NaiveDateTime,
    pub actor_label: String,
    pub payload: String,
}

pub fn downloads(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Vec<Download>> {
    events::table
        .filter(events::engagement_id.eq(id))
        .filter(events::kind.eq(EventKind::DocumentDownloaded))
        .order((events::at.asc(), events::id.asc()))
        .select((events::at, events::actor_label, events::payload))
        .load::<(NaiveDateTime, String, String)>(conn)
        .map(|rows| {
            rows.into_iter()
                .map(|(at, actor_label, payload)| Download {
                    at,
                    actor_label,
                    payload,
                })
                .collect()
        })
        .map_err(Into::into)
}
