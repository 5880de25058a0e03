//! The dashboards' queries: counts grouped in the database (one pass over a covering index),
//! and the rows behind the hospitals table, its next actions and the timeline replay. Only
//! progress facts are read here — never a contact, a document's content, an answer, a finding
//! or a mail.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::{case_when, count_star, sum};
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::engagement_list::KeyAfter;
use super::fixed::Fixed;
use super::schema::{
    backup_proposals, engagements, events, hearing_slots, hearings, hospitals, milestones,
    organizations, questionnaire_responses,
};
use super::stamp::Stamp;
use super::types::ShortText;
use super::{DbConnection, DbResult, MultiBackend};
use crate::domain::backup::BackupOutcome;
use crate::domain::ids::{EngagementId, OrganizationId, RoundId};
use crate::domain::pipeline::{SideState, Stage};

/// Which engagements of a round a dashboard reads; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub round_id: RoundId,
    pub prefecture_code: Option<String>,
    pub tier: Option<String>,
    /// A coordinator's subtree: only engagements assigned to these organisations.
    pub orgs: Option<Vec<OrganizationId>>,
    pub organization_id: Option<OrganizationId>,
    pub stage: Option<String>,
    /// Only overdue ones: stage → the moment before which entering it is overdue.
    pub overdue: Option<Vec<(String, NaiveDateTime)>>,
}

/// Applies a `Filter` to a boxed query whose source includes `engagements`.
macro_rules! narrow {
    ($q:expr, $f:expr) => {
        narrow!($q, $f, MultiBackend)
    };
    ($q:expr, $f:expr, $db:ty) => {{
        let f: &Filter = $f;
        let mut q = $q.filter(engagements::round_id.eq(f.round_id.clone()));
        if let Some(v) = &f.prefecture_code {
            q = q.filter(engagements::prefecture_code.eq(v.clone()));
        }
        if let Some(v) = &f.tier {
            q = q.filter(engagements::tier.eq(v.clone()));
        }
        if let Some(ids) = &f.orgs {
            q = q.filter(engagements::organization_id.eq_any(ids.clone()));
        }
        if let Some(v) = &f.organization_id {
            q = q.filter(engagements::organization_id.eq(v.clone()));
        }
        if let Some(v) = &f.stage {
            q = q.filter(engagements::stage.eq(v.clone()));
        }
        if let Some(cutoffs) = &f.overdue {
            q = q.filter(super::overdue_on!(_, $db, cutoffs));
        }
        q
    }};
}

/// Engagements of one kind: where, which tier, whose (an organisation id), at what stage, in
/// which side state, with which backup outcome.
#[derive(Debug, Clone, Queryable)]
pub struct Group {
    pub prefecture_code: ShortText,
    pub tier: Option<ShortText>,
    pub organization_id: Option<ShortText>,
    pub stage: Stage,
    pub side_state: Option<SideState>,
    pub backup: Option<BackupOutcome>,
    pub count: i64,
    pub overdue: Option<i64>,
}

/// The summary's one pass over the round's engagements (`dashboard_engagements_idx` covers
/// it): counts per (prefecture, tier, organisation, stage, side state, backup outcome), with
/// how many of each are overdue by `cutoffs`. Runs on the backend's own connection: converting
/// a few thousand rows through the two-backend wrapper cost ~15 % more.
pub fn groups(
    conn: &mut DbConnection,
    f: &Filter,
    cutoffs: &[(String, NaiveDateTime)],
) -> DbResult<Vec<Group>> {
    macro_rules! run {
        ($c:ident, $db:ty) => {{
            let late =
                case_when::<_, _, Integer>(super::overdue_on!(engagements::table, $db, cutoffs), 1)
                    .otherwise(0);
            let q = engagements::table
                .group_by((
                    engagements::prefecture_code,
                    engagements::tier,
                    engagements::organization_id,
                    engagements::stage,
                    engagements::side_state,
                    engagements::backup_decision,
                ))
                .select((
                    engagements::prefecture_code,
                    engagements::tier,
                    engagements::organization_id,
                    engagements::stage,
                    engagements::side_state,
                    engagements::backup_decision,
                    count_star(),
                    sum(late),
                ))
                .into_boxed::<$db>();
            narrow!(q, f, $db).load($c).map_err(Into::into)
        }};
    }
    match conn {
        DbConnection::Sqlite(c) => run!(c, diesel::sqlite::Sqlite),
        DbConnection::Pg(c) => run!(c, diesel::pg::Pg),
    }
}

pub fn organization_names(conn: &mut DbConnection) -> DbResult<HashMap<String, String>> {
    Ok(organizations::table
        .select((organizations::id, organizations::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// Each engagement's id, creation time and side state.
pub fn engagement_times(
    conn: &mut DbConnection,
    f: &Filter,
) -> DbResult<Vec<(String, NaiveDateTime)>> {
    let q = engagements::table
        .select((engagements::id, engagements::created_at))
        .into_boxed::<MultiBackend>();
    narrow!(q, f).load(conn).map_err(Into::into)
}

/// Every milestone of the filtered engagements: (engagement, kind, when).
pub fn milestones(
    conn: &mut DbConnection,
    f: &Filter,
) -> DbResult<Vec<(String, String, NaiveDateTime)>> {
    let q = milestones::table
        .inner_join(engagements::table)
        .select((milestones::engagement_id, milestones::kind, milestones::at))
        .into_boxed::<MultiBackend>();
    narrow!(q, f).load(conn).map_err(Into::into)
}

/// Timeline events of these kinds for the filtered engagements: (engagement, kind, when,
/// payload). Only the kinds that change what is awaited are asked for.
pub fn events(
    conn: &mut DbConnection,
    f: &Filter,
    kinds: &[&str],
) -> DbResult<Vec<(String, String, NaiveDateTime, String)>> {
    let q = events::table
        .inner_join(engagements::table)
        .filter(events::kind.eq_any(kinds.iter().map(|k| k.to_string()).collect::<Vec<_>>()))
        .select((
            events::engagement_id,
            events::kind,
            events::at,
            events::payload,
        ))
        .into_boxed::<MultiBackend>();
    narrow!(q, f).load(conn).map_err(Into::into)
}

/// One line of the hospitals table, before its next action is worked out.
#[derive(Debug, Clone, Queryable)]
pub struct HospitalLine {
    pub engagement_id: EngagementId,
    pub institution_code: String,
    pub hospital_name: String,
    pub prefecture_code: String,
    pub tier: Option<String>,
    pub stage: String,
    #[diesel(deserialize_as = Stamp)]
    pub stage_since: NaiveDateTime,
    pub side_state: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub memorandum_status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HospitalSort {
    InstitutionCode,
    Name,
    Prefecture,
    Tier,
    /// In pipeline order.
    Stage,
    Since,
}

/// A sort's key as SQL (`None`: the institution code alone, which is unique).
fn line_key(sort: HospitalSort) -> Option<String> {
    match sort {
        HospitalSort::InstitutionCode => None,
        HospitalSort::Name => Some("hospitals.name".into()),
        HospitalSort::Prefecture => Some("engagements.prefecture_code".into()),
        // No tier sorts first on both backends.
        HospitalSort::Tier => Some("COALESCE(engagements.tier, '')".into()),
        // The stage sorts in pipeline order, not alphabetically.
        HospitalSort::Stage => Some(super::engagement_list::stage_order()),
        HospitalSort::Since => Some("engagements.stage_since".into()),
    }
}

/// A line's key under `sort`, for the next page's cursor.
pub fn line_key_of(sort: HospitalSort, l: &HospitalLine) -> KeyAfter {
    match sort {
        HospitalSort::InstitutionCode => KeyAfter::Id,
        HospitalSort::Name => KeyAfter::Text(l.hospital_name.clone()),
        HospitalSort::Prefecture => KeyAfter::Text(l.prefecture_code.clone()),
        HospitalSort::Tier => KeyAfter::Text(l.tier.clone().unwrap_or_default()),
        HospitalSort::Stage => KeyAfter::Int(
            crate::domain::pipeline::Stage::ALL
                .iter()
                .position(|s| s.as_str() == l.stage)
                .map_or(99, |i| i as i64),
        ),
        HospitalSort::Since => KeyAfter::Time(l.stage_since),
    }
}

/// The filtered engagements with their hospital, sorted, after `after` (keyset), at most
/// `limit`. Ties go by institution code, so pages neither skip nor repeat rows.
pub fn hospital_lines(
    conn: &mut DbConnection,
    f: &Filter,
    sort: HospitalSort,
    descending: bool,
    after: Option<(&KeyAfter, &str)>,
    limit: Option<i64>,
) -> DbResult<Vec<HospitalLine>> {
    let q = engagements::table
        .inner_join(hospitals::table)
        .select((
            engagements::id,
            hospitals::institution_code,
            hospitals::name,
            engagements::prefecture_code,
            engagements::tier,
            engagements::stage,
            engagements::stage_since,
            engagements::side_state,
            engagements::organization_id,
            engagements::memorandum_status,
        ))
        .into_boxed::<MultiBackend>();
    let mut q = narrow!(q, f);
    let key = line_key(sort);
    if let Some((k, id)) = after {
        q = q.filter(super::engagement_list::keyset(
            key.as_deref(),
            "hospitals.institution_code",
            descending,
            k,
            id,
        ));
    }
    let dir = if descending { "DESC" } else { "ASC" };
    q = match key {
        None => q.order(Fixed::<diesel::sql_types::Text>::new(format!(
            "hospitals.institution_code {dir}"
        ))),
        Some(k) => q
            .order(Fixed::<diesel::sql_types::Text>::new(format!("{k} {dir}")))
            .then_order_by(hospitals::institution_code.asc()),
    };
    if let Some(limit) = limit {
        q = q.limit(limit);
    }
    q.load(conn).map_err(Into::into)
}

pub fn count_lines(conn: &mut DbConnection, f: &Filter) -> DbResult<i64> {
    let q = engagements::table.into_boxed::<MultiBackend>();
    narrow!(q, f).count().get_result(conn).map_err(Into::into)
}

/// What decides each engagement's next action, for a set of engagements.
#[derive(Debug, Default)]
pub struct NextFacts {
    pub milestones: HashMap<String, Vec<String>>,
    pub questionnaire: HashMap<String, String>,
    pub open_slots: HashMap<String, i64>,
    /// Start of the scheduled hearing.
    pub scheduled: HashMap<String, NaiveDateTime>,
    /// Start of the hearing held last.
    pub held: HashMap<String, NaiveDateTime>,
    pub backup_proposed: std::collections::HashSet<String>,
}

/// Reads the facts behind the next action of these engagements, a chunk at a time (SQLite
/// limits the number of bound parameters).
/// `now`: the app's time, for which slots are still open.
pub fn next_facts(
    conn: &mut DbConnection,
    ids: &[EngagementId],
    now: NaiveDateTime,
) -> DbResult<NextFacts> {
    let mut out = NextFacts::default();
    for chunk in ids.chunks(500) {
        let chunk = chunk.to_vec();
        for (id, kind) in milestones::table
            .filter(milestones::engagement_id.eq_any(&chunk))
            .select((milestones::engagement_id, milestones::kind))
            .load::<(String, String)>(conn)?
        {
            out.milestones.entry(id).or_default().push(kind);
        }
        out.questionnaire.extend(
            questionnaire_responses::table
                .filter(questionnaire_responses::engagement_id.eq_any(&chunk))
                .select((
                    questionnaire_responses::engagement_id,
                    questionnaire_responses::status,
                ))
                .load::<(String, String)>(conn)?,
        );
        let booked = hearings::table
            .filter(hearings::status.eq("scheduled"))
            .select(hearings::slot_id);
        out.open_slots.extend(
            hearing_slots::table
                .filter(hearing_slots::engagement_id.eq_any(&chunk))
                .filter(hearing_slots::withdrawn_at.is_null())
                // Open as `domain::hearings::is_open` has it: not begun.
                .filter(hearing_slots::starts_at.gt(now))
                .filter(diesel::dsl::not(hearing_slots::id.eq_any(booked)))
                .group_by(hearing_slots::engagement_id)
                .select((hearing_slots::engagement_id, count_star()))
                .load::<(String, i64)>(conn)?,
        );
        for (id, status, starts) in hearings::table
            .inner_join(hearing_slots::table)
            .filter(hearings::engagement_id.eq_any(&chunk))
            .filter(hearings::status.eq_any(["scheduled", "held"]))
            .order(hearing_slots::starts_at.asc())
            .select((
                hearings::engagement_id,
                hearings::status,
                hearing_slots::starts_at,
            ))
            .load::<(String, String, NaiveDateTime)>(conn)?
        {
            if status == "scheduled" {
                out.scheduled.insert(id, starts);
            } else {
                out.held.insert(id, starts);
            }
        }
        out.backup_proposed.extend(
            backup_proposals::table
                .filter(backup_proposals::engagement_id.eq_any(&chunk))
                .filter(backup_proposals::skipped_reason.is_null())
                .select(backup_proposals::engagement_id)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}
