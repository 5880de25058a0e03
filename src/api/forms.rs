//! Request bodies that are not JSON, as the OpenAPI document describes them. The handlers read
//! multipart parts as they stream (to enforce size limits while reading), so these types only
//! tell clients and generators the shape to send.

use actix_web::web;
use utoipa::ToSchema;

use crate::error::{AppError, AppResult};

/// Reads a body that is not JSON, of at most `limit` bytes: a larger one is a 413 problem (the
/// `Bytes` extractor would answer a bare text/plain 413).
pub async fn read_limited(payload: web::Payload, limit: usize) -> AppResult<web::Bytes> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(AppError::BadRequest(format!(
            "the body could not be read: {e}"
        ))),
        Err(_) => Err(AppError::PayloadTooLarge(format!(
            "the body is larger than {limit} bytes"
        ))),
    }
}

/// A prefecture's selection list (`multipart/form-data`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportForm {
    /// The list: CSV (UTF-8 or Shift_JIS) or XLSX.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The round, by id or name (`FY2025`).
    pub round: String,
}

/// Documents for an engagement (`multipart/form-data`): one or more parts named `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DocumentUpload {
    /// The files; the type of each is detected from its content (PDF, images, Visio, Office…).
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1)]
    pub file: Vec<Vec<u8>>,
}

/// Support slots as CSV (`text/csv`): a header `prefecture,tier,slots` (or 都道府県,区分,支援枠)
/// and one row per prefecture and tier, UTF-8 or Shift_JIS.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(
    value_type = String,
    format = Binary,
    example = "prefecture,tier,slots\n北海道,20-99,3\n13,100-199,2\n"
)]
pub struct SlotsCsv(pub Vec<u8>);
