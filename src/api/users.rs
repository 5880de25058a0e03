//! User accounts: admins, coordinators, ministry and prefecture viewers.

use actix_web::{delete, get, http::header, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::orgs::account_scope;
use super::query::Query;
use super::{with_etag, IfMatch, Page, PageQuery};
use crate::app::AppState;
use crate::auth::{password, Actor};
use crate::db::{self, utc, DbConnection};
use crate::domain::access::Role;
use crate::domain::ids::{OrganizationId, UserId};

use crate::domain::validate;
use crate::error::{AppError, AppResult};

/// For PATCH bodies: tells "absent" (`None`) from "set to null" (`Some(None)`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    #[schema(value_type = String)]
    pub id: UserId,
    #[schema(value_type = String)]
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = Role)]
    pub role: String,
    /// JIS code of the prefecture a prefecture viewer sees.
    pub prefecture_code: Option<String>,
    pub active: bool,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<db::users::UserRow> for UserOut {
    fn from(u: db::users::UserRow) -> Self {
        Self {
            id: u.id,
            organization_id: u.organization_id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            prefecture_code: u.prefecture_code,
            active: u.active,
            created_at: utc(u.created_at),
            updated_at: utc(u.updated_at),
            version: u.version,
        }
    }
}

use crate::service::accounts::{check_membership, prefecture};
pub use crate::service::accounts::{NewUser, UserDraft};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub prefecture_code: Option<Option<String>>,
    pub password: Option<String>,
    pub active: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    pub organization_id: Option<String>,
    pub role: Option<Role>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// List users (admin: all; coordinator: those of its own organisation and below).
#[utoipa::path(tag = "users", security(("bearer" = [])), params(UserQuery), responses(
    (status = 200, body = Page<UserOut>),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    actor: Actor,
    query: Query<UserQuery>,
) -> AppResult<web::Json<Page<UserOut>>> {
    let q = query.into_inner();
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let after = super::after_id(q.cursor.as_deref())?;
    let rows = state
        .db
        .read(move |conn| {
            let scope = account_scope(conn, &actor)?;
            let filter = db::users::UserFilter {
                organization_id: q.organization_id.map(OrganizationId::new),
                role: q.role.map(|r| r.as_str().to_owned()),
            };
            Ok(db::users::list(
                conn,
                &scope,
                &filter,
                after.as_deref(),
                limit + 1,
            )?)
        })
        .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        UserOut::from,
    )))
}

/// Create a user (admin).
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = NewUser, responses(
    (status = 201, body = UserOut),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<NewUser>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "create users")?;
    let input = body.0;
    let draft = password::in_turn(move || UserDraft::new(input)).await??;
    let now = state.clock().now();
    let row = state.db.write(move |conn| draft.insert(conn, now)).await?;
    let location = format!("/api/v1/users/{}", row.id);
    let version = row.version;
    Ok(with_etag(
        HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(UserOut::from(row)),
        version,
    ))
}

/// One user.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 200, body = UserOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = UserId::new(path.into_inner());
    let row = state
        .db
        .read(move |conn| {
            let scope = account_scope(conn, &actor)?;
            match db::users::get(conn, &id)? {
                Some(u) if scope.allows(&u.organization_id) => Ok(u),
                _ => Err(AppError::NotFound(format!("no user {id}"))),
            }
        })
        .await?;
    let version = row.version;
    Ok(with_etag(
        HttpResponse::Ok().json(UserOut::from(row)),
        version,
    ))
}

/// Refuses a change that would leave no active admin: nobody could manage accounts any more.
fn keep_an_admin(
    conn: &mut DbConnection,
    current: &db::users::UserRow,
    new_role: Role,
    new_active: bool,
) -> AppResult<()> {
    let was_admin = current.active && current.role == Role::Admin.as_str();
    let stays_admin = new_active && new_role == Role::Admin;
    if was_admin && !stays_admin && db::users::count_active_admins(conn)? <= 1 {
        return Err(AppError::conflict(
            "last_admin",
            "this is the last active admin; create another admin first",
        ));
    }
    Ok(())
}

/// Change a user (admin).
///
/// A new password, role, organisation or prefecture, or deactivation, ends every token the user
/// had (access tokens and API tokens) at once.
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = UserPatch,
    params(("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses(
    (status = 200, body = UserOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    actor: Actor,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<UserPatch>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "change users")?;
    let id = UserId::new(path.into_inner());
    let patch = body.0;
    let mut errors = Vec::new();
    if let Some(name) = &patch.display_name {
        validate::line("display_name", name, 200, &mut errors);
    }
    if let Some(pw) = &patch.password {
        validate::password("password", pw, &mut errors);
    }
    let prefecture_code = patch
        .prefecture_code
        .as_ref()
        .map(|p| prefecture(p.as_deref(), &mut errors));
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let new_hash = match patch.password.clone() {
        Some(pw) => Some(password::in_turn(move || password::hash(&pw)).await??),
        None => None,
    };
    let now = state.clock().now();
    let row = state
        .db
        .write(move |conn| {
            let current = db::users::get(conn, &id)?
                .ok_or_else(|| AppError::NotFound(format!("no user {id}")))?;
            let version = if_match.check(current.version)?;
            let role = patch
                .role
                .or_else(|| Role::parse(&current.role))
                .ok_or_else(|| anyhow::anyhow!("stored role {} unknown", current.role))?;
            let org = patch
                .organization_id
                .clone()
                .unwrap_or_else(|| current.organization_id.clone());
            let pref = prefecture_code
                .clone()
                .unwrap_or_else(|| current.prefecture_code.clone());
            let active = patch.active.unwrap_or(current.active);
            check_membership(conn, &org, role, pref.as_deref())?;
            keep_an_admin(conn, &current, role, active)?;
            // What the account may do changes: the tokens issued before stop working at once.
            let credentials_changed = new_hash.is_some()
                || role.as_str() != current.role
                || org != current.organization_id
                || pref != current.prefecture_code
                || active != current.active;
            if credentials_changed {
                db::tokens::revoke_all_for_user(conn, &id, now)?;
            }
            let changes = db::users::UserChanges {
                token_version: credentials_changed.then_some(current.token_version + 1),
                organization_id: patch.organization_id,
                display_name: patch.display_name.map(|n| n.trim().to_owned()),
                role: patch.role.map(|r| r.as_str().to_owned()),
                prefecture_code,
                password_hash: new_hash,
                active: patch.active,
            };
            db::users::update(conn, &id, version, &changes, now)?
                .ok_or_else(|| AppError::PreconditionFailed("changed meanwhile; reload".into()))
        })
        .await?;
    let version = row.version;
    Ok(with_etag(
        HttpResponse::Ok().json(UserOut::from(row)),
        version,
    ))
}

/// Deactivate a user (admin). The account stays for the audit trail; its tokens stop working.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "deactivate users")?;
    let id = UserId::new(path.into_inner());
    let now = state.clock().now();
    state
        .db
        .write(move |conn| {
            let current = db::users::get(conn, &id)?
                .ok_or_else(|| AppError::NotFound(format!("no user {id}")))?;
            let role = Role::parse(&current.role).unwrap_or(Role::Viewer);
            keep_an_admin(conn, &current, role, false)?;
            db::tokens::revoke_all_for_user(conn, &id, now)?;
            let changes = db::users::UserChanges {
                active: Some(false),
                token_version: Some(current.token_version + 1),
                ..Default::default()
            };
            db::users::update(conn, &id, current.version, &changes, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
