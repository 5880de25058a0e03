//! Access tokens (email + password) and long-lived API tokens.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::json::Json;
use super::users::UserOut;
use crate::app::AppState;
use crate::auth::login::{self, too_many};
use crate::auth::{client, password, tokens, Actor};
use crate::db::{self, utc};
use crate::domain::validate;
use crate::error::{AppError, AppResult, FieldError};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// Exchange email and password for a short-lived access token.
///
/// Failed logins are throttled per email (whether or not an account has it) and per client
/// address: past the budget the answer is 429 with `Retry-After`, whatever the password.
#[utoipa::path(tag = "auth", request_body = TokenRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 429, body = crate::error::Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "seconds to wait before trying again"))),
))]
#[post("/auth/token")]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<TokenRequest>,
) -> AppResult<web::Json<TokenResponse>> {
    let TokenRequest { email, password } = body.0;
    let address = client::address(&req, &state.config.trusted_proxies);
    let user = login::check(&state.db, &state.throttle, &email, password, &address).await?;
    let access_token = state
        .keys
        .issue(&user.id, user.token_version)
        .map_err(|e| anyhow::anyhow!("cannot sign token: {e}"))?;
    Ok(web::Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.keys.ttl_secs,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters, and not the current one.
    pub new_password: String,
}

/// Change the caller's own password.
///
/// Every access token and API token issued before stops working at once; the answer carries a
/// fresh access token. A wrong current password answers 401 and counts as a failed login.
#[utoipa::path(tag = "auth", security(("bearer" = [])), request_body = PasswordChange, responses(
    (status = 200, body = TokenResponse),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 429, body = crate::error::Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "seconds to wait before trying again"))),
))]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    body: Json<PasswordChange>,
) -> AppResult<web::Json<TokenResponse>> {
    let PasswordChange {
        current_password,
        new_password,
    } = body.0;
    let mut errors = Vec::new();
    validate::password("new_password", &new_password, &mut errors);
    if new_password == current_password {
        errors.push(FieldError::new(
            "new_password",
            "must differ from the current password",
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let user_id = actor.user_id.clone();
    let user = state
        .db
        .read(move |conn| Ok(db::users::get(conn, &user_id)?))
        .await?
        .ok_or_else(|| AppError::Unauthorized("the token's user is unknown".into()))?;
    let address = client::address(&req, &state.config.trusted_proxies);
    state
        .throttle
        .check(&user.email, &address)
        .map_err(too_many)?;
    let stored = user.password_hash.clone();
    let new_hash = password::in_turn(move || {
        if password::verify(&current_password, &stored) {
            password::hash(&new_password).map(Some)
        } else {
            Ok(None)
        }
    })
    .await??;
    let Some(new_hash) = new_hash else {
        state
            .throttle
            .failed(&user.email, &address)
            .map_err(too_many)?;
        return Err(AppError::Unauthorized(
            "the current password is wrong".into(),
        ));
    };
    let now = state.clock().now();
    let row = state
        .db
        .write(move |conn| {
            db::tokens::revoke_all_for_user(conn, &user.id, now)?;
            let changes = db::users::UserChanges {
                password_hash: Some(new_hash),
                token_version: Some(user.token_version + 1),
                ..Default::default()
            };
            db::users::update(conn, &user.id, user.version, &changes, now)?.ok_or_else(|| {
                AppError::conflict(
                    "changed_meanwhile",
                    "the account changed meanwhile; try again",
                )
            })
        })
        .await?;
    let access_token = state
        .keys
        .issue(&row.id, row.token_version)
        .map_err(|e| anyhow::anyhow!("cannot sign token: {e}"))?;
    Ok(web::Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.keys.ttl_secs,
    }))
}

/// The caller's own account.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = UserOut),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> AppResult<web::Json<UserOut>> {
    let user = state
        .read_as(caller, move |conn, actor| {
            Ok(db::users::get(conn, &actor.user_id)?)
        })
        .await?
        .ok_or_else(|| AppError::NotFound("the user no longer exists".into()))?;
    Ok(web::Json(user.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// What the token is for, e.g. `weekly export script`.
    pub name: String,
    /// Days until it expires (1–730); never, if absent.
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiTokenOut {
    pub id: String,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub info: ApiTokenOut,
    /// The token itself. It is shown this once and cannot be retrieved again.
    pub token: String,
}

impl From<db::tokens::TokenRow> for ApiTokenOut {
    fn from(t: db::tokens::TokenRow) -> Self {
        Self {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created_at: utc(t.created_at),
            expires_at: t.expires_at.map(utc),
            last_used_at: t.last_used_at.map(utc),
            revoked_at: t.revoked_at.map(utc),
        }
    }
}

/// The caller's API tokens (never the secrets).
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Vec<ApiTokenOut>),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/auth/api-tokens")]
pub async fn list_api_tokens(
    state: web::Data<AppState>,
    actor: Actor,
) -> AppResult<web::Json<Vec<ApiTokenOut>>> {
    let rows = state
        .db
        .read(move |conn| Ok(db::tokens::list_for_user(conn, &actor.user_id)?))
        .await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// Create a long-lived API token for scripts and dashboards; the secret is shown once.
#[utoipa::path(tag = "auth", security(("bearer" = [])), request_body = NewApiToken, responses(
    (status = 201, body = CreatedApiToken),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/auth/api-tokens")]
pub async fn create_api_token(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<NewApiToken>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    let mut errors: Vec<FieldError> = Vec::new();
    validate::line("name", &input.name, 200, &mut errors);
    if let Some(d) = input.expires_in_days {
        if !(1..=730).contains(&d) {
            errors.push(FieldError::new(
                "expires_in_days",
                "must be between 1 and 730",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let secret = tokens::generate();
    let plain = secret.plain.clone();
    let now = state.clock().now();
    let row = state
        .db
        .write(move |conn| {
            let id = db::new_id();
            Ok(db::tokens::insert(
                conn,
                &db::tokens::NewToken {
                    id: &id,
                    user_id: &actor.user_id,
                    name: input.name.trim(),
                    token_hash: &secret.hash,
                    prefix: &secret.prefix,
                    created_at: now,
                    expires_at: input
                        .expires_in_days
                        .map(|d| now + chrono::Duration::days(d)),
                },
            )?)
        })
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiToken {
        info: row.into(),
        token: plain,
    }))
}

/// Revoke one of the caller's API tokens.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 204),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[delete("/auth/api-tokens/{id}")]
pub async fn revoke_api_token(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let now = state.clock().now();
    let revoked = state
        .db
        .write(move |conn| Ok(db::tokens::revoke(conn, &actor.user_id, &id, now)?))
        .await?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound(
            "no live API token of yours has this id".into(),
        ))
    }
}
