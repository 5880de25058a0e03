//! Intake: documents received from the hospital (diagram, signed memorandum, minutes, report)
//! and the pre-questionnaire's answers. The API and the hospital's page run the same use cases.

use chrono::NaiveDateTime;
use serde_json::json;

use super::step::{self, Step, Target};
use crate::db::intake::{DocumentRow, ResponseRow};
use crate::db::types::Json;
use crate::db::{self, DbConnection};
use crate::domain::doctype::DocKind;
use crate::domain::ids::EngagementId;
use crate::domain::pipeline::{MemorandumStatus, Milestone};
use crate::domain::questionnaire::{self as q, Answers, Mode, ResponseStatus, Template};
use crate::domain::sniff::Probe;
use crate::error::{AppError, AppResult, FieldError};
use crate::files::{Document, Files, FilesError, Stored};

pub use crate::domain::documents::Purpose;

/// A file received in a multipart upload, checked and stored.
pub struct Received {
    pub filename: String,
    pub kind: DocKind,
    pub stored: Stored,
}

/// A file part of an upload, sealed into storage as it arrived, its kind not yet told.
pub struct Incoming {
    pub filename: String,
    pub stored: Stored,
    /// What the bytes showed on their way through.
    pub probe: Probe,
}

/// Pieces read back, at most, to tell a zip's or an OLE file's kind (4 MiB): their
/// directories are small; one spread wider than that is not a document we recognise.
const MAX_PIECES: usize = 64;

/// Checks each stored file's type from its content. Every file passes, or none is kept.
pub async fn check_files(
    files: &Files,
    incoming: Vec<Incoming>,
    purpose: Purpose,
) -> AppResult<Vec<Received>> {
    if incoming.is_empty() {
        return Err(AppError::field(
            "file",
            "attach at least one file in a part named `file`",
        ));
    }
    // Every file is already in storage: whatever goes wrong, none of them stays.
    let keys: Vec<String> = incoming.iter().map(|i| i.stored.key.clone()).collect();
    let mut errors = Vec::new();
    let mut received = Vec::with_capacity(incoming.len());
    for (i, inc) in incoming.into_iter().enumerate() {
        let Incoming {
            filename: name,
            stored,
            probe,
        } = inc;
        let kind = match kind_of(files, &stored, probe).await {
            Ok(kind) => kind,
            Err(e) => {
                discard(files, keys.iter().map(String::as_str)).await;
                return Err(e.into());
            }
        };
        match kind {
            Some(kind) if purpose.allows(kind) => received.push(Received { filename: name, kind, stored }),
            Some(kind) => errors.push(FieldError::new(
                format!("file[{i}]"),
                format!("{name}: a {} file is not accepted as {}", kind.label(), purpose.as_str()),
            )),
            None if stored.size == 0 => errors.push(FieldError::new(format!("file[{i}]"), format!("{name} is empty"))),
            None => errors.push(FieldError::new(
                format!("file[{i}]"),
                format!("{name}: the content is not a recognised document type (PDF, image, Visio, Excel, Word …)"),
            )),
        }
    }
    if !errors.is_empty() {
        discard(files, keys.iter().map(String::as_str)).await;
        return Err(AppError::Validation(errors));
    }
    Ok(received)
}

/// A stored upload's kind: from what passed by, and the pieces read back that a zip's or an
/// OLE file's structure needs.
async fn kind_of(
    files: &Files,
    stored: &Stored,
    probe: Probe,
) -> Result<Option<DocKind>, FilesError> {
    let doc = Document::stored(stored);
    let mut sniffing = probe.finish();
    let mut fetched = 0;
    loop {
        match sniffing.step() {
            Ok(kind) => return Ok(kind),
            Err(index) if fetched < MAX_PIECES => {
                sniffing.provide(index, files.piece(&doc, index).await?.to_vec());
                fetched += 1;
            }
            Err(_) => return Ok(None),
        }
    }
}

/// Removes stored uploads that no row names (a refused form or step). Best effort: what is
/// left is removed by `files gc`.
pub async fn discard<'a>(files: &Files, keys: impl IntoIterator<Item = &'a str>) {
    for key in keys {
        if let Err(e) = files.delete(key).await {
            tracing::warn!(error = %e, "an unused upload stays until `files gc`");
        }
    }
}

/// After a step that was to record `received`: when it was refused (a 4xx, so certainly not
/// committed), the stored files go. A 5xx may hide a commit; `files gc` decides those.
pub async fn keep_if_recorded<T>(
    files: &Files,
    received: &[String],
    outcome: AppResult<T>,
) -> AppResult<T> {
    if let Err(e) = &outcome {
        if e.status() < 500 {
            discard(files, received.iter().map(String::as_str)).await;
        }
    }
    outcome
}

/// Records received files as new document versions inside a step.
pub fn record_documents(
    conn: &mut DbConnection,
    s: &mut Step,
    purpose: Purpose,
    files: &[Received],
) -> AppResult<Vec<DocumentRow>> {
    let mut rows = Vec::new();
    for f in files {
        let row = DocumentRow {
            id: db::new_id(),
            engagement_id: s.engagement.id.clone(),
            purpose,
            doc_version: db::intake::next_doc_version(conn, &s.engagement.id, purpose)?,
            filename: f.filename.clone(),
            content_type: f.kind.mime().into(),
            size: f.stored.size as i64,
            sha256: f.stored.sha256.clone(),
            storage_key: f.stored.key.clone(),
            uploaded_at: s.now,
            uploaded_by: format!("{}:{}", s.who.kind, s.who.id.as_deref().unwrap_or("-")),
            key_id: Some(f.stored.seal.key_id.clone()),
            wrapped_key: Some(f.stored.seal.wrapped_key.clone()),
            nonce: Some(f.stored.seal.nonce.clone()),
        };
        db::intake::insert_document(conn, &row)?;
        rows.push(row);
    }
    if purpose == Purpose::Diagram {
        s.reach(Milestone::DiagramReceived);
    }
    s.payload = json!({
        "purpose": purpose,
        "documents": rows.iter().map(|r| json!({"id": r.id, "filename": r.filename, "version": r.doc_version, "sha256": r.sha256, "size": r.size})).collect::<Vec<_>>(),
    });
    Ok(rows)
}

/// Receive uploaded (and already stored) files as new document versions. The signed memorandum
/// moves the memorandum to `signed_by_hospital` whichever channel it came through.
pub fn receive_documents(
    conn: &mut DbConnection,
    t: Target,
    purpose: Purpose,
    files: &[Received],
) -> AppResult<Vec<DocumentRow>> {
    let kind = match purpose {
        Purpose::Diagram => step::EventKind::DiagramUploaded,
        _ => step::EventKind::DocumentUploaded,
    };
    step::step(conn, t, purpose.action(), kind, |c, s| {
        let rows = record_documents(c, s, purpose, files)?;
        if purpose == Purpose::MemorandumSigned {
            let status = s.engagement.memorandum_status;
            if status.is_none_or(|st| st < MemorandumStatus::SignedByHospital) {
                s.changes.memorandum_status = Some(Some(MemorandumStatus::SignedByHospital));
            }
        }
        Ok(rows)
    })
}

/// Makes sure the shipped default template is stored (as version 1 of its key).
pub fn ensure_default_template(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<()> {
    let t = q::default_template();
    if db::intake::template(conn, &t.key, i64::from(t.version))?.is_none() {
        let body = serde_json::to_string(&t).map_err(anyhow::Error::from)?;
        db::intake::insert_template(
            conn,
            &db::new_id(),
            &t.key,
            i64::from(t.version),
            &body,
            now,
        )?;
    }
    Ok(())
}

pub fn template_for(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> AppResult<(String, Template, Option<ResponseRow>)> {
    let response = db::intake::response(conn, engagement_id)?;
    let row = match &response {
        Some(r) => db::intake::template_by_id(conn, &r.template_id)?,
        None => db::intake::latest_template(conn, &q::default_template().key)?,
    }
    .ok_or_else(|| anyhow::anyhow!("questionnaire template missing"))?;
    let t: Template = serde_json::from_str(&row.body).map_err(anyhow::Error::from)?;
    Ok((row.id, t, response))
}

pub fn issues_to_error(issues: Vec<q::Issue>) -> AppError {
    AppError::Validation(issues.iter().map(FieldError::from).collect())
}

/// Saves answers as a draft (or, with `submit`, submits them) inside a step. Used by the API
/// and, later, by the hospital's page.
pub fn save_answers(
    conn: &mut DbConnection,
    s: &mut Step,
    answers: Answers,
    submit: bool,
) -> AppResult<()> {
    let (template_id, t, current) = template_for(conn, &s.engagement.id)?;
    if let Some(r) = &current {
        if r.status.frozen() {
            return Err(AppError::conflict(
                "questionnaire_closed",
                format!("the questionnaire is {}; it can be changed again only if a coordinator asks for clarification", r.status.as_str()),
            ));
        }
    }
    let mode = if submit { Mode::Submit } else { Mode::Draft };
    let issues = q::validate(&t, &answers, mode, s.today_in_japan());
    if !issues.is_empty() {
        return Err(issues_to_error(issues));
    }
    let status = match (submit, current.as_ref().map(|r| r.status)) {
        (true, _) => ResponseStatus::Submitted,
        (false, Some(ResponseStatus::ClarificationRequested)) => {
            ResponseStatus::ClarificationRequested
        }
        (false, _) => ResponseStatus::Draft,
    };
    let (answered, total) = q::completeness(&t, &answers);
    db::intake::save_response(
        conn,
        &ResponseRow {
            engagement_id: s.engagement.id.clone(),
            template_id,
            answers: Json::new(answers).map_err(anyhow::Error::from)?,
            status,
            submitted_at: if submit {
                Some(s.now)
            } else {
                current.as_ref().and_then(|r| r.submitted_at)
            },
            reviewed_at: current.as_ref().and_then(|r| r.reviewed_at),
            review_comment: current.as_ref().and_then(|r| r.review_comment.clone()),
            updated_at: s.now,
            version: current.as_ref().map_or(1, |r| r.version + 1),
        },
    )?;
    // The answers themselves are confidential: the timeline records progress only.
    s.payload =
        json!({"status": status.as_str(), "answered_required": answered, "total_required": total});
    if submit {
        s.reach(Milestone::QuestionnaireSubmitted);
    }
    Ok(())
}

/// Save answers as a draft, or submit them.
pub fn save_questionnaire(
    conn: &mut DbConnection,
    t: Target,
    answers: Answers,
    submit: bool,
) -> AppResult<()> {
    let kind = if submit {
        step::EventKind::QuestionnaireSubmitted
    } else {
        step::EventKind::QuestionnaireSaved
    };
    step::step(
        conn,
        t,
        crate::domain::pipeline::Action::Confidential,
        kind,
        |c, s| save_answers(c, s, answers, submit),
    )
}
