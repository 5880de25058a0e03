//! Who is calling: coordinator access tokens (JWT), long-lived API tokens, passwords, and the
//! `Actor` every use case is run as. No HTTP here: `api::caller` reads the header.

pub mod client;
pub mod jwt;
pub mod links;
pub mod login;
pub mod password;
pub mod throttle;
pub mod tokens;

use crate::db;
use crate::domain::access::Role;
use crate::domain::ids::{OrganizationId, UserId};
use crate::error::{AppError, AppResult};

/// The authenticated user behind a request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
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

/// What a request presented, checked as far as it can be without the database: an API token's
/// hash, or an access token's verified claims.
#[derive(Debug, Clone)]
pub enum Credential {
    ApiToken { hash: String },
    Access(jwt::Claims),
}

impl Credential {
    /// Reads a bearer token: an API token is hashed, an access token verified (signature and
    /// expiry); the database is asked later, in [`authenticate`].
    pub fn from_bearer(keys: &jwt::Keys, token: &str) -> Result<Self, AppError> {
        if tokens::looks_like_api_token(token) {
            Ok(Credential::ApiToken {
                hash: tokens::hash(token),
            })
        } else {
            let claims = keys.verify(token).map_err(|e| {
                AppError::Unauthorized(format!("the access token is not valid: {e}"))
            })?;
            Ok(Credential::Access(claims))
        }
    }
}

/// The user behind a credential, on the caller's connection (the same one the use case then
/// runs on).
pub fn authenticate(
    conn: &mut db::DbConnection,
    credential: &Credential,
    now: chrono::NaiveDateTime,
) -> AppResult<Actor> {
    let user = match credential {
        Credential::ApiToken { hash } => db::tokens::user_for_token(conn, hash, now)?,
        Credential::Access(claims) => {
            let user = db::users::get(conn, &UserId::new(claims.sub.as_str()))?;
            // A password, role or activity change since the token was issued ends it.
            if user.as_ref().is_some_and(|u| u.token_version != claims.ver) {
                return Err(AppError::Unauthorized(
                    "the access token was issued before the account's password or role changed; get a new one".into(),
                ));
            }
            user
        }
    };
    let user = user
        .filter(|u| u.active)
        .ok_or_else(|| AppError::Unauthorized("the token's user is unknown or inactive".into()))?;
    let role = Role::parse(&user.role)
        .ok_or_else(|| anyhow::anyhow!("stored role {} is unknown", user.role))?;
    Ok(Actor {
        user_id: user.id,
        organization_id: user.organization_id,
        role,
        prefecture_code: user.prefecture_code,
        label: format!("{} <{}>", user.display_name, user.email),
    })
}
