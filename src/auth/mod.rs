//! Who is calling: coordinator access tokens (JWT), long-lived API tokens, passwords, and the
//! `Actor` extractor every protected handler takes.

pub mod client;
pub mod jwt;
pub mod links;
pub mod login;
pub mod password;
pub mod throttle;
pub mod tokens;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::app::AppState;
use crate::db;
use crate::domain::access::Role;
use crate::error::AppError;

/// The authenticated user behind a request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub organization_id: String,
    pub role: Role,
    pub prefecture_code: Option<String>,
    /// How the timeline names this person.
    pub label: String,
}

impl Actor {
    pub fn require(&self, allowed: bool, what: &str) -> Result<(), AppError> {
        if allowed {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "the role `{}` may not {what}",
                self.role.as_str()
            )))
        }
    }
}

impl FromRequest for Actor {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let token = bearer.ok_or_else(|| {
                AppError::Unauthorized("send `Authorization: Bearer <token>`".into())
            })?;
            let user = if tokens::looks_like_api_token(&token) {
                let hash = tokens::hash(&token);
                state
                    .db
                    .read(move |conn| db::tokens::user_for_token(conn, &hash, db::now()))
                    .await?
            } else {
                let claims = state.keys.verify(&token).map_err(|e| {
                    AppError::Unauthorized(format!("the access token is not valid: {e}"))
                })?;
                let user = state
                    .db
                    .read(move |conn| Ok(db::users::get(conn, &claims.sub)?))
                    .await?;
                // A password, role or activity change since the token was issued ends it.
                if user.as_ref().is_some_and(|u| u.token_version != claims.ver) {
                    return Err(AppError::Unauthorized(
                        "the access token was issued before the account's password or role changed; get a new one".into(),
                    ));
                }
                user
            };
            let user = user.filter(|u| u.active).ok_or_else(|| {
                AppError::Unauthorized("the token's user is unknown or inactive".into())
            })?;
            let role = Role::parse(&user.role)
                .ok_or_else(|| anyhow::anyhow!("stored role {} is unknown", user.role))?;
            Ok(Actor {
                user_id: user.id,
                organization_id: user.organization_id,
                role,
                prefecture_code: user.prefecture_code,
                label: format!("{} <{}>", user.display_name, user.email),
            })
        })
    }
}
