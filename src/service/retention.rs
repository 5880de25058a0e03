//! Retention: a closed engagement's confidential material (documents' bytes, questionnaire
//! answers, findings, hearing notes, backup descriptions) is purged `RETENTION_DAYS` after it
//! closed; what stays is its milestones, its timeline and a receipt of every document received,
//! so that what was received and destroyed can still be shown.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::db::engagements::{self as q, EngagementRow, EventRow};
use crate::db::retention::{self as r, Removed};
use crate::db::{self, Db, DbConnection};
use crate::domain::calendar::jst;
use crate::domain::events::EventKind;
use crate::domain::ids::{EngagementId, RoundId};
use crate::domain::retention::{is_due, purge_due_at};
use crate::error::{AppError, AppResult};
use crate::files::Files;

/// One engagement the purge handled (or, on a dry run, would handle).
#[derive(Debug, Clone, Serialize)]
pub struct Purged {
    pub engagement_id: EngagementId,
    pub closed_at: DateTime<Utc>,
    /// What was removed; on a dry run, empty.
    pub removed: Removed,
    /// Stored objects deleted (objects shared with another engagement's live document stay).
    pub objects_deleted: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeReport {
    pub dry_run: bool,
    pub retention_days: u32,
    pub engagements: Vec<Purged>,
    /// Objects whose deletion failed after the database was purged; `files gc` removes them.
    pub objects_left: usize,
}

/// Purges every engagement that is due at `now`. Each engagement is one transaction under its
/// row lock, so two workers running the purge at once purge each engagement once. Stored
/// objects are deleted after the transaction commits: a failure leaves an unreferenced object
/// (reported, and collected by `files gc`), never a document row pointing at nothing.
pub async fn purge(
    db: &Db,
    files: &Files,
    now: NaiveDateTime,
    retention_days: u32,
    dry_run: bool,
) -> AppResult<PurgeReport> {
    let mut report = PurgeReport {
        dry_run,
        retention_days,
        ..Default::default()
    };
    let candidates = db.read(|conn| Ok(r::closed_unpurged(conn)?)).await?;
    for (id, closed_at) in candidates {
        if !is_due(closed_at, retention_days, now) {
            continue;
        }
        if dry_run {
            report.engagements.push(Purged {
                engagement_id: id,
                closed_at: db::utc(closed_at),
                removed: Removed::default(),
                objects_deleted: 0,
            });
            continue;
        }
        let id2 = id.clone();
        let done = db
            .write(move |conn| purge_one(conn, &id2, now, retention_days))
            .await?;
        let Some((closed_at, removed, keys)) = done else {
            continue; // resumed or purged by another worker meanwhile
        };
        let mut deleted = 0;
        for key in keys {
            match files.delete(&key).await {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::error!(engagement = %id, error = %e, "purge: a stored object could not be deleted; `files gc` will remove it");
                    report.objects_left += 1;
                }
            }
        }
        tracing::info!(engagement = %id, documents = removed.documents, objects = deleted, "purged under the retention rule");
        report.engagements.push(Purged {
            engagement_id: id,
            closed_at: db::utc(closed_at),
            removed,
            objects_deleted: deleted,
        });
    }
    Ok(report)
}

type PurgedOne = (NaiveDateTime, Removed, Vec<String>);

fn purge_one(
    conn: &mut DbConnection,
    id: &EngagementId,
    now: NaiveDateTime,
    retention_days: u32,
) -> AppResult<Option<PurgedOne>> {
    let Some(e) = q::lock(conn, id)? else {
        return Ok(None);
    };
    if r::purged_at(conn, id)?.is_some() {
        return Ok(None);
    }
    let Some(closed_at) = r::closed_at(conn, id)? else {
        return Ok(None);
    };
    if !is_due(closed_at, retention_days, now) {
        return Ok(None);
    }
    let documents = db::intake::documents(conn, id)?;
    let mut keys: Vec<String> = Vec::new();
    for d in &documents {
        if !keys.contains(&d.storage_key) && !r::object_used_elsewhere(conn, &d.storage_key, id)? {
            keys.push(d.storage_key.clone());
        }
    }
    let removed = r::purge_rows(conn, id, now)?;
    q::insert_event(
        conn,
        &EventRow {
            id: db::new_id(),
            engagement_id: e.id.clone(),
            at: now,
            actor_kind: "system".into(),
            actor_id: None,
            actor_label: "retention purge".into(),
            kind: EventKind::Purged,
            payload: json!({
                "retention_days": retention_days,
                "closed_at": db::utc(closed_at),
                "removed": removed,
                "documents": documents.iter().map(|d| json!({"id": d.id, "sha256": d.sha256, "size": d.size})).collect::<Vec<_>>(),
            })
            .to_string(),
            stage_before: e.stage,
            stage_after: e.stage,
            override_reason: None,
        },
    )?;
    Ok(Some((closed_at, removed, keys)))
}

/// The audit receipt of an engagement's documents: what was received, from whom, who
/// downloaded it, and when it was destroyed. It holds no content.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receipt {
    #[schema(value_type = String)]
    pub engagement_id: EngagementId,
    #[schema(value_type = String)]
    pub round_id: RoundId,
    pub institution_code: String,
    pub hospital_name: String,
    pub stage: String,
    pub side_state: Option<String>,
    /// When the engagement was completed, declined or withdrawn; null while it runs.
    pub closed_at: Option<DateTime<Utc>>,
    /// The day (JST) its confidential material is due to be purged; null while it runs.
    pub purge_due_on: Option<NaiveDate>,
    /// When it was purged; null until then.
    pub purged_at: Option<DateTime<Utc>>,
    pub documents: Vec<ReceiptDocument>,
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptDocument {
    pub id: String,
    pub purpose: String,
    pub version: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// SHA-256 of the bytes as received, lowercase hex.
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
    pub uploaded_by: String,
    pub downloads: Vec<ReceiptDownload>,
    /// When its bytes were destroyed; null while kept.
    pub destroyed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptDownload {
    pub at: DateTime<Utc>,
    pub by: String,
}

/// Builds the receipt of an engagement the caller may read (the channel checked the scope).
pub fn receipt(
    conn: &mut DbConnection,
    e: &EngagementRow,
    retention_days: u32,
    now: NaiveDateTime,
) -> AppResult<Receipt> {
    let hospital = db::hospitals::get(conn, &e.hospital_id)?.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("engagement {} has no hospital", e.id))
    })?;
    let closed_at = r::closed_at(conn, &e.id)?;
    let purged_at = r::purged_at(conn, &e.id)?;
    let downloads = r::downloads(conn, &e.id)?;
    let documents = r::all_documents(conn, &e.id)?
        .into_iter()
        .map(|(d, destroyed)| ReceiptDocument {
            downloads: downloads
                .iter()
                .filter(|x| download_of(&x.payload).as_deref() == Some(d.id.as_str()))
                .map(|x| ReceiptDownload {
                    at: db::utc(x.at),
                    by: x.actor_label.clone(),
                })
                .collect(),
            id: d.id,
            purpose: d.purpose.as_str().to_owned(),
            version: d.doc_version,
            filename: d.filename,
            content_type: d.content_type,
            size: d.size,
            sha256: d.sha256,
            uploaded_at: db::utc(d.uploaded_at),
            uploaded_by: d.uploaded_by,
            destroyed_at: destroyed.map(db::utc),
        })
        .collect();
    Ok(Receipt {
        engagement_id: e.id.clone(),
        round_id: e.round_id.clone(),
        institution_code: hospital.institution_code,
        hospital_name: hospital.name,
        stage: e.stage.as_str().to_owned(),
        side_state: e.side_state.map(|s| s.as_str().to_owned()),
        closed_at: closed_at.map(db::utc),
        purge_due_on: closed_at.map(|c| {
            db::utc(purge_due_at(c, retention_days))
                .with_timezone(&jst())
                .date_naive()
        }),
        purged_at: purged_at.map(db::utc),
        documents,
        generated_at: db::utc(now),
    })
}

fn download_of(payload: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    v.get("document_id")?.as_str().map(str::to_owned)
}
