//! Mail for coordinators: send or re-send a kind of mail for an engagement, preview it, list
//! mail and its delivery state, re-send a failed mail, re-issue or revoke links.

use actix_web::{get, http::StatusCode, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::idempotency::{respond, Idem};
use super::json::Json;
use super::query::Query;
use super::Page;
use crate::app::AppState;
use crate::auth::links::Purpose;
use crate::auth::Actor;
use crate::db::{self, utc, Scope};
use crate::domain::pipeline::{Action, Milestone};
use crate::domain::validate;
use crate::error::{AppError, AppResult};
use crate::mail::compose::{self, Extra};
use crate::mail::render::MailKind;
use crate::service::step::{self as pipeline, engagement_scope, Command};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendIn {
    pub kind: MailKind,
    /// A line added to the mail (e.g. what changed).
    pub note: Option<String>,
}

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
    let id = path.into_inner();
    let mut input = body.0;
    if let Some(note) = &input.note {
        let mut errors = Vec::new();
        validate::multi_line("note", note, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        input.note = Some(validate::normalize_lines(note));
    }
    let config = state.config.clone();
    let keys = state.links.clone();
    let out = state
        .db
        .write(move |conn| {
            let user_id = actor.user_id.clone();
            idem.once(conn, &user_id, |conn| {
                let e = pipeline::load(conn, &actor, &id)?;
                let cmd = Command {
                    engagement_id: &id,
                    if_match: None,
                    action: if input.kind == MailKind::FirstContact {
                        Action::LogContact
                    } else {
                        Action::Edit
                    },
                    override_reason: None,
                    kind: "email_queued",
                };
                let acting_user = Some(actor.user_id.clone());
                let queued = pipeline::run_loaded(conn, (&actor).into(), e, cmd, |conn, s| {
                    let extra = Extra {
                        acting_user,
                        note: input.note.clone(),
                        ..Default::default()
                    };
                    let ids =
                        compose::enqueue(conn, &config, &keys, &s.engagement, input.kind, &extra)?;
                    if ids.is_empty() {
                        return Err(AppError::conflict(
                            "no_contact_email",
                            "the hospital has no contact with an email address",
                        ));
                    }
                    if input.kind == MailKind::FirstContact {
                        s.reach(Milestone::Contacted);
                    }
                    s.payload = json!({"mail": input.kind, "outbox": ids, "channel": "email"});
                    Ok(ids)
                })?;
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

#[derive(Serialize, ToSchema)]
pub struct Preview {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The charset the mail would go out in.
    pub charset: String,
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
    let id = path.into_inner();
    let q = query.into_inner();
    let config = state.config.clone();
    let keys = state.links.clone();
    let out = state
        .db
        .read(move |conn| {
            let e = pipeline::load(conn, &actor, &id)?;
            let contacts = db::hospitals::contacts(conn, &e.hospital_id)?;
            let c = match &q.contact_id {
                Some(cid) => contacts.into_iter().find(|c| &c.id == cid),
                None => contacts.into_iter().find(|c| c.email.is_some()),
            }
            .ok_or_else(|| AppError::NotFound("no such contact with an email".into()))?;
            // Previewed as the caller would send it.
            let extra = Extra {
                acting_user: Some(actor.user_id.clone()),
                ..Default::default()
            };
            let (ctx, r) = compose::render_for(
                conn,
                &config,
                &keys,
                &e,
                &c,
                q.kind,
                &extra,
                compose::Links::Placeholder,
            )?;
            let cs = compose::charset_for(&c, &ctx, &r);
            Ok(Preview {
                to: format!("{} <{}>", c.name, c.email.unwrap_or_default()),
                subject: r.subject,
                text: r.text,
                html: r.html,
                charset: cs.as_str().to_owned(),
            })
        })
        .await?;
    Ok(web::Json(out))
}

#[derive(Serialize, ToSchema)]
pub struct EmailOut {
    pub id: String,
    pub engagement_id: Option<String>,
    pub contact_id: Option<String>,
    #[schema(value_type = MailKind)]
    pub kind: String,
    pub message_id: String,
    pub to: Vec<String>,
    pub subject: String,
    pub charset: String,
    /// `pending`, `sending`, `sent`, `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<db::outbox::OutboxRow> for EmailOut {
    fn from(r: db::outbox::OutboxRow) -> Self {
        Self {
            to: serde_json::from_str(&r.envelope_to).unwrap_or_default(),
            id: r.id,
            engagement_id: r.engagement_id,
            contact_id: r.contact_id,
            kind: r.kind,
            message_id: r.message_id,
            subject: r.subject,
            charset: r.charset,
            status: r.status.as_str().to_owned(),
            attempts: r.attempts,
            next_attempt_at: utc(r.next_attempt_at),
            last_error: r.last_error,
            created_at: utc(r.created_at),
            sent_at: r.sent_at.map(utc),
        }
    }
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
            let scope = engagement_scope(conn, actor)?;
            let engagements = match &scope {
                Scope::All => None,
                Scope::Orgs(_) => Some(db::engagements::ids(conn, &scope, &Default::default())?),
            };
            let f = db::outbox::Filter {
                engagement_id: q.engagement_id,
                status: q.status,
                engagements,
            };
            Ok(db::outbox::list(conn, &f, after.as_deref(), limit + 1)?)
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
    let row = state
        .db
        .write(move |conn| {
            let row = db::outbox::get(conn, &id)?
                .ok_or_else(|| AppError::NotFound(format!("no mail {id}")))?;
            if let Some(e) = &row.engagement_id {
                pipeline::load(conn, &actor, e)
                    .map_err(|_| AppError::NotFound(format!("no mail {id}")))?;
            } else {
                actor.require(actor.role.manages_accounts(), "re-send this mail")?;
            }
            if !db::outbox::requeue(conn, &id, db::now())? {
                return Err(AppError::conflict(
                    "mail_sending",
                    "the mail is being sent right now",
                ));
            }
            db::outbox::get(conn, &id)?.ok_or_else(|| AppError::NotFound(format!("no mail {id}")))
        })
        .await?;
    Ok(web::Json(row.into()))
}

/// A contact of the engagement's hospital, or 422 naming `contact_id` — the same answer for a
/// contact of another hospital, a removed one and an id that does not exist, for issuing and
/// revoking alike.
fn contact_of(
    conn: &mut db::DbConnection,
    e: &db::engagements::EngagementRow,
    contact_id: &str,
) -> AppResult<db::hospitals::ContactRow> {
    db::hospitals::contact(conn, contact_id)?
        .filter(|c| c.hospital_id == e.hospital_id)
        .ok_or_else(|| AppError::field("contact_id", "not a contact of this engagement's hospital"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIn {
    pub contact_id: String,
    pub purpose: Purpose,
}

#[derive(Serialize, ToSchema)]
pub struct LinkOut {
    pub url: String,
    pub purpose: Purpose,
    pub expires_at: DateTime<Utc>,
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
    let id = path.into_inner();
    let input = body.0;
    let config = state.config.clone();
    let keys = state.links.clone();
    let out = state
        .db
        .write(move |conn| {
            let e = pipeline::load(conn, &actor, &id)?;
            contact_of(conn, &e, &input.contact_id)?;
            let url = compose::link(
                conn,
                &config,
                &keys,
                &e.id,
                &input.contact_id,
                input.purpose,
            )?;
            pipeline::note(
                conn,
                &(&actor).into(),
                &e,
                "link_issued",
                json!({"contact_id": input.contact_id, "purpose": input.purpose}),
            )?;
            Ok(LinkOut {
                url,
                purpose: input.purpose,
                expires_at: Utc::now() + chrono::Duration::days(config.mail.link_ttl_days),
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(out))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeIn {
    /// Only this contact's links (default: everyone's).
    pub contact_id: Option<String>,
    /// Only links of this purpose.
    pub purpose: Option<Purpose>,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: usize,
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
    let id = path.into_inner();
    let input = body.0;
    let revoked = state
        .db
        .write(move |conn| {
            let e = pipeline::load(conn, &actor, &id)?;
            if let Some(c) = &input.contact_id {
                contact_of(conn, &e, c)?;
            }
            let n = db::links::revoke(
                conn,
                &e.id,
                input.contact_id.as_deref(),
                input.purpose.map(Purpose::as_str),
                db::now(),
            )?;
            pipeline::note(
                conn,
                &(&actor).into(),
                &e,
                "links_revoked",
                json!({"contact_id": input.contact_id, "purpose": input.purpose, "count": n}),
            )?;
            Ok(n)
        })
        .await?;
    Ok(web::Json(Revoked { revoked }))
}
