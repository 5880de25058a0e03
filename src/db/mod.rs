//! Database access: one connection type over PostgreSQL and SQLite, a pool, migrations, and the
//! queries per aggregate. Handlers never build SQL; queries never decide business rules.

pub mod dashboard;
pub mod demo;
pub mod engagements;
pub mod hearings;
pub mod hospitals;
pub mod intake;
pub mod links;
pub mod orgs;
pub mod outbox;
pub mod rounds;
pub mod schema;
pub mod sessions;
pub mod tokens;
pub mod users;
pub mod verification;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{AppError, AppResult};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Connects to the backend the URL names; errors keep their real cause (unlike
/// `AnyConnection::establish`, which tries each backend in turn).
pub struct Manager {
    url: String,
}

impl Manager {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
        }
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

pub fn establish(url: &str) -> Result<DbConnection, ConnError> {
    if is_postgres_url(url) {
        Ok(DbConnection::Pg(PgConnection::establish(url)?))
    } else {
        Ok(DbConnection::Sqlite(SqliteConnection::establish(
            sqlite_path(url),
        )?))
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = ConnError;

    fn connect(&self) -> Result<DbConnection, ConnError> {
        let mut conn = establish(&self.url)?;
        if let DbConnection::Sqlite(c) = &mut conn {
            // busy_timeout first: it makes the others wait for the lock instead of failing.
            // WAL lets readers run beside the one writer; foreign keys are off by default.
            c.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
            )?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnError> {
        conn.batch_execute("SELECT 1").map_err(Into::into)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// The pool plus the rule that SQLite has one writer: write transactions on SQLite take a
/// process-wide lock so that they queue instead of failing with "database is locked".
#[derive(Clone)]
pub struct Db {
    pub pool: Pool,
    write_lock: Option<Arc<Mutex<()>>>,
}

impl Db {
    pub fn connect(url: &str, max_size: u32) -> anyhow::Result<Self> {
        if !is_postgres_url(url) {
            if let Some(parent) = std::path::Path::new(sqlite_path(url)).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!("cannot create the directory {}", parent.display())
                    })?;
                }
            }
        }
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .connection_timeout(Duration::from_secs(10))
            .build(Manager::new(url))
            .context("cannot connect to the database")?;
        let write_lock = (!is_postgres_url(url)).then(|| Arc::new(Mutex::new(())));
        Ok(Self { pool, write_lock })
    }

    /// Applies pending migrations; returns their names.
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self
            .pool
            .get()
            .context("cannot get a database connection")?;
        let migrations = match &*conn {
            DbConnection::Pg(_) => PG_MIGRATIONS,
            DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
        };
        let applied = conn
            .run_pending_migrations(migrations)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        Ok(applied.iter().map(|m| m.to_string()).collect())
    }

    /// Runs blocking reads off the async executor.
    pub async fn read<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        // Keep the request's span (and so its request id) on the blocking thread's log lines.
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// Runs one command as one transaction, off the async executor.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            db.write_blocking(f)
        })
        .await?
    }

    pub fn write_blocking<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T>,
    {
        let mut conn = self.pool.get()?;
        let _guard = self
            .write_lock
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        DbConnection::transaction(&mut conn, f)
    }

    pub fn in_use(&self) -> u32 {
        let state = self.pool.state();
        state.connections - state.idle_connections
    }
}

impl From<ConnError> for AppError {
    fn from(e: ConnError) -> Self {
        AppError::Unavailable(format!("database unavailable: {e}"))
    }
}

/// Now, cut to microseconds: PostgreSQL keeps no more, so values round-trip equal.
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Which organisations' rows a caller may see: all of them, or a set (a coordinator's subtree).
#[derive(Debug, Clone)]
pub enum Scope {
    All,
    Orgs(Vec<String>),
}

impl Scope {
    pub fn allows(&self, org_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Orgs(ids) => ids.iter().any(|i| i == org_id),
        }
    }
}
