//! Engagements as every channel reads them (the detail, the list's rows), and the rules about
//! them that are not steps: selection, assignment, reason texts.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::hospitals::{load_out, HospitalOut};
use super::step as pipeline;
use crate::config::Config;
use crate::db::engagements::EngagementRow;
use crate::db::{self, utc, DbConnection};
use crate::domain::events::EventKind;
use crate::domain::ids::{EngagementId, HospitalId, OrganizationId, RoundId};
use crate::domain::pipeline::{
    self as rules, MemorandumStatus, Milestone, NextAction, Progress, SideState, Stage,
};
use crate::domain::validate;
use crate::error::{AppError, AppResult};

#[derive(Serialize, ToSchema)]
pub struct HospitalBrief {
    #[schema(value_type = String)]
    pub id: HospitalId,
    pub name: String,
    pub institution_code: String,
}

#[derive(Serialize, ToSchema)]
pub struct EngagementSummary {
    #[schema(value_type = String)]
    pub id: EngagementId,
    #[schema(value_type = String)]
    pub round_id: RoundId,
    pub hospital: HospitalBrief,
    pub prefecture_code: String,
    pub tier: Option<String>,
    /// The prefecture's rank (順位).
    pub rank: Option<i64>,
    /// Added in a second recruitment call.
    pub secondary: bool,
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
    pub stage: Stage,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub stage_since: DateTime<Utc>,
    pub side_state: Option<SideState>,
    pub overdue: bool,
    /// Fewer than two contacts with an email.
    pub needs_contacts: bool,
    pub version: i64,
}

#[derive(Serialize, ToSchema)]
pub struct EngagementList {
    pub items: Vec<EngagementSummary>,
    /// Matching engagements in all pages; only with `count=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MilestoneOut {
    pub milestone: Milestone,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub at: DateTime<Utc>,
    /// `user:<id>` or `contact:<id>`.
    pub by: String,
}

#[derive(Serialize, ToSchema)]
pub struct SideStateOut {
    pub state: SideState,
    pub reason: Option<String>,
    pub resume_on: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
pub struct MemorandumOut {
    pub status: Option<MemorandumStatus>,
    pub template_version: Option<String>,
    pub executed_on: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
pub struct EngagementDetail {
    #[schema(value_type = String)]
    pub id: EngagementId,
    #[schema(value_type = String)]
    pub round_id: RoundId,
    pub round_name: String,
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
    pub prefecture_code: String,
    pub tier: Option<String>,
    pub rank: Option<i64>,
    pub secondary: bool,
    pub note: Option<String>,
    pub stage: Stage,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub stage_since: DateTime<Utc>,
    pub side_state: Option<SideStateOut>,
    pub overdue: bool,
    pub milestones: Vec<MilestoneOut>,
    pub memorandum: MemorandumOut,
    /// `draft`, `submitted`, `clarification_requested`, `accepted`, or absent.
    pub questionnaire_status: Option<String>,
    /// Offered slots not yet booked or withdrawn.
    pub open_slots: i64,
    #[serde(serialize_with = "crate::service::utc_json::utc_opt")]
    pub hearing_scheduled_at: Option<DateTime<Utc>>,
    pub next_action: Option<NextAction>,
    pub hospital: HospitalOut,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

pub fn overdue(config: &Config, e: &EngagementRow) -> bool {
    config.sla.is_overdue(
        e.stage,
        e.side_state,
        utc(e.stage_since),
        config.clock.now_utc(),
    )
}

/// Everything a coordinator needs on one engagement, read in the caller's transaction (a
/// step's answer, a mail's or a page's next action): no scope check.
pub fn detail(
    conn: &mut DbConnection,
    config: &Config,
    id: &EngagementId,
) -> AppResult<EngagementDetail> {
    detail_in_scope(conn, config, &db::Scope::All, id)
}

/// The detail of an engagement the caller may see (404 otherwise, as [`pipeline::load`]).
pub fn read_detail(
    conn: &mut DbConnection,
    config: &Config,
    actor: &crate::auth::Actor,
    id: &EngagementId,
) -> AppResult<EngagementDetail> {
    let scope = pipeline::engagement_scope(conn, actor)?;
    detail_in_scope(conn, config, &scope, id)
}

/// The detail in three statements: the engagement with its hospital, round and facts (404 if
/// missing or outside `scope`); its milestones; the hospital's contacts.
fn detail_in_scope(
    conn: &mut DbConnection,
    config: &Config,
    scope: &db::Scope,
    id: &EngagementId,
) -> AppResult<EngagementDetail> {
    let (e, hospital, round_name, facts) =
        db::detail::engagement_detail(conn, id, config.clock.now())?
            .filter(|(e, ..)| scope.sees_engagement_of(e.organization_id.as_ref()))
            .ok_or_else(|| AppError::NotFound(format!("no engagement {id}")))?;
    detail_of(conn, config, e, hospital, round_name, facts)
}

/// The detail from rows already read, with two more statements (milestones, contacts).
fn detail_of(
    conn: &mut DbConnection,
    config: &Config,
    e: EngagementRow,
    hospital: db::hospitals::HospitalRow,
    round_name: String,
    more: db::detail::DetailFacts,
) -> AppResult<EngagementDetail> {
    let rows = db::engagements::milestones(conn, &e.id)?;
    let facts = rules::Facts {
        milestones: rows
            .iter()
            .filter_map(|m| Milestone::parse(&m.kind))
            .collect(),
        side_state: e.side_state,
        hearing_scheduled: more.hearing_scheduled,
    };
    let milestones = rows
        .into_iter()
        .filter_map(|m| {
            Some(MilestoneOut {
                milestone: Milestone::parse(&m.kind)?,
                at: utc(m.at),
                by: m.actor,
            })
        })
        .collect();
    let questionnaire_status = more.questionnaire_status;
    let progress = Progress {
        memorandum: e.memorandum_status,
        questionnaire: questionnaire_status.map(|s| s.as_str().to_owned()),
        open_slots: more.open_slots,
        hearing_scheduled: more.hearing_scheduled,
        backup_proposed: more.backup_proposed,
    };
    let stage = e.stage;
    Ok(EngagementDetail {
        overdue: overdue(config, &e),
        next_action: rules::next_action(stage, &facts, &progress, utc(e.stage_since)),
        side_state: e.side_state.map(|state| SideStateOut {
            state,
            reason: e.side_reason.clone(),
            resume_on: e.resume_on,
        }),
        memorandum: MemorandumOut {
            status: progress.memorandum,
            template_version: e.memorandum_template.clone(),
            executed_on: e.memorandum_executed_on,
        },
        questionnaire_status: progress.questionnaire.clone(),
        open_slots: progress.open_slots,
        hearing_scheduled_at: more.hearing_at.map(utc),
        milestones,
        hospital: load_out(conn, hospital)?,
        round_name,
        id: e.id,
        round_id: e.round_id,
        organization_id: e.organization_id,
        prefecture_code: e.prefecture_code,
        tier: e.tier,
        rank: e.rank,
        secondary: e.secondary,
        note: e.note,
        stage,
        stage_since: utc(e.stage_since),
        created_at: utc(e.created_at),
        updated_at: utc(e.updated_at),
        version: e.version,
    })
}

/// Reason text: trimmed, non-blank, bounded.
pub fn reason(field: &str, value: &str) -> AppResult<String> {
    let mut errors = Vec::new();
    validate::non_blank(field, value, 2000, &mut errors);
    validate::multi_line(field, value, &mut errors);
    if errors.is_empty() {
        Ok(validate::normalize_lines(value.trim()))
    } else {
        Err(AppError::Validation(errors))
    }
}

/// How a hospital was selected for a round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    pub rank: Option<i64>,
    pub secondary: bool,
    pub organization_id: Option<&'a OrganizationId>,
    /// From the list's 備考 column.
    pub note: Option<&'a str>,
}

/// Creates an engagement (selected) with its first timeline event. Used by the API and import.
pub fn create_engagement(
    conn: &mut DbConnection,
    who: &pipeline::Who,
    round: &db::rounds::RoundRow,
    hospital: &db::hospitals::HospitalRow,
    sel: Selection,
    kind: pipeline::EventKind,
    now: NaiveDateTime,
) -> AppResult<EngagementRow> {
    let Selection {
        rank,
        secondary,
        organization_id,
        note,
    } = sel;
    if db::engagements::find_by_round_hospital(conn, &round.id, &hospital.id)?.is_some() {
        return Err(AppError::conflict(
            "engagement_exists",
            format!(
                "{} already has an engagement in {}",
                hospital.name, round.name
            ),
        ));
    }
    let tier = crate::service::rounds::tier_label(round, hospital.beds)?;
    let id = EngagementId::new(db::new_id());
    db::engagements::insert(
        conn,
        &db::engagements::NewEngagement {
            id: &id,
            round_id: &round.id,
            hospital_id: &hospital.id,
            organization_id,
            prefecture_code: &hospital.prefecture_code,
            tier: tier.as_deref(),
            rank,
            secondary,
            note,
            stage: Stage::Selected,
            stage_since: now,
            created_at: now,
            updated_at: now,
            version: 1,
        },
    )?;
    let e =
        db::engagements::get(conn, &id)?.ok_or_else(|| anyhow::anyhow!("engagement vanished"))?;
    pipeline::note(
        conn,
        who,
        &e,
        now,
        kind,
        json!({"round": round.name, "rank": rank, "secondary": secondary}),
    )?;
    Ok(e)
}

/// Assigns engagements to an organisation (or none) in one go: every one locked, updated and
/// given its `assigned` timeline event, as the step runner would one by one (assignment is an
/// `Edit`, which no guard refuses) — in a few statements per 500 instead of ten per engagement.
/// An id that names no engagement refuses the whole call. Returns how many were assigned.
pub fn assign(
    conn: &mut DbConnection,
    who: &pipeline::Who,
    ids: &[EngagementId],
    organization_id: Option<&OrganizationId>,
    now: NaiveDateTime,
) -> AppResult<usize> {
    let mut unique = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if seen.insert(id.as_str()) {
            unique.push(id.clone());
        }
    }
    let rows = db::bulk::lock_engagements(conn, &unique)?;
    let mut by_id: std::collections::HashMap<&str, &EngagementRow> =
        rows.iter().map(|e| (e.id.as_str(), e)).collect();
    if let Some(missing) = unique.iter().find(|id| !by_id.contains_key(id.as_str())) {
        return Err(AppError::field("ids", format!("no engagement {missing}")));
    }
    let mut reached: std::collections::HashMap<
        EngagementId,
        std::collections::BTreeSet<Milestone>,
    > = Default::default();
    for m in db::bulk::milestones_of(conn, &unique)? {
        if let Some(kind) = Milestone::parse(&m.kind) {
            reached.entry(m.engagement_id).or_default().insert(kind);
        }
    }
    db::bulk::assign(conn, &unique, organization_id, now)?;
    let events: Vec<db::engagements::EventRow> = unique
        .iter()
        .filter_map(|id| by_id.remove(id.as_str()))
        .map(|e| {
            let stage = rules::derive_stage(&reached.remove(&e.id).unwrap_or_default());
            pipeline::event_row(
                &e.id,
                who,
                now,
                EventKind::Assigned,
                json!({"from": e.organization_id, "to": organization_id}),
                stage,
                stage,
            )
        })
        .collect();
    db::bulk::insert_events(conn, &events)?;
    Ok(unique.len())
}

pub fn check_assignable(conn: &mut DbConnection, org_id: &OrganizationId) -> AppResult<()> {
    let org = db::orgs::get(conn, org_id)?
        .ok_or_else(|| AppError::field("organization_id", "no organisation has this id"))?;
    if !matches!(org.kind.as_str(), "prime" | "subcontractor") {
        return Err(AppError::field(
            "organization_id",
            "engagements go to the prime contractor or a subcontractor",
        ));
    }
    Ok(())
}

/// The rules of a side state's input: a reason (trimmed, non-blank, at most 2,000 characters),
/// and a resume date only for `on_hold`. The same for a coordinator and for a hospital
/// declining on its page.
pub fn check_side_state(
    state: SideState,
    why: &str,
    resume_on: Option<NaiveDate>,
) -> AppResult<String> {
    let why = reason("reason", why)?;
    if state != SideState::OnHold && resume_on.is_some() {
        return Err(AppError::field(
            "resume_on",
            "only an engagement on hold has a resume date",
        ));
    }
    Ok(why)
}

/// Decline (by the hospital), withdraw, or put on hold. History is kept; `resume` undoes it.
pub fn set_side_state(
    conn: &mut DbConnection,
    t: pipeline::Target,
    state: SideState,
    why: &str,
    resume_on: Option<NaiveDate>,
) -> AppResult<()> {
    let why = check_side_state(state, why, resume_on)?;
    let kind = match state {
        SideState::Declined => EventKind::Declined,
        SideState::Withdrawn => EventKind::Withdrawn,
        SideState::OnHold => EventKind::PutOnHold,
    };
    let by_hospital = t.who.kind == "contact";
    pipeline::step(
        conn,
        t,
        crate::domain::pipeline::Action::SetSideState(state),
        kind,
        move |_, s| {
            s.payload = if by_hospital {
                json!({"by": "hospital", "reason": why})
            } else {
                json!({"reason": why, "resume_on": resume_on})
            };
            s.changes.side_state = Some(Some(state));
            s.changes.side_reason = Some(Some(why));
            s.changes.resume_on = Some(resume_on);
            Ok(())
        },
    )
}

/// Record the hospital's consent to take part.
pub fn record_consent(
    conn: &mut DbConnection,
    t: pipeline::Target,
    payload: Value,
) -> AppResult<()> {
    pipeline::step(
        conn,
        t,
        crate::domain::pipeline::Action::RecordConsent,
        EventKind::ConsentRecorded,
        move |_, s| {
            s.payload = payload;
            s.reach(Milestone::Consented);
            Ok(())
        },
    )
}
