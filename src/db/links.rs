//! Queries on links: each row is a link's SHA-256 (never the link itself) with what it opens,
//! for whom, until when, and whether it was revoked.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::link_tokens;
use super::stamp::{OptStamp, Stamp};
use super::{DbConnection, DbResult};
use crate::domain::ids::{ContactId, EngagementId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = link_tokens)]
pub struct LinkRow {
    /// Hex SHA-256 of the token in the URL.
    pub token_hash: String,
    pub engagement_id: EngagementId,
    pub contact_id: ContactId,
    pub purpose: String,
    #[diesel(deserialize_as = Stamp)]
    pub expires_at: NaiveDateTime,
    #[diesel(deserialize_as = OptStamp)]
    pub revoked_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = OptStamp)]
    pub last_used_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &LinkRow) -> DbResult<()> {
    diesel::insert_into(link_tokens::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn get(conn: &mut DbConnection, token_hash: &str) -> DbResult<Option<LinkRow>> {
    link_tokens::table
        .find(token_hash)
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn touch(conn: &mut DbConnection, token_hash: &str, now: NaiveDateTime) -> DbResult<()> {
    diesel::update(link_tokens::table.find(token_hash))
        .set(link_tokens::last_used_at.eq(Some(now)))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// Revokes every live link of a contact (removed, or its email changed).
pub fn revoke_for_contact(
    conn: &mut DbConnection,
    contact_id: &ContactId,
    now: NaiveDateTime,
) -> DbResult<usize> {
    diesel::update(
        link_tokens::table
            .filter(link_tokens::contact_id.eq(contact_id))
            .filter(link_tokens::revoked_at.is_null()),
    )
    .set(link_tokens::revoked_at.eq(Some(now)))
    .execute(conn)
    .map_err(Into::into)
}

/// Revokes the live links of an engagement, optionally only one contact's or one purpose's.
pub fn revoke(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    contact_id: Option<&ContactId>,
    purpose: Option<&str>,
    now: NaiveDateTime,
) -> DbResult<usize> {
    let mut q = diesel::update(link_tokens::table)
        .filter(link_tokens::engagement_id.eq(engagement_id))
        .filter(link_tokens::revoked_at.is_null())
        .into_boxed();
    if let Some(c) = contact_id {
        q = q.filter(link_tokens::contact_id.eq(c.to_owned()));
    }
    if let Some(p) = purpose {
        q = q.filter(link_tokens::purpose.eq(p.to_owned()));
    }
    q.set(link_tokens::revoked_at.eq(Some(now)))
        .execute(conn)
        .map_err(Into::into)
}
