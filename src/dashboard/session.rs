//! Signing in to the web dashboard: email and password (the same check as the API's token
//! endpoint), a session in the database found by the hash of a random cookie secret, a CSRF
//! token per session, idle and absolute expiry.

use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::sessions::{self, SessionRow};
use crate::db::users::UserRow;
use crate::db::{self, DbConnection};
use crate::domain::access::Role;
use crate::error::AppResult;
use crate::service::dashboard::Viewer;

/// The session cookie.
pub const COOKIE: &str = "et_dash";
/// The pre-sign-in cookie that the sign-in form's CSRF token must match.
pub const LOGIN_COOKIE: &str = "et_dash_login";
/// A session ends after this long without a request…
pub const IDLE: Duration = Duration::minutes(30);
/// …and in any case this long after signing in.
pub const LIFETIME: Duration = Duration::hours(12);

pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares without leaking where two strings differ.
pub fn same(a: &str, b: &str) -> bool {
    !a.is_empty()
        && a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Who is signed in, and the token its forms carry.
#[derive(Debug, Clone)]
pub struct Signed {
    pub session_id: String,
    pub csrf: String,
    pub viewer: Viewer,
    pub label: String,
}

/// Opens a session for a user; returns the cookie's secret.
pub fn open(conn: &mut DbConnection, user: &UserRow, now: NaiveDateTime) -> AppResult<String> {
    sessions::sweep(conn, now, now - IDLE)?;
    let secret = random_token();
    sessions::insert(
        conn,
        &SessionRow {
            id: hash(&secret),
            user_id: user.id.clone(),
            csrf: random_token(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + LIFETIME,
        },
    )?;
    Ok(secret)
}

/// The live session behind a cookie, its idle clock reset; None when it ended, went idle, or
/// its user is gone or inactive.
pub fn resume(
    conn: &mut DbConnection,
    secret: &str,
    now: NaiveDateTime,
) -> AppResult<Option<Signed>> {
    let id = hash(secret);
    let Some(s) = sessions::live(conn, &id, now, now - IDLE)? else {
        return Ok(None);
    };
    let Some(user) = db::users::get(conn, &s.user_id)?.filter(|u| u.active) else {
        sessions::delete(conn, &id)?;
        return Ok(None);
    };
    let Some(role) = Role::parse(&user.role) else {
        return Ok(None);
    };
    // One write a minute at most keeps reads cheap.
    if now - s.last_seen_at > Duration::minutes(1) {
        sessions::touch(conn, &id, now)?;
    }
    Ok(Some(Signed {
        session_id: id,
        csrf: s.csrf,
        viewer: Viewer {
            role,
            organization_id: user.organization_id,
            prefecture_code: user.prefecture_code,
        },
        label: user.display_name,
    }))
}

pub fn close(conn: &mut DbConnection, session_id: &str) -> AppResult<()> {
    Ok(sessions::delete(conn, session_id)?)
}
