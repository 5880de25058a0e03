//! The web dashboard's sign-in sessions, kept in the database so that any replica serves any
//! request. Rows are found by the SHA-256 of the cookie's secret.

use crate::domain::ids::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::dashboard_sessions;
use super::stamp::Stamp;
use super::{DbConnection, DbResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dashboard_sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: UserId,
    pub csrf: String,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub last_seen_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub expires_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> DbResult<()> {
    diesel::insert_into(dashboard_sessions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// The session if it is neither past its end nor idle since before `idle_cutoff`.
pub fn live(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
    idle_cutoff: NaiveDateTime,
) -> DbResult<Option<SessionRow>> {
    dashboard_sessions::table
        .find(id)
        .filter(dashboard_sessions::expires_at.gt(now))
        .filter(dashboard_sessions::last_seen_at.gt(idle_cutoff))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> DbResult<()> {
    diesel::update(dashboard_sessions::table.find(id))
        .set(dashboard_sessions::last_seen_at.eq(now))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> DbResult<()> {
    diesel::delete(dashboard_sessions::table.find(id))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// Removes sessions that ended or went idle (on each sign-in, so the table stays small).
pub fn sweep(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    idle_cutoff: NaiveDateTime,
) -> DbResult<usize> {
    diesel::delete(
        dashboard_sessions::table.filter(
            dashboard_sessions::expires_at
                .le(now)
                .or(dashboard_sessions::last_seen_at.le(idle_cutoff)),
        ),
    )
    .execute(conn)
    .map_err(Into::into)
}
