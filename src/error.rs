//! One error type for the application layer and every channel. The HTTP edge
//! (`edge::problem`) answers it as RFC 9457 `application/problem+json`; the hospital pages map
//! it to Japanese text by the conflict's stable code.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{DbError, WorkError};

pub use crate::domain::field::FieldError;

/// The problem document every error answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For every 409: the stable code of the rule or state that refused the request (e.g.
    /// `memorandum_not_executed`, `hearing_scheduled`, `already_exists`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body could not be read as JSON at all (syntax, wrong content).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed input that breaks a rule; each field named.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the resource's current state (it exists already, a hearing
    /// is scheduled, …); `code` is answered as the problem's `guard`.
    #[error("{reason}")]
    Conflict { code: &'static str, reason: String },
    /// A business rule refused the step; an admin may override it with a reason.
    #[error("{reason}")]
    Refused { code: String, reason: String },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    /// Too many attempts; the client may try again after this many seconds.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// A stored document is not what was sealed (changed, cut short, or under another key):
    /// nothing of it is sent.
    #[error("{0}")]
    Integrity(String),
    /// A stored document is sealed under a master key this server does not have.
    #[error("{0}")]
    KeyUnavailable(String),
    /// Not an error: carries a result out of a transaction that must be rolled back (dry runs).
    #[error("rolled back")]
    RolledBack(Box<serde_json::Value>),
    /// Anything we did not expect; the detail is logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    /// A 409 with a stable code (the problem's `guard`) a client can act on.
    pub fn conflict(code: &'static str, reason: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            reason: reason.into(),
        }
    }

    /// The stable code of a 409, if this is one.
    pub fn guard(&self) -> Option<&str> {
        match self {
            AppError::Refused { code, .. } => Some(code),
            AppError::Conflict { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status every channel answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Validation(_) => 422,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict { .. } | AppError::Refused { .. } => 409,
            AppError::PreconditionFailed(_) => 412,
            AppError::PayloadTooLarge(_) => 413,
            AppError::Unavailable(_) => 503,
            AppError::TooManyRequests { .. } => 429,
            AppError::Internal(_)
            | AppError::RolledBack(_)
            | AppError::Integrity(_)
            | AppError::KeyUnavailable(_) => 500,
        }
    }

    fn parts(&self) -> (&'static str, &'static str) {
        match self {
            AppError::BadRequest(_) => ("bad-request", "Bad request"),
            AppError::Validation(_) => ("validation", "Invalid input"),
            AppError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            AppError::Forbidden(_) => ("forbidden", "Not allowed"),
            AppError::NotFound(_) => ("not-found", "Not found"),
            AppError::Conflict { .. } => ("conflict", "Conflict"),
            AppError::Refused { .. } => ("refused", "Refused by a rule"),
            AppError::PreconditionFailed(_) => ("precondition-failed", "Precondition failed"),
            AppError::PayloadTooLarge(_) => ("payload-too-large", "Payload too large"),
            AppError::Unavailable(_) => ("unavailable", "Service unavailable"),
            AppError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            AppError::Integrity(_) => ("integrity", "Integrity check failed"),
            AppError::KeyUnavailable(_) => ("key-unavailable", "Document key not available"),
            AppError::Internal(_) | AppError::RolledBack(_) => ("internal", "Internal error"),
        }
    }

    pub fn problem(&self) -> Problem {
        let (slug, title) = self.parts();
        let (detail, errors) = match self {
            AppError::Validation(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                (detail, errors.clone())
            }
            AppError::Internal(_) | AppError::RolledBack(_) => (
                "An unexpected error occurred; it has been logged with the request id.".to_owned(),
                Vec::new(),
            ),
            other => (other.to_string(), Vec::new()),
        };
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: self.status(),
            detail,
            errors,
            guard: self.guard().map(str::to_owned),
        }
    }
}

impl From<crate::domain::hearings::Conflict> for AppError {
    fn from(c: crate::domain::hearings::Conflict) -> Self {
        AppError::conflict(c.code, c.reason)
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable => AppError::Unavailable(crate::db::UNAVAILABLE.into()),
            DbError::NotFound => AppError::NotFound(e.to_string()),
            DbError::AlreadyExists(_) => AppError::conflict("already_exists", e.to_string()),
            DbError::StillReferenced(_) => AppError::conflict("still_referenced", e.to_string()),
            DbError::Panicked(_) | DbError::Blocking(_) => {
                AppError::Internal(anyhow::anyhow!(e.to_string()))
            }
            DbError::Query(e) => AppError::Internal(e.into()),
        }
    }
}

impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        DbError::from(e).into()
    }
}

/// A unit of work that failed as unavailable closes its connection (it may have been lost).
impl WorkError for AppError {
    fn connection_lost(&self) -> bool {
        matches!(self, AppError::Unavailable(_))
    }
}

impl From<crate::files::FilesError> for AppError {
    fn from(e: crate::files::FilesError) -> Self {
        use crate::files::FilesError;
        match e {
            // Where and why go to the log (`files` logs them where they are found); the caller
            // learns that the document failed its check and that nothing of it was sent.
            FilesError::Integrity { .. } => AppError::Integrity(
                "integrity check failed: the stored document was changed or damaged in storage; \
                 nothing of it was sent, and the failure is logged"
                    .into(),
            ),
            FilesError::MissingKey { key_id, .. } => AppError::KeyUnavailable(format!(
                "the document is sealed with master key {key_id}, which this server is not \
                 configured with (FILES_KEY / FILES_KEY_FILE)"
            )),
            other => AppError::Internal(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_names_fields() {
        let p = AppError::field("email", "must be a string").problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.kind, "/problems/validation");
        assert_eq!(p.errors[0].field, "email");
        assert!(p.detail.contains("email"));
    }

    #[test]
    fn every_conflict_names_its_guard() {
        let p = AppError::conflict("hearing_scheduled", "a hearing is already scheduled").problem();
        assert_eq!(
            (p.status, p.guard.as_deref()),
            (409, Some("hearing_scheduled"))
        );
        let p = AppError::Refused {
            code: "completion".into(),
            reason: "no report".into(),
        }
        .problem();
        assert_eq!((p.status, p.guard.as_deref()), (409, Some("completion")));
    }

    #[test]
    fn database_errors_keep_their_statuses() {
        let status = |e: DbError| AppError::from(e).status();
        assert_eq!(status(DbError::Unavailable), 503);
        assert_eq!(status(DbError::NotFound), 404);
        assert_eq!(status(DbError::AlreadyExists("k".into())), 409);
        assert_eq!(status(DbError::StillReferenced("k".into())), 409);
        assert_eq!(status(DbError::Panicked("boom".into())), 500);
        let p = AppError::from(DbError::AlreadyExists("k".into())).problem();
        assert_eq!(p.guard.as_deref(), Some("already_exists"));
        assert!(AppError::from(DbError::Unavailable).connection_lost());
    }

    #[test]
    fn internal_detail_is_not_leaked() {
        let p = AppError::Internal(anyhow::anyhow!("secret path /etc/x")).problem();
        assert!(!p.detail.contains("secret"));
    }
}
