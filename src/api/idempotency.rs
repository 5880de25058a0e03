//! `Idempotency-Key` for POSTs: the same key (per user) with the same request gets the stored
//! answer and causes no second effect. The answer is stored in the command's own transaction.

use actix_web::{http::StatusCode, HttpMessage, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::{self, DbConnection};
use crate::domain::ids::UserId;
use crate::error::{AppError, AppResult};

/// SHA-256 of the raw JSON body, left in the request's extensions by the JSON extractor.
#[derive(Clone)]
pub struct BodyHash(pub String);

pub fn hash_body(bytes: &[u8]) -> BodyHash {
    BodyHash(hex::encode(Sha256::digest(bytes)))
}

/// The key and a fingerprint of the request it was sent with.
pub struct Idem {
    key: Option<String>,
    fingerprint: String,
    /// When the request came, by the app's clock (the stored answer's age).
    at: NaiveDateTime,
}

impl Idem {
    /// Call in the handler body, after the body has been extracted.
    pub fn new(req: &HttpRequest) -> AppResult<Self> {
        let key = match req.headers().get("idempotency-key") {
            None => None,
            Some(v) => {
                let k = v.to_str().unwrap_or_default().trim().to_owned();
                if k.is_empty() || k.len() > 200 {
                    return Err(AppError::BadRequest(
                        "Idempotency-Key must be 1–200 visible characters".into(),
                    ));
                }
                Some(k)
            }
        };
        let body = req
            .extensions()
            .get::<BodyHash>()
            .map(|h| h.0.clone())
            .unwrap_or_default();
        let fingerprint = hex::encode(Sha256::digest(
            format!("{} {} {}", req.method(), req.path(), body).as_bytes(),
        ));
        let at = req
            .app_data::<actix_web::web::Data<crate::app::AppState>>()
            .map(|s| s.clock().now())
            .ok_or_else(|| anyhow::anyhow!("the application state is not registered"))?;
        Ok(Self {
            key,
            fingerprint,
            at,
        })
    }

    /// Runs `f` once per key; a repeat gets the first answer.
    pub fn once(
        &self,
        conn: &mut DbConnection,
        user_id: &UserId,
        f: impl FnOnce(&mut DbConnection) -> AppResult<(StatusCode, Value)>,
    ) -> AppResult<(StatusCode, Value)> {
        let Some(key) = &self.key else {
            return f(conn);
        };
        if let Some(stored) = db::idempotency::find(conn, user_id, key)? {
            if stored.request_hash != self.fingerprint {
                return Err(AppError::field(
                    "Idempotency-Key",
                    "this key was used for a different request",
                ));
            }
            let status = StatusCode::from_u16(stored.status as u16).unwrap_or(StatusCode::OK);
            let body = serde_json::from_str(&stored.body).unwrap_or(Value::Null);
            return Ok((status, body));
        }
        let (status, body) = f(conn)?;
        let answer = db::idempotency::StoredAnswer {
            request_hash: self.fingerprint.clone(),
            status: i64::from(status.as_u16()),
            body: body.to_string(),
        };
        db::idempotency::store(conn, user_id, key, &answer, self.at).map_err(|e| {
            match AppError::from(e) {
                AppError::Conflict { .. } => AppError::conflict(
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is being processed",
                ),
                other => other,
            }
        })?;
        Ok((status, body))
    }
}

/// The stored or fresh answer; a created resource gets its `Location` and `ETag` back too.
pub fn respond((status, body): (StatusCode, Value)) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    if let Some(v) = body.get("version").and_then(Value::as_i64) {
        res.insert_header((actix_web::http::header::ETAG, super::etag(v)));
    }
    res.json(body)
}

/// A created resource as the stored answer of an idempotent POST.
pub fn created<T: serde::Serialize>(value: &T) -> AppResult<(StatusCode, Value)> {
    Ok((
        StatusCode::CREATED,
        serde_json::to_value(value).map_err(anyhow::Error::from)?,
    ))
}
