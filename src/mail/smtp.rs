//! SMTP over `smtp://` (plain, or STARTTLS with `?tls=required|opportunistic`): a small pool of
//! lettre connections on sockets with `TCP_NODELAY`.
//!
//! lettre's own pool cannot set `TCP_NODELAY`, and lettre writes the message and its final dot
//! in two writes: with Nagle on, the dot waits for the server's delayed ACK (~40 ms), which held
//! one connection to ~22 messages/s on loopback. Here each connection is opened by us, so the
//! option is set before lettre speaks SMTP on it; connections are kept for the next message and
//! at most `max` are open (one per message in flight).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// A pooled connection unused this long is checked with NOOP before it carries a message (the
/// server may have closed it); a fresher one is used at once.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);
/// Idle connections older than this are closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(60);

enum StartTls {
    No,
    Opportunistic(TlsParameters),
    Required(TlsParameters),
}

pub struct SmtpPool {
    host: String,
    port: u16,
    hello: ClientId,
    starttls: StartTls,
    credentials: Option<Credentials>,
    /// For connecting and for each whole message.
    timeout: Duration,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    slots: Semaphore,
}

impl SmtpPool {
    /// From an `smtp://` URL, by lettre's rules: default port 25 (587 with `tls=`), the path
    /// names the EHLO domain, `user:password@` authenticates.
    pub fn from_url(url: &str, max: usize, timeout: Duration) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).context("SMTP_URL is not a valid SMTP address")?;
        if parsed.scheme() != "smtp" {
            bail!("SMTP_URL: only smtp:// is pooled here");
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| anyhow!("SMTP_URL names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let params =
            || TlsParameters::new(host.clone()).context("SMTP_URL: cannot set up TLS for the host");
        let (starttls, default_port) = match tls.as_deref() {
            None => (StartTls::No, 25),
            Some("required") => (StartTls::Required(params()?), 587),
            Some("opportunistic") => (StartTls::Opportunistic(params()?), 587),
            Some(other) => {
                bail!("SMTP_URL: tls must be `required` or `opportunistic`, not `{other}`")
            }
        };
        let hello = match parsed.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        let credentials = match parsed.password() {
            Some(password) => {
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| s.into_owned())
                        .context("SMTP_URL: the credentials are not UTF-8")
                };
                Some(Credentials::new(
                    decode(parsed.username())?,
                    decode(password)?,
                ))
            }
            None => None,
        };
        Ok(Self {
            port: parsed.port().unwrap_or(default_port),
            host,
            hello,
            starttls,
            credentials,
            timeout,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(max.max(1)),
        })
    }

    /// Sends one message on a pooled connection (waiting while `max` messages are in flight).
    pub async fn send(&self, envelope: &Envelope, raw: &[u8]) -> anyhow::Result<()> {
        let _slot = self.slots.acquire().await.context("mail pool closed")?;
        let mut conn = match self.checkout().await {
            Some(conn) => conn,
            None => tokio::time::timeout(self.timeout, self.connect())
                .await
                .map_err(|_| {
                    anyhow!("no connection to the SMTP server within {:?}", self.timeout)
                })??,
        };
        match tokio::time::timeout(self.timeout, conn.send(envelope, raw)).await {
            Ok(Ok(_)) => {
                // lettre marks the connection broken on any error; a good one is kept.
                if !conn.has_broken() {
                    self.lock().push((conn, Instant::now()));
                }
                Ok(())
            }
            // lettre has already sent QUIT and closed it.
            Ok(Err(e)) => Err(e.into()),
            // Dropping the connection closes the socket mid-message: the server discards it.
            Err(_) => Err(anyhow!(
                "the SMTP server did not answer within {:?}",
                self.timeout
            )),
        }
    }

    /// Closes the idle connections (politely, with QUIT): a worker with nothing to send holds
    /// no sessions a server with few slots could give another client.
    pub async fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.lock());
        for (mut conn, _) in idle {
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.quit()).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(AsyncSmtpConnection, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used idle connection that still answers, if any.
    async fn checkout(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = {
                let mut idle = self.lock();
                // Too old to trust: closed without ceremony (the server may be gone).
                idle.retain(|(_, since)| since.elapsed() < MAX_IDLE);
                idle.pop()?
            };
            if since.elapsed() < CHECK_AFTER_IDLE {
                return Some(conn);
            }
            if matches!(
                tokio::time::timeout(self.timeout, conn.test_connected()).await,
                Ok(true)
            ) {
                return Some(conn);
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<AsyncSmtpConnection> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot connect to {}:{}", self.host, self.port))?;
        tcp.set_nodelay(true)
            .context("cannot set TCP_NODELAY on the SMTP connection")?;
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
            .await
            .context("SMTP greeting")?;
        match &self.starttls {
            StartTls::No => {}
            StartTls::Opportunistic(_) if !conn.can_starttls() => {}
            StartTls::Opportunistic(p) | StartTls::Required(p) => conn
                .starttls(p.clone(), &self.hello)
                .await
                .context("STARTTLS")?,
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .context("SMTP authentication")?;
        }
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::SmtpPool;
    use std::time::Duration;

    #[test]
    fn urls_follow_lettres_rules() {
        let t = Duration::from_secs(1);
        let p = SmtpPool::from_url("smtp://127.0.0.1:2525", 4, t).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 2525));
        assert!(p.credentials.is_none());
        let p = SmtpPool::from_url("smtp://u%40x:p%20w@mail.example?tls=required", 4, t).unwrap();
        assert_eq!(p.port, 587);
        assert!(matches!(p.starttls, super::StartTls::Required(_)));
        assert!(p.credentials.is_some());
        let p = SmtpPool::from_url("smtp://[::1]/relay.example", 4, t).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 25));
        assert!(SmtpPool::from_url("smtp://h?tls=sometimes", 4, t).is_err());
        assert!(SmtpPool::from_url("smtps://h", 4, t).is_err());
    }
}
