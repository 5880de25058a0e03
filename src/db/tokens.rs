//! Queries on long-lived API tokens.

use crate::domain::ids::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{api_tokens, users};
use super::stamp::{OptStamp, Stamp};
use super::users::UserRow;
use super::{DbConnection, DbResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    pub token_hash: String,
    pub prefix: String,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = OptStamp)]
    pub expires_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = OptStamp)]
    pub last_used_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = OptStamp)]
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub user_id: &'a UserId,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, new: &NewToken) -> DbResult<TokenRow> {
    diesel::insert_into(api_tokens::table)
        .values(new)
        .execute(conn)?;
    api_tokens::table
        .find(new.id)
        .select(TokenRow::as_select())
        .first(conn)
        .map_err(Into::into)
}

pub fn list_for_user(conn: &mut DbConnection, user_id: &UserId) -> DbResult<Vec<TokenRow>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order(api_tokens::id.asc())
        .select(TokenRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

/// Revokes a token of this user; false when there is none to revoke.
pub fn revoke(
    conn: &mut DbConnection,
    user_id: &UserId,
    id: &str,
    now: NaiveDateTime,
) -> DbResult<bool> {
    let n = diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: &UserId,
    now: NaiveDateTime,
) -> DbResult<usize> {
    diesel::update(
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(now)))
    .execute(conn)
    .map_err(Into::into)
}

/// The user a live (not revoked, not expired) token belongs to.
pub fn user_for_token(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> DbResult<Option<UserRow>> {
    let found: Option<(TokenRow, UserRow)> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(now)),
        )
        .select((TokenRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?;
    let Some((token, user)) = found else {
        return Ok(None);
    };
    // Record use at most every ten minutes: enough to spot unused tokens, no write per request.
    let stale = token
        .last_used_at
        .is_none_or(|t| now - t > chrono::Duration::minutes(10));
    if stale {
        diesel::update(api_tokens::table.find(&token.id))
            .set(api_tokens::last_used_at.eq(Some(now)))
            .execute(conn)?;
    }
    Ok(Some(user))
}
