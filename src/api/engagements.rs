//! Engagements: one per hospital per round. Lists, details, the timeline, assignment, and the
//! steps that need no documents (contact, consent, memorandum status, side states, completion).

use actix_web::{get, http::StatusCode, patch, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::idempotency::{created, respond, Idem};
use super::json::Json;
use super::query::Query;
use super::step::StepCall;
use super::with_etag;
use crate::app::AppState;
use crate::auth::Actor;
use crate::config::Config;
use crate::db::engagements::{Filter, KeyAfter, Sort};
use crate::db::{self, utc, DbConnection};
use crate::domain::events::EventKind;
use crate::domain::pipeline::{Action, MemorandumStatus, Milestone, SideState, Stage};
use crate::domain::prefectures;
use crate::error::{AppError, AppResult, FieldError};
use crate::service::cursor;
use crate::service::step;
use crate::service::step::{self as pipeline, engagement_scope};

pub use crate::service::engagements::{
    detail, reason, EngagementDetail, EngagementList, EngagementSummary, HospitalBrief,
    MemorandumOut, MilestoneOut, SideStateOut,
};
use crate::service::engagements::{overdue, stage_of};

/// The detail of an engagement after a step, as the step's answer.
pub fn detail_json(
    conn: &mut DbConnection,
    config: &Config,
    id: &str,
) -> AppResult<(StatusCode, Value)> {
    let e = db::engagements::get(conn, id)?
        .ok_or_else(|| AppError::NotFound(format!("no engagement {id}")))?;
    let d = detail(conn, config, e)?;
    Ok((
        StatusCode::OK,
        serde_json::to_value(d).map_err(anyhow::Error::from)?,
    ))
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Round id or name (`FY2025`).
    pub round: Option<String>,
    /// JIS code or name.
    pub prefecture: Option<String>,
    /// Tier label, e.g. `100-199`.
    pub tier: Option<String>,
    pub stage: Option<Stage>,
    /// `declined`, `withdrawn`, `on_hold`, or `none` for engagements in no side state.
    pub side_state: Option<String>,
    pub organization_id: Option<String>,
    /// Only engagements assigned to no organisation.
    pub unassigned: Option<bool>,
    /// Only engagements past their stage's SLA.
    pub overdue: Option<bool>,
    /// Part of the hospital's name or institution code.
    pub q: Option<String>,
    /// `created` (default), `rank`, `hospital_name`, `stage`, `stage_since`, `updated_at`;
    /// prefix `-` for descending.
    pub sort: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Also count every matching engagement, in all pages, as `total` (absent otherwise):
    /// a scan of all matches, so ask for it only when the number is shown.
    pub count: Option<bool>,
}

impl ListQuery {
    pub fn filter(&self, conn: &mut DbConnection, config: &Config) -> AppResult<Filter> {
        let mut errors = Vec::new();
        let round_id = match &self.round {
            Some(r) => match db::rounds::find(conn, r)? {
                Some(round) => Some(round.id),
                None => {
                    errors.push(FieldError::new("round", "no round has this id or name"));
                    None
                }
            },
            None => None,
        };
        let prefecture_code = match &self.prefecture {
            Some(p) => match prefectures::find(p) {
                Some(p) => Some(p.code.clone()),
                None => {
                    errors.push(FieldError::new("prefecture", "unknown prefecture"));
                    None
                }
            },
            None => None,
        };
        if let Some(s) = &self.side_state {
            if s != "none" && SideState::parse(s).is_none() {
                errors.push(FieldError::new(
                    "side_state",
                    "declined, withdrawn, on_hold or none",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let now = config.clock.now_utc();
        Ok(Filter {
            round_id,
            prefecture_code,
            tier: self.tier.clone(),
            stage: self.stage.map(|s| s.as_str().to_owned()),
            side_state: self.side_state.clone(),
            organization_id: self.organization_id.clone(),
            unassigned: self.unassigned.unwrap_or(false),
            ids: None,
            overdue: self
                .overdue
                .filter(|o| *o)
                .map(|_| crate::service::engagements::overdue_cutoffs(config, now)),
            text: self
                .q
                .clone()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty()),
        })
    }

    fn sort(&self) -> AppResult<(Sort, bool)> {
        let raw = self.sort.as_deref().unwrap_or("created");
        let (desc, key) = match raw.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, raw),
        };
        let sort = match key {
            "created" => Sort::Created,
            "rank" => Sort::Rank,
            "hospital_name" => Sort::HospitalName,
            "stage" => Sort::Stage,
            "stage_since" => Sort::StageSince,
            "updated_at" => Sort::UpdatedAt,
            _ => return Err(AppError::field("sort", "created, rank, hospital_name, stage, stage_since or updated_at, optionally prefixed with -")),
        };
        Ok((sort, desc))
    }
}

/// Where a cursor of this list says the previous page ended.
fn after(raw: Option<&str>, sort_name: &str, sort: Sort) -> AppResult<Option<(KeyAfter, String)>> {
    let Some(a) = cursor::decode(raw, sort_name)? else {
        return Ok(None);
    };
    let key = match sort {
        Sort::Created => KeyAfter::Id,
        Sort::Rank | Sort::Stage => KeyAfter::Int(a.int()?),
        Sort::HospitalName => KeyAfter::Text(a.text()?),
        Sort::StageSince | Sort::UpdatedAt => KeyAfter::Time(a.time()?),
    };
    Ok(Some((key, a.id)))
}

fn cursor_key(key: KeyAfter) -> Option<cursor::Key> {
    match key {
        KeyAfter::Id => None,
        KeyAfter::Int(v) => Some(v.into()),
        KeyAfter::Text(v) => Some(v.into()),
        KeyAfter::Time(v) => Some(v.into()),
    }
}

/// Engagements the caller may see, filtered, sorted and paged.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(ListQuery), responses(
    (status = 200, body = EngagementList),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements")]
pub async fn list_engagements(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> AppResult<web::Json<EngagementList>> {
    let q = query.into_inner();
    let limit = super::PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let (sort, desc) = q.sort()?;
    let sort_name = q.sort.clone().unwrap_or_else(|| "created".into());
    let after = after(q.cursor.as_deref(), &sort_name, sort)?;
    let count = q.count.unwrap_or(false);
    let config = state.config.clone();
    let list = state
        .read_as(caller, move |conn, actor| {
            let scope = engagement_scope(conn, actor)?;
            let filter = q.filter(conn, &config)?;
            let total = match count {
                true => Some(db::engagements::count(conn, &scope, &filter)?),
                false => None,
            };
            let after = after.as_ref().map(|(k, id)| (k, id.as_str()));
            let rows = db::engagements::list(conn, &scope, &filter, sort, desc, after, limit + 1)?;
            let (rows, next_cursor) = cursor::page(rows, limit, &sort_name, |r| {
                (cursor_key(db::engagements::key_of(sort, r)), r.0.id.clone())
            });
            let hospital_ids: Vec<String> =
                rows.iter().map(|(e, _)| e.hospital_id.clone()).collect();
            let with_email = db::engagements::contacts_with_email(conn, &hospital_ids)?;
            let items = rows
                .into_iter()
                .map(|(e, (name, code))| EngagementSummary {
                    needs_contacts: with_email
                        .iter()
                        .find(|(h, _)| *h == e.hospital_id)
                        .map_or(0, |(_, n)| *n)
                        < super::hospitals::MIN_CONTACTS,
                    overdue: overdue(&config, &e),
                    hospital: HospitalBrief {
                        id: e.hospital_id.clone(),
                        name,
                        institution_code: code,
                    },
                    stage: stage_of(&e),
                    side_state: e.side_state,
                    stage_since: utc(e.stage_since),
                    id: e.id,
                    round_id: e.round_id,
                    prefecture_code: e.prefecture_code,
                    tier: e.tier,
                    rank: e.rank,
                    secondary: e.secondary,
                    organization_id: e.organization_id,
                    version: e.version,
                })
                .collect();
            Ok(EngagementList {
                items,
                total,
                next_cursor,
            })
        })
        .await?;
    Ok(web::Json(list))
}

/// One engagement: stage, milestones with who and when, what is awaited next, the hospital and
/// its contacts.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), responses(
    (status = 200, body = EngagementDetail),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}")]
pub async fn get_engagement(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let config = state.config.clone();
    let d = state
        .read_as(caller, move |conn, actor| {
            let (e, hospital, round) =
                crate::service::engagements::load_with_hospital(conn, actor, &id)?;
            crate::service::engagements::detail_of(conn, &config, e, hospital, round)
        })
        .await?;
    let version = d.version;
    Ok(with_etag(HttpResponse::Ok().json(d), version))
}

#[derive(Serialize, ToSchema)]
pub struct EventOut {
    pub id: String,
    pub at: DateTime<Utc>,
    /// `user`, `contact` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor: String,
    pub kind: EventKind,
    pub payload: Value,
    pub stage_before: Stage,
    pub stage_after: Stage,
    /// Set when an admin stepped past a rule.
    pub override_reason: Option<String>,
}

/// The engagement's timeline, oldest first.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), responses(
    (status = 200, body = Vec<EventOut>),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/timeline")]
pub async fn timeline(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> AppResult<web::Json<Vec<EventOut>>> {
    let id = path.into_inner();
    let rows = state
        .read_as(caller, move |conn, actor| {
            pipeline::load(conn, actor, &id)?;
            Ok(db::engagements::timeline(conn, &id)?)
        })
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|r| EventOut {
                payload: serde_json::from_str(&r.payload).unwrap_or(Value::Null),
                stage_before: r.stage_before,
                stage_after: r.stage_after,
                id: r.id,
                at: utc(r.at),
                actor_kind: r.actor_kind,
                actor_id: r.actor_id,
                actor: r.actor_label,
                kind: r.kind,
                override_reason: r.override_reason,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EngagementPatch {
    pub rank: Option<i64>,
    pub secondary: Option<bool>,
    pub note: Option<String>,
}

/// Change rank, the second-call mark or the note.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), request_body = EngagementPatch,
    params(super::doc::StepHeaders),
    responses(
    (status = 200, body = EngagementDetail),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[patch("/engagements/{id}")]
pub async fn update_engagement(
    call: StepCall,
    path: web::Path<String>,
    body: Json<EngagementPatch>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let p = body.0;
    if p.rank.is_some_and(|r| r < 1) {
        return Err(AppError::field("rank", "must be 1 or more"));
    }
    call.step(
        id,
        Action::Edit,
        EventKind::DetailsChanged,
        None,
        move |_, step| {
            step.payload = json!({"rank": p.rank, "secondary": p.secondary, "note": p.note});
            if let Some(r) = p.rank {
                step.changes.rank = Some(Some(r));
            }
            if let Some(s) = p.secondary {
                step.changes.secondary = Some(s);
            }
            if let Some(n) = p.note {
                step.changes.note = Some(Some(n).filter(|n| !n.trim().is_empty()));
            }
            Ok(())
        },
    )
    .await
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Phone,
    Letter,
    Visit,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactOutcome {
    Reached,
    NoAnswer,
    LeftMessage,
    Bounced,
    Other,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactAttemptIn {
    pub channel: Channel,
    pub outcome: ContactOutcome,
    pub note: Option<String>,
}

/// Log a contact attempt; the first one moves the engagement to `contacting`.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), request_body = ContactAttemptIn,
    params(super::doc::StepHeaders),
    responses(
    (status = 200, body = EngagementDetail),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/contact-attempts")]
pub async fn contact_attempt(
    call: StepCall,
    path: web::Path<String>,
    body: Json<ContactAttemptIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.step(
        path.into_inner(),
        Action::LogContact,
        EventKind::ContactAttempt,
        None,
        move |_, s| {
            s.payload =
                json!({"channel": input.channel, "outcome": input.outcome, "note": input.note});
            s.reach(Milestone::Contacted);
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NoteIn {
    pub note: Option<String>,
    /// Admin only: step past a rule; the reason lands in the timeline.
    pub override_reason: Option<String>,
}

/// Record the hospital's consent to take part (as told to a coordinator).
#[utoipa::path(tag = "engagements", security(("bearer" = [])), request_body = NoteIn,
    params(super::doc::StepHeaders),
    responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/consent")]
pub async fn consent(
    call: StepCall,
    path: web::Path<String>,
    body: Json<NoteIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.step(
        path.into_inner(),
        Action::RecordConsent,
        EventKind::ConsentRecorded,
        input.override_reason,
        move |_, s| {
            s.payload = json!({"note": input.note});
            s.reach(Milestone::Consented);
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorandumIn {
    pub status: MemorandumStatus,
    /// Version of the memorandum template used, e.g. `2025-04`.
    pub template_version: Option<String>,
    /// Execution date (for `executed`; default today in Japan).
    pub executed_on: Option<NaiveDate>,
    pub override_reason: Option<String>,
}

/// Move the confidentiality memorandum (覚書) forward: draft → sent → signed_by_hospital →
/// executed.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = MemorandumIn, responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[put("/engagements/{id}/memorandum")]
pub async fn memorandum(
    call: StepCall,
    path: web::Path<String>,
    body: Json<MemorandumIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.run(path.into_inner(), input.override_reason.clone(), move |conn, t, _| {
        // The guard needs the status the step moves from: read inside the transaction.
        let from = t.engagement.memorandum_status;
        let action = Action::Memorandum(from, input.status);
        step::step(conn, t, action, EventKind::MemorandumStatus, move |_, s| {
            let executed_on = (input.status == MemorandumStatus::Executed)
                .then(|| input.executed_on.unwrap_or_else(|| s.today_in_japan()));
            s.payload = json!({"from": from, "to": input.status, "template_version": input.template_version, "executed_on": executed_on});
            s.changes.memorandum_status = Some(Some(input.status));
            if input.template_version.is_some() {
                s.changes.memorandum_template = Some(input.template_version);
            }
            if input.status == MemorandumStatus::Executed {
                s.changes.memorandum_executed_on = Some(executed_on);
                s.reach(Milestone::MemorandumExecuted);
            }
            Ok(())
        })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SideStateIn {
    pub state: SideState,
    pub reason: String,
    /// For `on_hold`: when work is expected to resume.
    pub resume_on: Option<NaiveDate>,
}

/// Decline (by the hospital), withdraw, or put on hold. History is kept; `resume` undoes it.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = SideStateIn, responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/side-state")]
pub async fn side_state(
    call: StepCall,
    path: web::Path<String>,
    body: Json<SideStateIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    crate::service::engagements::check_side_state(input.state, &input.reason, input.resume_on)?;
    call.run(path.into_inner(), None, move |conn, t, _| {
        crate::service::engagements::set_side_state(
            conn,
            t,
            input.state,
            &input.reason,
            input.resume_on,
        )
    })
    .await
}

/// Resume an engagement that was declined, withdrawn or on hold; it returns to its stage.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = NoteIn, responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/resume")]
pub async fn resume(
    call: StepCall,
    path: web::Path<String>,
    body: Json<NoteIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.step(path.into_inner(), Action::Resume, EventKind::Resumed, None, move |_, s| {
        s.payload = json!({"note": input.note, "was": s.engagement.side_state, "reason_was": s.engagement.side_reason});
        s.changes.side_state = Some(None);
        s.changes.side_reason = Some(None);
        s.changes.resume_on = Some(None);
        Ok(())
    })
    .await
}

/// Close the engagement: needs the verification report delivered and the backup proposal
/// decided or skipped (an admin may override with a reason).
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = NoteIn, responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/complete")]
pub async fn complete(
    call: StepCall,
    path: web::Path<String>,
    body: Json<NoteIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.step(
        path.into_inner(),
        Action::Complete,
        EventKind::Completed,
        input.override_reason,
        move |_, s| {
            s.payload = json!({"note": input.note});
            s.reach(Milestone::Completed);
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEngagement {
    /// Round id or name.
    pub round: String,
    pub hospital_id: String,
    pub rank: Option<i64>,
    #[serde(default)]
    pub secondary: bool,
    pub organization_id: Option<String>,
}

pub use crate::service::engagements::{create_engagement, Selection};

/// Select a hospital for a round (admin).
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(super::doc::IdempotencyKey), request_body = NewEngagement, responses(
    (status = 201, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements")]
pub async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    body: Json<NewEngagement>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "select hospitals")?;
    let idem = Idem::new(&req)?;
    let input = body.0;
    let config = state.config.clone();
    let out = state
        .db
        .write(move |conn| {
            idem.once(conn, &actor.user_id.clone(), |conn| {
                let round = db::rounds::find(conn, &input.round)?
                    .ok_or_else(|| AppError::field("round", "no round has this id or name"))?;
                let hospital = db::hospitals::get(conn, &input.hospital_id)?
                    .ok_or_else(|| AppError::field("hospital_id", "no hospital has this id"))?;
                if let Some(org) = &input.organization_id {
                    check_assignable(conn, org)?;
                }
                let sel = Selection {
                    rank: input.rank,
                    secondary: input.secondary,
                    organization_id: input.organization_id.as_deref(),
                    note: None,
                };
                let e = create_engagement(
                    conn,
                    &(&actor).into(),
                    &round,
                    &hospital,
                    sel,
                    EventKind::Selected,
                    config.clock.now(),
                )?;
                created(&detail(conn, &config, e)?)
            })
        })
        .await?;
    Ok(respond(out))
}

use crate::service::engagements::check_assignable;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignIn {
    /// The organisation to assign to; null to unassign.
    pub organization_id: Option<String>,
    /// These engagements…
    pub ids: Option<Vec<String>>,
    /// …or every engagement matching this filter (same fields as the list's query).
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AssignOut {
    pub assigned: usize,
}

/// Assign engagements to an organisation, by id or in bulk by filter (admin). Each change lands
/// in its engagement's timeline.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), request_body = AssignIn, responses(
    (status = 200, body = AssignOut),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/assign")]
pub async fn assign(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<AssignIn>,
) -> AppResult<web::Json<AssignOut>> {
    actor.require(actor.role.manages_accounts(), "assign engagements")?;
    let input = body.0;
    let query: Option<ListQuery> = match &input.filter {
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|e| AppError::field("filter", e.to_string()))?,
        ),
        None => None,
    };
    let (ids, query) = match (input.ids, query) {
        (Some(ids), None) if !ids.is_empty() => (Some(ids), None),
        (None, Some(q)) => (None, Some(q)),
        _ => {
            return Err(AppError::field(
                "ids",
                "give either a non-empty `ids` or a `filter`",
            ))
        }
    };
    let config = state.config.clone();
    let now = state.clock().now();
    let assigned = state
        .db
        .write(move |conn| {
            if let Some(org) = &input.organization_id {
                check_assignable(conn, org)?;
            }
            let targets = match (ids, query) {
                (Some(ids), _) => ids,
                (None, Some(q)) => {
                    let f = q.filter(conn, &config)?;
                    db::engagements::ids(conn, &db::Scope::All, &f)?
                }
                (None, None) => Vec::new(),
            };
            let who: pipeline::Who = (&actor).into();
            crate::service::engagements::assign(
                conn,
                &who,
                &targets,
                input.organization_id.as_deref(),
                now,
            )
        })
        .await?;
    Ok(web::Json(AssignOut { assigned }))
}
