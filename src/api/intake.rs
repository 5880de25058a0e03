//! Intake: documents (network diagrams, the signed memorandum, minutes, reports) and the
//! pre-questionnaire. Nothing confidential is accepted before the memorandum is executed.

use actix_multipart::Multipart;
use actix_web::{get, http::header, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::query::Query;
use super::step::StepCall;
use crate::app::AppState;
use crate::auth::Actor;
use crate::db::intake::DocumentRow;
use crate::db::{self, utc, DbConnection};
use crate::domain::doctype;
use crate::domain::ids::EngagementId;
use crate::domain::pipeline::{Action, Milestone};
use crate::domain::questionnaire::ResponseStatus;
use crate::domain::questionnaire::{self as q, Answers, Template};
use crate::edge::upload::{check_declared_length, read_documents};
use crate::error::{AppError, AppResult};
use crate::files::Document;
use crate::service::intake::{
    check_files, keep_if_recorded, receive_documents, save_answers, template_for, Purpose,
};
use crate::service::step::{self as pipeline, Who};

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
            purpose: d.purpose.as_str().to_owned(),
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
    call: StepCall,
    path: web::Path<String>,
    query: Query<UploadQuery>,
    payload: Multipart,
) -> AppResult<HttpResponse> {
    let UploadQuery {
        purpose,
        override_reason,
    } = query.into_inner();
    let id = EngagementId::new(path.into_inner());
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
    let form = read_documents(&state, payload, |_| Ok(())).await?;
    let files = check_files(&state.files, form.files, purpose).await?;
    let keys: Vec<String> = files.iter().map(|f| f.stored.key.clone()).collect();
    let outcome = call
        .run(id, override_reason, move |conn, t, _| {
            receive_documents(conn, t, purpose, &files).map(|_| ())
        })
        .await;
    keep_if_recorded(&state.files, &keys, outcome).await
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
    let id = EngagementId::new(path.into_inner());
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
    let id = EngagementId::new(id);
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
    let now = state.clock().now();
    state
        .db
        .write(move |conn| {
            let e = pipeline::load(conn, &actor, &id)?;
            pipeline::note(
                conn,
                &Who::from(&actor),
                &e,
                now,
                pipeline::EventKind::DocumentDownloaded,
                noted,
            )?;
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
    let now = state.clock().now();
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
            db::intake::insert_template(conn, &id, &t.key, next, &body, now)?;
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

pub fn questionnaire_out(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> AppResult<QuestionnaireOut> {
    let (template_id, t, r) = template_for(conn, engagement_id)?;
    let answers: Answers = r
        .as_ref()
        .map(|r| r.answers.get().clone())
        .unwrap_or_default();
    let (answered_required, total_required) = q::completeness(&t, &answers);
    Ok(QuestionnaireOut {
        template_id,
        template_key: t.key.clone(),
        template_version: i64::from(t.version),
        status: r.as_ref().map(|r| r.status.as_str().to_owned()),
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
    let id = EngagementId::new(path.into_inner());
    let out = state
        .db
        .read(move |conn| {
            pipeline::load(conn, &actor, &id)?;
            questionnaire_out(conn, &id)
        })
        .await?;
    Ok(web::Json(out))
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
    call: StepCall,
    path: web::Path<String>,
    body: Json<AnswersIn>,
) -> AppResult<HttpResponse> {
    let answers = body.0.answers;
    call.step(
        path.into_inner(),
        Action::Confidential,
        pipeline::EventKind::QuestionnaireSaved,
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
    call: StepCall,
    path: web::Path<String>,
    body: Json<AnswersIn>,
) -> AppResult<HttpResponse> {
    let answers = body.0.answers;
    call.step(
        path.into_inner(),
        Action::Confidential,
        pipeline::EventKind::QuestionnaireSubmitted,
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
    call: StepCall,
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
        Review::Accept => pipeline::EventKind::QuestionnaireAccepted,
        Review::RequestClarification => pipeline::EventKind::QuestionnaireClarificationRequested,
    };
    call.step(
        path.into_inner(),
        Action::ReviewQuestionnaire,
        kind,
        None,
        move |conn, s| {
            let mut row = db::intake::response(conn, &s.engagement.id)?
                .filter(|x| x.status == ResponseStatus::Submitted)
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
                    row.status = ResponseStatus::Accepted;
                    s.reach(Milestone::QuestionnaireAccepted);
                }
                Review::RequestClarification => {
                    row.status = ResponseStatus::ClarificationRequested;
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
