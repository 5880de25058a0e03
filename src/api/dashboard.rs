//! Progress dashboards over HTTP: thin handlers over `service::dashboard`. Reads carry an
//! `ETag` of their figures (the `as_of` time left out), and `If-None-Match` answers 304 when
//! nothing changed.

use std::hash::Hasher;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::caller::Caller;
use crate::app::AppState;
use crate::auth::Actor;
use crate::error::AppResult;
use crate::service::dashboard::durations::{self, Durations};
use crate::service::dashboard::export::{self, ExportQuery};
use crate::service::dashboard::hospitals::{self, HospitalPage, HospitalsQuery};
use crate::service::dashboard::summary::{self, Summary, SummaryQuery};
use crate::service::dashboard::trend::{self, Trend, TrendQuery};
use crate::service::dashboard::Viewer;

pub fn viewer(actor: &Actor) -> Viewer {
    Viewer {
        role: actor.role,
        organization_id: actor.organization_id.clone(),
        prefecture_code: actor.prefecture_code.clone(),
    }
}

/// The answer as JSON with an `ETag` over everything but `as_of`; 304 if the client has it.
/// Every dashboard answer has `as_of` as its first member, so the digest skips the bytes it
/// was written as: one serialization, no intermediate `Value` (that cost a quarter of the
/// summary's time).
fn conditional<T: Serialize>(
    req: &HttpRequest,
    as_of: DateTime<Utc>,
    body: &T,
) -> AppResult<HttpResponse> {
    let bytes = serde_json::to_vec(body).map_err(anyhow::Error::from)?;
    let stamp = format!(
        "{{\"as_of\":{},",
        serde_json::to_string(&as_of).map_err(anyhow::Error::from)?
    );
    // Were `as_of` not first, the ETag would change on every answer: never wrong, only useless.
    let stable = bytes.strip_prefix(stamp.as_bytes()).unwrap_or(&bytes);
    // A tag only tells versions of one answer apart, so a fast 64-bit hash does (SHA-256 was a
    // tenth of the summary's instructions). Its output may change with the Rust release: then
    // a client reloads once.
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(stable);
    let etag = format!("\"d-{:016x}-{:x}\"", hasher.finish(), stable.len());
    let seen = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        });
    if seen {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .content_type(header::ContentType::json())
        .body(bytes))
}

/// Counts by stage, prefecture, tier and organisation, and the fill of the support slots.
#[utoipa::path(tag = "dashboards", security(("bearer" = [])), params(SummaryQuery), responses(
    (status = 200, body = Summary, headers(("ETag" = String))),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/dashboard/summary")]
pub async fn get_summary(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<SummaryQuery>,
) -> AppResult<HttpResponse> {
    let (q, sla) = (query.into_inner(), state.config.sla.clone());
    let now = state.clock().now_utc();
    let body = state
        .read_as(caller, move |conn, actor| {
            summary::summary(conn, &sla, &viewer(actor), &q, now)
        })
        .await?;
    conditional(&req, body.as_of, &body)
}

/// Cumulative flow by week (JST, weeks start on Monday): how many had reached each stage.
#[utoipa::path(tag = "dashboards", security(("bearer" = [])), params(TrendQuery), responses(
    (status = 200, body = Trend, headers(("ETag" = String))),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/dashboard/trend")]
pub async fn get_trend(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<TrendQuery>,
) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    let now = state.clock().now_utc();
    let body = state
        .read_as(caller, move |conn, actor| {
            trend::trend(conn, &viewer(actor), &q, now)
        })
        .await?;
    conditional(&req, body.as_of, &body)
}

/// Median and 90th percentile of business days per stage, and whom the time waited on.
#[utoipa::path(tag = "dashboards", security(("bearer" = [])), params(SummaryQuery), responses(
    (status = 200, body = Durations, headers(("ETag" = String))),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/dashboard/durations")]
pub async fn get_durations(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<SummaryQuery>,
) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    let now = state.clock().now_utc();
    let body = state
        .read_as(caller, move |conn, actor| {
            durations::durations(conn, &viewer(actor), &q, now)
        })
        .await?;
    conditional(&req, body.as_of, &body)
}

/// One row per hospital: stage, since, next action and whom it awaits, overdue, hearing date.
#[utoipa::path(tag = "dashboards", security(("bearer" = [])), params(HospitalsQuery), responses(
    (status = 200, body = HospitalPage, headers(("ETag" = String))),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/dashboard/hospitals")]
pub async fn get_hospitals(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<HospitalsQuery>,
) -> AppResult<HttpResponse> {
    let (q, sla) = (query.into_inner(), state.config.sla.clone());
    let now = state.clock().now_utc();
    let body = state
        .read_as(caller, move |conn, actor| {
            hospitals::hospitals(conn, &sla, &viewer(actor), &q, now)
        })
        .await?;
    conditional(&req, body.as_of, &body)
}

/// The hospitals table and the by-prefecture summary as XLSX (two sheets) or CSV.
#[utoipa::path(tag = "dashboards", security(("bearer" = [])), params(ExportQuery), responses(
    (status = 200, description = "The file, named in `Content-Disposition` (RFC 6266 `filename*`)",
     content(
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("text/csv"),
     )),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/dashboard/export")]
pub async fn get_export(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ExportQuery>,
) -> AppResult<HttpResponse> {
    let (q, sla) = (query.into_inner(), state.config.sla.clone());
    let now = state.clock().now_utc();
    let file = state
        .read_as(caller, move |conn, actor| {
            export::export(conn, &sla, &viewer(actor), &q, now)
        })
        .await?;
    Ok(crate::edge::attachment(file))
}
