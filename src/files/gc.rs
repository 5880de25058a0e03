//! Maintenance of the store: removing objects no document refers to (`files gc`), and moving
//! every document to the newest master key (`files rewrap`).

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use tokio_util::io::StreamReader;

use super::{is_document_key, Document, Files, FilesError};
use crate::db::{self, Db};

/// An object younger than this may belong to an upload whose database step has not committed
/// yet (the object is written first, the row after): `files gc` leaves it alone. An upload and
/// its step take seconds; an hour leaves a wide margin and costs only some disk until the next
/// run.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    /// Objects listed in the store.
    pub objects: usize,
    /// Of those, named by a document.
    pub referenced: usize,
    /// Not named by any document, but younger than the grace period: kept this time.
    pub young: usize,
    /// Not of a shape this service writes (someone else's objects under the same prefix):
    /// never touched.
    pub foreign: usize,
    /// Removed (or, on a dry run, that would be).
    pub removed: Vec<String>,
}

/// Leftovers of the pre-encryption local store's writes (`ab/cd/.partial-…`).
fn is_legacy_partial(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    matches!(parts.as_slice(), [a, b, name]
        if a.len() == 2 && b.len() == 2 && name.starts_with(".partial-"))
}

/// Removes objects that no document refers to and that are older than `grace`. Safe while the
/// service runs: the store is listed *before* the database is asked which keys it refers to,
/// so a row committed in between is seen, and an object whose row is still to come is young.
pub async fn gc(
    files: &Files,
    db: &Db,
    grace: Duration,
    dry_run: bool,
) -> anyhow::Result<GcReport> {
    let started = chrono::Utc::now();
    let mut listed = Vec::new();
    let mut list = files.object_store().list(None);
    while let Some(meta) = list.next().await {
        listed.push(meta?);
    }
    let referenced: HashSet<String> = db
        .read(|conn| Ok(db::files::referenced_keys(conn)?))
        .await?
        .into_iter()
        .collect();
    let grace = chrono::Duration::from_std(grace)?;
    let mut report = GcReport {
        objects: listed.len(),
        ..Default::default()
    };
    for meta in listed {
        let key = meta.location.to_string();
        if !is_document_key(&key) && !is_legacy_partial(&key) {
            report.foreign += 1;
        } else if referenced.contains(&key) {
            report.referenced += 1;
        } else if started - meta.last_modified < grace {
            report.young += 1;
        } else {
            if !dry_run {
                files
                    .object_store()
                    .delete(&meta.location)
                    .await
                    .or_else(|e| match e {
                        object_store::Error::NotFound { .. } => Ok(()),
                        e => Err(e),
                    })?;
                tracing::info!(key, "removed an object no document refers to");
            }
            report.removed.push(key);
        }
    }
    Ok(report)
}

#[derive(Debug, Default, serde::Serialize)]
pub struct RewrapReport {
    /// Data keys now wrapped by the newest master key (they were under an older one).
    pub rewrapped: usize,
    /// Legacy plaintext objects now sealed (a new object each; the plaintext one removed once
    /// no document refers to it).
    pub sealed_legacy: usize,
    /// Already under the newest key.
    pub current: usize,
    /// Documents that could not be moved, and why (the command fails if any).
    pub failed: Vec<String>,
}

/// Moves every document to the newest master key; after it, older keys can be removed from
/// the configuration. Runs beside a serving process: each row is updated only if it still
/// names what was read, so nothing written meanwhile is overwritten (run it again for those).
pub async fn rewrap(files: &Files, db: &Db) -> anyhow::Result<RewrapReport> {
    let rows = db.read(|conn| Ok(db::files::all_documents(conn)?)).await?;
    let newest = files.keyring().newest().id.clone();
    let mut report = RewrapReport::default();
    for row in rows {
        let doc = Document::of(&row);
        let outcome = match &doc.seal {
            Some(seal) if seal.key_id == newest => {
                report.current += 1;
                continue;
            }
            Some(seal) => match files.rewrap(&doc.key, seal) {
                Ok(new) => {
                    let (id, key, old) = (row.id.clone(), doc.key.clone(), seal.key_id.clone());
                    let done = db
                        .write(move |conn| {
                            Ok(db::files::reseal(
                                conn,
                                &id,
                                (&key, Some(&old)),
                                (&key, &new.key_id, &new.wrapped_key, &new.nonce),
                            )?)
                        })
                        .await?;
                    report.rewrapped += usize::from(done);
                    done.then_some(())
                        .ok_or("changed meanwhile; run again".to_owned())
                }
                Err(e) => Err(e.to_string()),
            },
            None => match seal_legacy(files, db, &row.id, &doc).await {
                Ok(true) => {
                    report.sealed_legacy += 1;
                    Ok(())
                }
                Ok(false) => Err("changed meanwhile; run again".to_owned()),
                Err(e) => Err(e.to_string()),
            },
        };
        if let Err(why) = outcome {
            report.failed.push(format!("document {}: {why}", row.id));
        }
    }
    Ok(report)
}

/// Seals a legacy plaintext document into a new object (checked against its recorded SHA-256
/// on the way) and points its row there.
async fn seal_legacy(files: &Files, db: &Db, id: &str, doc: &Document) -> anyhow::Result<bool> {
    let plain = files.read(doc).await?;
    let reader = StreamReader::new(plain.map(|r| r.map_err(std::io::Error::other)));
    let stored = files.put(reader).await?;
    if stored.sha256 != doc.sha256 {
        files.delete(&stored.key).await?;
        return Err(FilesError::Integrity {
            key: doc.key.clone(),
            reason: "the object changed while it was sealed".into(),
        }
        .into());
    }
    let (id, old, new) = (id.to_owned(), doc.key.clone(), stored.clone());
    let done = db
        .write(move |conn| {
            Ok(db::files::reseal(
                conn,
                &id,
                (&old, None),
                (
                    &new.key,
                    &new.seal.key_id,
                    &new.seal.wrapped_key,
                    &new.seal.nonce,
                ),
            )?)
        })
        .await?;
    if !done {
        files.delete(&stored.key).await?;
        return Ok(false);
    }
    // Legacy objects are shared by documents with the same bytes: removed with the last one.
    let old = doc.key.clone();
    let left = db
        .read(move |conn| Ok(db::files::count_referring(conn, &old)?))
        .await?;
    if left == 0 {
        files.delete(&doc.key).await?;
    }
    Ok(true)
}
