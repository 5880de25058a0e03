//! Checking an email and a password, the same way for every sign-in (API access tokens, the web
//! dashboard): throttled per email and per client address, hashed in turn on the hashing
//! threads, with the same cost and the same answer for an email no account has.

use std::sync::Arc;

use crate::db::users::UserRow;
use crate::db::{self, Db};
use crate::domain::validate;
use crate::error::{AppError, AppResult};

use super::password;
use super::throttle::{self, LoginThrottle};

/// The active user with this email and password; otherwise 401 ("wrong email or password"),
/// or 429 with `Retry-After` once the email or the address has used up its failures.
pub async fn check(
    db: &Db,
    throttle: &Arc<LoginThrottle>,
    email: &str,
    password: String,
    address: &str,
) -> AppResult<UserRow> {
    let email = validate::normalize_email(email);
    throttle.check(&email, address).map_err(too_many)?;
    let user = {
        let email = email.clone();
        db.read(move |conn| Ok(db::users::by_email(conn, &email)?))
            .await?
            .filter(|u| u.active)
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let (gate, key, addr) = (throttle.clone(), email.clone(), address.to_owned());
    let ok = password::in_turn(move || {
        // Others' failures may have locked the email or address while this one queued.
        gate.check(&key, &addr)?;
        Ok(password::verify_or_dummy(&password, stored.as_deref()))
    })
    .await?
    .map_err(too_many)?;
    match user {
        Some(u) if ok => Ok(u),
        _ => {
            throttle.failed(&email, address).map_err(too_many)?;
            Err(AppError::Unauthorized("wrong email or password".into()))
        }
    }
}

/// The same answer for every locked email or address, known or not.
pub fn too_many(wait: std::time::Duration) -> AppError {
    let secs = throttle::retry_after_secs(wait);
    AppError::TooManyRequests {
        detail: format!("too many failed logins; try again in {secs} seconds"),
        retry_after_secs: secs,
    }
}
