//! The HTTP edge every web channel shares (the API, the hospital pages, the dashboard pages):
//! input refused before any handler, the error type answered as problem+json, and reading
//! multipart uploads. No rules live here: they are in `domain/`, run by `service/`.

pub mod controls;
pub mod problem;
pub mod upload;

/// An export as an attachment with its Japanese name (API and web dashboard alike).
pub fn attachment(file: crate::service::dashboard::export::ExportFile) -> actix_web::HttpResponse {
    use actix_web::http::header;
    actix_web::HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header((header::CONTENT_DISPOSITION, file.disposition()))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(file.bytes)
}
