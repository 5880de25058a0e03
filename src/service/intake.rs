//! Intake: documents received from the hospital (diagram, signed memorandum, minutes, report)
//! and the pre-questionnaire's answers. The API and the hospital's page run the same use cases.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::step::{self, Step, Target};
use crate::db::intake::{DocumentRow, ResponseRow};
use crate::db::{self, DbConnection};
use crate::domain::doctype::{self, DocKind};
use crate::domain::pipeline::{Action, MemorandumStatus, Milestone};
use crate::domain::questionnaire::{self as q, Answers, Mode, Template};
use crate::error::{AppError, AppResult, FieldError};
use crate::files::Stored;

/// What an uploaded document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DocumentPurpose)]
pub enum Purpose {
    /// Network configuration diagram (ネットワーク構成図).
    Diagram,
    /// The memorandum signed by the hospital.
    MemorandumSigned,
    /// Minutes of the hearing.
    Minutes,
    /// The verification report.
    Report,
    Other,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Diagram => "diagram",
            Purpose::MemorandumSigned => "memorandum_signed",
            Purpose::Minutes => "minutes",
            Purpose::Report => "report",
            Purpose::Other => "other",
        }
    }

    pub fn action(self) -> Action {
        match self {
            Purpose::MemorandumSigned => Action::MemorandumCopy,
            _ => Action::Confidential,
        }
    }

    pub fn allows(self, kind: DocKind) -> bool {
        match self {
            Purpose::Diagram => doctype::allowed_for_diagram(kind),
            _ => doctype::allowed_for_document(kind),
        }
    }
}

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
            purpose: purpose.as_str().into(),
            doc_version: db::intake::next_doc_version(conn, &s.engagement.id, purpose.as_str())?,
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
        Purpose::Diagram => "diagram_uploaded",
        _ => "document_uploaded",
    };
    step::step(conn, t, purpose.action(), kind, |c, s| {
        let rows = record_documents(c, s, purpose, files)?;
        if purpose == Purpose::MemorandumSigned {
            let status = s
                .engagement
                .memorandum_status
                .as_deref()
                .and_then(MemorandumStatus::parse);
            if status.is_none_or(|st| st < MemorandumStatus::SignedByHospital) {
                s.changes.memorandum_status =
                    Some(Some(MemorandumStatus::SignedByHospital.as_str().into()));
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
        if matches!(r.status.as_str(), "submitted" | "accepted") {
            return Err(AppError::conflict(
                "questionnaire_closed",
                format!("the questionnaire is {}; it can be changed again only if a coordinator asks for clarification", r.status),
            ));
        }
    }
    let mode = if submit { Mode::Submit } else { Mode::Draft };
    let issues = q::validate(&t, &answers, mode, crate::domain::today_in_japan());
    if !issues.is_empty() {
        return Err(issues_to_error(issues));
    }
    let status = match (submit, current.as_ref().map(|r| r.status.as_str())) {
        (true, _) => "submitted",
        (false, Some("clarification_requested")) => "clarification_requested",
        (false, _) => "draft",
    };
    db::intake::save_response(
        conn,
        &ResponseRow {
            engagement_id: s.engagement.id.clone(),
            template_id,
            answers: serde_json::to_string(&answers).map_err(anyhow::Error::from)?,
            status: status.into(),
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
    let (answered, total) = q::completeness(&t, &answers);
    // The answers themselves are confidential: the timeline records progress only.
    s.payload = json!({"status": status, "answered_required": answered, "total_required": total});
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
        "questionnaire_submitted"
    } else {
        "questionnaire_saved"
    };
    step::step(
        conn,
        t,
        crate::domain::pipeline::Action::Confidential,
        kind,
        |c, s| save_answers(c, s, answers, submit),
    )
}
