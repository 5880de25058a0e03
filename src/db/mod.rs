//! Database access: one connection type over PostgreSQL and SQLite, a pool, migrations, and the
//! queries per aggregate. Handlers never build SQL; queries never decide business rules.

pub mod bulk;
pub mod dashboard;
pub mod demo;
pub mod detail;
pub mod engagement_list;
pub mod engagements;
mod error;
pub mod files;
pub mod fixed;
pub mod hearings;
pub mod hospitals;
pub mod idempotency;
pub mod intake;
pub mod links;
pub mod mail_problems;
pub mod orgs;
pub mod outbox;
pub mod retention;
pub mod rounds;
pub mod schema;
pub mod sessions;
pub mod stamp;
pub mod tokens;
pub mod types;
pub mod users;
pub mod verification;

use crate::domain::ids::OrganizationId;
use error::unavailable;
pub use error::{atomic, ConnError, DbError, DbResult, WorkError, UNAVAILABLE};

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs a query on the backend's own connection instead of through the `MultiConnection`
/// wrapper, which writes out the whole SQL text at every pass over the query, each time it
/// runs (the statement cache is then looked up by that text). For the reads every request
/// makes (the caller, an engagement, its milestones and facts, a hospital): there the
/// wrapper was about a sixth of a request's instructions. The body is compiled once per
/// backend, so it must be valid for both.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Pg($c) => $body,
        }
    };
}
pub(crate) use native;

/// The overdue rule in SQL: no side state, and in a stage since before that stage's cutoff
/// (`Sla::cutoffs(now).as_filter()`), as a boxed condition on a query source `$qs` holding
/// `engagements`, for backend `$db` (`MultiBackend`, or one backend on its own connection).
macro_rules! overdue_on {
    ($qs:ty, $db:ty, $cutoffs:expr) => {{
        use $crate::db::schema::engagements;
        // Spelled out, not aliased: `$qs` may be `_` (inferred where the condition is used).
        let mut any: Box<
            dyn diesel::BoxableExpression<$qs, $db, SqlType = diesel::sql_types::Bool>,
        > = Box::new($crate::db::fixed::Fixed::<diesel::sql_types::Bool>::new(
            "1 = 0",
        ));
        for (stage, cutoff) in $cutoffs {
            any = Box::new(
                any.or(engagements::stage
                    .eq(stage.clone())
                    .and(engagements::stage_since.lt(*cutoff))),
            );
        }
        Box::new(engagements::side_state.is_null().and(any))
            as Box<dyn diesel::BoxableExpression<$qs, $db, SqlType = diesel::sql_types::Bool>>
    }};
}
pub(crate) use overdue_on;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any number: replicas starting at once take this PostgreSQL advisory lock in turn to migrate.
const PG_MIGRATION_LOCK: i64 = 0x656e_6761_6765;

/// How long a connection waits for a SQLite lock held by another process.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

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
        let mut c = PgConnection::establish(url)?;
        // Statements diesel prepares are planned once, not at every execution: PostgreSQL kept
        // re-planning the engagement detail's statements (their generic plan looked no cheaper),
        // which made it half of the detail read's cost under load. Every cached statement here
        // is a lookup by key or a filter served by an index, where the generic plan is the
        // custom one.
        c.batch_execute("SET plan_cache_mode = force_generic_plan")?;
        Ok(DbConnection::Pg(c))
    } else {
        let mut c = SqliteConnection::establish(sqlite_path(url))?;
        // busy_timeout first: it makes the others wait for the lock instead of failing. Foreign
        // keys are off by default. WAL is set once, in `Db::open`, and kept by the file.
        c.batch_execute(&format!(
            "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; \
             PRAGMA synchronous = NORMAL;"
        ))?;
        Ok(DbConnection::Sqlite(c))
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = ConnError;

    fn connect(&self) -> Result<DbConnection, ConnError> {
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnError> {
        conn.batch_execute("SELECT 1").map_err(Into::into)
    }

    /// A connection still inside a transaction (a panic unwound through it, a rollback failed)
    /// is closed, never handed out again: later "transactions" would be savepoints inside it and
    /// never commit.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// How long a start waits for the pool's first connection.
const STARTUP_WAIT: Duration = Duration::from_secs(10);

/// The pool plus the rule that SQLite has one writer: write transactions on SQLite take a
/// process-wide lock so that they queue instead of failing with "database is locked".
#[derive(Clone)]
pub struct Db {
    pub pool: Pool,
    write_lock: Option<Arc<Mutex<()>>>,
    /// Test hook, see [`Db::panic_inside_next_write`].
    panic_next_write: Arc<AtomicBool>,
}

impl Db {
    /// Prepares the database on one connection — on SQLite the file (owner-only) and WAL mode —
    /// applies pending migrations on it under a lock (so that processes starting together take
    /// turns), and only then opens the pool. Returns the names of the migrations applied.
    pub fn open(
        url: &str,
        max_size: u32,
        timeout: Duration,
    ) -> anyhow::Result<(Self, Vec<String>)> {
        if !is_postgres_url(url) {
            create_sqlite_file(Path::new(sqlite_path(url)))?;
        }
        let mut conn = establish(url).context("cannot connect to the database")?;
        let applied = migrate(&mut conn)?;
        drop(conn);
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .connection_timeout(timeout)
            // No `SELECT 1` on every checkout (a round trip per request): a connection that
            // broke is found by its first query, and one left inside a transaction is closed on
            // return by `has_broken`.
            .test_on_check_out(false)
            .build_unchecked(Manager::new(url));
        // The pool fills in the background. `DB_TIMEOUT_MS` is how long a request may wait; a
        // start (the database just answered the migrations) may wait longer for its first
        // connection, as a busy server can take over a second to accept several at once.
        drop(
            pool.get_timeout(timeout.max(STARTUP_WAIT))
                .context("cannot connect to the database")?,
        );
        let write_lock = (!is_postgres_url(url)).then(|| Arc::new(Mutex::new(())));
        Ok((
            Self {
                pool,
                write_lock,
                panic_next_write: Arc::new(AtomicBool::new(false)),
            },
            applied,
        ))
    }

    /// Whether the database answers, waiting at most `timeout` for a connection.
    pub fn ping(&self, timeout: Duration) -> DbResult<()> {
        let mut conn = self.pool.get_timeout(timeout)?;
        let out = conn.batch_execute("SELECT 1").map_err(unavailable);
        discard_if_lost(&mut conn, &out);
        out
    }

    /// Runs blocking reads off the async executor. (`read`, typed to the application's
    /// error, is in `service/`.)
    pub async fn run_read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WorkError + Send + 'static,
    {
        let pool = self.pool.clone();
        // Keep the request's span (and so its request id) on the blocking thread's log lines.
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            let mut conn = pool.get().map_err(|e| E::from(e.into()))?;
            let out = f(&mut conn);
            discard_if_lost(&mut conn, &out);
            out
        })
        .await
        .map_err(|e| E::from(DbError::Blocking(e.to_string())))?
    }

    /// Runs one command as one transaction, off the async executor.
    pub async fn run_write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WorkError + Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            db.run_write_blocking(f)
        })
        .await
        .map_err(|e| E::from(DbError::Blocking(e.to_string())))?
    }

    /// Runs `f` as one transaction: committed when it returns `Ok`, rolled back when it returns
    /// an error or panics (a panic answers as an internal error). On SQLite the transaction
    /// starts as a writer (`BEGIN IMMEDIATE`), queued behind the process's other writers.
    pub fn run_write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: WorkError,
    {
        // The lock is taken before the connection, so queued writers hold no connection.
        let guard = self
            .write_lock
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let mut conn = self.pool.get().map_err(|e| E::from(e.into()))?;
        let panic_next = &self.panic_next_write;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            transaction(&mut conn, |c| {
                let out = f(c)?;
                if panic_next.swap(false, Ordering::SeqCst) {
                    panic!("panic injected inside a write (test hook)");
                }
                Ok(out)
            })
        }));
        let result = match outcome {
            Ok(result) => result,
            Err(payload) => {
                roll_back_all(&mut conn);
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(E::from(DbError::Panicked(what)))
            }
        };
        discard_if_lost(&mut conn, &result);
        // The connection goes back (or, if not clean, is closed) before the next writer may go.
        drop(conn);
        drop(guard);
        result
    }

    /// Test hook (not reachable over HTTP): the next write transaction on this pool panics after
    /// its body ran, as a bug in mail building would.
    #[doc(hidden)]
    pub fn panic_inside_next_write(&self) {
        self.panic_next_write.store(true, Ordering::SeqCst);
    }

    pub fn in_use(&self) -> u32 {
        let state = self.pool.state();
        state.connections - state.idle_connections
    }
}

/// One transaction on either backend; SQLite's begins `IMMEDIATE`, so that a transaction that
/// reads before it writes cannot fail halfway with "database is locked" when another process
/// wrote meanwhile (the lock is waited for at the start instead).
fn transaction<T, E: WorkError>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    type Tm = <DbConnection as Connection>::TransactionManager;
    let begun = match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        DbConnection::Pg(_) => Tm::begin_transaction(conn),
    };
    begun.map_err(|e| E::from(e.into()))?;
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn).map_err(|e| E::from(e.into()))?;
            Ok(value)
        }
        Err(e) => {
            // The first error is the one worth reporting; a failed rollback leaves the
            // connection marked broken, and the pool closes it.
            let _ = Tm::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// A connection that failed as unavailable (its server went away) is marked broken, so that
/// the pool closes it on return instead of handing it out again: checkouts are not tested.
fn discard_if_lost<T, E: WorkError>(conn: &mut DbConnection, out: &Result<T, E>) {
    if out.as_ref().is_err_and(WorkError::connection_lost) {
        <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
            .set_in_error();
    }
}

/// After a panic: rolls back whatever is still open (savepoints too). If that fails the
/// connection stays marked broken and the pool closes it.
fn roll_back_all(conn: &mut DbConnection) {
    for _ in 0..16 {
        if !diesel::r2d2::R2D2Connection::is_broken(conn)
            || <DbConnection as Connection>::TransactionManager::rollback_transaction(conn).is_err()
        {
            break;
        }
    }
}

/// Writes a consistent copy of a SQLite database to the file `path` (`VACUUM INTO`).
pub fn vacuum_into(conn: &mut DbConnection, path: &str) -> DbResult<()> {
    let quoted = path.replace('\'', "''");
    conn.batch_execute(&format!("VACUUM INTO '{quoted}'"))?;
    Ok(())
}

/// Creates the SQLite file (and its directory) owner-only before SQLite does: SQLite gives its
/// `-wal` and `-shm` files the database file's mode.
fn create_sqlite_file(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::files::create_private_dir(parent)
            .with_context(|| format!("cannot create the directory {}", parent.display()))?;
    }
    match crate::files::create_private_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Switches the file to WAL, waiting its turn. The switch needs the file to itself, and when
/// another process starting at the same moment holds a lock and wants to write too, SQLite
/// answers "database is locked" at once instead of waiting out `busy_timeout` (it would be a
/// deadlock), so the attempt is repeated for as long as the busy timeout would have waited.
fn switch_to_wal(c: &mut SqliteConnection) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS.into());
    loop {
        match c.batch_execute("PRAGMA journal_mode = WAL") {
            Ok(()) => return Ok(()),
            Err(e) if e.to_string().contains("locked") && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).context("cannot switch the SQLite database to WAL mode"),
        }
    }
}

/// Applies pending migrations on `conn`, holding a lock for the whole run: `BEGIN IMMEDIATE` on
/// SQLite (after switching the file to WAL), an advisory lock on PostgreSQL. Without it two
/// processes starting on an empty database both apply the first migration, and one fails.
fn migrate(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    let run = |conn: &mut DbConnection, migrations: EmbeddedMigrations| {
        conn.run_pending_migrations(migrations)
            .map(|applied| applied.iter().map(|m| m.to_string()).collect::<Vec<_>>())
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))
    };
    match conn {
        DbConnection::Sqlite(c) => {
            switch_to_wal(c)?;
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
                .context("cannot lock the database to migrate it")?;
            type Tm = <DbConnection as Connection>::TransactionManager;
            match run(conn, SQLITE_MIGRATIONS) {
                Ok(applied) => {
                    Tm::commit_transaction(conn).context("committing migrations")?;
                    Ok(applied)
                }
                Err(e) => {
                    let _ = Tm::rollback_transaction(conn);
                    Err(e)
                }
            }
        }
        DbConnection::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))
                .context("cannot lock the database to migrate it")?;
            let result = run(conn, PG_MIGRATIONS);
            // Closing the connection would release it too; unlock for tidiness.
            let _ = conn.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"));
            result
        }
    }
}

/// The system clock's now, cut to microseconds (PostgreSQL keeps no more, so values round-trip
/// equal). The application never calls it: it takes its time from `clock::Clock` (tests move
/// it). Tests use it to write fixture rows.
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
    Orgs(Vec<OrganizationId>),
}

impl Scope {
    pub fn allows(&self, org_id: &OrganizationId) -> bool {
        match self {
            Scope::All => true,
            Scope::Orgs(ids) => ids.iter().any(|i| i == org_id),
        }
    }

    /// Whether an engagement assigned to `org` (or to no one) is visible: an unassigned
    /// engagement is the prime contractor's, seen only with `All`.
    pub fn sees_engagement_of(&self, org: Option<&OrganizationId>) -> bool {
        match self {
            Scope::All => true,
            Scope::Orgs(_) => org.is_some_and(|o| self.allows(o)),
        }
    }
}
