//! Organisations: the prime contractor's tree of subcontractors, the ministry and prefectures.

use actix_web::{delete, get, http::header, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json::Json;
use super::query::Query;
use super::{with_etag, IfMatch, Page, PageQuery};
use crate::app::AppState;
use crate::auth::Actor;
use crate::db::{self, utc, DbConnection, Scope};
use crate::domain::access::Role;
use crate::domain::ids::OrganizationId;
use crate::domain::orgs::{self as rules, OrgKind};
use crate::domain::validate;
use crate::error::{AppError, AppResult, FieldError};

#[derive(Serialize, ToSchema)]
pub struct OrgOut {
    #[schema(value_type = String)]
    pub id: OrganizationId,
    pub name: String,
    #[schema(value_type = OrgKind)]
    pub kind: String,
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<OrganizationId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Also sent as the `ETag`; send it back in `If-Match` when updating.
    pub version: i64,
    /// Signature under the mail this organisation sends (replaces the generated one).
    pub mail_signature: Option<String>,
    /// Where hospitals' replies go (Reply-To), when no coordinator is named.
    pub reply_to: Option<String>,
    /// Whether `reply_to` gets a copy (Cc) of every mail.
    pub cc_reply_to: bool,
}

impl From<db::orgs::OrgRow> for OrgOut {
    fn from(o: db::orgs::OrgRow) -> Self {
        Self {
            id: o.id,
            name: o.name,
            kind: o.kind,
            parent_id: o.parent_id,
            created_at: utc(o.created_at),
            updated_at: utc(o.updated_at),
            version: o.version,
            mail_signature: o.mail_signature,
            reply_to: o.reply_to,
            cc_reply_to: o.cc_reply_to,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    pub name: String,
    pub kind: OrgKind,
    /// Required for a subcontractor: the organisation it works under.
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<OrganizationId>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    pub name: Option<String>,
    /// Move the organisation under another one.
    #[serde(default, deserialize_with = "super::users::present")]
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<Option<OrganizationId>>,
    #[serde(default, deserialize_with = "super::users::present")]
    #[schema(value_type = Option<String>)]
    pub mail_signature: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::users::present")]
    #[schema(value_type = Option<String>)]
    pub reply_to: Option<Option<String>>,
    pub cc_reply_to: Option<bool>,
}

/// Which organisations the caller may read: all for an admin, its own subtree for a coordinator.
pub fn account_scope(conn: &mut DbConnection, actor: &Actor) -> AppResult<Scope> {
    actor.require(actor.role.reads_accounts(), "read organisations or users")?;
    if actor.role == Role::Admin {
        return Ok(Scope::All);
    }
    let edges = db::orgs::edges(conn)?;
    Ok(Scope::Orgs(
        rules::subtree(&actor.organization_id, &edges)
            .into_iter()
            .collect(),
    ))
}

use crate::service::accounts::{parent_kind, placement_error};

/// List organisations (admin: all; coordinator: its own and those below it).
#[utoipa::path(tag = "organizations", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<OrgOut>),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/organizations")]
pub async fn list_organizations(
    state: web::Data<AppState>,
    actor: Actor,
    page: Query<PageQuery>,
) -> AppResult<web::Json<Page<OrgOut>>> {
    let limit = page.limit()?;
    let cursor = super::after_id(page.cursor.as_deref())?;
    let rows = state
        .db
        .read(move |conn| {
            let scope = account_scope(conn, &actor)?;
            Ok(db::orgs::list(conn, &scope, cursor.as_deref(), limit + 1)?)
        })
        .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        OrgOut::from,
    )))
}

/// Create an organisation (admin).
#[utoipa::path(tag = "organizations", security(("bearer" = [])), request_body = NewOrg, responses(
    (status = 201, body = OrgOut),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/organizations")]
pub async fn create_organization(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<NewOrg>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "create organisations")?;
    let input = body.0;
    let mut errors: Vec<FieldError> = Vec::new();
    validate::line("name", &input.name, 200, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let now = state.clock().now();
    let row = state
        .db
        .write(move |conn| {
            create_org(
                conn,
                input.name.trim(),
                input.kind,
                input.parent_id.as_ref(),
                now,
            )
        })
        .await?;
    let location = format!("/api/v1/organizations/{}", row.id);
    let version = row.version;
    Ok(with_etag(
        HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(OrgOut::from(row)),
        version,
    ))
}

pub use crate::service::accounts::create_org;

async fn load_visible(
    state: &AppState,
    actor: Actor,
    id: OrganizationId,
) -> AppResult<db::orgs::OrgRow> {
    state
        .db
        .read(move |conn| {
            let scope = account_scope(conn, &actor)?;
            match db::orgs::get(conn, &id)? {
                Some(o) if scope.allows(&o.id) => Ok(o),
                _ => Err(AppError::NotFound(format!("no organisation {id}"))),
            }
        })
        .await
}

/// One organisation.
#[utoipa::path(tag = "organizations", security(("bearer" = [])), responses(
    (status = 200, body = OrgOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/organizations/{id}")]
pub async fn get_organization(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let row = load_visible(&state, actor, OrganizationId::new(path.into_inner())).await?;
    let version = row.version;
    Ok(with_etag(
        HttpResponse::Ok().json(OrgOut::from(row)),
        version,
    ))
}

/// Rename or move an organisation (admin). Send `If-Match` with the ETag to avoid overwriting
/// someone else's change.
#[utoipa::path(tag = "organizations", security(("bearer" = [])), request_body = OrgPatch,
    params(("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses(
    (status = 200, body = OrgOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[patch("/organizations/{id}")]
pub async fn update_organization(
    state: web::Data<AppState>,
    actor: Actor,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<OrgPatch>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "change organisations")?;
    let id = OrganizationId::new(path.into_inner());
    let patch = body.0;
    let mut errors = Vec::new();
    if let Some(name) = &patch.name {
        validate::line("name", name, 200, &mut errors);
    }
    let signature = patch.mail_signature.clone().flatten();
    validate::multi_line_opt("mail_signature", signature.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let now = state.clock().now();
    let row = state
        .db
        .write(move |conn| {
            let current = db::orgs::get(conn, &id)?
                .ok_or_else(|| AppError::NotFound(format!("no organisation {id}")))?;
            let version = if_match.check(current.version)?;
            let kind = OrgKind::parse(&current.kind)
                .ok_or_else(|| anyhow::anyhow!("stored kind {} unknown", current.kind))?;
            let parent_id = patch.parent_id.unwrap_or(current.parent_id.clone());
            if let Some(p) = &parent_id {
                if rules::would_cycle(&id, p, &db::orgs::edges(conn)?) {
                    return Err(placement_error(
                        "parent_id",
                        "an organisation cannot sit under itself or its own subcontractors",
                    ));
                }
            }
            let parent = parent_kind(conn, parent_id.as_ref())?;
            rules::check_placement(kind, parent, false)
                .map_err(|m| placement_error("parent_id", m))?;
            let name = patch
                .name
                .as_deref()
                .map(str::trim)
                .unwrap_or(&current.name);
            if patch.mail_signature.is_some()
                || patch.reply_to.is_some()
                || patch.cc_reply_to.is_some()
            {
                let reply_to = patch.reply_to.clone().unwrap_or(current.reply_to.clone());
                if let Some(r) = &reply_to {
                    let mut errors = Vec::new();
                    validate::email("reply_to", r, &mut errors);
                    if !errors.is_empty() {
                        return Err(AppError::Validation(errors));
                    }
                }
                db::orgs::set_mail_settings(
                    conn,
                    &id,
                    patch
                        .mail_signature
                        .clone()
                        .unwrap_or(current.mail_signature.clone())
                        .as_deref(),
                    reply_to.as_deref(),
                    patch.cc_reply_to.unwrap_or(current.cc_reply_to),
                )?;
            }
            db::orgs::update(conn, &id, version, name, parent_id.as_ref(), now)?
                .ok_or_else(|| AppError::PreconditionFailed("changed meanwhile; reload".into()))
        })
        .await?;
    let version = row.version;
    Ok(with_etag(
        HttpResponse::Ok().json(OrgOut::from(row)),
        version,
    ))
}

/// Delete an organisation that has no members and no subcontractors (admin).
#[utoipa::path(tag = "organizations", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[delete("/organizations/{id}")]
pub async fn delete_organization(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "delete organisations")?;
    let id = OrganizationId::new(path.into_inner());
    state
        .db
        .write(move |conn| {
            db::orgs::get(conn, &id)?
                .ok_or_else(|| AppError::NotFound(format!("no organisation {id}")))?;
            if db::orgs::has_dependents(conn, &id)? {
                return Err(AppError::conflict(
                    "organization_in_use",
                    "the organisation still has users or subcontractors; move or remove them first",
                ));
            }
            db::orgs::delete(conn, &id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
