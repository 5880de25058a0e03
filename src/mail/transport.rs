//! Where mail goes: an SMTP server (`SMTP_URL`), or `.eml` files under `DATA_DIR/outbox/` by
//! default. Every transport takes several messages at once (the worker keeps a few in flight).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::smtp::SmtpPool;

/// How long connecting, or sending one message, may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

pub enum Transport {
    /// `smtp://`: our pool, with `TCP_NODELAY` (see [`SmtpPool`]).
    Smtp(Box<SmtpPool>),
    /// `smtps://` (TLS from the first byte): lettre's pooled transport, which opens the socket
    /// itself. Its connections lack `TCP_NODELAY`; several in flight make up for it.
    SmtpTls(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Transport {
    /// `smtp://host:25` (plain; add `?tls=required` for STARTTLS), `smtps://host:465` (TLS),
    /// with `user:password@` for authentication.
    /// `connections`: at most this many SMTP connections (one per message in flight).
    pub fn from_config(
        smtp_url: Option<&str>,
        data_dir: &std::path::Path,
        connections: usize,
    ) -> anyhow::Result<Self> {
        match smtp_url {
            Some(url) if url.starts_with("smtps://") => Ok(Transport::SmtpTls(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("SMTP_URL is not a valid SMTP address")?
                    .timeout(Some(SMTP_TIMEOUT))
                    .pool_config(PoolConfig::new().max_size(connections.max(1) as u32))
                    .build(),
            )),
            Some(url) => Ok(Transport::Smtp(Box::new(SmtpPool::from_url(
                url,
                connections,
                SMTP_TIMEOUT,
            )?))),
            None => Ok(Transport::Files(data_dir.join("outbox"))),
        }
    }

    /// Closes connections kept for the next message (when there is none for now).
    pub async fn close_idle(&self) {
        if let Transport::Smtp(pool) = self {
            pool.close_idle().await;
        }
    }

    /// Delivers one prepared message. `name` names the file for the file transport.
    pub async fn send(
        &self,
        name: &str,
        from: &str,
        to: &[String],
        raw: &[u8],
    ) -> anyhow::Result<()> {
        match self {
            Transport::Smtp(pool) => pool.send(&envelope(from, to)?, raw).await,
            Transport::SmtpTls(smtp) => {
                smtp.send_raw(&envelope(from, to)?, raw).await?;
                Ok(())
            }
            Transport::Files(dir) => {
                let dir = dir.clone();
                let dir_shown = dir.clone();
                let path = dir.join(format!("{name}.eml"));
                let raw = raw.to_vec();
                tokio::task::spawn_blocking(move || {
                    // Owner-only: the messages carry live links.
                    crate::files::create_private_dir(&dir)?;
                    // Written whole, then renamed: a reader never sees half a message.
                    let tmp = path.with_extension("eml.partial");
                    // Left over from a crash mid-write: start again.
                    let _ = std::fs::remove_file(&tmp);
                    crate::files::create_private_file(&tmp)?.write_all(&raw)?;
                    std::fs::rename(&tmp, &path)
                })
                .await?
                .with_context(|| format!("cannot write mail under {}", dir_shown.display()))?;
                Ok(())
            }
        }
    }
}

fn envelope(from: &str, to: &[String]) -> anyhow::Result<Envelope> {
    let from: Address = from.parse().context("bad sender address")?;
    let to = to
        .iter()
        .map(|a| {
            a.parse::<Address>()
                .with_context(|| format!("bad recipient {a}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Envelope::new(Some(from), to).context("no recipient")
}
