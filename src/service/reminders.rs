//! The mails nobody asks for: a reminder before each hearing (once per booking) and a polite
//! nudge to hospitals that are overdue (at most once per `NUDGE_EVERY_DAYS`). Which are due and
//! how each is queued live here; the mail worker only calls `scheduled_mails` on its timer.

use anyhow::Context;
use chrono::NaiveDateTime;

use crate::auth::links::LinkKeys;
use crate::config::Config;
use crate::db::{self, Db, DbConnection};
use crate::domain::events::EventKind;
use crate::domain::ids::EngagementId;
use crate::error::{AppError, AppResult};
use crate::mail::render::MailKind;
use crate::service::step::Who;

/// An error with its cause, for the log.
fn cause(e: AppError) -> anyhow::Error {
    match e {
        AppError::Internal(e) => e,
        other => anyhow::anyhow!(other.problem().detail),
    }
}

/// A mail the scheduler owes an engagement, and since when one counts as already queued.
pub struct Due {
    pub engagement_id: EngagementId,
    pub kind: MailKind,
    pub since: NaiveDateTime,
}

fn system() -> Who {
    Who {
        kind: "system",
        id: None,
        label: "mail scheduler".into(),
        is_admin: false,
    }
}

/// Finds the reminders and nudges that are due, then queues each engagement's in a transaction
/// of its own: one that fails (an address the mailer cannot use, a template that does not
/// render) is marked on the engagement and its contacts and never holds up the others.
pub fn scheduled_mails(
    db: &Db,
    app: &Config,
    links: &LinkKeys,
    stopped: &dyn Fn() -> bool,
) -> anyhow::Result<usize> {
    let now = app.clock.now();
    let due = {
        let mut conn = db.pool.get().context("cannot reach the database")?;
        due_mails(&mut conn, app, now)
            .map_err(cause)
            .context("finding due reminders and nudges")?
    };
    let mut queued = 0;
    for d in due {
        if stopped() {
            break;
        }
        match db.write_blocking(|conn| queue(conn, app, links, &d)) {
            Ok(n) => queued += n,
            Err(e) => {
                let reason = match &e {
                    AppError::Internal(e) => format!("{e:#}"),
                    other => other.problem().detail,
                };
                tracing::warn!(engagement = %d.engagement_id, mail = d.kind.as_str(), error = %reason, "scheduled mail not queued");
                if let Err(e) =
                    db.write_blocking(|conn| note_failure(conn, &d, &reason, app.clock.now()))
                {
                    tracing::error!(engagement = %d.engagement_id, error = %format!("{:#}", cause(e)), "cannot record a mail failure");
                }
            }
        }
    }
    Ok(queued)
}

pub fn due_mails(conn: &mut DbConnection, app: &Config, now: NaiveDateTime) -> AppResult<Vec<Due>> {
    let mut due = Vec::new();
    let lead = chrono::Duration::hours(app.mail.reminder_lead_hours);
    for (hearing, slot) in db::hearings::all_scheduled(conn)? {
        let kind = MailKind::HearingReminder;
        if slot.starts_at > now
            && slot.starts_at - lead <= now
            && !db::outbox::queued_since(
                conn,
                &hearing.engagement_id,
                kind.as_str(),
                hearing.booked_at,
            )?
        {
            due.push(Due {
                engagement_id: hearing.engagement_id,
                kind,
                since: hearing.booked_at,
            });
        }
    }
    let cutoffs = app.sla.cutoffs(now.and_utc()).as_filter();
    let filter = db::engagement_list::Filter {
        overdue: Some(cutoffs),
        ..Default::default()
    };
    let since = now - chrono::Duration::days(app.mail.nudge_every_days);
    let kind = MailKind::OverdueNudge;
    for id in db::engagement_list::ids(conn, &db::Scope::All, &filter)? {
        if !db::outbox::queued_since(conn, &id, kind.as_str(), since)? {
            due.push(Due {
                engagement_id: id,
                kind,
                since,
            });
        }
    }
    Ok(due)
}

/// Queues one due mail, in the caller's transaction; returns how many messages.
pub fn queue(conn: &mut DbConnection, app: &Config, links: &LinkKeys, d: &Due) -> AppResult<usize> {
    use crate::domain::pipeline::{Action, Party};
    use crate::mail::compose::{self, Extra};
    use crate::service::step::{self as pipeline, Command};

    // Checked again inside the transaction: another worker may have queued it meanwhile.
    if db::outbox::queued_since(conn, &d.engagement_id, d.kind.as_str(), d.since)? {
        return Ok(0);
    }
    let Some(e) = db::engagements::get(conn, &d.engagement_id)? else {
        return Ok(0);
    };
    let hospital = e.hospital_id.clone();
    let id = e.id.clone();
    let (event, extra, awaiting) = match d.kind {
        MailKind::OverdueNudge => {
            let detail = crate::service::engagements::detail(conn, app, &id)?;
            let Some(next) = detail.next_action.filter(|n| n.awaiting == Party::Hospital) else {
                return Ok(0);
            };
            let what = crate::domain::pipeline::awaited_ja(next.code).map(str::to_owned);
            let extra = Extra {
                note: what.clone(),
                ..Default::default()
            };
            (EventKind::NudgeQueued, extra, what)
        }
        _ => (EventKind::ReminderQueued, Extra::default(), None),
    };
    let cmd = Command {
        engagement_id: &id,
        if_match: None,
        action: Action::Edit,
        override_reason: None,
        kind: event,
    };
    let kind = d.kind;
    let queued = pipeline::run_loaded(conn, system(), e, cmd, app.clock.now(), |conn, s| {
        let ids = compose::enqueue(conn, app, links, &s.engagement, kind, &extra)?;
        s.payload = match kind {
            MailKind::OverdueNudge => {
                serde_json::json!({"mail": kind.as_str(), "outbox": ids, "awaiting": awaiting})
            }
            _ => serde_json::json!({"mail": kind.as_str(), "outbox": ids}),
        };
        Ok(ids.len())
    })?;
    // Mail to this hospital goes out again: earlier marks no longer hold.
    db::mail_problems::clear_for_hospital(conn, &hospital)?;
    Ok(queued)
}

/// Marks a mail the scheduler could not queue: a `mail_error` event in the engagement's
/// timeline (once per mail and period, though the scheduler tries again each round) and, on each
/// contact whose address the mailer cannot use, its `mail_error`.
fn note_failure(
    conn: &mut DbConnection,
    d: &Due,
    reason: &str,
    now: chrono::NaiveDateTime,
) -> AppResult<()> {
    let Some(e) = db::engagements::get(conn, &d.engagement_id)? else {
        return Ok(());
    };
    let mut bad = Vec::new();
    for c in db::hospitals::contacts(conn, &e.hospital_id)? {
        if let Some(email) = &c.email {
            if email.parse::<lettre::Address>().is_err() {
                let mark = format!(
                    "mail cannot be sent to `{email}`: not an address the mail system accepts"
                );
                db::mail_problems::mark_contact(conn, &c.id, &mark)?;
                bad.push(c.id);
            }
        }
    }
    if !db::mail_problems::noted_since(conn, &e.id, d.kind.as_str(), d.since)? {
        crate::service::step::note(
            conn,
            &system(),
            &e,
            now,
            db::mail_problems::EVENT,
            serde_json::json!({"mail": d.kind.as_str(), "error": reason, "contacts": bad}),
        )?;
    }
    Ok(())
}
