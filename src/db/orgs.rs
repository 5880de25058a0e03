//! Queries on organisations.

use crate::domain::ids::OrganizationId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{organizations, users};
use super::stamp::Stamp;
use super::{DbConnection, DbResult, Scope};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: OrganizationId,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<OrganizationId>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub mail_signature: Option<String>,
    pub reply_to: Option<String>,
    pub cc_reply_to: bool,
}

#[derive(Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrg<'a> {
    pub id: &'a OrganizationId,
    pub name: &'a str,
    pub kind: &'a str,
    pub parent_id: Option<&'a OrganizationId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewOrg) -> DbResult<OrgRow> {
    diesel::insert_into(organizations::table)
        .values(new)
        .execute(conn)?;
    organizations::table
        .find(new.id)
        .select(OrgRow::as_select())
        .first(conn)
        .map_err(Into::into)
}

pub fn get(conn: &mut DbConnection, id: &OrganizationId) -> DbResult<Option<OrgRow>> {
    organizations::table
        .find(id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn find_by_id_or_name(conn: &mut DbConnection, key: &str) -> DbResult<Option<OrgRow>> {
    organizations::table
        .filter(organizations::id.eq(key).or(organizations::name.eq(key)))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

/// (id, parent_id) for every organisation: the tree is small, so it is walked in memory.
pub fn edges(conn: &mut DbConnection) -> DbResult<Vec<(OrganizationId, Option<OrganizationId>)>> {
    super::native!(conn, |c| organizations::table
        .select((organizations::id, organizations::parent_id))
        .load(c)
        .map_err(Into::into))
}

pub fn count(conn: &mut DbConnection) -> DbResult<i64> {
    organizations::table
        .count()
        .get_result(conn)
        .map_err(Into::into)
}

pub fn kind_exists(conn: &mut DbConnection, kind: &str) -> DbResult<bool> {
    diesel::select(diesel::dsl::exists(
        organizations::table.filter(organizations::kind.eq(kind)),
    ))
    .get_result(conn)
    .map_err(Into::into)
}

pub fn list(
    conn: &mut DbConnection,
    scope: &Scope,
    after: Option<&str>,
    limit: i64,
) -> DbResult<Vec<OrgRow>> {
    let mut q = organizations::table
        .select(OrgRow::as_select())
        .order(organizations::id.asc())
        .limit(limit)
        .into_boxed();
    if let Scope::Orgs(ids) = scope {
        q = q.filter(organizations::id.eq_any(ids.clone()));
    }
    if let Some(after) = after {
        q = q.filter(organizations::id.gt(after.to_owned()));
    }
    q.load(conn).map_err(Into::into)
}

/// Writes a new name and parent; `None` when the stored version is no longer `version`.
pub fn update(
    conn: &mut DbConnection,
    id: &OrganizationId,
    version: i64,
    name: &str,
    parent_id: Option<&OrganizationId>,
    now: NaiveDateTime,
) -> DbResult<Option<OrgRow>> {
    let n = diesel::update(
        organizations::table
            .filter(organizations::id.eq(id))
            .filter(organizations::version.eq(version)),
    )
    .set((
        organizations::name.eq(name),
        organizations::parent_id.eq(parent_id),
        organizations::updated_at.eq(now),
        organizations::version.eq(version + 1),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    get(conn, id)
}

/// The organisation's mail settings: signature, the address replies go to, and whether that
/// address gets a copy of every mail.
pub fn set_mail_settings(
    conn: &mut DbConnection,
    id: &OrganizationId,
    signature: Option<&str>,
    reply_to: Option<&str>,
    cc_reply_to: bool,
) -> DbResult<()> {
    diesel::update(organizations::table.find(id))
        .set((
            organizations::mail_signature.eq(signature),
            organizations::reply_to.eq(reply_to),
            organizations::cc_reply_to.eq(cc_reply_to),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn has_dependents(conn: &mut DbConnection, id: &OrganizationId) -> DbResult<bool> {
    let children = diesel::select(diesel::dsl::exists(
        organizations::table.filter(organizations::parent_id.eq(id)),
    ))
    .get_result::<bool>(conn)?;
    let members = diesel::select(diesel::dsl::exists(
        users::table.filter(users::organization_id.eq(id)),
    ))
    .get_result::<bool>(conn)?;
    Ok(children || members)
}

pub fn delete(conn: &mut DbConnection, id: &OrganizationId) -> DbResult<usize> {
    diesel::delete(organizations::table.find(id))
        .execute(conn)
        .map_err(Into::into)
}
