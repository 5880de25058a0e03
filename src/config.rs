//! Settings from the environment (and an optional `.env`), checked once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Minimum length of an HMAC secret for access tokens.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    /// The time the application runs at: the system clock, moved only by tests. It travels
    /// with the configuration so every holder (app state, `service::Ctx`, mail worker) reads
    /// the same time.
    pub clock: crate::clock::Clock,
    pub database_url: String,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub public_base_url: String,
    pub jwt_secret: Vec<u8>,
    pub access_token_ttl_secs: i64,
    pub smtp_url: Option<String>,
    pub log_format: LogFormat,
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before it answers 503.
    pub db_timeout: std::time::Duration,
    pub sla: crate::domain::pipeline::Sla,
    pub backup_rate: crate::domain::backup::Rate,
    pub max_upload_bytes: u64,
    pub mail: MailConfig,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`); none by default.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Days a closed engagement's confidential material is kept before the purge (`RETENTION_DAYS`).
    pub retention_days: u32,
    /// Where document objects live (`FILES_URL`).
    pub files: crate::files::store::Location,
    /// The master keys that seal documents (`FILES_KEY`, `FILES_KEY_FILE`, or generated).
    pub files_keys: crate::files::keys::KeySource,
}

/// Mail delivery and the links it carries.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The envelope and header sender.
    pub from: String,
    /// First retry delay; each later one doubles (with jitter), up to an hour.
    pub retry_base_ms: u64,
    /// Attempts before a mail is marked `failed`.
    pub max_attempts: i64,
    /// How often the worker looks for due mail.
    pub poll_ms: u64,
    /// Messages a worker sends at once (and SMTP connections it keeps open).
    pub concurrency: usize,
    /// Whether `serve` runs the delivery worker itself.
    pub worker_in_serve: bool,
    /// Lifetime of links in mail.
    pub link_ttl_days: i64,
    /// Reminder this many hours before a hearing.
    pub reminder_lead_hours: i64,
    /// At most one polite nudge per this many days while the hospital is overdue.
    pub nudge_every_days: i64,
    /// A directory whose `<kind>.txt` / `.html` / `.subject` files replace the built-in templates.
    pub templates_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets or passwords in URLs.
        f.debug_struct("Config")
            .field("database", &self.backend_name())
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("public_base_url", &self.public_base_url)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("smtp", &self.smtp_url.is_some())
            .field("log_format", &self.log_format)
            .field("files", &self.files)
            .field("files_keys", &self.files_keys)
            .finish()
    }
}

/// Where the raw values come from; a map in tests, the process environment otherwise.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;
}

pub struct Env;

impl Source for Env {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<const N: usize> Source for [(&str, &str); N] {
    fn get(&self, key: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    }
}

impl Config {
    /// Reads `.env` (if present) and the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        let _ = dotenvy::dotenv();
        Self::load(&Env)
    }

    pub fn load(src: &impl Source) -> anyhow::Result<Self> {
        let data_dir = PathBuf::from(src.get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let bind: SocketAddr = src
            .get("BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .context("BIND must be an address with port, e.g. 127.0.0.1:8080")?;
        let database_url = match src.get("DATABASE_URL") {
            Some(url) => {
                if !(url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite://")
                    || url.ends_with(".db")
                    || url.ends_with(".sqlite3"))
                {
                    bail!("DATABASE_URL must start with postgres:// or sqlite:// (got a value of another kind)");
                }
                url
            }
            None => format!(
                "sqlite://{}",
                data_dir.join("engagement-tracker.sqlite3").display()
            ),
        };
        let public_base_url = src
            .get("PUBLIC_BASE_URL")
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_base_url.starts_with("http://") || public_base_url.starts_with("https://")) {
            bail!("PUBLIC_BASE_URL must start with http:// or https://");
        }
        let jwt_secret = match (src.get("JWT_SECRET"), src.get("JWT_SECRET_FILE")) {
            (Some(s), _) => s.into_bytes(),
            (None, Some(path)) => std::fs::read(&path)
                .with_context(|| format!("JWT_SECRET_FILE {path} cannot be read"))?
                .trim_ascii()
                .to_vec(),
            (None, None) => load_or_create_secret(&data_dir, "jwt-secret")?,
        };
        if jwt_secret.len() < MIN_SECRET_LEN {
            bail!(
                "JWT_SECRET is {} bytes; it must be at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -hex 32`)",
                jwt_secret.len()
            );
        }
        let access_token_ttl_secs = parse_in(src, "ACCESS_TOKEN_TTL_SECS", 900, 60..=86_400)?;
        let smtp_url = src.get("SMTP_URL");
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                bail!("SMTP_URL must start with smtp:// or smtps://");
            }
        }
        let log_format = match src.get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("LOG_FORMAT must be `text` or `json`, not `{other}`"),
        };
        let db_pool_size = parse_in(src, "DB_POOL_SIZE", 10, 1..=200)?;
        let db_timeout_ms = parse_in(src, "DB_TIMEOUT_MS", 1_000, 100..=60_000)?;
        let sla = crate::domain::pipeline::Sla::parse(&src.get("SLA_DAYS").unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("SLA_DAYS: {e}"))?;
        let backup_rate = match src.get("BACKUP_RATE_JPY_PER_TB") {
            Some(v) => crate::domain::backup::Rate::parse(&v)
                .map_err(|e| anyhow::anyhow!("BACKUP_RATE_JPY_PER_TB: {e}"))?,
            None => Default::default(),
        };
        let max_upload_bytes = parse_in(
            src,
            "MAX_UPLOAD_BYTES",
            50 * 1024 * 1024,
            1024..=1024 * 1024 * 1024,
        )?;
        let host = public_base_url
            .split("://")
            .nth(1)
            .unwrap_or("localhost")
            .split([':', '/'])
            .next()
            .unwrap_or("localhost")
            .to_owned();
        let mail = MailConfig {
            from: src
                .get("MAIL_FROM")
                .unwrap_or_else(|| format!("engagement-tracker@{host}")),
            retry_base_ms: parse_in(src, "MAIL_RETRY_BASE_MS", 30_000, 10..=3_600_000)? as u64,
            max_attempts: parse_in(src, "MAIL_MAX_ATTEMPTS", 8, 1..=100)?,
            poll_ms: parse_in(src, "MAIL_POLL_MS", 1_000, 10..=3_600_000)? as u64,
            concurrency: parse_in(src, "MAIL_CONCURRENCY", 8, 1..=64)? as usize,
            worker_in_serve: match src.get("MAIL_WORKER").as_deref().map(str::trim) {
                None | Some("on" | "true" | "1") => true,
                Some("off" | "false" | "0") => false,
                Some(other) => bail!("MAIL_WORKER must be `on` or `off`, not `{other}`"),
            },
            link_ttl_days: parse_in(src, "LINK_TTL_DAYS", 14, 1..=365)?,
            reminder_lead_hours: parse_in(src, "REMINDER_LEAD_HOURS", 24, 1..=24 * 14)?,
            nudge_every_days: parse_in(src, "NUDGE_EVERY_DAYS", 7, 1..=90)?,
            templates_dir: src.get("MAIL_TEMPLATES_DIR").map(PathBuf::from),
        };
        let trusted_proxies =
            crate::auth::client::parse_trusted(&src.get("TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("TRUSTED_PROXIES: {e}"))?;
        let files = crate::files::store::Location::from_settings(
            src.get("FILES_URL"),
            |k| src.get(k),
            &data_dir,
        )?;
        let files_keys = crate::files::keys::KeySource::from_settings(
            src.get("FILES_KEY"),
            src.get("FILES_KEY_FILE"),
            &data_dir,
        )?;
        if matches!(files, crate::files::store::Location::S3 { .. })
            && matches!(files_keys, crate::files::keys::KeySource::Generated(_))
        {
            // A key generated into one machine's DATA_DIR cannot be shared by the replicas a
            // shared store is for, and is lost with that machine.
            bail!("FILES_URL names a shared store: set FILES_KEY or FILES_KEY_FILE (every replica needs the same master keys)");
        }
        let mut errors = Vec::new();
        crate::domain::validate::email("MAIL_FROM", &mail.from, &mut errors);
        if !errors.is_empty() {
            bail!("MAIL_FROM must be an email address");
        }
        let retention_days = parse_in(src, "RETENTION_DAYS", 365, 0..=3650)? as u32;
        Ok(Config {
            clock: crate::clock::Clock::real(),
            retention_days,
            files,
            files_keys,
            trusted_proxies,
            mail,
            sla,
            backup_rate,
            max_upload_bytes: max_upload_bytes as u64,
            database_url,
            bind,
            data_dir,
            public_base_url,
            jwt_secret,
            access_token_ttl_secs,
            smtp_url,
            log_format,
            db_pool_size: db_pool_size as u32,
            db_timeout: std::time::Duration::from_millis(db_timeout_ms as u64),
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    pub fn backend_name(&self) -> &'static str {
        if self.is_postgres() {
            "postgresql"
        } else {
            "sqlite"
        }
    }
}

fn parse_num(src: &impl Source, key: &str, default: i64) -> anyhow::Result<i64> {
    match src.get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{key} must be a whole number, not `{v}`")),
    }
}

/// A whole number in `range`; a value outside it stops the start (it is never clamped, so the
/// setting in force is always the one written).
fn parse_in(
    src: &impl Source,
    key: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> anyhow::Result<i64> {
    let v = parse_num(src, key, default)?;
    if !range.contains(&v) {
        bail!(
            "{key} must be between {} and {}, not {v}",
            range.start(),
            range.end()
        );
    }
    Ok(v)
}

/// With no secret configured, one is generated on first start and kept (owner-only) so that
/// tokens survive a restart. Two processes starting together on an empty DATA_DIR (`serve` and
/// `user create`) end up with the same one: the file appears whole, and only once.
pub(crate) fn load_or_create_secret(data_dir: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    use rand::RngCore;
    use std::io::Write;
    let path = data_dir.join(name);
    let read = |path: &Path| -> anyhow::Result<Vec<u8>> {
        Ok(std::fs::read(path)
            .with_context(|| format!("{} cannot be read", path.display()))?
            .trim_ascii()
            .to_vec())
    };
    if path.exists() {
        return read(&path);
    }
    crate::files::create_private_dir(data_dir)
        .with_context(|| format!("DATA_DIR {} cannot be created", data_dir.display()))?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = hex::encode(raw);
    // Written beside, then linked into place without replacing: tempfile makes it 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(data_dir)
        .with_context(|| format!("cannot write in DATA_DIR {}", data_dir.display()))?;
    tmp.write_all(secret.as_bytes())?;
    match tmp.persist_noclobber(&path) {
        Ok(_) => Ok(secret.into_bytes()),
        // Another process made it first: use that one.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(e.error).with_context(|| format!("{} cannot be written", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_are_sqlite_under_data() {
        let c = Config::load(&[("JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.starts_with("sqlite://./data/"));
        assert_eq!(c.public_base_url, "http://127.0.0.1:8080");
        assert!(!c.is_postgres());
    }

    #[test]
    fn short_secret_is_refused() {
        let err = Config::load(&[("JWT_SECRET", "short")]).unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::load(&[("JWT_SECRET", SECRET), ("BIND", "nowhere")]).unwrap_err();
        assert!(err.to_string().contains("BIND"));
        let err = Config::load(&[("JWT_SECRET", SECRET), ("LOG_FORMAT", "xml")]).unwrap_err();
        assert!(err.to_string().contains("LOG_FORMAT"));
        let err =
            Config::load(&[("JWT_SECRET", SECRET), ("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"));
    }

    #[test]
    fn numbers_out_of_range_are_refused_not_clamped() {
        for (key, bad) in [
            ("ACCESS_TOKEN_TTL_SECS", "59"),
            ("DB_POOL_SIZE", "0"),
            ("DB_TIMEOUT_MS", "0"),
            ("DB_TIMEOUT_MS", "600000"),
            ("MAX_UPLOAD_BYTES", "10"),
            ("MAIL_RETRY_BASE_MS", "0"),
            ("MAIL_MAX_ATTEMPTS", "0"),
            ("MAIL_MAX_ATTEMPTS", "1000"),
            ("MAIL_POLL_MS", "1"),
            ("LINK_TTL_DAYS", "0"),
            ("LINK_TTL_DAYS", "366"),
            ("REMINDER_LEAD_HOURS", "-3"),
            ("REMINDER_LEAD_HOURS", "0"),
            ("NUDGE_EVERY_DAYS", "0"),
            ("NUDGE_EVERY_DAYS", "91"),
        ] {
            let err = Config::load(&[("JWT_SECRET", SECRET), (key, bad)]).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(key) && msg.contains("between") && msg.contains(bad),
                "{key}={bad}: {msg}"
            );
        }
        let err = Config::load(&[("JWT_SECRET", SECRET), ("LINK_TTL_DAYS", "two")]).unwrap_err();
        assert!(err.to_string().contains("LINK_TTL_DAYS"), "{err}");
    }

    #[test]
    fn numbers_at_the_ends_of_their_ranges_are_kept() {
        let c = Config::load(&[
            ("JWT_SECRET", SECRET),
            ("LINK_TTL_DAYS", "365"),
            ("MAIL_MAX_ATTEMPTS", "1"),
            ("REMINDER_LEAD_HOURS", "336"),
            ("NUDGE_EVERY_DAYS", "1"),
            ("DB_TIMEOUT_MS", "100"),
        ])
        .unwrap();
        assert_eq!(c.mail.link_ttl_days, 365);
        assert_eq!(c.mail.max_attempts, 1);
        assert_eq!(c.mail.reminder_lead_hours, 336);
        assert_eq!(c.mail.nudge_every_days, 1);
        assert_eq!(c.db_timeout.as_millis(), 100);
    }

    #[test]
    fn database_waits_are_short_by_default() {
        let c = Config::load(&[("JWT_SECRET", SECRET)]).unwrap();
        assert!(c.db_timeout <= std::time::Duration::from_secs(2));
    }

    #[test]
    fn mail_worker_is_on_or_off() {
        let on = |v: &str| {
            Config::load(&[("JWT_SECRET", SECRET), ("MAIL_WORKER", v)])
                .map(|c| c.mail.worker_in_serve)
        };
        assert!(on("on").unwrap());
        assert!(!on("off").unwrap());
        assert!(!on("false").unwrap());
        let err = on("of").unwrap_err();
        assert!(err.to_string().contains("MAIL_WORKER"), "{err}");
        assert!(
            Config::load(&[("JWT_SECRET", SECRET)])
                .unwrap()
                .mail
                .worker_in_serve
        );
    }

    #[test]
    fn processes_starting_together_share_one_generated_secret() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        let secrets: Vec<Vec<u8>> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_secret(&d, "jwt-secret").unwrap()))
                .collect();
            starts.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(secrets.iter().all(|s| s == &secrets[0] && s.len() == 64));
        let leftovers = std::fs::read_dir(&d).unwrap().count();
        assert_eq!(leftovers, 1, "only the key itself");
    }

    #[test]
    fn document_store_and_keys_are_checked_and_named() {
        let c = Config::load(&[("JWT_SECRET", SECRET), ("DATA_DIR", "/srv/et")]).unwrap();
        assert_eq!(c.files.describe(), "/srv/et/files");
        assert!(matches!(
            c.files_keys,
            crate::files::keys::KeySource::Generated(ref p) if p == Path::new("/srv/et/files-key")
        ));
        for (key, bad) in [
            ("FILES_URL", "/var/lib/documents"),
            ("FILES_URL", "s3://"),
            ("FILES_URL", "gs://bucket/x"),
            ("FILES_KEY", "not-a-key"),
            ("FILES_KEY_FILE", "/nonexistent/files-key"),
        ] {
            let err = Config::load(&[("JWT_SECRET", SECRET), (key, bad)]).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}={bad}: {err:#}");
        }
        let err = Config::load(&[
            ("JWT_SECRET", SECRET),
            ("FILES_URL", "s3://documents/tracker"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "not-printed"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("FILES_KEY"), "{err}");
        let key = "ab".repeat(32);
        let c = Config::load(&[
            ("JWT_SECRET", SECRET),
            ("FILES_URL", "s3://documents/tracker"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "not-printed"),
            ("FILES_KEY", key.as_str()),
        ])
        .unwrap();
        assert_eq!(c.files.describe(), "s3://documents/tracker");
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("not-printed") && !debug.contains(&key),
            "{debug}"
        );
    }

    #[test]
    fn trusted_proxies_are_parsed_or_named() {
        let c = Config::load(&[("JWT_SECRET", SECRET)]).unwrap();
        assert!(c.trusted_proxies.is_empty());
        let c = Config::load(&[
            ("JWT_SECRET", SECRET),
            ("TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ])
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        let err = Config::load(&[("JWT_SECRET", SECRET), ("TRUSTED_PROXIES", "lb.internal")])
            .unwrap_err();
        assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn generated_secret_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let d = format!("{d}/new");
        let d = d.as_str();
        let a = Config::load(&[("DATA_DIR", d)]).unwrap();
        let b = Config::load(&[("DATA_DIR", d)]).unwrap();
        assert_eq!(a.jwt_secret, b.jwt_secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.path().join("new/jwt-secret")), 0o600);
            assert_eq!(
                mode(&dir.path().join("new")),
                0o700,
                "DATA_DIR is created 0700"
            );
        }
    }
}
