//! Verification (findings and the report) and the optional offline-backup proposal.

use actix_web::{get, patch, post, put, web, HttpResponse};

use super::json::Json;
use super::step::StepCall;
use crate::app::AppState;
use crate::auth::Actor;
use crate::domain::ids::EngagementId;
use crate::error::AppResult;
use crate::service::verification::{
    self, check_finding, DecisionIn, FindingIn, FindingOut, ProposalIn, ProposalOut, ReportIn,
    SkipIn,
};

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
    let id = EngagementId::new(path.into_inner());
    let rows = state
        .db
        .read(move |conn| verification::findings(conn, &actor, &id))
        .await?;
    Ok(web::Json(rows))
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
    call.run(path.into_inner(), None, move |conn, t, _| {
        verification::record_finding(conn, t, f)
    })
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
    let id = EngagementId::new(id);
    let f = body.0;
    check_finding(&f)?;
    call.run(id, None, move |conn, t, _| {
        verification::update_finding(conn, t, finding_id, f)
    })
    .await
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
    call.run(
        path.into_inner(),
        r.override_reason.clone(),
        move |conn, t, _| verification::deliver_report(conn, t, r),
    )
    .await
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
    let id = EngagementId::new(path.into_inner());
    let rate = state.config.backup_rate;
    let out = state
        .db
        .read(move |conn| verification::proposal(conn, &actor, &id, rate))
        .await?;
    Ok(web::Json(out))
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
    let estimate = verification::check_proposal(&p, call.state().config.backup_rate)?;
    call.run(path.into_inner(), None, move |conn, t, _| {
        verification::propose(conn, t, p, estimate)
    })
    .await
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
    call.run(path.into_inner(), None, move |conn, t, _| {
        verification::decide(conn, t, d)
    })
    .await
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
    call.run(path.into_inner(), None, move |conn, t, _| {
        verification::skip(conn, t, why)
    })
    .await
}
