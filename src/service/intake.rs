//! Intake: documents received from the hospital (diagram, signed memorandum, minutes, report)
//! and the pre-questionnaire's answers. The API and the hospital's page run the same use cases.

use serde_json::json;

use super::step::{self, Step, Target};
use crate::db::intake::{DocumentRow, ResponseRow};
use crate::db::types::Json;
use crate::db::{self, DbConnection};
use crate::domain::doctype::{self, DocKind};
use crate::domain::pipeline::{MemorandumStatus, Milestone};
use crate::domain::questionnaire::{self as q, Answers, Mode, ResponseStatus, Template};
use crate::error::{AppError, AppResult, FieldError};
use crate::files::Stored;

pub use crate::domain::documents::Purpose;

/// A file received in a multipart upload, checked and stored.
pub struct Received {
    pub filename: String,
    pub kind: DocKind,
    pub stored: Stored,
}

/// Checks each file's type from its content and stores them. Nothing is stored unless every
/// file passes.
pub async fn store_files(
    store: std::sync::Arc<crate::files::Files>,
    files: Vec<(String, Vec<u8>)>,
    purpose: Purpose,
) -> AppResult<Vec<Received>> {
    if files.is_empty() {
        return Err(AppError::field(
            "file",
            "attach at least one file in a part named `file`",
        ));
    }
    let mut errors = Vec::new();
    let mut kinds = Vec::new();
    for (i, (name, bytes)) in files.iter().enumerate() {
        match doctype::sniff(bytes) {
            Some(kind) if purpose.allows(kind) => kinds.push(kind),
            Some(kind) => errors.push(FieldError::new(
                format!("file[{i}]"),
                format!("{name}: a {} file is not accepted as {}", kind.label(), purpose.as_str()),
            )),
            None if bytes.is_empty() => errors.push(FieldError::new(format!("file[{i}]"), format!("{name} is empty"))),
            None => errors.push(FieldError::new(
                format!("file[{i}]"),
                format!("{name}: the content is not a recognised document type (PDF, image, Visio, Excel, Word …)"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut received = Vec::with_capacity(files.len());
    for ((filename, bytes), kind) in files.into_iter().zip(kinds) {
        let stored = store.put(bytes.as_slice()).await?;
        received.push(Received {
            filename,
            kind,
            stored,
        });
    }
    Ok(received)
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
pub fn ensure_default_template(conn: &mut DbConnection) -> AppResult<()> {
    let t = q::default_template();
    if db::intake::template(conn, &t.key, i64::from(t.version))?.is_none() {
        let body = serde_json::to_string(&t).map_err(anyhow::Error::from)?;
        db::intake::insert_template(
            conn,
            &db::new_id(),
            &t.key,
            i64::from(t.version),
            &body,
            db::now(),
        )?;
    }
    Ok(())
}

pub fn template_for(
    conn: &mut DbConnection,
    engagement_id: &str,
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
