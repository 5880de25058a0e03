//! Who is calling, read from the `Authorization` header without touching the database: the
//! database check runs with the use case, on one connection in one blocking call
//! ([`AppState::read_as`], [`AppState::write_as`]).

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::app::AppState;
use crate::auth::{Actor, Credential};
use crate::error::AppError;

/// A bearer token, checked as far as it can be without the database.
pub struct Caller(pub Credential);

fn bearer(req: &HttpRequest) -> Result<String, AppError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| AppError::Unauthorized("send `Authorization: Bearer <token>`".into()))
}

fn credential(req: &HttpRequest) -> Result<(web::Data<AppState>, Credential), AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("application state missing"))?;
    let token = bearer(req)?;
    let credential = Credential::from_bearer(&state.keys, &token)?;
    Ok((state, credential))
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(credential(req).map(|(_, c)| Caller(c)))
    }
}

/// The authenticated user, for handlers that need it before their use case runs (a blocking
/// call of its own; prefer [`Caller`] with `read_as`/`write_as`).
impl FromRequest for Actor {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = credential(req);
        Box::pin(async move {
            let (state, credential) = found?;
            let clock = state.clock().clone();
            state
                .db
                .read(move |conn| crate::auth::authenticate(conn, &credential, clock.now()))
                .await
        })
    }
}
