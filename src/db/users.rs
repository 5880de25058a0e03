//! Queries on users.

use crate::domain::ids::{OrganizationId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::stamp::Stamp;
use super::{DbConnection, DbResult, Scope};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub prefecture_code: Option<String>,
    pub password_hash: String,
    pub active: bool,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
    /// Raised whenever access tokens issued before must stop working.
    pub token_version: i64,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a UserId,
    pub organization_id: &'a OrganizationId,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub prefecture_code: Option<&'a str>,
    pub password_hash: &'a str,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// The fields an update may change; `None` leaves a field as it is.
#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub organization_id: Option<OrganizationId>,
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub prefecture_code: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub active: Option<bool>,
    pub token_version: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, new: &NewUser) -> DbResult<UserRow> {
    diesel::insert_into(users::table)
        .values(new)
        .execute(conn)?;
    users::table
        .find(new.id)
        .select(UserRow::as_select())
        .first(conn)
        .map_err(Into::into)
}

pub fn get(conn: &mut DbConnection, id: &UserId) -> DbResult<Option<UserRow>> {
    super::native!(conn, |c| users::table
        .find(id)
        .select(UserRow::as_select())
        .first(c)
        .optional()
        .map_err(Into::into))
}

pub fn by_email(conn: &mut DbConnection, email: &str) -> DbResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn count_active_admins(conn: &mut DbConnection) -> DbResult<i64> {
    users::table
        .filter(users::role.eq("admin"))
        .filter(users::active.eq(true))
        .count()
        .get_result(conn)
        .map_err(Into::into)
}

pub struct UserFilter {
    pub organization_id: Option<OrganizationId>,
    pub role: Option<String>,
}

pub fn list(
    conn: &mut DbConnection,
    scope: &Scope,
    filter: &UserFilter,
    after: Option<&str>,
    limit: i64,
) -> DbResult<Vec<UserRow>> {
    let mut q = users::table
        .select(UserRow::as_select())
        .order(users::id.asc())
        .limit(limit)
        .into_boxed();
    if let Scope::Orgs(ids) = scope {
        q = q.filter(users::organization_id.eq_any(ids.clone()));
    }
    if let Some(org) = &filter.organization_id {
        q = q.filter(users::organization_id.eq(org.clone()));
    }
    if let Some(role) = &filter.role {
        q = q.filter(users::role.eq(role.clone()));
    }
    if let Some(after) = after {
        q = q.filter(users::id.gt(after.to_owned()));
    }
    q.load(conn).map_err(Into::into)
}

/// Applies `changes` if the stored version is still `version`.
pub fn update(
    conn: &mut DbConnection,
    id: &UserId,
    version: i64,
    changes: &UserChanges,
    now: NaiveDateTime,
) -> DbResult<Option<UserRow>> {
    let n = diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::version.eq(version)),
    )
    .set((
        changes,
        users::updated_at.eq(now),
        users::version.eq(version + 1),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    get(conn, id)
}
