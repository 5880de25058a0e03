//! Queries on where documents' bytes are and how they are sealed (for `files gc`,
//! `files rewrap`, backups).

use diesel::prelude::*;

use super::intake::DocumentRow;
use super::schema::documents;
use super::{DbConnection, DbResult};

/// Every document row whose bytes are kept (all engagements; purged ones left out), oldest
/// first.
pub fn all_documents(conn: &mut DbConnection) -> DbResult<Vec<DocumentRow>> {
    documents::table
        .filter(documents::purged_at.is_null())
        .order((documents::uploaded_at.asc(), documents::id.asc()))
        .select(DocumentRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

/// The storage keys that some document refers to (a purged document's row keeps its key for
/// the receipt, but no longer holds on to the object).
pub fn referenced_keys(conn: &mut DbConnection) -> DbResult<Vec<String>> {
    documents::table
        .filter(documents::purged_at.is_null())
        .select(documents::storage_key)
        .distinct()
        .load(conn)
        .map_err(Into::into)
}

/// How many documents refer to `storage_key`.
pub fn count_referring(conn: &mut DbConnection, storage_key: &str) -> DbResult<i64> {
    documents::table
        .filter(documents::storage_key.eq(storage_key))
        .filter(documents::purged_at.is_null())
        .count()
        .get_result(conn)
        .map_err(Into::into)
}

/// Records a document's new object and seal, provided the row still has the object and key
/// it was read with (a concurrent rewrap or purge wins). Returns whether it was updated.
pub fn reseal(
    conn: &mut DbConnection,
    id: &str,
    was: (&str, Option<&str>),
    now: (&str, &str, &str, &str),
) -> DbResult<bool> {
    let (old_key, old_key_id) = was;
    let (storage_key, key_id, wrapped_key, nonce) = now;
    let target = documents::table
        .filter(documents::id.eq(id))
        .filter(documents::storage_key.eq(old_key));
    let changes = (
        documents::storage_key.eq(storage_key),
        documents::key_id.eq(Some(key_id)),
        documents::wrapped_key.eq(Some(wrapped_key)),
        documents::nonce.eq(Some(nonce)),
    );
    let n = match old_key_id {
        Some(k) => diesel::update(target.filter(documents::key_id.eq(k)))
            .set(changes)
            .execute(conn)?,
        None => diesel::update(target.filter(documents::key_id.is_null()))
            .set(changes)
            .execute(conn)?,
    };
    Ok(n == 1)
}
