//! Engagements: one per hospital per round. Here the reads (lists, details, the timeline);
//! the steps that need no documents in `steps.rs`, selection and assignment in `admin.rs`.

mod admin;
mod steps;

pub use admin::*;
pub use steps::*;

use actix_web::{get, http::StatusCode, patch, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::caller::Caller;
use super::idempotency::{created, respond, Idem};
use super::json::Json;
use super::query::Query;
use super::step::StepCall;
use super::with_etag;
use crate::app::AppState;
use crate::auth::Actor;
use crate::config::Config;
use crate::db::{self, utc, DbConnection};
use crate::domain::events::EventKind;
use crate::domain::ids::EngagementId;
use crate::domain::pipeline::{Action, MemorandumStatus, Milestone, SideState, Stage};
use crate::error::{AppError, AppResult};
use crate::service::engagement_list;
pub use crate::service::engagement_list::ListQuery;
use crate::service::step;
use crate::service::step::{self as pipeline};

pub use crate::service::engagements::{
    detail, reason, EngagementDetail, EngagementList, EngagementSummary, HospitalBrief,
    MemorandumOut, MilestoneOut, SideStateOut,
};

/// The detail of an engagement after a step, as the step's answer.
pub fn detail_json(
    conn: &mut DbConnection,
    config: &Config,
    id: &EngagementId,
) -> AppResult<(StatusCode, Value)> {
    let d = detail(conn, config, id)?;
    Ok((
        StatusCode::OK,
        serde_json::to_value(d).map_err(anyhow::Error::from)?,
    ))
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
    let config = state.config.clone();
    let list = state
        .read_as(caller, move |conn, actor| {
            engagement_list::list(conn, &config, actor, &q, limit)
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
    let id = EngagementId::new(path.into_inner());
    let config = state.config.clone();
    let d = state
        .read_as(caller, move |conn, actor| {
            crate::service::engagements::read_detail(conn, &config, actor, &id)
        })
        .await?;
    let version = d.version;
    Ok(with_etag(HttpResponse::Ok().json(d), version))
}

#[derive(Serialize, ToSchema)]
pub struct EventOut {
    pub id: String,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
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
    let id = EngagementId::new(path.into_inner());
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
