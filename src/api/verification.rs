//! Verification (findings and the report) and the optional offline-backup proposal.

use actix_web::{get, patch, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::json::Json;
use super::step::StepCall;
use crate::app::AppState;
use crate::auth::Actor;
use crate::db::verification::{FindingRow, ProposalRow};
use crate::db::{self, utc};
use crate::domain::backup::{self, Estimate};
use crate::domain::pipeline::{Action, Milestone};
use crate::domain::validate;
use crate::error::{AppError, AppResult, FieldError};
use crate::service::step as pipeline;

pub use crate::domain::findings::{FindingStatus, Severity};

fn text<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingIn {
    pub title: String,
    pub severity: Severity,
    /// The external connection or device concerned.
    pub affected: Option<String>,
    pub recommendation: Option<String>,
    pub status: Option<FindingStatus>,
}

#[derive(Serialize, ToSchema)]
pub struct FindingOut {
    pub id: String,
    pub title: String,
    #[schema(value_type = Severity)]
    pub severity: String,
    pub affected: Option<String>,
    pub recommendation: Option<String>,
    #[schema(value_type = FindingStatus)]
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<FindingRow> for FindingOut {
    fn from(f: FindingRow) -> Self {
        Self {
            id: f.id,
            title: f.title,
            severity: f.severity.as_str().to_owned(),
            affected: f.affected,
            recommendation: f.recommendation,
            status: f.status.as_str().to_owned(),
            created_at: utc(f.created_at),
            updated_at: utc(f.updated_at),
        }
    }
}

/// Findings of the verification (confidential: coordinators of the engagement only).
#[utoipa::path(tag = "verification", security(("bearer" = [])), responses(
    (status = 200, body = Vec<FindingOut>),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/findings")]
pub async fn list_findings(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<web::Json<Vec<FindingOut>>> {
    let id = path.into_inner();
    let rows = state
        .db
        .read(move |conn| {
            pipeline::load(conn, &actor, &id)?;
            Ok(db::verification::findings(conn, &id)?)
        })
        .await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

fn check_finding(f: &FindingIn) -> AppResult<()> {
    let mut errors = Vec::new();
    validate::line("title", &f.title, 300, &mut errors);
    validate::multi_line_opt("affected", f.affected.as_deref(), &mut errors);
    validate::multi_line_opt("recommendation", f.recommendation.as_deref(), &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Record a finding (only after the memorandum is executed).
#[utoipa::path(tag = "verification", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = FindingIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/findings")]
pub async fn create_finding(
    call: StepCall,
    path: web::Path<String>,
    body: Json<FindingIn>,
) -> AppResult<HttpResponse> {
    let f = body.0;
    check_finding(&f)?;
    call.step(
        path.into_inner(),
        Action::Confidential,
        "finding_recorded",
        None,
        move |conn, s| {
            let row = FindingRow {
                id: db::new_id(),
                engagement_id: s.engagement.id.clone(),
                title: f.title.trim().to_owned(),
                severity: f.severity,
                affected: f.affected,
                recommendation: f.recommendation,
                status: f.status.unwrap_or(FindingStatus::Open),
                created_at: s.now,
                updated_at: s.now,
            };
            db::verification::save_finding(conn, &row)?;
            // The timeline names the finding, not its content: the content is confidential.
            s.payload = json!({"finding_id": row.id, "severity": row.severity});
            Ok(())
        },
    )
    .await
}

/// Change a finding (e.g. its status).
#[utoipa::path(tag = "verification", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = FindingIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[patch("/engagements/{id}/findings/{finding_id}")]
pub async fn update_finding(
    call: StepCall,
    path: web::Path<(String, String)>,
    body: Json<FindingIn>,
) -> AppResult<HttpResponse> {
    let (id, finding_id) = path.into_inner();
    let f = body.0;
    check_finding(&f)?;
    call.step(
        id,
        Action::Confidential,
        "finding_updated",
        None,
        move |conn, s| {
            let mut row = db::verification::finding(conn, &s.engagement.id, &finding_id)?
                .ok_or_else(|| AppError::NotFound(format!("no finding {finding_id}")))?;
            row.title = f.title.trim().to_owned();
            row.severity = f.severity;
            row.affected = f.affected;
            row.recommendation = f.recommendation;
            if let Some(st) = f.status {
                row.status = st;
            }
            row.updated_at = s.now;
            db::verification::save_finding(conn, &row)?;
            s.payload =
                json!({"finding_id": row.id, "severity": row.severity, "status": row.status});
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportIn {
    /// Default: today in Japan.
    pub delivered_on: Option<NaiveDate>,
    /// The report, uploaded first as a document with purpose `report`.
    pub document_id: String,
    pub override_reason: Option<String>,
}

/// Record the verification report as delivered.
#[utoipa::path(tag = "verification", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = ReportIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/report")]
pub async fn deliver_report(
    call: StepCall,
    path: web::Path<String>,
    body: Json<ReportIn>,
) -> AppResult<HttpResponse> {
    let r = body.0;
    call.step(
        path.into_inner(),
        Action::DeliverReport,
        "report_delivered",
        r.override_reason,
        move |conn, s| {
            db::intake::document(conn, &s.engagement.id, &r.document_id)?
                .filter(|d| d.purpose == crate::domain::documents::Purpose::Report)
                .ok_or_else(|| {
                    AppError::field(
                        "document_id",
                        "no report document with this id on this engagement",
                    )
                })?;
            let on = r.delivered_on.unwrap_or_else(crate::domain::today_in_japan);
            s.payload = json!({"document_id": r.document_id, "delivered_on": on});
            s.reach(Milestone::ReportDelivered);
            Ok(())
        },
    )
    .await
}

/// The hospital's backup set-up today.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrentBackup {
    pub copies: Option<i64>,
    /// e.g. `tape`, `rdx`, `nas`, `cloud`, `optical`, `external_hdd`.
    #[serde(default)]
    pub media: Vec<String>,
    /// At least one copy kept off the network.
    pub offline: Option<bool>,
    pub generations: Option<i64>,
    /// e.g. `daily`, `weekly`.
    pub frequency: Option<String>,
    pub last_restore_test: Option<NaiveDate>,
    pub capacity_tb: Option<f64>,
}

/// The design proposed; the hospital decides spec and generations itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposedBackup {
    pub capacity_tb: f64,
    pub generations: Option<i64>,
    /// e.g. `tape`, `rdx`, `offline_nas`, `immutable_cloud`, `optical`.
    #[serde(default)]
    pub media: Vec<String>,
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalIn {
    pub current: CurrentBackup,
    pub proposed: ProposedBackup,
}

#[derive(Serialize, ToSchema)]
pub struct ProposalOut {
    pub current: Option<Value>,
    pub proposed: Option<Value>,
    /// Reference cost range for the proposed capacity, at the configured rate.
    pub estimate: Option<Estimate>,
    pub rate: backup::Rate,
    /// `adopt`, `defer`, `decline`, or absent while the hospital considers it.
    pub decision: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub skipped_reason: Option<String>,
}

/// The backup proposal, if any.
#[utoipa::path(tag = "verification", security(("bearer" = [])), responses(
    (status = 200, body = ProposalOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/backup-proposal")]
pub async fn get_proposal(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<web::Json<ProposalOut>> {
    let id = path.into_inner();
    let rate = state.config.backup_rate;
    let row = state
        .db
        .read(move |conn| {
            pipeline::load(conn, &actor, &id)?;
            db::verification::proposal(conn, &id)?
                .ok_or_else(|| AppError::NotFound("no backup proposal yet".into()))
        })
        .await?;
    Ok(web::Json(ProposalOut {
        current: serde_json::from_str(&row.current_state).ok(),
        proposed: serde_json::from_str(&row.proposal).ok(),
        estimate: match (row.estimate_min_jpy, row.estimate_max_jpy) {
            (Some(min_jpy), Some(max_jpy)) => Some(Estimate { min_jpy, max_jpy }),
            _ => None,
        },
        rate,
        decision: row.decision,
        decided_at: row.decided_at.map(utc),
        skipped_reason: row.skipped_reason,
    }))
}

/// Propose an offline-backup set-up with a cost estimate. Nothing is forced on the hospital.
#[utoipa::path(tag = "verification", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = ProposalIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[put("/engagements/{id}/backup-proposal")]
pub async fn propose(
    call: StepCall,
    path: web::Path<String>,
    body: Json<ProposalIn>,
) -> AppResult<HttpResponse> {
    let p = body.0;
    let estimate = backup::estimate(p.proposed.capacity_tb, call.state().config.backup_rate)
        .ok_or_else(|| {
            AppError::field(
                "proposed.capacity_tb",
                "must be a positive number of TB (at most 10000)",
            )
        })?;
    let mut errors = Vec::new();
    for (field, v) in [
        ("current.copies", p.current.copies),
        ("current.generations", p.current.generations),
        ("proposed.generations", p.proposed.generations),
    ] {
        if v.is_some_and(|n| !(0..=1000).contains(&n)) {
            errors.push(FieldError::new(field, "must be between 0 and 1000"));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    call.step(
        path.into_inner(),
        Action::BackupProposal,
        "backup_proposed",
        None,
        move |conn, s| {
            let row = ProposalRow {
                engagement_id: s.engagement.id.clone(),
                current_state: serde_json::to_string(&p.current).map_err(anyhow::Error::from)?,
                proposal: serde_json::to_string(&p.proposed).map_err(anyhow::Error::from)?,
                capacity_tb: Some(p.proposed.capacity_tb),
                estimate_min_jpy: Some(estimate.min_jpy),
                estimate_max_jpy: Some(estimate.max_jpy),
                decision: None,
                decided_at: None,
                skipped_reason: None,
                updated_at: s.now,
            };
            db::verification::save_proposal(conn, &row)?;
            // A new proposal reopens the hospital's decision.
            s.undo(Milestone::BackupDecided);
            s.undo(Milestone::BackupSkipped);
            s.payload = json!({"capacity_tb": p.proposed.capacity_tb, "estimate": estimate});
            Ok(())
        },
    )
    .await
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Adopt,
    Defer,
    Decline,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    pub decision: Decision,
    pub note: Option<String>,
}

/// Record the hospital's decision on the proposal (adopt, defer or decline: all close the step).
#[utoipa::path(tag = "verification", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = DecisionIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/backup-proposal/decision")]
pub async fn decide(
    call: StepCall,
    path: web::Path<String>,
    body: Json<DecisionIn>,
) -> AppResult<HttpResponse> {
    let d = body.0;
    call.step(
        path.into_inner(),
        Action::BackupProposal,
        "backup_decided",
        None,
        move |conn, s| {
            let mut row = db::verification::proposal(conn, &s.engagement.id)?
                .filter(|p| p.skipped_reason.is_none())
                .ok_or_else(|| {
                    AppError::conflict(
                        "no_backup_proposal",
                        "there is no backup proposal to decide on",
                    )
                })?;
            row.decision = Some(text(d.decision));
            row.decided_at = Some(s.now);
            row.updated_at = s.now;
            db::verification::save_proposal(conn, &row)?;
            s.reach(Milestone::BackupDecided);
            s.payload = json!({"decision": d.decision, "note": d.note});
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipIn {
    pub reason: String,
}

/// Skip the backup proposal, with a reason (it is optional for the hospital).
#[utoipa::path(tag = "verification", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = SkipIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/backup-proposal/skip")]
pub async fn skip(
    call: StepCall,
    path: web::Path<String>,
    body: Json<SkipIn>,
) -> AppResult<HttpResponse> {
    let why = super::engagements::reason("reason", &body.0.reason)?;
    call.step(
        path.into_inner(),
        Action::BackupProposal,
        "backup_skipped",
        None,
        move |conn, s| {
            let row = ProposalRow {
                engagement_id: s.engagement.id.clone(),
                current_state: "{}".into(),
                proposal: "{}".into(),
                capacity_tb: None,
                estimate_min_jpy: None,
                estimate_max_jpy: None,
                decision: None,
                decided_at: None,
                skipped_reason: Some(why.clone()),
                updated_at: s.now,
            };
            db::verification::save_proposal(conn, &row)?;
            s.undo(Milestone::BackupDecided);
            s.reach(Milestone::BackupSkipped);
            s.payload = json!({"reason": why});
            Ok(())
        },
    )
    .await
}
