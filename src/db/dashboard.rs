//! The dashboards' queries: counts grouped in the database (one pass over a covering index),
//! and the rows behind the hospitals table, its next actions and the timeline replay. Only
//! progress facts are read here — never a contact, a document's content, an answer, a finding
//! or a mail.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::{case_when, count_star, sum};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};

use super::schema::{
    backup_proposals, engagements, events, hearing_slots, hearings, hospitals, milestones,
    organizations, questionnaire_responses,
};
use super::{DbConnection, MultiBackend};

/// Which engagements of a round a dashboard reads; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub round_id: String,
    pub prefecture_code: Option<String>,
    pub tier: Option<String>,
    /// A coordinator's subtree: only engagements assigned to these organisations.
    pub orgs: Option<Vec<String>>,
    pub organization_id: Option<String>,
    pub stage: Option<String>,
    /// Only overdue ones: stage → the moment before which entering it is overdue.
    pub overdue: Option<Vec<(String, NaiveDateTime)>>,
}

/// Applies a `Filter` to a boxed query whose source includes `engagements`.
macro_rules! narrow {
    ($q:expr, $f:expr) => {{
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
            q = q.filter(overdue(cutoffs));
        }
        q
    }};
}

type Condition<QS> = Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>>;

/// No side state, and in a stage since before that stage's cutoff (for any query source that
/// holds `engagements`).
fn overdue<QS: 'static>(cutoffs: &[(String, NaiveDateTime)]) -> Condition<QS>
where
    engagements::stage: SelectableExpression<QS>,
    engagements::stage_since: SelectableExpression<QS>,
    engagements::side_state: SelectableExpression<QS>,
{
    let mut any: Condition<QS> = Box::new(diesel::dsl::sql::<Bool>("1 = 0"));
    for (stage, cutoff) in cutoffs {
        any = Box::new(
            any.or(engagements::stage
                .eq(stage.clone())
                .and(engagements::stage_since.lt(*cutoff))),
        );
    }
    Box::new(engagements::side_state.is_null().and(any))
}

/// Engagements of one kind: where, which tier, whose, at what stage, in which side state.
#[derive(Debug, Clone, Queryable)]
pub struct Group {
    pub prefecture_code: String,
    pub tier: Option<String>,
    pub organization_id: Option<String>,
    pub stage: String,
    pub side_state: Option<String>,
    pub count: i64,
    pub overdue: Option<i64>,
}

/// The summary's one pass: counts per (prefecture, tier, organisation, stage, side state), with
/// how many of each are overdue by `cutoffs`.
pub fn groups(
    conn: &mut DbConnection,
    f: &Filter,
    cutoffs: &[(String, NaiveDateTime)],
) -> QueryResult<Vec<Group>> {
    let late = case_when::<_, _, Integer>(overdue::<engagements::table>(cutoffs), 1).otherwise(0);
    let q = engagements::table
        .group_by((
            engagements::prefecture_code,
            engagements::tier,
            engagements::organization_id,
            engagements::stage,
            engagements::side_state,
        ))
        .select((
            engagements::prefecture_code,
            engagements::tier,
            engagements::organization_id,
            engagements::stage,
            engagements::side_state,
            count_star(),
            sum(late),
        ))
        .into_boxed::<MultiBackend>();
    narrow!(q, f).load(conn)
}

/// Backup proposals with one decision (or none yet): how many, and how many of those were
/// skipped (a skipped proposal has no decision).
#[derive(Debug, Clone, Queryable)]
pub struct Decisions {
    pub decision: Option<String>,
    pub count: i64,
    pub skipped: Option<i64>,
}

pub fn backup_decisions(conn: &mut DbConnection, f: &Filter) -> QueryResult<Vec<Decisions>> {
    let skipped =
        case_when::<_, _, Integer>(backup_proposals::skipped_reason.is_not_null(), 1).otherwise(0);
    // A decision or a skip is a milestone that puts the engagement at `backup` or beyond:
    // looking only there saves most of the lookups.
    let q = backup_proposals::table
        .inner_join(engagements::table.on(engagements::id.eq(backup_proposals::engagement_id)))
        .filter(engagements::stage.eq_any(["backup", "completed"]))
        .group_by(backup_proposals::decision)
        .select((backup_proposals::decision, count_star(), sum(skipped)))
        .into_boxed::<MultiBackend>();
    narrow!(q, f).load(conn)
}

/// Organisation names by id (for the per-organisation rows).
pub fn organization_names(conn: &mut DbConnection) -> QueryResult<HashMap<String, String>> {
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
) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    let q = engagements::table
        .select((engagements::id, engagements::created_at))
        .into_boxed::<MultiBackend>();
    narrow!(q, f).load(conn)
}

/// Every milestone of the filtered engagements: (engagement, kind, when).
pub fn milestones(
    conn: &mut DbConnection,
    f: &Filter,
) -> QueryResult<Vec<(String, String, NaiveDateTime)>> {
    let q = milestones::table
        .inner_join(engagements::table)
        .select((milestones::engagement_id, milestones::kind, milestones::at))
        .into_boxed::<MultiBackend>();
    narrow!(q, f).load(conn)
}

/// Timeline events of these kinds for the filtered engagements: (engagement, kind, when,
/// payload). Only the kinds that change what is awaited are asked for.
pub fn events(
    conn: &mut DbConnection,
    f: &Filter,
    kinds: &[&str],
) -> QueryResult<Vec<(String, String, NaiveDateTime, String)>> {
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
    narrow!(q, f).load(conn)
}

/// One line of the hospitals table, before its next action is worked out.
#[derive(Debug, Clone, Queryable)]
pub struct HospitalLine {
    pub engagement_id: String,
    pub institution_code: String,
    pub hospital_name: String,
    pub prefecture_code: String,
    pub tier: Option<String>,
    pub stage: String,
    pub stage_since: NaiveDateTime,
    pub side_state: Option<String>,
    pub organization_id: Option<String>,
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

/// The filtered engagements with their hospital, sorted, from `offset`, at most `limit`.
pub fn hospital_lines(
    conn: &mut DbConnection,
    f: &Filter,
    sort: HospitalSort,
    descending: bool,
    offset: i64,
    limit: Option<i64>,
) -> QueryResult<Vec<HospitalLine>> {
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
    // The stage sorts in pipeline order, not alphabetically.
    use crate::domain::pipeline::Stage as S;
    let st = engagements::stage;
    let order = case_when::<_, _, Integer>(st.eq(S::Selected.as_str()), 0)
        .when(st.eq(S::Contacting.as_str()), 1)
        .when(st.eq(S::Consented.as_str()), 2)
        .when(st.eq(S::Memorandum.as_str()), 3)
        .when(st.eq(S::Intake.as_str()), 4)
        .when(st.eq(S::Hearing.as_str()), 5)
        .when(st.eq(S::Verification.as_str()), 6)
        .when(st.eq(S::Backup.as_str()), 7)
        .when(st.eq(S::Completed.as_str()), 8)
        .otherwise(99);
    q = match (sort, descending) {
        (HospitalSort::InstitutionCode, false) => q.order(hospitals::institution_code.asc()),
        (HospitalSort::InstitutionCode, true) => q.order(hospitals::institution_code.desc()),
        (HospitalSort::Name, false) => q.order(hospitals::name.asc()),
        (HospitalSort::Name, true) => q.order(hospitals::name.desc()),
        (HospitalSort::Prefecture, false) => q.order(engagements::prefecture_code.asc()),
        (HospitalSort::Prefecture, true) => q.order(engagements::prefecture_code.desc()),
        (HospitalSort::Tier, false) => q.order(engagements::tier.asc()),
        (HospitalSort::Tier, true) => q.order(engagements::tier.desc()),
        (HospitalSort::Stage, false) => q.order(order.asc()),
        (HospitalSort::Stage, true) => q.order(order.desc()),
        (HospitalSort::Since, false) => q.order(engagements::stage_since.asc()),
        (HospitalSort::Since, true) => q.order(engagements::stage_since.desc()),
    };
    // Ties keep one stable order, so pages neither skip nor repeat rows.
    q = q.then_order_by(hospitals::institution_code.asc());
    // SQLite knows no OFFSET without a LIMIT.
    if limit.is_some() || offset > 0 {
        q = q.limit(limit.unwrap_or(i64::MAX)).offset(offset);
    }
    q.load(conn)
}

pub fn count_lines(conn: &mut DbConnection, f: &Filter) -> QueryResult<i64> {
    let q = engagements::table.into_boxed::<MultiBackend>();
    narrow!(q, f).count().get_result(conn)
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
pub fn next_facts(conn: &mut DbConnection, ids: &[String]) -> QueryResult<NextFacts> {
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
                .filter(hearing_slots::starts_at.gt(super::now()))
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
