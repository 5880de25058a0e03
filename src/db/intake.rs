//! Queries on uploaded documents and questionnaire answers.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{documents, questionnaire_responses, questionnaire_templates};
use super::stamp::{OptStamp, Stamp};
use super::types::Json;
use super::{DbConnection, DbResult};
use crate::domain::documents::Purpose;
use crate::domain::ids::EngagementId;
use crate::domain::questionnaire::{Answers, ResponseStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = documents)]
pub struct DocumentRow {
    pub id: String,
    pub engagement_id: EngagementId,
    pub purpose: Purpose,
    pub doc_version: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub storage_key: String,
    #[diesel(deserialize_as = Stamp)]
    pub uploaded_at: NaiveDateTime,
    pub uploaded_by: String,
    /// How the object is sealed (see `files::Seal`); all `None` for a legacy plaintext object.
    pub key_id: Option<String>,
    pub wrapped_key: Option<String>,
    pub nonce: Option<String>,
}

pub fn next_doc_version(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    purpose: Purpose,
) -> DbResult<i64> {
    let max: Option<i64> = documents::table
        .filter(documents::engagement_id.eq(engagement_id))
        .filter(documents::purpose.eq(purpose))
        .select(diesel::dsl::max(documents::doc_version))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

pub fn insert_document(conn: &mut DbConnection, row: &DocumentRow) -> DbResult<()> {
    diesel::insert_into(documents::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn documents(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> DbResult<Vec<DocumentRow>> {
    documents::table
        .filter(documents::engagement_id.eq(engagement_id))
        .filter(documents::purged_at.is_null())
        .order((documents::purpose.asc(), documents::doc_version.asc()))
        .select(DocumentRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

pub fn document(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    id: &str,
) -> DbResult<Option<DocumentRow>> {
    documents::table
        .filter(documents::engagement_id.eq(engagement_id))
        .filter(documents::id.eq(id))
        .filter(documents::purged_at.is_null())
        .select(DocumentRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = questionnaire_templates)]
pub struct TemplateRow {
    pub id: String,
    pub key: String,
    pub version: i64,
    pub body: String,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
}

pub fn template(conn: &mut DbConnection, key: &str, version: i64) -> DbResult<Option<TemplateRow>> {
    questionnaire_templates::table
        .filter(questionnaire_templates::key.eq(key))
        .filter(questionnaire_templates::version.eq(version))
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn template_by_id(conn: &mut DbConnection, id: &str) -> DbResult<Option<TemplateRow>> {
    questionnaire_templates::table
        .find(id)
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn templates(conn: &mut DbConnection) -> DbResult<Vec<TemplateRow>> {
    questionnaire_templates::table
        .order((
            questionnaire_templates::key.asc(),
            questionnaire_templates::version.asc(),
        ))
        .select(TemplateRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

/// The newest version of a template.
pub fn latest_template(conn: &mut DbConnection, key: &str) -> DbResult<Option<TemplateRow>> {
    questionnaire_templates::table
        .filter(questionnaire_templates::key.eq(key))
        .order(questionnaire_templates::version.desc())
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn insert_template(
    conn: &mut DbConnection,
    id: &str,
    key: &str,
    version: i64,
    body: &str,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::insert_into(questionnaire_templates::table)
        .values((
            questionnaire_templates::id.eq(id),
            questionnaire_templates::key.eq(key),
            questionnaire_templates::version.eq(version),
            questionnaire_templates::body.eq(body),
            questionnaire_templates::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = questionnaire_responses)]
pub struct ResponseRow {
    pub engagement_id: EngagementId,
    pub template_id: String,
    pub answers: Json<Answers>,
    pub status: ResponseStatus,
    #[diesel(deserialize_as = OptStamp)]
    pub submitted_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = OptStamp)]
    pub reviewed_at: Option<NaiveDateTime>,
    pub review_comment: Option<String>,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

pub fn response(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> DbResult<Option<ResponseRow>> {
    questionnaire_responses::table
        .find(engagement_id)
        .select(ResponseRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn questionnaire_status(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
) -> DbResult<Option<ResponseStatus>> {
    Ok(response(conn, engagement_id)?.map(|r| r.status))
}

/// Inserts or replaces the engagement's answers.
pub fn save_response(conn: &mut DbConnection, row: &ResponseRow) -> DbResult<()> {
    diesel::delete(questionnaire_responses::table.find(&row.engagement_id)).execute(conn)?;
    diesel::insert_into(questionnaire_responses::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}
