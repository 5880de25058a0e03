//! Stored answers of POSTs sent with an `Idempotency-Key` (see `api::idempotency`).

use crate::domain::ids::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys;
use super::{DbConnection, DbResult};

/// An answer stored under a key: the fingerprint of the request it answered, its status, its
/// JSON body as text.
pub struct StoredAnswer {
    pub request_hash: String,
    pub status: i64,
    pub body: String,
}

pub fn find(
    conn: &mut DbConnection,
    user_id: &UserId,
    key: &str,
) -> DbResult<Option<StoredAnswer>> {
    let row: Option<(String, i64, String)> = idempotency_keys::table
        .filter(idempotency_keys::user_id.eq(user_id))
        .filter(idempotency_keys::key.eq(key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status,
            idempotency_keys::body,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(request_hash, status, body)| StoredAnswer {
        request_hash,
        status,
        body,
    }))
}

/// Stores an answer; a key already stored (another request with it is under way) is
/// `DbError::AlreadyExists`.
pub fn store(
    conn: &mut DbConnection,
    user_id: &UserId,
    key: &str,
    answer: &StoredAnswer,
    at: NaiveDateTime,
) -> DbResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(&answer.request_hash),
            idempotency_keys::status.eq(answer.status),
            idempotency_keys::body.eq(&answer.body),
            idempotency_keys::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}
