//! Where mail goes: an SMTP server (`SMTP_URL`), or `.eml` files under `DATA_DIR/outbox/` by
//! default.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::address::Envelope;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Transport {
    /// `smtp://host:25` (plain; add `?tls=required` for STARTTLS), `smtps://host:465` (TLS),
    /// with `user:password@` for authentication.
    pub fn from_config(smtp_url: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        match smtp_url {
            Some(url) => Ok(Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("SMTP_URL is not a valid SMTP address")?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            )),
            None => Ok(Transport::Files(data_dir.join("outbox"))),
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
            Transport::Smtp(smtp) => {
                let from: Address = from.parse().context("bad sender address")?;
                let to = to
                    .iter()
                    .map(|a| {
                        a.parse::<Address>()
                            .with_context(|| format!("bad recipient {a}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let envelope = Envelope::new(Some(from), to).context("no recipient")?;
                smtp.send_raw(&envelope, raw).await?;
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
