//! The audit receipt of an engagement's documents, as JSON or as a printable Japanese page.

use std::sync::LazyLock;

use actix_web::{get, http::header, web, HttpRequest, HttpResponse};
use minijinja::Environment;
use serde::Deserialize;
use utoipa::IntoParams;

use super::caller::Caller;
use crate::app::AppState;
use crate::domain::calendar::jst;
use crate::domain::ids::EngagementId;
use crate::error::{AppError, AppResult};
use crate::service::retention::{self, Receipt};
use crate::service::step;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReceiptQuery {
    /// `json` (the default) or `html`, a page to print; `Accept: text/html` also chooses the page.
    // Inline: a generated client finds no `ReceiptFormat` among the components otherwise.
    #[param(inline)]
    pub format: Option<ReceiptFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptFormat {
    Json,
    Html,
}

/// What was received and destroyed: every document's name, SHA-256, size, who uploaded and
/// downloaded it and when, and when its bytes were purged under the retention rule
/// (`RETENTION_DAYS` after the engagement closed). It holds no content, so it outlives the purge.
#[utoipa::path(tag = "intake", security(("bearer" = [])), params(("id" = String, Path, description = "engagement id"), ReceiptQuery), responses(
    (status = 200, content(
        (Receipt = "application/json"),
        (String = "text/html"),
    )),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/receipt")]
pub async fn get_receipt(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    query: super::query::Query<ReceiptQuery>,
) -> AppResult<HttpResponse> {
    let id = EngagementId::new(path.into_inner());
    let (days, now) = (state.config.retention_days, state.clock().now());
    let receipt = state
        .read_as(caller, move |conn, actor| {
            let e = step::load(conn, actor, &id)?;
            retention::receipt(conn, &e, days, now)
        })
        .await?;
    let wants_html = match query.format {
        Some(f) => f == ReceiptFormat::Html,
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/html")),
    };
    if wants_html {
        Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "private, no-store"))
            .body(page(&receipt)?))
    } else {
        Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "private, no-store"))
            .json(receipt))
    }
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // A built-in template; a broken one is a programming error the tests catch.
    let _ = env.add_template("receipt.html", include_str!("templates/receipt.html"));
    env
});

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&jst()).format("%Y-%m-%d %H:%M").to_string()
}

/// The page: times in JST, sizes in bytes, ready for A4.
fn page(r: &Receipt) -> AppResult<String> {
    let docs: Vec<_> = r
        .documents
        .iter()
        .map(|d| {
            minijinja::context! {
                purpose => d.purpose, version => d.version, filename => d.filename,
                size => d.size, sha256 => d.sha256, uploaded_at => stamp(d.uploaded_at),
                uploaded_by => d.uploaded_by,
                downloads => d.downloads.iter().map(|x| format!("{} {}", stamp(x.at), x.by)).collect::<Vec<_>>(),
                destroyed_at => d.destroyed_at.map(stamp),
            }
        })
        .collect();
    ENV.get_template("receipt.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                r => r,
                closed_at => r.closed_at.map(stamp),
                purged_at => r.purged_at.map(stamp),
                generated_at => stamp(r.generated_at),
                docs => docs,
            })
        })
        .map_err(|e| AppError::Internal(anyhow::anyhow!("template receipt.html: {e}")))
}
