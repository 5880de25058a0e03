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
use tokio::sync::watch;

use super::transport::Transport;
use crate::auth::links::LinkKeys;
use crate::config::{Config, MailConfig};
use crate::db::{self, Db};
use crate::error::AppError;

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
/// The retention purge runs at start and then daily.
const PURGE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

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

#[derive(Clone)]
pub struct Worker {
    pub db: Db,
    pub transport: Arc<Transport>,
    pub config: MailConfig,
    /// For the scheduled mails (reminders, nudges), which need links and the SLA.
    pub app: Arc<Config>,
    pub links: Arc<LinkKeys>,
    /// Where documents' bytes live, for the daily retention purge.
    pub files: Arc<crate::files::Files>,
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
        let now = self.app.clock.now();
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
            let now = self.app.clock.now();
            let released = tokio::task::spawn_blocking(move || {
                db.write_blocking(|conn| Ok(db::outbox::release(conn, &rest, now)?))
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
        let now = self.app.clock.now();
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
        tokio::task::spawn_blocking(move || {
            crate::service::reminders::scheduled_mails(&db, &app, &links, &|| stop.is_set())
        })
        .await?
    }

    /// Purges the confidential material of engagements closed more than `RETENTION_DAYS` ago.
    pub async fn purge(&self) -> anyhow::Result<crate::service::retention::PurgeReport> {
        let days = self.app.retention_days;
        let now = self.app.clock.now();
        crate::service::retention::purge(&self.db, &self.files, now, days, false)
            .await
            .map_err(cause)
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        self.run_until(Stop::never()).await
    }

    /// Delivers and schedules mail (and runs the retention purge) until `stop` is raised; then
    /// returns, having given back whatever it claimed and not sent. The timers run beside
    /// delivery, not in its loop: a pass over thousands of engagements must not hold mail up.
    pub async fn run_until(self, mut stop: Stop) {
        tracing::info!("mail worker started");
        // The timers: the scheduler every minute, the retention purge at start and then daily.
        let timers = {
            let (worker, mut stop) = (self.clone(), stop.clone());
            tokio::spawn(async move {
                let mut last_purge: Option<Instant> = None;
                while !stop.is_set() {
                    if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                        last_purge = Some(Instant::now());
                        match worker.purge().await {
                            Ok(r) if !r.engagements.is_empty() => {
                                tracing::info!(engagements = r.engagements.len(), "retention purge")
                            }
                            Ok(_) => {}
                            Err(e) => tracing::error!(error = %format!("{e:#}"), "retention purge"),
                        }
                    }
                    if let Err(e) = worker.schedule_until(stop.clone()).await {
                        tracing::error!(error = %format!("{e:#}"), "mail scheduler");
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
        if let Err(e) = timers.await {
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
