//! What `db/` fails with (`DbError`), how diesel's errors map onto it, and the savepoint
//! helper that lets a unit of work typed to another error nest a transaction.

use diesel::Connection;

use super::DbConnection;

/// What a caller sees when the database cannot be reached; the cause goes to the log only.
pub const UNAVAILABLE: &str = "the database is unavailable; try again shortly";

/// What `db/` fails with. The application layer turns it into its own error
/// (`impl From<DbError> for AppError`); `db/` knows nothing of that one.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had, or it was lost (pool exhausted or timed out, the server went
    /// away): the caller may try again shortly. The cause went to the log where it was found.
    #[error("{}", UNAVAILABLE)]
    Unavailable,
    /// A row the query required does not exist.
    #[error("the resource does not exist")]
    NotFound,
    /// A unique key already holds this value (the database's message).
    #[error("already exists ({0})")]
    AlreadyExists(String),
    /// A foreign key refused the write (the database's message).
    #[error("still referenced or missing reference ({0})")]
    StillReferenced(String),
    /// A command panicked inside a transaction, which was rolled back.
    #[error("a database command panicked and was rolled back: {0}")]
    Panicked(String),
    /// The blocking thread the command was to run on failed.
    #[error("blocking task failed: {0}")]
    Blocking(String),
    /// Any other failure of a query.
    #[error(transparent)]
    Query(diesel::result::Error),
}

pub type DbResult<T> = Result<T, DbError>;

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => DbError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::AlreadyExists(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                DbError::StillReferenced(info.message().to_owned())
            }
            // The server went away (restarted, database dropped): as unavailable as a pool
            // timeout. The pool is not asked to test connections, so this is where it shows.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                tracing::warn!(error = %info.message(), "database connection lost");
                DbError::Unavailable
            }
            other => DbError::Query(other),
        }
    }
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        // The cause (host, port, driver text) is for the log, not for the caller.
        unavailable(e)
    }
}

impl From<ConnError> for DbError {
    fn from(e: ConnError) -> Self {
        unavailable(e)
    }
}

/// The error a unit of work run by `Db` returns: one a `DbError` converts into, that can tell
/// whether the connection was lost (the connection is then closed, not reused).
pub trait WorkError: From<DbError> {
    fn connection_lost(&self) -> bool;
}

impl WorkError for DbError {
    fn connection_lost(&self) -> bool {
        matches!(self, DbError::Unavailable)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> DbError {
    tracing::warn!(error = %e, "database unavailable");
    DbError::Unavailable
}

/// Runs `f` in a transaction (a savepoint when one is already open) for any error a `DbError`
/// converts into: diesel's `Connection::transaction` wants an error built from its own, which
/// the application's errors no longer are. Begin/commit failures arrive as `DbError`.
pub fn atomic<T, E: From<DbError>>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    enum Failed<E> {
        Db(diesel::result::Error),
        Work(E),
    }
    impl<E> From<diesel::result::Error> for Failed<E> {
        fn from(e: diesel::result::Error) -> Self {
            Failed::Db(e)
        }
    }
    conn.transaction(|c| f(c).map_err(Failed::Work))
        .map_err(|e| match e {
            Failed::Db(e) => E::from(e.into()),
            Failed::Work(e) => e,
        })
}
