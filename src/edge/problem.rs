//! `AppError` answered as an RFC 9457 `application/problem+json` document: the one place that
//! maps the application's error to HTTP.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::error::AppError;

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            AppError::Integrity(e) | AppError::KeyUnavailable(e) => {
                tracing::error!(error = %e, "document not served")
            }
            _ => {}
        }
        let mut builder = HttpResponse::build(self.status_code());
        builder.content_type("application/problem+json");
        if matches!(self, AppError::Unauthorized(_)) {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let AppError::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            builder.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        builder.json(self.problem())
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

/// The problem answer of an error, for places that build a response by hand (the default
/// route, middleware).
pub fn respond(e: &AppError) -> HttpResponse {
    e.error_response()
}
