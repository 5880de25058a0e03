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

    /// Runs until the process ends.
    pub async fn run(self) {
        tracing::info!("mail worker started");
        loop {
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
