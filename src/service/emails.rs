//! Mail for coordinators: send a kind of mail for an engagement, preview it, list mail and its
//! delivery state, re-send a failed mail, issue or revoke links. The API's `emails` endpoints
//! call these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::step::{self as pipeline, engagement_scope, Command};
use super::Ctx;
use crate::auth::links::Purpose;
use crate::auth::Actor;
use crate::db::{self, utc, DbConnection, Scope};
use crate::domain::events::EventKind;
use crate::domain::ids::{ContactId, EngagementId};
use crate::domain::pipeline::{Action, Milestone};
use crate::domain::validate;
use crate::error::{AppError, AppResult};
use crate::mail::compose::{self, Extra};
use crate::mail::render::MailKind;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendIn {
    pub kind: MailKind,
    /// A line added to the mail (e.g. what changed).
    pub note: Option<String>,
}

/// Checks a send request's note and puts it in normal form.
pub fn check_send(input: &mut SendIn) -> AppResult<()> {
    if let Some(note) = &input.note {
        let mut errors = Vec::new();
        validate::multi_line("note", note, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        input.note = Some(validate::normalize_lines(note));
    }
    Ok(())
}

/// Queues a mail of this kind to every named contact of the hospital (each gets links of their
/// own); answers the outbox ids. A first-contact mail counts as the first contact.
pub fn send(
    conn: &mut DbConnection,
    actor: &Actor,
    ctx: &Ctx,
    id: &EngagementId,
    input: SendIn,
) -> AppResult<Vec<String>> {
    let e = pipeline::load(conn, actor, id)?;
    let cmd = Command {
        engagement_id: id,
        if_match: None,
        action: if input.kind == MailKind::FirstContact {
            Action::LogContact
        } else {
            Action::Edit
        },
        override_reason: None,
        kind: EventKind::EmailQueued,
    };
    let acting_user = Some(actor.user_id.clone());
    let now = ctx.clock().now();
    pipeline::run_loaded(conn, actor.into(), e, cmd, now, |conn, s| {
        let extra = Extra {
            acting_user,
            note: input.note.clone(),
            ..Default::default()
        };
        let ids = compose::enqueue(
            conn,
            &ctx.config,
            &ctx.links,
            &s.engagement,
            input.kind,
            &extra,
        )?;
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
    })
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

/// Renders a mail without sending it (links are placeholders), as the caller would send it.
pub fn preview(
    conn: &mut DbConnection,
    actor: &Actor,
    ctx: &Ctx,
    id: &EngagementId,
    kind: MailKind,
    contact_id: Option<&str>,
) -> AppResult<Preview> {
    let e = pipeline::load(conn, actor, id)?;
    let contacts = db::hospitals::contacts(conn, &e.hospital_id)?;
    let c = match contact_id {
        Some(cid) => contacts.into_iter().find(|c| c.id == cid),
        None => contacts.into_iter().find(|c| c.email.is_some()),
    }
    .ok_or_else(|| AppError::NotFound("no such contact with an email".into()))?;
    let extra = Extra {
        acting_user: Some(actor.user_id.clone()),
        ..Default::default()
    };
    let (mail_ctx, r) = compose::render_for(
        conn,
        &ctx.config,
        &ctx.links,
        &e,
        &c,
        kind,
        &extra,
        compose::Links::Placeholder,
    )?;
    let cs = compose::charset_for(&c, &mail_ctx, &r);
    Ok(Preview {
        to: format!("{} <{}>", c.name, c.email.unwrap_or_default()),
        subject: r.subject,
        text: r.text,
        html: r.html,
        charset: cs.as_str().to_owned(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct EmailOut {
    pub id: String,
    #[schema(value_type = Option<String>)]
    pub engagement_id: Option<EngagementId>,
    #[schema(value_type = Option<String>)]
    pub contact_id: Option<ContactId>,
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

/// Mail the caller may see, newest first: up to `limit` rows after `cursor`.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    engagement_id: Option<EngagementId>,
    status: Option<String>,
    cursor: Option<&str>,
    limit: i64,
) -> AppResult<Vec<db::outbox::OutboxRow>> {
    let scope = engagement_scope(conn, actor)?;
    let engagements = match &scope {
        Scope::All => None,
        Scope::Orgs(_) => Some(db::engagement_list::ids(conn, &scope, &Default::default())?),
    };
    let f = db::outbox::Filter {
        engagement_id,
        status,
        engagements,
    };
    Ok(db::outbox::list(conn, &f, cursor, limit)?)
}

/// Queues a mail again (e.g. one that `failed`); it keeps its Message-ID.
pub fn resend(conn: &mut DbConnection, actor: &Actor, ctx: &Ctx, id: &str) -> AppResult<EmailOut> {
    let row =
        db::outbox::get(conn, id)?.ok_or_else(|| AppError::NotFound(format!("no mail {id}")))?;
    if let Some(e) = &row.engagement_id {
        pipeline::load(conn, actor, e).map_err(|_| AppError::NotFound(format!("no mail {id}")))?;
    } else {
        actor.require(actor.role.manages_accounts(), "re-send this mail")?;
    }
    if !db::outbox::requeue(conn, id, ctx.clock().now())? {
        return Err(AppError::conflict(
            "mail_sending",
            "the mail is being sent right now",
        ));
    }
    let row =
        db::outbox::get(conn, id)?.ok_or_else(|| AppError::NotFound(format!("no mail {id}")))?;
    Ok(row.into())
}

/// A contact of the engagement's hospital, or 422 naming `contact_id` — the same answer for a
/// contact of another hospital, a removed one and an id that does not exist, for issuing and
/// revoking alike.
fn contact_of(
    conn: &mut db::DbConnection,
    e: &db::engagements::EngagementRow,
    contact_id: &ContactId,
) -> AppResult<db::hospitals::ContactRow> {
    db::hospitals::contact(conn, contact_id)?
        .filter(|c| c.hospital_id == e.hospital_id)
        .ok_or_else(|| AppError::field("contact_id", "not a contact of this engagement's hospital"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIn {
    #[schema(value_type = String)]
    pub contact_id: ContactId,
    pub purpose: Purpose,
}

#[derive(Serialize, ToSchema)]
pub struct LinkOut {
    pub url: String,
    pub purpose: Purpose,
    pub expires_at: DateTime<Utc>,
}

/// Issues a fresh link for a contact (to read out on the phone, or paste into a mail).
pub fn issue_link(
    conn: &mut DbConnection,
    actor: &Actor,
    ctx: &Ctx,
    id: &EngagementId,
    input: LinkIn,
) -> AppResult<LinkOut> {
    let e = pipeline::load(conn, actor, id)?;
    contact_of(conn, &e, &input.contact_id)?;
    let url = compose::link(
        conn,
        &ctx.config,
        &ctx.links,
        &e.id,
        &input.contact_id,
        input.purpose,
    )?;
    pipeline::note(
        conn,
        &actor.into(),
        &e,
        ctx.clock().now(),
        EventKind::LinkIssued,
        json!({"contact_id": input.contact_id, "purpose": input.purpose}),
    )?;
    Ok(LinkOut {
        url,
        purpose: input.purpose,
        expires_at: ctx.clock().now_utc() + chrono::Duration::days(ctx.config.mail.link_ttl_days),
    })
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeIn {
    /// Only this contact's links (default: everyone's).
    #[schema(value_type = Option<String>)]
    pub contact_id: Option<ContactId>,
    /// Only links of this purpose.
    pub purpose: Option<Purpose>,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: usize,
}

/// Revokes live links of the engagement; answers how many.
pub fn revoke_links(
    conn: &mut DbConnection,
    actor: &Actor,
    ctx: &Ctx,
    id: &EngagementId,
    input: RevokeIn,
) -> AppResult<usize> {
    let e = pipeline::load(conn, actor, id)?;
    if let Some(c) = &input.contact_id {
        contact_of(conn, &e, c)?;
    }
    let n = db::links::revoke(
        conn,
        &e.id,
        input.contact_id.as_ref(),
        input.purpose.map(Purpose::as_str),
        ctx.clock().now(),
    )?;
    pipeline::note(
        conn,
        &actor.into(),
        &e,
        ctx.clock().now(),
        EventKind::LinksRevoked,
        json!({"contact_id": input.contact_id, "purpose": input.purpose, "count": n}),
    )?;
    Ok(n)
}
