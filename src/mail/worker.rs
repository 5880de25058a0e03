//! Delivers the outbox: claims due rows, sends them, and records the outcome. Retries back off
//! exponentially with jitter; after `MAIL_MAX_ATTEMPTS` a row is `failed` (visible in
//! `GET /api/v1/emails` and re-sendable).
//!
//! Delivery is at least once: a crash between sending and marking a row sent leaves it
//! `sending`; when its lease runs out it is sent again, with the same Message-ID, so the
//! recipient's mail system can recognise the duplicate. An SMTP outage only delays mail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDateTime;
use tokio::sync::watch;

use super::transport::Transport;
use crate::api::pipeline::Who;
use crate::auth::links::LinkKeys;
use crate::config::{Config, MailConfig};
use crate::db::{self, Db, DbConnection};
use crate::error::{AppError, AppResult};
use crate::mail::render::MailKind;

/// How long a claimed row is reserved for the worker that claimed it.
const LEASE_SECS: i64 = 120;
/// The part of the lease kept free at its end: a send (at most 20 s to connect, 20 s to send)
/// and the write of its outcome must fit in it.
const LEASE_MARGIN: Duration = Duration::from_secs(60);
/// Outcomes written per transaction, at most.
const RECORD_EVERY: usize = 64;

/// Rows claimed at once: enough to keep every send slot busy for a while between claims.
fn claim_size(concurrency: usize) -> i64 {
    (concurrency as i64 * 16).clamp(20, 500)
}

/// How one claimed message fared.
struct Outcome {
    id: String,
    kind: String,
    attempts: i64,
    result: Result<(), String>,
}
/// How often reminders and nudges are looked for.
const SCHEDULE_EVERY: Duration = Duration::from_secs(60);

/// Delay before attempt `attempts + 1`: base × 2^(attempts−1), at most an hour, ±20 % jitter
/// (`jitter` in 0..1) so that many failed mails do not all retry at once.
pub fn backoff(base_ms: u64, attempts: i64, jitter: f64) -> Duration {
    let exp = attempts.clamp(1, 30) as u32 - 1;
    let raw = base_ms.saturating_mul(1u64 << exp.min(20)).min(3_600_000) as f64;
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::from_millis((raw * factor) as u64)
}

/// Asks a running worker to stop: it takes no new work, finishes the messages it is sending and
/// gives the rest of its claim back. Dropping the sender stops it too.
#[derive(Clone)]
pub struct Stop(Option<watch::Receiver<bool>>);

impl Stop {
    /// A stop signal and the sender that raises it (`send(true)`).
    pub fn channel() -> (watch::Sender<bool>, Stop) {
        let (tx, rx) = watch::channel(false);
        (tx, Stop(Some(rx)))
    }

    /// One that is never raised.
    pub fn never() -> Self {
        Stop(None)
    }

    pub fn is_set(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|rx| *rx.borrow() || rx.has_changed().is_err())
    }

    async fn raised(&mut self) {
        match &mut self.0 {
            Some(rx) => {
                let _ = rx.wait_for(|stop| *stop).await;
            }
            None => std::future::pending().await,
        }
    }
}

pub struct Worker {
    pub db: Db,
    pub transport: Arc<Transport>,
    pub config: MailConfig,
    /// For the scheduled mails (reminders, nudges), which need links and the SLA.
    pub app: Arc<Config>,
    pub links: Arc<LinkKeys>,
}

impl Worker {
    /// Sends what is due (one batch); returns how many rows were handled.
    pub async fn tick(&self) -> anyhow::Result<usize> {
        self.deliver(&Stop::never()).await
    }

    /// Sends one batch of due mail, `concurrency` messages at a time, and records the outcomes
    /// a few dozen per transaction. If `stop` is raised meanwhile (or the lease is running
    /// short), the messages in flight are finished and the unsent rest is given back.
    pub async fn deliver(&self, stop: &Stop) -> anyhow::Result<usize> {
        let db = self.db.clone();
        let claimed_at = Instant::now();
        let now = db::now();
        let batch = claim_size(self.config.concurrency);
        let rows = tokio::task::spawn_blocking(move || {
            db.write_blocking(|conn| {
                Ok(db::outbox::claim(
                    conn,
                    now,
                    now + chrono::Duration::seconds(LEASE_SECS),
                    batch,
                )?)
            })
        })
        .await?
        .map_err(cause)
        .context("claiming mail")?;
        if rows.is_empty() {
            return Ok(0);
        }
        // No send starts once the rest of the lease could not cover it and its record: a row
        // whose lease ran out may be claimed (and sent) by another worker.
        let last_start = claimed_at + Duration::from_secs(LEASE_SECS as u64) - LEASE_MARGIN;
        let mut rows = rows.into_iter();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut done = Vec::new();
        let mut handled = 0;
        let mut drained = false;
        loop {
            while in_flight.len() < self.config.concurrency.max(1)
                && !stop.is_set()
                && Instant::now() < last_start
            {
                let Some(row) = rows.next() else {
                    drained = true;
                    break;
                };
                let transport = self.transport.clone();
                in_flight.spawn(async move {
                    let to: Vec<String> =
                        serde_json::from_str(&row.envelope_to).unwrap_or_default();
                    let result = transport
                        .send(&row.id, &row.envelope_from, &to, row.raw.as_bytes())
                        .await
                        .map_err(|e| format!("{e:#}"));
                    Outcome {
                        id: row.id,
                        kind: row.kind,
                        attempts: row.attempts,
                        result,
                    }
                });
            }
            if drained {
                // Nothing more to start: sessions go back to the server as their sends end,
                // not after the batch's last one (a server with few slots may be keeping
                // another worker's connection waiting for one).
                self.transport.close_idle().await;
            }
            let Some(finished) = in_flight.join_next().await else {
                break;
            };
            done.push(finished.context("a mail send task failed")?);
            // Recorded while the other sends go on (they are tasks of their own).
            if done.len() >= RECORD_EVERY {
                handled += self.record(std::mem::take(&mut done)).await?;
            }
        }
        handled += self.record(done).await?;
        let rest: Vec<String> = rows.map(|r| r.id).collect();
        if !rest.is_empty() {
            let db = self.db.clone();
            let released = tokio::task::spawn_blocking(move || {
                db.write_blocking(|conn| Ok(db::outbox::release(conn, &rest, db::now())?))
            })
            .await?
            .map_err(cause)
            .context("giving back claimed mail")?;
            if stop.is_set() {
                tracing::info!(released, "mail worker stopping; claimed mail given back");
            } else {
                tracing::warn!(
                    released,
                    "mail lease running short; claimed mail given back"
                );
            }
        }
        Ok(handled)
    }

    /// Writes the outcomes of finished sends in one transaction; returns how many.
    async fn record(&self, done: Vec<Outcome>) -> anyhow::Result<usize> {
        if done.is_empty() {
            return Ok(0);
        }
        let now = db::now();
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        for o in done {
            match o.result {
                Ok(()) => {
                    tracing::info!(mail = %o.id, kind = %o.kind, "mail sent");
                    sent.push(o.id);
                }
                Err(e) => {
                    tracing::warn!(mail = %o.id, attempts = o.attempts, error = %e, "mail not sent");
                    let next = (o.attempts < self.config.max_attempts).then(|| {
                        now + chrono::Duration::from_std(backoff(
                            self.config.retry_base_ms,
                            o.attempts,
                            rand::random(),
                        ))
                        .unwrap_or_else(|_| chrono::Duration::hours(1))
                    });
                    failed.push((o.id, e, next));
                }
            }
        }
        let n = sent.len() + failed.len();
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            db.write_blocking(|conn| {
                db::outbox::mark_sent_all(conn, &sent, now)?;
                for (id, e, next) in &failed {
                    db::outbox::mark_failed(conn, id, e, *next, now)?;
                }
                Ok(())
            })
        })
        .await?
        .map_err(cause)
        .context("recording mail outcomes")?;
        Ok(n)
    }

    /// Queues the mails nobody asks for: a reminder before each hearing (once per booking), and a
    /// polite nudge to hospitals that are overdue (at most once per `NUDGE_EVERY_DAYS`).
    pub async fn schedule(&self) -> anyhow::Result<usize> {
        self.schedule_until(Stop::never()).await
    }

    async fn schedule_until(&self, stop: Stop) -> anyhow::Result<usize> {
        let db = self.db.clone();
        let app = self.app.clone();
        let links = self.links.clone();
        tokio::task::spawn_blocking(move || scheduled_mails(&db, &app, &links, &stop)).await?
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        self.run_until(Stop::never()).await
    }

    /// Delivers and schedules mail until `stop` is raised; then returns, having given back
    /// whatever it claimed and not sent. The scheduler runs beside delivery, not in its loop: a
    /// pass over thousands of overdue engagements takes a while and must not hold mail up.
    pub async fn run_until(self, mut stop: Stop) {
        tracing::info!("mail worker started");
        let scheduler = {
            let (db, app, links, mut stop) = (
                self.db.clone(),
                self.app.clone(),
                self.links.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.is_set() {
                    let (db, app, links, until) =
                        (db.clone(), app.clone(), links.clone(), stop.clone());
                    let pass = tokio::task::spawn_blocking(move || {
                        scheduled_mails(&db, &app, &links, &until)
                    });
                    match pass.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "mail scheduler"),
                        Err(e) => tracing::error!(error = %e, "mail scheduler"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(SCHEDULE_EVERY) => {}
                        _ = stop.raised() => {}
                    }
                }
            })
        };
        while !stop.is_set() {
            let handled = match self.deliver(&stop).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "mail worker");
                    0
                }
            };
            if handled == 0 {
                self.transport.close_idle().await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(self.config.poll_ms)) => {}
                    _ = stop.raised() => {}
                }
            }
        }
        // The scheduler stops between two engagements.
        if let Err(e) = scheduler.await {
            tracing::error!(error = %e, "mail scheduler");
        }
        tracing::info!("mail worker stopped");
    }
}

/// An error with its cause, for the log.
fn cause(e: AppError) -> anyhow::Error {
    match e {
        AppError::Internal(e) => e,
        other => anyhow::anyhow!(other.problem().detail),
    }
}

/// A mail the scheduler owes an engagement, and since when one counts as already queued.
struct Due {
    engagement_id: String,
    kind: MailKind,
    since: NaiveDateTime,
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
fn scheduled_mails(db: &Db, app: &Config, links: &LinkKeys, stop: &Stop) -> anyhow::Result<usize> {
    let now = db::now();
    let due = {
        let mut conn = db.pool.get().context("cannot reach the database")?;
        due_mails(&mut conn, app, now)
            .map_err(cause)
            .context("finding due reminders and nudges")?
    };
    let mut queued = 0;
    for d in due {
        if stop.is_set() {
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
                if let Err(e) = db.write_blocking(|conn| note_failure(conn, &d, &reason)) {
                    tracing::error!(engagement = %d.engagement_id, error = %format!("{:#}", cause(e)), "cannot record a mail failure");
                }
            }
        }
    }
    Ok(queued)
}

fn due_mails(conn: &mut DbConnection, app: &Config, now: NaiveDateTime) -> AppResult<Vec<Due>> {
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
    let cutoffs = crate::domain::pipeline::Stage::ALL
        .into_iter()
        .filter_map(|s| {
            app.sla
                .deadline_cutoff(s, now.and_utc())
                .map(|c| (s.as_str().to_owned(), c.naive_utc()))
        })
        .collect();
    let filter = db::engagements::Filter {
        overdue: Some(cutoffs),
        ..Default::default()
    };
    let since = now - chrono::Duration::days(app.mail.nudge_every_days);
    let kind = MailKind::OverdueNudge;
    for id in db::engagements::ids(conn, &db::Scope::All, &filter)? {
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
fn queue(conn: &mut DbConnection, app: &Config, links: &LinkKeys, d: &Due) -> AppResult<usize> {
    use crate::api::pipeline::{self, Command};
    use crate::domain::pipeline::{Action, Party};
    use crate::mail::compose::{self, Extra};

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
            let detail = crate::api::engagements::detail(conn, app, e.clone())?;
            let Some(next) = detail.next_action.filter(|n| n.awaiting == Party::Hospital) else {
                return Ok(0);
            };
            let what = crate::domain::pipeline::awaited_ja(next.code).map(str::to_owned);
            let extra = Extra {
                note: what.clone(),
                ..Default::default()
            };
            ("nudge_queued", extra, what)
        }
        _ => ("reminder_queued", Extra::default(), None),
    };
    let cmd = Command {
        engagement_id: &id,
        if_match: None,
        action: Action::Edit,
        override_reason: None,
        kind: event,
    };
    let kind = d.kind;
    let queued = pipeline::run_loaded(conn, system(), e, cmd, |conn, s| {
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
fn note_failure(conn: &mut DbConnection, d: &Due, reason: &str) -> AppResult<()> {
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
        crate::api::pipeline::note(
            conn,
            &system(),
            &e,
            db::mail_problems::EVENT,
            serde_json::json!({"mail": d.kind.as_str(), "error": reason, "contacts": bad}),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        assert_eq!(backoff(1000, 1, 0.5).as_millis(), 1000);
        assert_eq!(backoff(1000, 2, 0.5).as_millis(), 2000);
        assert_eq!(backoff(1000, 4, 0.5).as_millis(), 8000);
        assert_eq!(backoff(1000, 3, 0.0).as_millis(), 3200);
        assert_eq!(backoff(1000, 3, 1.0).as_millis(), 4800);
        assert_eq!(
            backoff(30_000, 40, 0.5).as_millis(),
            3_600_000,
            "capped at an hour"
        );
    }
}
