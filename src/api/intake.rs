//! Intake: documents (network diagrams, the signed memorandum, minutes, reports) and the
//! pre-questionnaire. Nothing confidential is accepted before the memorandum is executed.

use actix_multipart::Multipart;
use actix_web::{get, http::header, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::engagements::step;
use super::json::Json;
use super::pipeline::{self, Step, Who};
use super::query::Query;
use super::IfMatch;
use crate::app::AppState;
use crate::auth::Actor;
use crate::db::intake::{DocumentRow, ResponseRow};
use crate::db::{self, utc, DbConnection};
use crate::domain::doctype::{self, DocKind};
use crate::domain::pipeline::{Action, Milestone};
use crate::domain::questionnaire::{self as q, Answers, Mode, Template};
use crate::error::{AppError, AppResult, FieldError};
use crate::files::{Document, Stored};

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

    fn action(self) -> Action {
        match self {
            Purpose::MemorandumSigned => Action::MemorandumCopy,
            _ => Action::Confidential,
        }
    }

    fn allows(self, kind: DocKind) -> bool {
        match self {
            Purpose::Diagram => doctype::allowed_for_diagram(kind),
            _ => doctype::allowed_for_document(kind),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DocumentOut {
    pub id: String,
    #[schema(value_type = Purpose)]
    pub purpose: String,
    /// 1, 2, 3…: every upload is a new version; nothing is overwritten.
    pub version: i64,
    pub filename: String,
    /// Detected from the content, not the name.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
    pub uploaded_by: String,
}

impl From<DocumentRow> for DocumentOut {
    fn from(d: DocumentRow) -> Self {
        Self {
            id: d.id,
            purpose: d.purpose,
            version: d.doc_version,
            filename: d.filename,
            content_type: d.content_type,
            size: d.size,
            sha256: d.sha256,
            uploaded_at: utc(d.uploaded_at),
            uploaded_by: d.uploaded_by,
        }
    }
}

/// A file received in a multipart upload, checked and stored.
pub struct Received {
    pub filename: String,
    pub kind: DocKind,
    pub stored: Stored,
}

/// A multipart body read into memory: its files and its plain fields.
#[derive(Default)]
pub struct Upload {
    pub files: Vec<(String, Vec<u8>)>,
    pub fields: Vec<(String, String)>,
}

impl Upload {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Most parts a multipart body may have (files and fields together).
pub const MAX_PARTS: usize = 32;
/// Largest plain field of a multipart body.
const MAX_FIELD_BYTES: u64 = 64 * 1024;
/// Room beyond `MAX_UPLOAD_BYTES` for a form's plain fields and the multipart framing.
pub const FORM_OVERHEAD: u64 = 256 * 1024;

fn too_large(limit: u64) -> AppError {
    AppError::PayloadTooLarge(format!(
        "the upload is larger than the limit of {} MB for all its files together",
        limit / (1024 * 1024)
    ))
}

/// Refuses (413) a body whose declared length is over what an upload may be, before a byte
/// of it is read.
pub fn check_declared_length(state: &AppState, headers: &header::HeaderMap) -> AppResult<()> {
    let limit = state.config.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit.saturating_add(FORM_OVERHEAD) => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Reads a multipart body: parts named `file` are files, other parts are small text fields.
/// The whole body is bounded while it is read — all files together at most
/// `MAX_UPLOAD_BYTES`, everything at most that plus `FORM_OVERHEAD`, at most `MAX_PARTS`
/// parts — and reading stops (413) at the first byte over.
pub async fn read_upload(state: &AppState, mut payload: Multipart) -> AppResult<Upload> {
    let limit = state.config.max_upload_bytes;
    let budget = limit.saturating_add(FORM_OVERHEAD);
    let (mut total, mut file_total, mut parts) = (0u64, 0u64, 0usize);
    let mut form = Upload::default();
    while let Some(mut field) = payload
        .try_next()
        .await
        .map_err(|e| AppError::BadRequest(format!("unreadable multipart body: {e}")))?
    {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::PayloadTooLarge(format!(
                "a form may have at most {MAX_PARTS} parts"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(doctype::safe_filename);
        let is_file = name == "file";
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .try_next()
            .await
            .map_err(|e| AppError::BadRequest(format!("upload interrupted: {e}")))?
        {
            let n = chunk.len() as u64;
            total += n;
            if is_file {
                file_total += n;
                if file_total > limit {
                    return Err(too_large(limit));
                }
            } else if bytes.len() as u64 + n > MAX_FIELD_BYTES {
                return Err(AppError::PayloadTooLarge(format!(
                    "the form field `{name}` is larger than {} KB",
                    MAX_FIELD_BYTES / 1024
                )));
            }
            if total > budget {
                return Err(too_large(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            // A form submitted without choosing a file sends an empty, nameless part.
            if bytes.is_empty() && filename.as_deref().is_none_or(str::is_empty) {
                continue;
            }
            form.files
                .push((filename.unwrap_or_else(|| "upload".to_owned()), bytes));
        } else {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            super::edge::check_text(&name, &text).map_err(|e| AppError::Validation(vec![e]))?;
            form.fields.push((name, text));
        }
    }
    Ok(form)
}

/// Checks each file's type from its content and stores them. Nothing is stored unless every
/// file passes.
pub async fn store_files(
    state: &AppState,
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
        let stored = state.files.put(bytes.as_slice()).await?;
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    pub purpose: Purpose,
    /// Admin only: accept before the memorandum is executed; the reason lands in the timeline.
    pub override_reason: Option<String>,
}

/// Upload documents (multipart, one or more parts named `file`).
///
/// At most 32 parts. The type is checked from the content; all files together may be
/// `MAX_UPLOAD_BYTES` (default 50 MB). A diagram, minutes or a report is accepted only after the
/// memorandum is executed. The caller and the engagement are checked before the body is read.
#[utoipa::path(tag = "intake", security(("bearer" = [])), params(UploadQuery, super::doc::StepHeaders),
    request_body(content = super::forms::DocumentUpload, content_type = "multipart/form-data"),
    responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 413, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/documents")]
pub async fn upload(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<String>,
    query: Query<UploadQuery>,
    payload: Multipart,
) -> AppResult<HttpResponse> {
    let UploadQuery {
        purpose,
        override_reason,
    } = query.into_inner();
    let id = path.into_inner();
    // Refuse early (before reading a large body) when the guard would refuse anyway.
    {
        let (actor, id) = (actor.clone(), id.clone());
        state
            .db
            .read(move |conn| {
                let e = pipeline::load(conn, &actor, &id)?;
                let facts = pipeline::facts(conn, &e)?;
                match crate::domain::pipeline::check(purpose.action(), &facts) {
                    Err(r) if actor.role != crate::domain::access::Role::Admin => {
                        Err(AppError::Refused {
                            code: r.code.into(),
                            reason: r.reason,
                        })
                    }
                    _ => Ok(()),
                }
            })
            .await?;
    }
    check_declared_length(&state, req.headers())?;
    let form = read_upload(&state, payload).await?;
    let files = store_files(&state, form.files, purpose).await?;
    let kind = match purpose {
        Purpose::Diagram => "diagram_uploaded",
        _ => "document_uploaded",
    };
    step(
        &state,
        actor,
        &req,
        if_match,
        id,
        purpose.action(),
        kind,
        override_reason,
        move |conn, s| record_documents(conn, s, purpose, &files).map(|_| ()),
    )
    .await
}

/// The engagement's documents, every version.
#[utoipa::path(tag = "intake", security(("bearer" = [])), responses(
    (status = 200, body = Vec<DocumentOut>),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/documents")]
pub async fn list_documents(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<web::Json<Vec<DocumentOut>>> {
    let id = path.into_inner();
    let rows = state
        .db
        .read(move |conn| {
            pipeline::load(conn, &actor, &id)?;
            Ok(db::intake::documents(conn, &id)?)
        })
        .await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// Download one document version; the download is recorded in the timeline. It answers with
/// the media type detected at upload (the OpenAPI document lists them all). The stored document
/// is checked whole first (decrypted and authenticated, SHA-256 as recorded): one that fails
/// answers 500 (`/problems/integrity`), and nothing of it is sent or recorded as downloaded.
#[utoipa::path(tag = "intake", security(("bearer" = [])), responses(
    (status = 200, content_type = "application/octet-stream", body = Vec<u8>),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 500, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/documents/{doc_id}/content")]
pub async fn download(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let (id, doc_id) = path.into_inner();
    let doc = {
        let (actor, id) = (actor.clone(), id.clone());
        state
            .db
            .read(move |conn| {
                pipeline::load(conn, &actor, &id)?;
                db::intake::document(conn, &id, &doc_id)?
                    .ok_or_else(|| AppError::NotFound(format!("no document {doc_id}")))
            })
            .await?
    };
    // Checked whole before anything is recorded or sent; then streamed, never held in memory.
    let body = state.files.read(&Document::of(&doc)).await?;
    let noted =
        json!({"document_id": doc.id, "filename": doc.filename, "version": doc.doc_version});
    state
        .db
        .write(move |conn| {
            let e = pipeline::load(conn, &actor, &id)?;
            pipeline::note(conn, &Who::from(&actor), &e, "document_downloaded", noted)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(doc.content_type.as_str())
        .insert_header((
            header::CONTENT_DISPOSITION,
            doctype::content_disposition(&doc.filename),
        ))
        .insert_header(("X-Content-SHA256", doc.sha256))
        .no_chunking(u64::try_from(doc.size).unwrap_or(0))
        .streaming(body))
}

// ---- questionnaire ----

#[derive(Serialize, ToSchema)]
pub struct TemplateOut {
    pub id: String,
    pub key: String,
    pub version: i64,
    #[schema(value_type = Template)]
    pub template: Value,
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

/// Questionnaire templates, every version.
#[utoipa::path(tag = "intake", security(("bearer" = [])), responses((status = 200, body = Vec<TemplateOut>)))]
#[get("/questionnaire-templates")]
pub async fn list_templates(
    state: web::Data<AppState>,
    _actor: Actor,
) -> AppResult<web::Json<Vec<TemplateOut>>> {
    let rows = state
        .db
        .read(|conn| Ok(db::intake::templates(conn)?))
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|r| TemplateOut {
                template: serde_json::from_str(&r.body).unwrap_or(Value::Null),
                id: r.id,
                key: r.key,
                version: r.version,
            })
            .collect(),
    ))
}

/// Add a new version of a questionnaire template (admin). Answers already begun keep the version
/// they started with; new ones use the newest.
#[utoipa::path(tag = "intake", security(("bearer" = [])), request_body = Template, responses(
    (status = 201, body = TemplateOut),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/questionnaire-templates")]
pub async fn create_template(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<Template>,
) -> AppResult<HttpResponse> {
    actor.require(
        actor.role.manages_accounts(),
        "publish questionnaire templates",
    )?;
    let t = body.0;
    t.check().map_err(|m| AppError::field("sections", m))?;
    let out = state
        .db
        .write(move |conn| {
            let next = db::intake::latest_template(conn, &t.key)?.map_or(1, |r| r.version + 1);
            if i64::from(t.version) != next {
                return Err(AppError::conflict(
                    "template_version",
                    format!("the next version of {} is {next}", t.key),
                ));
            }
            let body = serde_json::to_string(&t).map_err(anyhow::Error::from)?;
            let id = db::new_id();
            db::intake::insert_template(conn, &id, &t.key, next, &body, db::now())?;
            Ok(TemplateOut {
                id,
                key: t.key.clone(),
                version: next,
                template: serde_json::to_value(&t).map_err(anyhow::Error::from)?,
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(out))
}

#[derive(Serialize, ToSchema)]
pub struct QuestionnaireOut {
    pub template_id: String,
    pub template_key: String,
    pub template_version: i64,
    /// `draft`, `submitted`, `clarification_requested`, `accepted`; absent before any answer.
    pub status: Option<String>,
    /// Question id → answer.
    #[schema(value_type = BTreeMap<String, q::schema::AnswerSchema>)]
    pub answers: Value,
    pub review_comment: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub answered_required: usize,
    pub total_required: usize,
}

fn template_for(
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

pub fn questionnaire_out(
    conn: &mut DbConnection,
    engagement_id: &str,
) -> AppResult<QuestionnaireOut> {
    let (template_id, t, r) = template_for(conn, engagement_id)?;
    let answers: Answers = r
        .as_ref()
        .and_then(|r| serde_json::from_str(&r.answers).ok())
        .unwrap_or_default();
    let (answered_required, total_required) = q::completeness(&t, &answers);
    Ok(QuestionnaireOut {
        template_id,
        template_key: t.key.clone(),
        template_version: i64::from(t.version),
        status: r.as_ref().map(|r| r.status.clone()),
        answers: serde_json::to_value(&answers).unwrap_or(Value::Null),
        review_comment: r.as_ref().and_then(|r| r.review_comment.clone()),
        submitted_at: r.as_ref().and_then(|r| r.submitted_at).map(utc),
        answered_required,
        total_required,
    })
}

/// The engagement's questionnaire: template, answers so far, status.
#[utoipa::path(tag = "intake", security(("bearer" = [])), responses(
    (status = 200, body = QuestionnaireOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/questionnaire")]
pub async fn get_questionnaire(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<web::Json<QuestionnaireOut>> {
    let id = path.into_inner();
    let out = state
        .db
        .read(move |conn| {
            pipeline::load(conn, &actor, &id)?;
            questionnaire_out(conn, &id)
        })
        .await?;
    Ok(web::Json(out))
}

fn issues_to_error(issues: Vec<q::Issue>) -> AppError {
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersIn {
    /// Question id → answer.
    #[schema(value_type = BTreeMap<String, q::schema::AnswerSchema>)]
    pub answers: Answers,
}

/// Save answers as a draft (partial answers are fine; what is there must be valid).
#[utoipa::path(tag = "intake", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = AnswersIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[put("/engagements/{id}/questionnaire")]
pub async fn save_questionnaire(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<AnswersIn>,
) -> AppResult<HttpResponse> {
    let answers = body.0.answers;
    step(
        &state,
        actor,
        &req,
        if_match,
        path.into_inner(),
        Action::Confidential,
        "questionnaire_saved",
        None,
        move |conn, s| save_answers(conn, s, answers, false),
    )
    .await
}

/// Submit the answers (every required question answered).
#[utoipa::path(tag = "intake", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = AnswersIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/questionnaire/submit")]
pub async fn submit_questionnaire(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<AnswersIn>,
) -> AppResult<HttpResponse> {
    let answers = body.0.answers;
    step(
        &state,
        actor,
        &req,
        if_match,
        path.into_inner(),
        Action::Confidential,
        "questionnaire_submitted",
        None,
        move |conn, s| save_answers(conn, s, answers, true),
    )
    .await
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    Accept,
    RequestClarification,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewIn {
    pub decision: Review,
    /// Required when asking for clarification: what to add or correct.
    pub comment: Option<String>,
}

/// Review submitted answers: accept (intake can complete), or ask for clarification (which
/// reopens the questionnaire for the hospital).
#[utoipa::path(tag = "intake", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = ReviewIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/questionnaire/review")]
pub async fn review_questionnaire(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<ReviewIn>,
) -> AppResult<HttpResponse> {
    let r = body.0;
    let comment = r
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if matches!(r.decision, Review::RequestClarification) && comment.is_none() {
        return Err(AppError::field(
            "comment",
            "say what the hospital should clarify",
        ));
    }
    let kind = match r.decision {
        Review::Accept => "questionnaire_accepted",
        Review::RequestClarification => "questionnaire_clarification_requested",
    };
    step(
        &state,
        actor,
        &req,
        if_match,
        path.into_inner(),
        Action::ReviewQuestionnaire,
        kind,
        None,
        move |conn, s| {
            let mut row = db::intake::response(conn, &s.engagement.id)?
                .filter(|x| x.status == "submitted")
                .ok_or_else(|| {
                    AppError::conflict(
                        "no_submitted_answers",
                        "there are no submitted answers to review",
                    )
                })?;
            row.reviewed_at = Some(s.now);
            row.review_comment = comment.clone();
            row.updated_at = s.now;
            row.version += 1;
            match r.decision {
                Review::Accept => {
                    row.status = "accepted".into();
                    s.reach(Milestone::QuestionnaireAccepted);
                }
                Review::RequestClarification => {
                    row.status = "clarification_requested".into();
                    s.undo(Milestone::QuestionnaireSubmitted);
                }
            }
            db::intake::save_response(conn, &row)?;
            s.payload = json!({"decision": r.decision, "comment": comment});
            Ok(())
        },
    )
    .await
}
