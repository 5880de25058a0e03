//! Mail for coordinators: send or re-send a kind of mail for an engagement, preview it, list
//! mail and its delivery state, re-send a failed mail, re-issue or revoke links.

use actix_web::{get, http::StatusCode, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::idempotency::{respond, Idem};
use super::json::Json;
use super::query::Query;
use super::Page;
use crate::app::AppState;
use crate::auth::Actor;
use crate::domain::ids::EngagementId;
use crate::error::AppResult;
use crate::mail::render::MailKind;
use crate::service::emails::{self, EmailOut, LinkIn, LinkOut, Preview, RevokeIn, Revoked, SendIn};

#[derive(Serialize, ToSchema)]
pub struct Queued {
    /// Outbox ids, one per contact.
    pub queued: Vec<String>,
}

/// Queue a mail of this kind to every named contact of the hospital (each gets links of their
/// own). A first-contact mail counts as the first contact.
#[utoipa::path(tag = "mail", security(("bearer" = [])), request_body = SendIn,
    params(super::doc::IdempotencyKey),
    responses(
    (status = 202, body = Queued),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/emails")]
pub async fn send(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<SendIn>,
) -> AppResult<HttpResponse> {
    let idem = Idem::new(&req)?;
    let id = EngagementId::new(path.into_inner());
    let mut input = body.0;
    emails::check_send(&mut input)?;
    let ctx = state.ctx();
    let out = state
        .db
        .write(move |conn| {
            let user_id = actor.user_id.clone();
            idem.once(conn, &user_id, |conn| {
                let queued = emails::send(conn, &actor, &ctx, &id, input)?;
                Ok((StatusCode::ACCEPTED, json!({"queued": queued})))
            })
        })
        .await?;
    Ok(respond(out))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    pub kind: MailKind,
    /// The contact to address; the hospital's first contact by default.
    pub contact_id: Option<String>,
}

/// Render a mail without sending it (links are placeholders).
#[utoipa::path(tag = "mail", security(("bearer" = [])), params(PreviewQuery), responses(
    (status = 200, body = Preview),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/emails/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    query: Query<PreviewQuery>,
) -> AppResult<web::Json<Preview>> {
    let id = EngagementId::new(path.into_inner());
    let q = query.into_inner();
    let ctx = state.ctx();
    let out = state
        .db
        .read(move |conn| emails::preview(conn, &actor, &ctx, &id, q.kind, q.contact_id.as_deref()))
        .await?;
    Ok(web::Json(out))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    pub engagement_id: Option<String>,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Mail and its delivery state, newest first.
#[utoipa::path(tag = "mail", security(("bearer" = [])), params(EmailQuery), responses(
    (status = 200, body = Page<EmailOut>),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/emails")]
pub async fn list_emails(
    state: web::Data<AppState>,
    caller: super::caller::Caller,
    query: Query<EmailQuery>,
) -> AppResult<web::Json<Page<EmailOut>>> {
    let q = query.into_inner();
    let limit = super::PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let after = super::after_id(q.cursor.as_deref())?;
    let rows = state
        .read_as(caller, move |conn, actor| {
            emails::list(
                conn,
                actor,
                q.engagement_id.map(EngagementId::new),
                q.status,
                after.as_deref(),
                limit + 1,
            )
        })
        .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        EmailOut::from,
    )))
}

/// Queue a mail again (e.g. one that `failed`); it keeps its Message-ID.
#[utoipa::path(tag = "mail", security(("bearer" = [])), responses(
    (status = 200, body = EmailOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/emails/{id}/resend")]
pub async fn resend(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<web::Json<EmailOut>> {
    let id = path.into_inner();
    let ctx = state.ctx();
    let out = state
        .db
        .write(move |conn| emails::resend(conn, &actor, &ctx, &id))
        .await?;
    Ok(web::Json(out))
}

/// Issue a fresh link for a contact (to read out on the phone, or paste into a mail).
#[utoipa::path(tag = "mail", security(("bearer" = [])), request_body = LinkIn, responses(
    (status = 201, body = LinkOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/links")]
pub async fn issue_link(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    body: Json<LinkIn>,
) -> AppResult<HttpResponse> {
    let id = EngagementId::new(path.into_inner());
    let input = body.0;
    let ctx = state.ctx();
    let out = state
        .db
        .write(move |conn| emails::issue_link(conn, &actor, &ctx, &id, input))
        .await?;
    Ok(HttpResponse::Created().json(out))
}

/// Revoke live links of the engagement.
#[utoipa::path(tag = "mail", security(("bearer" = [])), request_body = RevokeIn, responses(
    (status = 200, body = Revoked),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/links/revoke")]
pub async fn revoke_links(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    body: Json<RevokeIn>,
) -> AppResult<web::Json<Revoked>> {
    let id = EngagementId::new(path.into_inner());
    let input = body.0;
    let ctx = state.ctx();
    let revoked = state
        .db
        .write(move |conn| emails::revoke_links(conn, &actor, &ctx, &id, input))
        .await?;
    Ok(web::Json(Revoked { revoked }))
}
