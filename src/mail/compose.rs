//! Turns "send this kind of mail for this engagement" into outbox rows: one message per named
//! contact (each with links of its own), rendered in Japanese, in the contact's charset where
//! possible, with a calendar invite for hearing mails. Runs inside the caller's transaction, so
//! the mail exists exactly when the change that causes it does.

use super::charset::{self, Charset};
use super::ics::{self, Invite, Person};
use super::message::{self, Addr};
use super::render::{self, Context, MailKind, Rendered, Sender, SlotView};
use super::reply_to;
use crate::auth::links::{LinkKeys, Purpose};
use crate::config::Config;
use crate::db::engagements::EngagementRow;
use crate::db::hearings::SlotRow;
use crate::db::hospitals::ContactRow;
use crate::db::outbox::OutboxRow;
use crate::db::{self, DbConnection};
use crate::domain::hearings::HearingStatus;
use crate::domain::ids::{ContactId, EngagementId, UserId};
use crate::domain::validate::header_text;
use crate::error::{AppError, AppResult};
use chrono::Duration;

/// Which links a kind of mail carries.
pub fn purposes(kind: MailKind) -> &'static [Purpose] {
    use MailKind::*;
    match kind {
        FirstContact => &[Purpose::Landing, Purpose::Participation],
        MemorandumSent => &[Purpose::Landing, Purpose::Memorandum],
        IntakeRequest => &[Purpose::Landing, Purpose::Diagram, Purpose::Questionnaire],
        HearingCandidates | HearingConfirmed | HearingRescheduled | HearingCancelled
        | HearingReminder => &[Purpose::Landing, Purpose::Hearing],
        OverdueNudge | ReportDelivered | BackupProposalDelivered => &[Purpose::Landing],
    }
}

/// What else a mail needs beyond the engagement itself.
#[derive(Default, Clone)]
pub struct Extra {
    /// The user who caused the mail (sending it, moving or cancelling a hearing): the
    /// Reply-To and the person named in the letter. `None` when the hospital or the system
    /// acted; then `reply_to::resolve` finds who answers.
    pub acting_user: Option<UserId>,
    pub previous: Option<SlotRow>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

pub fn slot_view(s: &SlotRow) -> SlotView {
    SlotView {
        starts_at: db::utc(s.starts_at),
        ends_at: db::utc(s.ends_at),
        format: s.format.clone(),
        meeting_url: s.meeting_url.clone(),
        place: s.place.clone(),
    }
}

/// Issues a link for a contact and records its hash; returns the URL.
pub fn link(
    conn: &mut DbConnection,
    config: &Config,
    keys: &LinkKeys,
    engagement_id: &EngagementId,
    contact_id: &ContactId,
    purpose: Purpose,
) -> AppResult<String> {
    let now = config.clock.now();
    let ttl = Duration::days(config.mail.link_ttl_days);
    let issued = keys.issue();
    let token = issued.token;
    db::links::insert(
        conn,
        &db::links::LinkRow {
            token_hash: issued.hash,
            engagement_id: engagement_id.clone(),
            contact_id: contact_id.to_owned(),
            purpose: purpose.as_str().to_owned(),
            expires_at: now + ttl,
            revoked_at: None,
            created_at: now,
            last_used_at: None,
        },
    )?;
    Ok(format!(
        "{}/p/{}/{token}",
        config.public_base_url,
        purpose.as_str()
    ))
}

/// How a rendered mail gets its links.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Signed and recorded, one per purpose.
    Sign,
    /// Placeholders, nothing stored (previews).
    Placeholder,
    /// None at all (copies to people who are not the hospital's contacts).
    Omit,
}

/// Renders the mail for one contact, with links as `links` says.
#[allow(clippy::too_many_arguments)]
pub fn render_for(
    conn: &mut DbConnection,
    config: &Config,
    keys: &LinkKeys,
    e: &EngagementRow,
    contact: &ContactRow,
    kind: MailKind,
    extra: &Extra,
    mode: Links,
) -> AppResult<(Context, Rendered)> {
    let hospital = db::hospitals::get(conn, &e.hospital_id)?
        .ok_or_else(|| anyhow::anyhow!("hospital missing"))?;
    let org = match &e.organization_id {
        Some(id) => db::orgs::get(conn, id)?,
        None => None,
    };
    let mut links = std::collections::BTreeMap::new();
    for p in purposes(kind).iter().filter(|_| mode != Links::Omit) {
        let url = if mode == Links::Placeholder {
            format!("{}/p/（{}用のリンク）", config.public_base_url, p.as_str())
        } else {
            link(conn, config, keys, &e.id, &contact.id, *p)?
        };
        if *p == Purpose::Hearing {
            links.insert("reschedule".to_owned(), url.clone());
            links.insert("cancel".to_owned(), url.clone());
        }
        links.insert(p.as_str().to_owned(), url);
    }
    let scheduled = db::hearings::scheduled(conn, &e.id)?;
    let hearing = match &scheduled {
        Some(h) => db::hearings::slot(conn, &h.slot_id)?.map(|s| slot_view(&s)),
        None => None,
    };
    // The one rule of open slots (past ones are not offered in mail either).
    let now = config.clock.now_utc();
    let slots = db::hearings::slots(conn, &e.id)?
        .iter()
        .filter(|s| {
            crate::domain::hearings::is_open(
                &crate::domain::hearings::Slot {
                    starts_at: db::utc(s.starts_at),
                    withdrawn: s.withdrawn_at.is_some(),
                    booked: scheduled.as_ref().is_some_and(|h| h.slot_id == s.id),
                },
                now,
            )
        })
        .map(slot_view)
        .collect();
    // An empty name is the organisation's own address (a desk, not a person).
    let reply = reply_to::resolve(conn, e, org.as_ref(), extra.acting_user.as_ref())?;
    let (person, email) = reply.map(|p| (p.name, p.email)).unwrap_or_default();
    let ctx = Context {
        hospital_name: hospital.name.clone(),
        department: contact.department.clone(),
        contact_name: contact.name.clone(),
        sender: Sender {
            organization: org
                .as_ref()
                .map(|o| o.name.clone())
                .unwrap_or_else(|| "医療機関サイバーセキュリティ確保事業 事務局".into()),
            person,
            email,
            phone: None,
            signature: org.as_ref().and_then(|o| o.mail_signature.clone()),
        },
        links,
        slots,
        hearing,
        previous: extra.previous.as_ref().map(slot_view),
        reply_by: Some(config.clock.today_in_japan() + Duration::days(7)),
        reason: extra.reason.clone(),
        note: extra.note.clone(),
    };
    let rendered = render::render(kind, &ctx, config.mail.templates_dir.as_deref())
        .map_err(|e| AppError::Internal(e.context("rendering mail")))?;
    Ok((ctx, rendered))
}

/// The charset a contact's mail goes out in: ISO-2022-JP when the contact prefers it and
/// everything shown — subject, text and every display name in the headers — fits JIS X 0208;
/// UTF-8 otherwise. The preview and the mail itself decide alike.
pub fn charset_for(contact: &ContactRow, ctx: &Context, r: &Rendered) -> Charset {
    let preferred = if contact.charset == "iso-2022-jp" {
        Charset::Iso2022Jp
    } else {
        Charset::Utf8
    };
    charset::choose(
        preferred,
        &[
            &r.subject,
            &r.text,
            &header_text(&contact.name),
            &header_text(&ctx.sender.organization),
            &header_text(&ctx.sender.person),
        ],
    )
}

/// The hearing invite: stable UID per hearing, SEQUENCE from the hearing, organizer and
/// attendees, reschedule and cancel links in the description.
fn invite(
    conn: &mut DbConnection,
    config: &Config,
    e: &EngagementRow,
    ctx: &Context,
    kind: MailKind,
    to: &ContactRow,
) -> AppResult<Option<String>> {
    let cancel = kind == MailKind::HearingCancelled;
    if !matches!(
        kind,
        MailKind::HearingConfirmed | MailKind::HearingRescheduled | MailKind::HearingCancelled
    ) {
        return Ok(None);
    }
    // The hearing this invite is about: the scheduled one, or the one just cancelled.
    let hearings = db::hearings::hearings(conn, &e.id)?;
    let Some(h) = hearings.iter().rev().find(|h| {
        if cancel {
            h.status == HearingStatus::Cancelled
        } else {
            h.status == HearingStatus::Scheduled
        }
    }) else {
        return Ok(None);
    };
    let Some(slot) = db::hearings::slot(conn, &h.slot_id)? else {
        return Ok(None);
    };
    // One UID per hearing series, so a reschedule updates the same calendar entry and a
    // booking after a cancellation is a new one.
    let statuses: Vec<&str> = hearings.iter().map(|x| x.status.as_str()).collect();
    let index = hearings.iter().position(|x| x.id == h.id).unwrap_or(0);
    let first = hearings
        .get(ics::series_start(&statuses, index))
        .map_or_else(|| h.id.clone(), |f| f.id.clone());
    let host = config.mail.from.split('@').nth(1).unwrap_or("localhost");
    let hearing_link = ctx.links.get("hearing").cloned().unwrap_or_default();
    let inv = Invite {
        uid: format!("hearing-{first}@{host}"),
        // Cancelling is itself a change of the series.
        sequence: h.sequence + i64::from(cancel),
        method: if cancel {
            ics::Method::Cancel
        } else {
            ics::Method::Request
        },
        starts_at: db::utc(slot.starts_at),
        ends_at: db::utc(slot.ends_at),
        summary: format!(
            "ヒアリング（医療機関サイバーセキュリティ確保事業）{}",
            ctx.hospital_name
        ),
        description: format!("日程の変更・取消はこちらから: {hearing_link}"),
        location: slot.place.clone().or_else(|| slot.meeting_url.clone()),
        url: slot.meeting_url.clone(),
        organizer: Person {
            name: header_text(&ctx.sender.organization),
            email: config.mail.from.clone(),
        },
        attendees: to
            .email
            .iter()
            .map(|email| Person {
                name: header_text(&to.name),
                email: email.clone(),
            })
            .collect(),
    };
    Ok(Some(ics::render(&inv, config.clock.now_utc())))
}

/// The hospital's system vendor, when invited to the hearing, gets the hearing mails too (with
/// the invite, without the hospital's links). Returned as contact-shaped rows with no id.
fn vendor_attendees(
    conn: &mut DbConnection,
    e: &EngagementRow,
    kind: MailKind,
    now: chrono::NaiveDateTime,
) -> AppResult<Vec<ContactRow>> {
    use MailKind::*;
    if !matches!(
        kind,
        HearingConfirmed | HearingRescheduled | HearingCancelled | HearingReminder
    ) {
        return Ok(Vec::new());
    }
    let Some(h) = db::hearings::hearings(conn, &e.id)?
        .into_iter()
        .rev()
        .find(|h| {
            matches!(
                h.status,
                HearingStatus::Scheduled | HearingStatus::Cancelled
            )
        })
    else {
        return Ok(Vec::new());
    };
    let attendees = h.attendees.into_inner();
    Ok(attendees
        .into_iter()
        .filter(|a| a.kind == "system_vendor" && a.email.is_some())
        .map(|a| ContactRow {
            id: ContactId::new(String::new()),
            hospital_id: e.hospital_id.clone(),
            name: a.name,
            department: None,
            title: None,
            email: a.email,
            phone: None,
            charset: "utf-8".into(),
            position: 0,
            removed_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
            mail_error: None,
        })
        .collect())
}

/// The organisation's own address, when it asked for a copy of every mail.
fn cc_of(conn: &mut DbConnection, e: &EngagementRow) -> AppResult<Option<String>> {
    let Some(org) = e.organization_id.as_ref() else {
        return Ok(None);
    };
    Ok(db::orgs::get(conn, org)?
        .filter(|o| o.cc_reply_to)
        .and_then(|o| o.reply_to))
}

/// Queues `kind` for every contact of the engagement's hospital that has an email. Returns the
/// outbox ids (none when no contact has an email; the caller decides whether that is an error).
pub fn enqueue(
    conn: &mut DbConnection,
    config: &Config,
    keys: &LinkKeys,
    e: &EngagementRow,
    kind: MailKind,
    extra: &Extra,
) -> AppResult<Vec<String>> {
    let mut contacts: Vec<ContactRow> = db::hospitals::contacts(conn, &e.hospital_id)?
        .into_iter()
        .filter(|c| c.email.is_some())
        .collect();
    if !contacts.is_empty() {
        contacts.extend(vendor_attendees(conn, e, kind, config.clock.now())?);
    }
    let mut ids = Vec::new();
    for c in contacts {
        let links = if c.id.as_str().is_empty() {
            Links::Omit
        } else {
            Links::Sign
        };
        let (ctx, rendered) = render_for(conn, config, keys, e, &c, kind, extra, links)?;
        let ics = invite(conn, config, e, &ctx, kind, &c)?;
        let id = db::new_id();
        let host = config.mail.from.split('@').nth(1).unwrap_or("localhost");
        let message_id = format!("<{id}@{host}>");
        let cs = charset_for(&c, &ctx, &rendered);
        let email = c.email.clone().unwrap_or_default();
        let mut envelope_to = vec![email.clone()];
        let cc = cc_of(conn, e)?;
        if let Some(cc) = &cc {
            envelope_to.push(cc.clone());
        }
        let organization = &ctx.sender.organization;
        let method = if kind == MailKind::HearingCancelled {
            ics::Method::Cancel
        } else {
            ics::Method::Request
        };
        let raw = message::build(&message::Parts {
            from: Addr {
                role: "sender (MAIL_FROM)",
                name: organization,
                email: &config.mail.from,
            },
            to: Addr {
                role: "contact",
                name: &c.name,
                email: &email,
            },
            // The organisation's own address shows the organisation's name.
            reply_to: Some(&ctx.sender)
                .filter(|s| !s.email.is_empty())
                .map(|s| Addr {
                    role: "Reply-To",
                    name: if s.person.is_empty() {
                        organization
                    } else {
                        &s.person
                    },
                    email: &s.email,
                }),
            cc: cc.as_deref().map(|cc| Addr {
                role: "organisation's copy (reply_to)",
                name: organization,
                email: cc,
            }),
            message_id: &message_id,
            subject: &rendered.subject,
            text: &rendered.text,
            html: &rendered.html,
            invite: ics.as_deref().map(|i| (i, method)),
            charset: cs,
        })?;
        let now = config.clock.now();
        db::outbox::insert(
            conn,
            &OutboxRow {
                id: id.clone(),
                engagement_id: Some(e.id.clone()),
                contact_id: Some(c.id.clone()).filter(|id| !id.as_str().is_empty()),
                kind: kind.as_str().to_owned(),
                message_id,
                envelope_from: config.mail.from.clone(),
                envelope_to: serde_json::to_string(&envelope_to).map_err(anyhow::Error::from)?,
                subject: rendered.subject,
                charset: cs.as_str().to_owned(),
                raw,
                status: crate::db::outbox::OutboxStatus::Pending,
                attempts: 0,
                next_attempt_at: now,
                locked_until: None,
                last_error: None,
                created_at: now,
                sent_at: None,
                updated_at: now,
            },
        )?;
        ids.push(id);
    }
    Ok(ids)
}
