//! Delivers the outbox: claims due rows, sends them, and records the outcome. Retries back off
//! exponentially with jitter; after `MAIL_MAX_ATTEMPTS` a row is `failed` (visible in
//! `GET /api/v1/emails` and re-sendable).
//!
//! Delivery is at least once: a crash between sending and marking a row sent leaves it
//! `sending`; when its lease runs out it is sent again, with the same Message-ID, so the
//! recipient's mail system can recognise the duplicate. An SMTP outage only delays mail.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::transport::Transport;
use crate::config::MailConfig;
use crate::db::{self, Db};

/// How long a claimed row is reserved for the worker that claimed it.
const LEASE_SECS: i64 = 120;
const BATCH: i64 = 20;

/// Delay before attempt `attempts + 1`: base × 2^(attempts−1), at most an hour, ±20 % jitter
/// (`jitter` in 0..1) so that many failed mails do not all retry at once.
pub fn backoff(base_ms: u64, attempts: i64, jitter: f64) -> Duration {
    let exp = attempts.clamp(1, 30) as u32 - 1;
    let raw = base_ms.saturating_mul(1u64 << exp.min(20)).min(3_600_000) as f64;
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::from_millis((raw * factor) as u64)
}

pub struct Worker {
    pub db: Db,
    pub transport: Arc<Transport>,
    pub config: MailConfig,
    /// For the scheduled mails (reminders, nudges), which need links and the SLA.
    pub app: Arc<crate::config::Config>,
    pub links: Arc<crate::auth::links::LinkKeys>,
}

impl Worker {
    /// Sends what is due; returns how many rows were handled.
    pub async fn tick(&self) -> anyhow::Result<usize> {
        let db = self.db.clone();
        let now = db::now();
        let rows = tokio::task::spawn_blocking(move || {
            db.write_blocking(|conn| {
                Ok(db::outbox::claim(
                    conn,
                    now,
                    now + chrono::Duration::seconds(LEASE_SECS),
                    BATCH,
                )?)
            })
        })
        .await?
        .map_err(|e| anyhow::anyhow!("claiming mail: {}", e.problem().detail))?;
        let n = rows.len();
        for row in rows {
            let to: Vec<String> = serde_json::from_str(&row.envelope_to).unwrap_or_default();
            let result = self
                .transport
                .send(&row.id, &row.envelope_from, &to, row.raw.as_bytes())
                .await;
            let now = db::now();
            let next: Option<NaiveDateTime> =
                (row.attempts < self.config.max_attempts).then(|| {
                    now + chrono::Duration::from_std(backoff(
                        self.config.retry_base_ms,
                        row.attempts,
                        rand::random(),
                    ))
                    .unwrap_or_else(|_| chrono::Duration::hours(1))
                });
            let db = self.db.clone();
            let id = row.id.clone();
            let outcome = result.as_ref().map(|_| ()).map_err(|e| format!("{e:#}"));
            match &outcome {
                Ok(()) => tracing::info!(mail = %row.id, kind = %row.kind, "mail sent"),
                Err(e) => {
                    tracing::warn!(mail = %row.id, attempts = row.attempts, error = %e, "mail not sent")
                }
            }
            tokio::task::spawn_blocking(move || {
                db.write_blocking(|conn| {
                    match &outcome {
                        Ok(()) => db::outbox::mark_sent(conn, &id, now)?,
                        Err(e) => db::outbox::mark_failed(conn, &id, e, next, now)?,
                    }
                    Ok(())
                })
            })
            .await?
            .map_err(|e| anyhow::anyhow!("recording mail outcome: {}", e.problem().detail))?;
        }
        Ok(n)
    }

    /// Queues the mails nobody asks for: a reminder before each hearing (once per booking), and a
    /// polite nudge to hospitals that are overdue (at most once per `NUDGE_EVERY_DAYS`).
    pub async fn schedule(&self) -> anyhow::Result<usize> {
        let db = self.db.clone();
        let app = self.app.clone();
        let links = self.links.clone();
        let queued = tokio::task::spawn_blocking(move || {
            db.write_blocking(|conn| scheduled_mails(conn, &app, &links))
        })
        .await?
        .map_err(|e| anyhow::anyhow!("scheduling mail: {}", e.problem().detail))?;
        Ok(queued)
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        tracing::info!("mail worker started");
        let mut last_schedule = std::time::Instant::now() - Duration::from_secs(3600);
        loop {
            if last_schedule.elapsed() >= Duration::from_secs(60) {
                last_schedule = std::time::Instant::now();
                if let Err(e) = self.schedule().await {
                    tracing::error!(error = %e, "mail scheduler");
                }
            }
            let handled = match self.tick().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "mail worker");
                    0
                }
            };
            if handled == 0 {
                tokio::time::sleep(Duration::from_millis(self.config.poll_ms)).await;
            }
        }
    }
}

fn scheduled_mails(
    conn: &mut crate::db::DbConnection,
    app: &crate::config::Config,
    links: &crate::auth::links::LinkKeys,
) -> crate::error::AppResult<usize> {
    use crate::api::pipeline::{self, Command, Who};
    use crate::domain::pipeline::{Action, Party};
    use crate::mail::compose::{self, Extra};
    use crate::mail::render::MailKind;

    let now = db::now();
    let system = Who {
        kind: "system",
        id: None,
        label: "mail scheduler".into(),
        is_admin: false,
    };
    let mut queued = 0;
    let lead = chrono::Duration::hours(app.mail.reminder_lead_hours);
    for (hearing, slot) in db::hearings::all_scheduled(conn)? {
        let due = slot.starts_at > now && slot.starts_at - lead <= now;
        if !due
            || db::outbox::queued_since(
                conn,
                &hearing.engagement_id,
                MailKind::HearingReminder.as_str(),
                hearing.booked_at,
            )?
        {
            continue;
        }
        let Some(e) = db::engagements::get(conn, &hearing.engagement_id)? else {
            continue;
        };
        let id = e.id.clone();
        let cmd = Command {
            engagement_id: &id,
            if_match: None,
            action: Action::Edit,
            override_reason: None,
            kind: "reminder_queued",
        };
        queued += pipeline::run_loaded(conn, system.clone(), e, cmd, |conn, s| {
            let ids = compose::enqueue(
                conn,
                app,
                links,
                &s.engagement,
                MailKind::HearingReminder,
                &Extra::default(),
            )?;
            s.payload = serde_json::json!({"mail": "hearing_reminder", "outbox": ids});
            Ok(ids.len())
        })?;
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
    for id in db::engagements::ids(conn, &db::Scope::All, &filter)? {
        if db::outbox::queued_since(conn, &id, MailKind::OverdueNudge.as_str(), since)? {
            continue;
        }
        let Some(e) = db::engagements::get(conn, &id)? else {
            continue;
        };
        let detail = crate::api::engagements::detail(conn, app, e.clone())?;
        if detail
            .next_action
            .as_ref()
            .is_none_or(|n| n.awaiting != Party::Hospital)
        {
            continue;
        }
        let what = detail
            .next_action
            .and_then(|n| crate::domain::pipeline::awaited_ja(n.code))
            .map(str::to_owned);
        let cmd = Command {
            engagement_id: &id,
            if_match: None,
            action: Action::Edit,
            override_reason: None,
            kind: "nudge_queued",
        };
        queued += pipeline::run_loaded(conn, system.clone(), e, cmd, |conn, s| {
            let extra = Extra {
                note: what.clone(),
                ..Default::default()
            };
            let ids = compose::enqueue(
                conn,
                app,
                links,
                &s.engagement,
                MailKind::OverdueNudge,
                &extra,
            )?;
            s.payload =
                serde_json::json!({"mail": "overdue_nudge", "outbox": ids, "awaiting": what});
            Ok(ids.len())
        })?;
    }
    Ok(queued)
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
