//! `db::Db`'s runners typed to the application's error, under the names every channel uses
//! (`db.read`, `db.write`, `db.write_blocking`). `db/` runs a unit of work for any error a
//! `db::DbError` converts into; it knows nothing of `AppError`.

use crate::db::{Db, DbConnection};
use crate::error::AppResult;

impl Db {
    /// Runs blocking reads off the async executor.
    pub async fn read<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.run_read(f).await
    }

    /// Runs one command as one transaction, off the async executor.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.run_write(f).await
    }

    /// Runs `f` as one transaction on this thread: committed when it returns `Ok`, rolled back
    /// when it returns an error or panics (a panic answers as an internal error).
    pub fn write_blocking<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T>,
    {
        self.run_write_blocking(f)
    }
}
