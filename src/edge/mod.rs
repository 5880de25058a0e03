//! The HTTP edge every web channel shares (the API, the hospital pages, the dashboard pages):
//! input refused before any handler, the error type answered as problem+json, and reading
//! multipart uploads. No rules live here: they are in `domain/`, run by `service/`.

pub mod controls;
pub mod problem;
pub mod upload;
