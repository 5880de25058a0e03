//! The reads behind an engagement's detail, in as few statements as the answer allows: the
//! engagement with its hospital, round name and the facts about its intake, slots, hearing and
//! backup proposal (scalar subqueries) in one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::engagements::EngagementRow;
use super::hospitals::HospitalRow;
use super::schema::{
    backup_proposals, engagements, hearing_slots, hearings, hospitals, questionnaire_responses,
    rounds,
};
use super::stamp::OptStamp;
use super::{DbConnection, DbResult};
use crate::domain::ids::EngagementId;

/// What the detail says about an engagement besides its own row and milestones.
#[derive(Debug, Clone)]
pub struct DetailFacts {
    pub questionnaire_status: Option<String>,
    /// Offered slots neither withdrawn nor booked and not begun by `now`.
    pub open_slots: i64,
    /// A proposal exists and was not skipped.
    pub backup_proposed: bool,
    pub hearing_scheduled: bool,
    /// When the scheduled hearing's slot begins.
    pub hearing_at: Option<NaiveDateTime>,
}

/// An engagement, its hospital, its round's name and the facts about it, in one statement (the
/// facts as scalar subqueries): the detail's first read.
pub fn engagement_detail(
    conn: &mut DbConnection,
    id: &EngagementId,
    now: NaiveDateTime,
) -> DbResult<Option<(EngagementRow, HospitalRow, String, DetailFacts)>> {
    let questionnaire = questionnaire_responses::table
        .filter(questionnaire_responses::engagement_id.eq(id))
        .select(questionnaire_responses::status)
        .single_value();
    let booked = hearings::table
        .filter(hearings::status.eq("scheduled"))
        .select(hearings::slot_id);
    let open_slots = hearing_slots::table
        .filter(hearing_slots::engagement_id.eq(id))
        .filter(hearing_slots::withdrawn_at.is_null())
        .filter(hearing_slots::starts_at.gt(now))
        .filter(diesel::dsl::not(hearing_slots::id.eq_any(booked)))
        .count()
        .single_value();
    let backup = backup_proposals::table
        .filter(backup_proposals::engagement_id.eq(id))
        .filter(backup_proposals::skipped_reason.is_null())
        .select(backup_proposals::engagement_id)
        .single_value();
    let scheduled = hearings::table
        .filter(hearings::engagement_id.eq(id))
        .filter(hearings::status.eq("scheduled"));
    let hearing = scheduled.select(hearings::id).single_value();
    let hearing_at = scheduled
        .inner_join(hearing_slots::table.on(hearing_slots::id.eq(hearings::slot_id)))
        .select(hearing_slots::starts_at)
        .single_value();
    type Facts = (
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
        OptStamp,
    );
    let row = super::native!(conn, |c| engagements::table
        .inner_join(hospitals::table)
        .inner_join(rounds::table)
        .filter(engagements::id.eq(id))
        .select((
            EngagementRow::as_select(),
            HospitalRow::as_select(),
            rounds::name,
            (questionnaire, open_slots, backup, hearing, hearing_at),
        ))
        .first::<(EngagementRow, HospitalRow, String, Facts)>(c)
        .optional())?;
    Ok(row.map(|(e, h, round, facts)| {
        let (questionnaire_status, open_slots, backup, hearing, hearing_at) = facts;
        let facts = DetailFacts {
            questionnaire_status,
            open_slots: open_slots.unwrap_or(0),
            backup_proposed: backup.is_some(),
            hearing_scheduled: hearing.is_some(),
            hearing_at: hearing_at.into(),
        };
        (e, h, round, facts)
    }))
}
